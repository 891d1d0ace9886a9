#!/usr/bin/env bash
# dkvm vfio bind|unbind|persist|undo on fixture trees (never the machine's
# devices or files): tests/tune/fixtures/sysroot is the host (a GPU 0b:00.0
# 1002:73ff on amdgpu and its audio 0b:00.1 1002:ab28 in IOMMU group 1), each
# <distro>/root adds that distro's files, <distro>/expected holds them after
# --apply.
. "$(dirname "$0")/../lib.sh"
TF="$DKVM_SRCDIR/tests/tune/fixtures"

# tree DISTRO: a scratch copy of the sysroot with the distro's files over it
tree() {
  cp -a "$TF/sysroot" "$T/tree"
  if [ -n "${1:-}" ]; then cp -a "$TF/$1/root/." "$T/tree/"; fi
  echo "$T/tree"
}

snapshot() { (cd "$1" && find . -type f -o -type l | LC_ALL=C sort | xargs -d '\n' sha256sum 2>/dev/null || true); }

persist_roundtrip() {
  local d=$1 r
  r=$(tree "$d")
  local before; before=$(snapshot "$r")
  # dry run: diffs, nothing written
  t_ok "$DKVM" --sysroot "$r" --root "$r" vfio persist 0b:00.0 0b:00.1
  t_contains "$OUT" "+++ b/etc/modprobe.d/dkvm-vfio.conf"
  t_contains "$OUT" "dry run: nothing written"
  t_eq "$(snapshot "$r")" "$before" "tree after a dry run"
  # apply: exactly the expected files
  t_ok "$DKVM" --sysroot "$r" --root "$r" vfio persist 0b:00.0 0b:00.1 --apply
  (cd "$TF/$d/expected" && find . -type f) | while read -r f; do
    cmp "$TF/$d/expected/$f" "$r/$f" || t_fail "$d: $f differs from expected"
  done
  [ -f "$r/var/lib/dkvm/vfio-persist.json" ] || t_fail "no manifest"
  # twice: nothing changes
  local after; after=$(snapshot "$r")
  t_ok "$DKVM" --sysroot "$r" --root "$r" vfio persist 0b:00.0 0b:00.1 --apply
  t_contains "$OUT" "nothing to do"
  t_eq "$(snapshot "$r")" "$after" "tree after a second --apply"
  # undo dry run changes nothing; undo --apply restores byte for byte
  t_ok "$DKVM" --root "$r" vfio undo
  t_eq "$(snapshot "$r")" "$after" "tree after an undo dry run"
  t_ok "$DKVM" --root "$r" vfio undo --apply
  rmdir "$r/var/lib/dkvm" "$r/var/lib" "$r/var"
  t_eq "$(snapshot "$r")" "$before" "tree after undo"
  (cd "$TF/$d/root" && find . -type f) | while read -r f; do
    cmp "$TF/$d/root/$f" "$r/$f" || t_fail "$d: $f not restored"
  done
  t_exit 1 "$DKVM" --root "$r" vfio undo
  t_contains "$ERR" "nothing to undo"
}

test_persist_debian_grub() { persist_roundtrip debian-grub; }
test_persist_fedora_grub_dracut() { persist_roundtrip fedora-grub; }
test_persist_arch_systemd_boot_mkinitcpio() { persist_roundtrip arch-sdboot; }
test_persist_popos_kernelstub() { persist_roundtrip popos-kernelstub; }

test_persist_commands_and_json() {
  local r; r=$(tree debian-grub)
  t_ok "$DKVM" --json --sysroot "$r" --root "$r" vfio persist 0b:00
  t_json "$OUT"
  t_eq "$(t_jget "$OUT" "d['ids']")" "1002:73ff,1002:ab28"
  t_eq "$(t_jget "$OUT" "d['params']")" "['iommu=pt', 'vfio-pci.ids=1002:73ff,1002:ab28']"
  t_eq "$(t_jget "$OUT" "d['drivers']")" "['amdgpu', 'snd_hda_intel']"
  t_eq "$(t_jget "$OUT" "d['commands']")" "['update-initramfs -u', 'update-grub']"
  t_eq "$(t_jget "$OUT" "d['applied']")" "False"
  r=$(cp -a "$TF/sysroot" "$T/f" && cp -a "$TF/fedora-grub/root/." "$T/f/" && echo "$T/f")
  t_ok "$DKVM" --json --sysroot "$r" --root "$r" vfio persist 0b:00.0 0b:00.1
  t_eq "$(t_jget "$OUT" "d['params'][0]")" "intel_iommu=on"
  t_eq "$(t_jget "$OUT" "d['commands']")" "['dracut -f', 'grub2-mkconfig -o /boot/grub2/grub.cfg']"
}

test_persist_refusals() {
  local r; r=$(tree debian-grub)
  t_exit 1 "$DKVM" --sysroot "$r" --root "$r" vfio persist 0b:00.0
  t_eq "$ERR" "dkvm: 0000:0b:00.0: IOMMU group 1 also holds 0000:0b:00.1, not named (name every device of the group, or --force)"
  t_exit 1 "$DKVM" --sysroot "$r" --root "$r" vfio persist 0b:00.0 0b:00.1 --bootloader systemd-boot
  t_eq "$(wc -l <<<"$ERR")" "1"
  t_contains "$ERR" "no systemd-boot loader entries"
  t_exit 2 "$DKVM" --sysroot "$r" --root "$r" vfio persist 0b:00.0 --bootloader lilo
  [ ! -e "$r/var/lib/dkvm" ] || t_fail "a refusal wrote the manifest"
}

bind_tree() {
  local r; r=$(tree)
  echo "$r"
}

test_bind_writes_sysfs() {
  local r; r=$(bind_tree)
  t_ok "$DKVM" --sysroot "$r" vfio bind 0b:00.0 0b:00.1
  t_contains "$OUT" "0000:0b:00.0 [1002:73ff]: bound to vfio-pci (was amdgpu)"
  t_eq "$(cat "$r/sys/bus/pci/devices/0000:0b:00.0/driver_override")" "vfio-pci"
  t_eq "$(cat "$r/sys/bus/pci/devices/0000:0b:00.1/driver_override")" "vfio-pci"
  t_eq "$(cat "$r/sys/bus/pci/drivers/amdgpu/unbind")" "0000:0b:00.0"
  t_eq "$(cat "$r/sys/bus/pci/drivers/snd_hda_intel/unbind")" "0000:0b:00.1"
  t_eq "$(cat "$r/sys/bus/pci/drivers_probe")" "0000:0b:00.1"
  # JSON lists every write in order
  t_ok "$DKVM" --json --sysroot "$r" vfio bind 0b:00
  t_eq "$(t_jget "$OUT" "[w['path'] for w in d['devices'][0]['writes']]")" \
    "['/sys/bus/pci/devices/0000:0b:00.0/driver_override', '/sys/bus/pci/devices/0000:0b:00.0/driver/unbind', '/sys/bus/pci/drivers_probe']"
}

test_unbind_writes_sysfs() {
  local r; r=$(bind_tree)
  # a device on vfio-pci
  ln -sfn ../../../../bus/pci/drivers/vfio-pci "$r/sys/devices/pci0000:00/0000:00:03.1/0000:0b:00.0/driver"
  printf 'vfio-pci\n' > "$r/sys/bus/pci/devices/0000:0b:00.0/driver_override"
  t_ok "$DKVM" --sysroot "$r" vfio unbind 0b:00.0 0b:00.1
  t_contains "$OUT" "0000:0b:00.0 [1002:73ff]: released from vfio-pci"
  t_contains "$OUT" "0000:0b:00.1 [1002:ab28]: not bound to vfio-pci"
  t_eq "$(cat "$r/sys/bus/pci/devices/0000:0b:00.0/driver_override" | od -c | head -1)" "0000000  \\n"
  t_eq "$(cat "$r/sys/bus/pci/drivers/vfio-pci/unbind")" "0000:0b:00.0"
  t_eq "$(cat "$r/sys/bus/pci/drivers_probe")" "0000:0b:00.0"
  t_eq "$(cat "$r/sys/bus/pci/drivers/snd_hda_intel/unbind")" ""
}

test_bind_refusals() {
  local r; r=$(bind_tree)
  local before; before=$(snapshot "$r")
  t_exit 1 "$DKVM" --sysroot "$r" vfio bind 0b:00.0
  t_eq "$ERR" "dkvm: 0000:0b:00.0: IOMMU group 1 also holds 0000:0b:00.1, not named (name every device of the group, or --force)"
  t_exit 1 "$DKVM" --sysroot "$r" vfio bind 05:00.0
  t_eq "$ERR" "dkvm: 0000:05:00.0: IOMMU group 3 also holds 0000:06:00.0, not named (name every device of the group, or --force)"
  t_exit 1 "$DKVM" --sysroot "$r" vfio bind 0b:00.0 0b:00.1 42:00.0
  t_eq "$ERR" "dkvm: 42:00.0: no such PCI device"
  t_exit 1 "$DKVM" --sysroot "$r" vfio bind zz
  t_eq "$(wc -l <<<"$ERR")" "1"
  printf '1\n' > "$r/sys/bus/pci/devices/0000:0b:00.0/boot_vga"
  before=$(snapshot "$r")
  t_exit 1 "$DKVM" --sysroot "$r" vfio bind 0b:00
  t_eq "$ERR" "dkvm: 0000:0b:00.0: the boot VGA device (the host's display); --force to take it anyway"
  t_eq "$(snapshot "$r")" "$before" "nothing written by a refusal"
  t_ok "$DKVM" --sysroot "$r" vfio bind 0b:00 --force
  t_eq "$(cat "$r/sys/bus/pci/devices/0000:0b:00.0/driver_override")" "vfio-pci"
  t_exit 2 "$DKVM" --sysroot "$r" vfio bind
}

# A symlink in the tree pointing out of it is never followed for a write.
test_bind_refuses_writes_outside_sysroot() {
  local r; r=$(bind_tree)
  mkdir -p "$T/outside"; : > "$T/outside/unbind"
  ln -sfn "$T/outside" "$r/sys/devices/pci0000:00/0000:00:03.1/0000:0b:00.0/driver"
  t_exit 1 "$DKVM" --sysroot "$r" vfio bind 0b:00.0 0b:00.1
  t_contains "$ERR" "resolves outside the sysroot"
  t_eq "$(cat "$T/outside/unbind")" ""
}

# A FIFO where a sysfs file should be: refused, no hang.
test_bind_refuses_fifo() {
  local r; r=$(bind_tree)
  rm "$r/sys/bus/pci/devices/0000:0b:00.0/driver_override"
  mkfifo "$r/sys/bus/pci/devices/0000:0b:00.0/driver_override"
  t_exit 1 timeout 10 "$DKVM" --sysroot "$r" vfio bind 0b:00.0 0b:00.1
  t_eq "$(wc -l <<<"$ERR")" "1"
}

test_undo_refuses_hostile_manifest() {
  local r; r=$(tree debian-grub)
  mkdir -p "$r/var/lib/dkvm"
  printf '{"files":[{"path":"/etc/shadow","backup":"/etc/shadow.dkvm-bak.20240101T000000Z"}]}' > "$r/var/lib/dkvm/vfio-persist.json"
  t_exit 1 "$DKVM" --root "$r" vfio undo --apply
  t_contains "$ERR" "not a file dkvm vfio persist edits"
  printf 'not json' > "$r/var/lib/dkvm/vfio-persist.json"
  t_exit 1 "$DKVM" --root "$r" vfio undo --apply
  t_contains "$ERR" "not a dkvm vfio manifest"
}

t_main
