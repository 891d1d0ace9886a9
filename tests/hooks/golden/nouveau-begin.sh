#!/bin/bash
# dkvm-single-gpu hook, prepare/begin of the VM 'mymac': written by `dkvm hooks install`,
# removed by `dkvm hooks remove mymac`.
#
# Hands these PCI functions to vfio-pci before the guest starts:
#   0000:0b:00.0 (nouveau), 0000:0b:00.1 (snd_hda_intel).
# prepare/begin records each step it did in the state file; release/end undoes
# exactly those steps, in reverse order. DKVM_HOOK_SYSFS and DKVM_HOOK_RUN stand
# for /sys and /run (tests).
sys=${DKVM_HOOK_SYSFS:-/sys}
state=${DKVM_HOOK_RUN:-/run}/dkvm-hooks/'mymac'.state
set -eu
mkdir -p "${state%/*}"
: >"$state"
did() {
	echo "dkvm-single-gpu: $*"
	echo "$*" >>"$state"
}

# The display manager (its session holds the GPU).
systemctl stop 'gdm3.service'
did stop-unit 'gdm3.service'

# The framebuffer consoles.
for vt in "$sys"/class/vtconsole/vtcon*; do
	if [ -f "$vt/bind" ] && [ "$(cat "$vt/bind")" = 1 ] &&
		grep -q 'frame buffer' "$vt/name" 2>/dev/null; then
		echo 0 >"$vt/bind"
		did unbind-vtcon "${vt##*/}"
	fi
done

# The firmware framebuffer (efifb, simpledrm, vesafb).
for fb in efi-framebuffer simple-framebuffer vesa-framebuffer; do
	if [ -e "$sys/bus/platform/drivers/$fb/$fb.0" ]; then
		echo "$fb.0" >"$sys/bus/platform/drivers/$fb/unbind"
		did unbind-fb "$fb"
	fi
done

# The GPU's drivers.
dev=$sys/bus/pci/devices/0000:0b:00.0
if [ -e "$dev/driver" ]; then
	drv=$(basename "$(readlink "$dev/driver")")
	if [ "$drv" != vfio-pci ]; then
		echo 0000:0b:00.0 >"$dev/driver/unbind"
		did unbind-pci 0000:0b:00.0 "$drv"
	fi
fi
dev=$sys/bus/pci/devices/0000:0b:00.1
if [ -e "$dev/driver" ]; then
	drv=$(basename "$(readlink "$dev/driver")")
	if [ "$drv" != vfio-pci ]; then
		echo 0000:0b:00.1 >"$dev/driver/unbind"
		did unbind-pci 0000:0b:00.1 "$drv"
	fi
fi

# Every function to vfio-pci.
virsh nodedev-detach pci_0000_0b_00_0 >/dev/null
did detach pci_0000_0b_00_0
virsh nodedev-detach pci_0000_0b_00_1 >/dev/null
did detach pci_0000_0b_00_1
