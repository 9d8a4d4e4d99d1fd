#!/bin/sh
# Builds the Tessera test guest and turns it into a flat arm64 Image.
#   tests/guests/testguest/build.sh            -> target/testguest/testguest.bin
# Environment: TARGET_DIR (default <repo>/target/testguest).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
target_dir=${TARGET_DIR:-$repo/target/testguest}
triple=aarch64-unknown-none-softfloat

cd "$here"
RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$target_dir" \
    /usr/bin/cargo build --release -j1 \
    -Zbuild-std=core -Zbuild-std-features=compiler-builtins-mem \
    --target $triple \
    --config "target.$triple.linker=\"ld.lld\""

elf=$target_dir/$triple/release/testguest
bin=$target_dir/testguest.bin
llvm-objcopy -O binary "$elf" "$bin"

# Check: magic at 0x38, image_size covers the file, file < 160 KiB, only
# RELATIVE relocations.
python3 - "$elf" "$bin" <<'PY'
import struct, subprocess, sys
elf, img = sys.argv[1], open(sys.argv[2], "rb").read()
assert img[0x38:0x3c] == b"ARM\x64", "no arm64 Image magic"
text_offset, image_size, flags = struct.unpack_from("<QQQ", img, 8)
assert image_size >= len(img), "image_size smaller than the file"
assert flags & 8, "flags bit 3 not set"
assert len(img) < 160 * 1024, "Image is %d bytes (>= 160 KiB)" % len(img)
relocs = subprocess.run(["llvm-readelf", "-r", elf], capture_output=True, text=True).stdout
bad = [l for l in relocs.splitlines() if "R_AARCH64" in l and "R_AARCH64_RELATIVE" not in l]
assert not bad, "relocations the Image cannot apply:\n" + "\n".join(bad)
print("%s: %d bytes, image_size %#x, text_offset %#x" % (sys.argv[2], len(img), image_size, text_offset))
PY
