#!/bin/bash
# dkvm-single-gpu hook, release/end of the VM 'mymac': written by `dkvm hooks install`,
# removed by `dkvm hooks remove mymac`.
#
# Gives these PCI functions back to the host after the guest stopped:
#   0000:0b:00.0 (nvidia), 0000:0b:00.1 (snd_hda_intel).
# prepare/begin records each step it did in the state file; release/end undoes
# exactly those steps, in reverse order. DKVM_HOOK_SYSFS and DKVM_HOOK_RUN stand
# for /sys and /run (tests).
sys=${DKVM_HOOK_SYSFS:-/sys}
state=${DKVM_HOOK_RUN:-/run}/dkvm-hooks/'mymac'.state
# Best effort: a step that fails does not stop the others.
set -u
if [ ! -f "$state" ]; then
	echo "dkvm-single-gpu: nothing to undo (no $state)"
	exit 0
fi
rc=0
undo() { echo "dkvm-single-gpu: undo $*"; }
failed() {
	echo "dkvm-single-gpu: undo $* failed" >&2
	rc=1
}
while read -r -u 3 verb arg extra; do
	case "$verb $arg" in
	'detach pci_0000_0b_00_0' | 'detach pci_0000_0b_00_1')
		undo "$verb" "$arg"
		virsh nodedev-reattach "$arg" >/dev/null || failed "$verb" "$arg"
		;;
	'unbind-pci 0000:0b:00.1')
		case $extra in
		'' | *[!A-Za-z0-9_-]*)
			failed "$verb" "$arg" "$extra"
			continue
			;;
		esac
		if [ ! -e "$sys/bus/pci/devices/$arg/driver" ]; then
			undo "$verb" "$arg" "$extra"
			echo "$arg" >"$sys/bus/pci/drivers/$extra/bind" || failed "$verb" "$arg" "$extra"
		fi
		;;
	'unload nvidia_drm' | 'unload nvidia_modeset' | 'unload nvidia_uvm' | 'unload nvidia')
		undo "$verb" "$arg"
		modprobe "$arg" || failed "$verb" "$arg"
		;;
	'unbind-fb efi-framebuffer' | 'unbind-fb simple-framebuffer' | 'unbind-fb vesa-framebuffer')
		undo "$verb" "$arg"
		echo "$arg.0" >"$sys/bus/platform/drivers/$arg/bind" || failed "$verb" "$arg"
		;;
	'unbind-vtcon vtcon'[0-9] | 'unbind-vtcon vtcon'[0-9][0-9])
		undo "$verb" "$arg"
		echo 1 >"$sys/class/vtconsole/$arg/bind" || failed "$verb" "$arg"
		;;
	*)
		echo "dkvm-single-gpu: ignored state line '$verb $arg $extra'" >&2
		;;
	esac
done 3< <(tac "$state")
rm -f "$state"
exit "$rc"
