#!/usr/bin/env bash
# dkvm hooks install|remove under a --root temp tree, and the begin/end
# scripts run against a fake sysfs with stub systemctl/virsh/modprobe.
. "$(dirname "$0")/../lib.sh"

# A host fixture with a display manager, and an empty root with /etc/libvirt/hooks.
setup() {
  cp -a "$FIX/host/amd-ryzen" "$T/host"
  mkdir -p "$T/host/etc/systemd/system" "$T/root/etc/libvirt/hooks"
  ln -s /usr/lib/systemd/system/gdm3.service "$T/host/etc/systemd/system/display-manager.service"
  H=(--sysroot "$T/host" --root "$T/root")
}
# "mode size sha path" of every file and "d path" of every directory under $1
tree_state() { (cd "$1" && find . -mindepth 1 \( -type d -printf 'd %p\n' \) -o \( -type f -printf '%m %s %p ' -exec sha256sum {} \; \) | sort); }

test_dry_run_writes_nothing_and_prints_files() {
  setup
  t_ok "$DKVM" hooks install mymac --single-gpu 0b:00.0 0b:00.1 "${H[@]}"
  t_contains "$OUT" "create $T/root/etc/libvirt/hooks/qemu (mode 0755):"
  t_contains "$OUT" "virsh nodedev-detach pci_0000_0b_00_1"
  t_contains "$OUT" "systemctl stop 'gdm3.service'"
  t_contains "$OUT" "dry run: nothing written"
  t_eq "$(find "$T/root" -type f | wc -l)" 0 "files written"
}

test_json_lists_the_files() {
  setup
  t_ok "$DKVM" --json hooks install mymac --single-gpu 0b:00.0 "${H[@]}"
  t_json "$OUT"
  t_eq "$(t_jget "$OUT" '(list(d), d["vm"], d["applied"], d["root"], [(f["path"], f["action"], sorted(f)) for f in d["files"]])')" \
    "(['vm', 'applied', 'root', 'files'], 'mymac', False, '$T/root', [('/etc/libvirt/hooks/qemu', 'create', ['action', 'content', 'path']), ('/etc/libvirt/hooks/qemu.d/mymac/prepare/begin/dkvm-single-gpu.sh', 'create', ['action', 'content', 'path']), ('/etc/libvirt/hooks/qemu.d/mymac/release/end/dkvm-single-gpu.sh', 'create', ['action', 'content', 'path'])])"
  t_eq "$(find "$T/root" -type f | wc -l)" 0 "files written"
}

test_install_files_modes_idempotent() {
  setup
  t_ok "$DKVM" hooks install mymac --single-gpu 0b:00.0,0b:00.1 "${H[@]}" --apply
  local h=$T/root/etc/libvirt/hooks
  t_eq "$(cd "$h" && find . -type f -printf '%m %p\n' | sort)" "755 ./qemu
755 ./qemu.d/mymac/prepare/begin/dkvm-single-gpu.sh
755 ./qemu.d/mymac/release/end/dkvm-single-gpu.sh"
  cmp "$h/qemu" "$DKVM_SRCDIR/tests/hooks/golden/qemu" || t_fail "dispatcher differs from the golden"
  cmp "$h/qemu.d/mymac/prepare/begin/dkvm-single-gpu.sh" "$DKVM_SRCDIR/tests/hooks/golden/nouveau-begin.sh" ||
    t_fail "begin differs from the golden"
  cmp "$h/qemu.d/mymac/release/end/dkvm-single-gpu.sh" "$DKVM_SRCDIR/tests/hooks/golden/nouveau-end.sh" ||
    t_fail "end differs from the golden"
  local before; before=$(tree_state "$T/root")
  t_ok "$DKVM" hooks install mymac --single-gpu 0b:00.0,0b:00.1 "${H[@]}" --apply
  t_eq "$(grep -c '^unchanged ' <<<"$OUT")" 3 "unchanged files"
  t_eq "$(tree_state "$T/root")" "$before" "tree after the second install"
}

test_update_shows_diff_and_remove_restores_empty_tree() {
  setup
  local before; before=$(tree_state "$T/root")
  t_ok "$DKVM" hooks install mymac --single-gpu 0b:00.0,0b:00.1 "${H[@]}" --apply
  t_ok "$DKVM" hooks install mymac --single-gpu 0b:00.0 "${H[@]}" --display-manager sddm
  t_contains "$OUT" "update $T/root/etc/libvirt/hooks/qemu.d/mymac/prepare/begin/dkvm-single-gpu.sh:"
  t_contains "$OUT" "-systemctl stop 'gdm3.service'"
  t_contains "$OUT" "+systemctl stop 'sddm.service'"
  t_contains "$OUT" "@@ -"
  t_ok "$DKVM" hooks remove mymac --root "$T/root"
  t_contains "$OUT" "remove $T/root/etc/libvirt/hooks/qemu"
  t_ok "$DKVM" hooks remove mymac --root "$T/root" --apply
  t_eq "$(tree_state "$T/root")" "$before" "tree after remove"
  t_ok "$DKVM" hooks remove mymac --root "$T/root" --apply
  t_contains "$OUT" "no dkvm hooks installed for 'mymac'"
}

test_foreign_dispatcher_refused_then_forced_and_restored() {
  setup
  local h=$T/root/etc/libvirt/hooks
  printf '#!/bin/sh\n# my own hook\nexit 0\n' >"$h/qemu"
  chmod 0750 "$h/qemu"
  local before; before=$(tree_state "$T/root")
  t_exit 1 "$DKVM" hooks install mymac --single-gpu 0b:00.0 "${H[@]}" --apply
  t_eq "$(wc -l <<<"$ERR")" 1 "error lines"
  t_contains "$ERR" "dkvm: $h/qemu: exists and was not written by dkvm"
  t_contains "$ERR" "--force"
  t_eq "$(tree_state "$T/root")" "$before" "tree after the refusal"
  t_ok "$DKVM" hooks install mymac --single-gpu 0b:00.0 "${H[@]}" --apply --force
  t_contains "$OUT" "replaced $h/qemu"
  cmp "$h/qemu" "$DKVM_SRCDIR/tests/hooks/golden/qemu" || t_fail "dispatcher not replaced"
  t_eq "$(stat -c %a "$h/qemu")" 755
  t_eq "$(ls "$h" | grep -c '^qemu\.dkvm-bak\.')" 1 "backups"
  # a second VM keeps the dispatcher when the first is removed
  t_ok "$DKVM" hooks install other --single-gpu 0b:00.0 "${H[@]}" --apply
  t_ok "$DKVM" hooks remove mymac --root "$T/root" --apply
  t_contains "$OUT" "kept $h/qemu (still used by the hooks of 'other')"
  t_ok "$DKVM" hooks remove other --root "$T/root" --apply
  t_contains "$OUT" "restored $h/qemu from"
  t_eq "$(tree_state "$T/root")" "$before" "tree after remove (foreign dispatcher back, byte-exact)"
}

test_refusals_one_line() {
  setup
  t_exit 1 "$DKVM" hooks install mymac --single-gpu 0b:00.0,0f:00.0 "${H[@]}" --apply
  t_eq "$ERR" "dkvm: 0f:00.0: no such PCI device (under $T/host/sys/bus/pci/devices)"
  t_exit 1 "$DKVM" hooks install mymac --single-gpu 0b:00.0 --sysroot "$FIX/host/amd-ryzen" --root "$T/root"
  t_eq "$(wc -l <<<"$ERR")" 1 "error lines"
  t_contains "$ERR" "display-manager.service: not a link to a display manager's unit"
  t_exit 1 "$DKVM" hooks install ../x --single-gpu 0b:00.0 "${H[@]}"
  t_contains "$ERR" "not a plain name"
  t_exit 2 "$DKVM" hooks install mymac "${H[@]}"
  t_contains "$ERR" "--single-gpu"
  t_exit 2 "$DKVM" hooks install mymac --single-gpu 0b:00.0 --display-manager "x;y" "${H[@]}"
  t_eq "$(find "$T/root" -type f | wc -l)" 0 "files written"
  t_ok "$DKVM" hooks install mymac --single-gpu 0b:00.0 --display-manager none "${H[@]}"
  t_not_contains "$OUT" "systemctl"
}

# Stubs that log their arguments; a sysfs tree with one framebuffer console,
# efifb and the GPU's two functions bound.
fake_env() {
  mkdir -p "$T/bin" "$T/run"
  for p in systemctl modprobe; do
    printf '#!/bin/sh\necho "%s $*" >>"%s/calls"\n' "$p" "$T" >"$T/bin/$p"
  done
  # virsh: detaching unbinds the function (as the kernel does), reattach leaves it unbound
  cat >"$T/bin/virsh" <<STUB
#!/bin/sh
echo "virsh \$*" >>"$T/calls"
case \$1 in nodedev-detach)
  b=\$(echo "\$2" | sed 's/^pci_//; s/_/:/; s/_/:/; s/_/./')
  rm -f "$T/sys/bus/pci/devices/\$b/driver";;
esac
STUB
  chmod +x "$T/bin/"*
  local s=$T/sys
  mkdir -p "$s/class/vtconsole/vtcon0" "$s/class/vtconsole/vtcon1" \
    "$s/bus/platform/drivers/efi-framebuffer/efi-framebuffer.0" "$s/bus/pci/drivers/nouveau" \
    "$s/bus/pci/drivers/snd_hda_intel" "$s/module/nvidia"
  echo "(S) dummy device" >"$s/class/vtconsole/vtcon0/name"; echo 1 >"$s/class/vtconsole/vtcon0/bind"
  echo "(M) frame buffer device" >"$s/class/vtconsole/vtcon1/name"; echo 1 >"$s/class/vtconsole/vtcon1/bind"
  for f in 0 1; do mkdir -p "$s/bus/pci/devices/0000:0b:00.$f"; done
  ln -s ../../drivers/nouveau "$s/bus/pci/devices/0000:0b:00.0/driver"
  ln -s ../../drivers/snd_hda_intel "$s/bus/pci/devices/0000:0b:00.1/driver"
}
run_hook() { # run_hook begin|end: the installed script with the fake environment
  local sub=prepare/begin; [ "$1" = end ] && sub=release/end
  PATH="$T/bin:$PATH" DKVM_HOOK_SYSFS=$T/sys DKVM_HOOK_RUN=$T/run \
    "$T/root/etc/libvirt/hooks/qemu" mymac "${sub%/*}" "${sub#*/}" - </dev/null
}

test_begin_then_end_is_exact_reverse() {
  setup
  fake_env
  t_ok "$DKVM" hooks install mymac --single-gpu 0b:00.0,0b:00.1 "${H[@]}" --apply
  t_ok run_hook begin
  local steps=$OUT calls; calls=$(cat "$T/calls"); : >"$T/calls"
  t_eq "$steps" "dkvm-single-gpu: stop-unit gdm3.service
dkvm-single-gpu: unbind-vtcon vtcon1
dkvm-single-gpu: unbind-fb efi-framebuffer
dkvm-single-gpu: unbind-pci 0000:0b:00.0 nouveau
dkvm-single-gpu: unbind-pci 0000:0b:00.1 snd_hda_intel
dkvm-single-gpu: detach pci_0000_0b_00_0
dkvm-single-gpu: detach pci_0000_0b_00_1" "begin steps"
  t_eq "$calls" "systemctl stop gdm3.service
virsh nodedev-detach pci_0000_0b_00_0
virsh nodedev-detach pci_0000_0b_00_1" "begin calls"
  t_eq "$(cat "$T/sys/class/vtconsole/vtcon1/bind")" 0
  t_eq "$(cat "$T/sys/class/vtconsole/vtcon0/bind")" 1 "the dummy console stays bound"
  t_eq "$(cat "$T/sys/bus/platform/drivers/efi-framebuffer/unbind")" efi-framebuffer.0
  t_eq "$(cat "$T/sys/bus/pci/drivers/nouveau/unbind")" 0000:0b:00.0
  t_ok run_hook end
  # the end's steps are the begin's, reversed
  t_eq "$(sed 's/^dkvm-single-gpu: undo /dkvm-single-gpu: /' <<<"$OUT")" "$(tac <<<"$steps")" "end steps"
  t_eq "$(cat "$T/calls")" "$(tac <<<"$calls" | sed 's/ stop / start /; s/nodedev-detach/nodedev-reattach/')" "end calls"
  t_eq "$(cat "$T/sys/class/vtconsole/vtcon1/bind")" 1
  t_eq "$(cat "$T/sys/bus/platform/drivers/efi-framebuffer/bind")" efi-framebuffer.0
  t_eq "$(cat "$T/sys/bus/pci/drivers/nouveau/bind")" 0000:0b:00.0
  t_eq "$(cat "$T/sys/bus/pci/drivers/snd_hda_intel/bind")" 0000:0b:00.1
  [ ! -e "$T/run/dkvm-hooks/mymac.state" ] || t_fail "state file left"
  # nothing recorded: end does nothing
  : >"$T/calls"
  t_ok run_hook end
  t_contains "$OUT" "nothing to undo"
  t_eq "$(cat "$T/calls")" ""
}

test_nvidia_unload_reversed_and_failure_keeps_going() {
  setup
  fake_env
  ln -sfn ../../../../bus/pci/drivers/nvidia "$T/host/sys/devices/pci0000:00/0000:00:03.1/0000:0b:00.0/driver"
  t_ok "$DKVM" hooks install mymac --single-gpu 0b:00.0 "${H[@]}" --display-manager lightdm --apply
  t_ok run_hook begin
  local calls; calls=$(cat "$T/calls"); : >"$T/calls"
  t_eq "$calls" "systemctl stop lightdm.service
modprobe -r nvidia
virsh nodedev-detach pci_0000_0b_00_0" "begin calls"
  # a failing reattach does not stop the rest: the display manager comes back
  printf '#!/bin/sh\necho "virsh $*" >>"%s/calls"\nexit 1\n' "$T" >"$T/bin/virsh"
  t_exit 1 run_hook end
  t_eq "$(cat "$T/calls")" "virsh nodedev-reattach pci_0000_0b_00_0
modprobe nvidia
systemctl start lightdm.service" "end calls"
  t_contains "$ERR" "undo detach pci_0000_0b_00_0 failed"
}

test_dispatcher_passes_args_and_stdin_and_fails() {
  setup
  t_ok "$DKVM" hooks install mymac --single-gpu 0b:00.0 "${H[@]}" --apply
  local d=$T/root/etc/libvirt/hooks/qemu.d/mymac/started/begin
  mkdir -p "$d"
  printf '#!/bin/sh\necho "$*"; cat\n' >"$d/a.sh"; chmod +x "$d/a.sh"
  printf '#!/bin/sh\nexit 3\n' >"$d/b.sh"; chmod +x "$d/b.sh"
  printf 'not executable\n' >"$d/c.txt"
  set +e
  out=$(echo "<domain/>" | "$T/root/etc/libvirt/hooks/qemu" mymac started begin -); rc=$?
  set -e
  t_eq "$rc" 3 "exit status"
  t_eq "$out" "mymac started begin -
<domain/>"
  t_ok "$T/root/etc/libvirt/hooks/qemu" other started begin - </dev/null
  t_ok "$T/root/etc/libvirt/hooks/qemu" .. started begin - </dev/null
}

t_main
