#!/bin/sh
# Host-side tests of the guest's FDT reader against QEMU's and the
# Xen-like device trees (plus truncated/corrupted copies).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../../.." && pwd)
out=$repo/target/testguest/fdt-test
mkdir -p "$out"
qemu-system-aarch64 -M virt,dumpdtb="$out/qemu-virt.dtb" -cpu cortex-a57 -smp 2 \
    -m 128M -nographic >/dev/null 2>&1
dtc -q -I dts -O dtb -o "$out/xen-domu-like.dtb" "$here/xen-domu-like.dts"
dtc -q -I dts -O dtb -o "$out/weird.dtb" - <<'DTS'
/dts-v1/;
/ {
	#address-cells = <0xffffffff>;
	#size-cells = <0xffffffff>;
	memory@0 { device_type = "memory"; reg = <1 2 3>; };
	n { #address-cells = <3>; #size-cells = <0>; m@0 { reg = <1 2 3 4>; }; };
	e { compatible = ""; status = "disabled"; reg = <>; };
};
DTS
/usr/bin/rustc --edition 2021 --test -C opt-level=1 -C debug-assertions=on -C overflow-checks=on -o "$out/fdt-test" "$here/fdt_host_test.rs"
FDT_TEST_DIR=$out "$out/fdt-test"
