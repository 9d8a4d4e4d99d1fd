#!/bin/sh
# Runs the test guest on plain QEMU virt (no hypervisor) for development.
#   dev/run-qemu.sh [--gic3] [--xen-dt] [bootargs...]
# --gic3 gives the machine a GICv3 (gic-version=3; needed by mode=irq,
# mode=gic-attack, irq=1 and hostile-gic; QEMU's default is a GICv2).
# --xen-dt boots it with dev/xen-domu-like.dts (2 vCPUs) instead of QEMU's
# own device tree. Default bootargs: "mode=normal memory=131072 cpus=N
# skip=wfi" (the wfi check hangs without a hypervisor: QEMU's GIC is left
# disabled, so the timer never raises the CPU's interrupt line).
# Set QEMU_TIMEOUT (seconds, default 30) and pipe input for uart-rx.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../../.." && pwd)
out=$repo/target/testguest
dtb_args=""
smp=2
machine=virt
if [ "${1:-}" = "--gic3" ]; then
    shift
    machine=virt,gic-version=3
fi
if [ "${1:-}" = "--xen-dt" ]; then
    shift
    dtc -q -I dts -O dtb -o "$out/xen-domu-like.dtb" "$here/xen-domu-like.dts"
    dtb_args="-dtb $out/xen-domu-like.dtb"
fi
args=${*:-"mode=normal memory=131072 cpus=$smp skip=wfi"}
# shellcheck disable=SC2086
exec timeout "${QEMU_TIMEOUT:-30}" qemu-system-aarch64 -M $machine -cpu cortex-a57 \
    -smp $smp -m 128M -nographic -kernel "$out/testguest.bin" $dtb_args \
    -append "$args"
