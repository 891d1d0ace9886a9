#!/usr/bin/env bash
# host check: can libvirt's QEMU user (qemu.conf, else the distro's default)
# open /dev/kvm? Judged from the sysroot's passwd/group and /dev/kvm's mode.
. "$(dirname "$0")/../lib.sh"

jcheck() { t_jget "$1" "([c['status'] for c in d['checks'] if c['id']=='$2'] or ['absent'])[0]"; }

# A Debian sysroot with libvirt installed and libvirt-qemu in the kvm group.
mkroot() { # mkroot MODE
  local r="$T/root"
  rm -rf "$r"; cp -a "$FIX/host/iommu-off" "$r"   # Ubuntu: libvirt-qemu by default
  chmod "$1" "$r/dev/kvm"
  mkdir -p "$r/usr/sbin"; : > "$r/usr/sbin/libvirtd"
  printf 'root:x:0:0:root:/root:/bin/bash\nlibvirt-qemu:x:64055:107:Libvirt Qemu:/var/lib/libvirt:/usr/sbin/nologin\nqemu2:x:4242:4242::/:/bin/false\n' > "$r/etc/passwd"
  printf 'root:x:0:\nkvm:x:107:\nlibvirt-qemu:x:64055:libvirt-qemu\nqemu2:x:4242:\n' > "$r/etc/group"
  echo "$r"
}

test_root_only_dev_kvm_fails_with_the_udev_fix() {
  local r; r=$(mkroot 0600)
  t_exit 1 "$DKVM" --json host check --sysroot "$r"
  t_eq "$(jcheck "$OUT" libvirt.qemu_kvm)" fail
  local fix; fix=$(t_jget "$OUT" "[c['fix'] for c in d['checks'] if c['id']=='libvirt.qemu_kvm'][0]")
  t_contains "$fix" 'KERNEL=="kvm", GROUP="kvm", MODE="0660"'
  t_contains "$fix" "udevadm trigger"
  t_not_contains "$fix" "usermod" # libvirt-qemu is in kvm already (primary group)
}

test_group_kvm_0660_passes() {
  local r; r=$(mkroot 0660)
  "$DKVM" --json host check --sysroot "$r" >"$T/out" || true
  t_eq "$(jcheck "$(cat "$T/out")" libvirt.qemu_kvm)" pass
}

test_qemu_conf_user_not_in_kvm_gets_usermod() {
  local r; r=$(mkroot 0660)
  mkdir -p "$r/etc/libvirt"
  printf '# user = "root"\nuser = "qemu2"\ngroup = "qemu2"\n' > "$r/etc/libvirt/qemu.conf"
  "$DKVM" --json host check --sysroot "$r" >"$T/out" || true
  t_eq "$(jcheck "$(cat "$T/out")" libvirt.qemu_kvm)" fail
  t_contains "$(cat "$T/out")" "sudo usermod -a -G kvm qemu2"
}

test_no_libvirt_no_verdict() {
  local r; r=$(mkroot 0600)
  rm -f "$r/usr/sbin/libvirtd" "$r/usr/bin/libvirtd"
  "$DKVM" --json host check --sysroot "$r" >"$T/out" || true
  t_eq "$(jcheck "$(cat "$T/out")" libvirt.qemu_kvm)" absent
}

t_main
