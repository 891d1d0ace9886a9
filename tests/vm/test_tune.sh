#!/usr/bin/env bash
# dkvm tune: write-ups on a bundle (dry run, apply, undo, hand edits) and pin plans on fixture topologies.
source "$(dirname "$0")/../lib.sh"

mk_img() { # a raw GPT disk with an ESP, enough for --opencore-image
  truncate -s 64M "$1"
  printf 'label: gpt\nstart=2048, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\n' | sfdisk -q "$1"
  mformat -i "$1@@1M" -v OPENCORE -T 126976 -h 64 -s 32 ::
}

need_bundle() {
  command -v qemu-system-x86_64 >/dev/null || t_skip "qemu-system-x86_64 not installed"
  [ -e /usr/share/OVMF/OVMF_CODE_4M.fd ] || [ -e /usr/share/OVMF/OVMF_CODE.fd ] || t_skip "OVMF not installed"
  mk_img "$T/oc.img"
  t_ok "$DKVM" create t1 --dir "$T/vms" --opencore-image "$T/oc.img" --no-recovery --memory 2G --disk 16G --no-tune
  B="$T/vms/t1"
}

snap() { (cd "$B" && sha256sum manifest.json domain.xml qemu.argv; ls -A) ; }
hashes() { (cd "$B" && sha256sum manifest.json domain.xml qemu.argv) ; }

test_pin_plans_fixtures() {
  local fx="$DKVM_SRCDIR/tests/fixtures/host" f
  for f in amd-ryzen intel-hybrid intel-desktop xeon-2s 4core-nosmt; do
    [ -d "$fx/$f" ] || continue
    local n=4; [ "$f" = 4core-nosmt ] && n=2
    "$DKVM" --sysroot "$fx/$f" tune pin --plan --vcpus $n --json >"$T/out" 2>"$T/err" || { cat "$T/err"; t_fail "$f: pin --plan"; }
    python3 - "$fx/$f" "$T/out" "$n" <<'PY' || t_fail "$f: pin plan rules"
import json, os, sys
root, out, N = sys.argv[1], sys.argv[2], int(sys.argv[3])
d = json.load(open(out))
cpu = root + "/sys/devices/system/cpu"
def rd(p):
    return open(p).read().strip()
def cpulist(s):
    r = []
    for part in s.split(","):
        a, _, b = part.partition("-")
        r += range(int(a), int(b or a) + 1)
    return r
def core(c):
    t = cpu + "/cpu%d/topology/" % c
    return (rd(t + "physical_package_id"), rd(t + "core_id"))
def l3(c):
    p = cpu + "/cpu%d/cache/index3/shared_cpu_list" % c
    return rd(p) if os.path.exists(p) else None
assert set(d) == {"topology", "vcpupin", "emulatorpin", "iothreadpin"}, d
t = d["topology"]
assert t["sockets"] == 1 and t["cores"] * t["threads"] == N, t
pins = [int(p["cpuset"]) for p in d["vcpupin"]]
assert [p["vcpu"] for p in d["vcpupin"]] == list(range(N))
assert len(set(pins)) == N, "one host CPU per vCPU"
ncpu = len([x for x in os.listdir(cpu) if x[3:].isdigit()])
assert len(pins) <= ncpu, "never more vCPUs than threads"
# CPU 0's core is excluded
assert all(core(p) != core(0) for p in pins), "CPU 0's core used"
# SMT siblings stay one guest core: vCPUs 2k, 2k+1 on one host core; guest cores on distinct host cores
if t["threads"] == 2:
    for k in range(t["cores"]):
        assert core(pins[2 * k]) == core(pins[2 * k + 1]), "siblings split"
    assert len({core(p) for p in pins}) == t["cores"]
else:
    assert len({core(p) for p in pins}) == N
# one L3 domain
doms = {l3(p) for p in pins}
assert len(doms) == 1, "spans L3 domains: %s" % doms
# hybrid: P-cores only
pc = root + "/sys/devices/cpu_core/cpus"
if os.path.exists(pc):
    assert set(pins) <= set(cpulist(rd(pc))), "E-core used"
# one NUMA node (the node directories' cpulists)
nd = root + "/sys/devices/system/node"
nodes = {n: set(cpulist(rd(nd + "/" + n + "/cpulist"))) for n in os.listdir(nd) if n[4:].isdigit()}
assert len({n for n, cs in nodes.items() if set(pins) & cs}) == 1, "spans NUMA nodes"
assert 0 in cpulist(d["emulatorpin"]), "emulator not on CPU 0's core"
assert not set(cpulist(d["iothreadpin"])) & set(pins), "IO thread on a vCPU's CPU"
PY
  done
  t_exit 1 "$DKVM" --sysroot "$fx/amd-ryzen" tune pin --plan --vcpus 200
  t_exit 2 "$DKVM" tune pin --plan
  # 4 cores, no SMT: 4 vCPUs do not fit beside CPU 0's core
  t_exit 1 "$DKVM" --sysroot "$fx/4core-nosmt" tune pin --plan --vcpus 4
  t_contains "$ERR" "the host has 3"
  # dual socket: the pins stay on socket 0's L3 (checked above); 16 vCPUs span, never CPU 0's core
  t_ok "$DKVM" --sysroot "$fx/xeon-2s" tune pin --plan --vcpus 16 --json
  t_contains "$OUT" '"emulatorpin":"0,16"'
  # the document on one line, byte for byte
  t_ok "$DKVM" --sysroot "$fx/amd-ryzen" tune pin --plan --vcpus 4 --json
  t_eq "$OUT" '{"topology":{"sockets":1,"cores":2,"threads":2},"vcpupin":[{"vcpu":0,"cpuset":"1"},{"vcpu":1,"cpuset":"13"},{"vcpu":2,"cpuset":"2"},{"vcpu":3,"cpuset":"14"}],"emulatorpin":"0,12","iothreadpin":"3,15"}'
}

test_dry_run_apply_undo() {
  need_bundle
  snap >"$T/before"
  cp -a "$B" "$T/orig"
  # dry run: the diff, nothing changed
  t_ok "$DKVM" tune t1 iothreads --dry-run --dir "$T/vms"
  t_contains "$OUT" "+++ b/domain.xml"
  t_contains "$OUT" "<iothreads>1</iothreads>"
  t_contains "$OUT" "iothread=iothread1"
  snap >"$T/after"; t_ok cmp "$T/before" "$T/after"
  # apply, then again: no change
  t_ok "$DKVM" tune t1 iothreads --dir "$T/vms"
  t_contains "$(cat "$B/domain.xml")" "iothread=\"1\""
  [ -d "$B/.tune/1" ] || t_fail "no .tune/1"
  snap >"$T/applied"
  t_ok "$DKVM" tune t1 iothreads --dir "$T/vms"
  t_contains "$ERR" "no change"
  snap >"$T/again"; t_ok cmp "$T/applied" "$T/again"
  # a second write-up, two undos: byte-exact
  t_ok "$DKVM" tune t1 hugepages --dir "$T/vms"
  t_contains "$(cat "$B/domain.xml")" "<hugepages/>"
  t_contains "$(cat "$B/qemu.argv")" "mem-path=/dev/hugepages"
  t_ok "$DKVM" tune t1 undo --dir "$T/vms"
  snap >"$T/undone1"; t_ok cmp "$T/applied" "$T/undone1"
  t_ok "$DKVM" tune t1 undo --dir "$T/vms"
  local f
  for f in manifest.json domain.xml qemu.argv; do t_ok cmp "$T/orig/$f" "$B/$f"; done
  [ ! -e "$B/.tune/1" ] || t_fail ".tune/1 left after undo"
  t_exit 1 "$DKVM" tune t1 undo --dir "$T/vms"
  t_contains "$ERR" "nothing to undo"
  if command -v virt-xml-validate >/dev/null; then
    for w in iothreads hugepages "fake-cores --cpus 2"; do
      t_ok "$DKVM" tune t1 $w --dir "$T/vms"
      t_ok virt-xml-validate "$B/domain.xml" domain
    done
    t_contains "$(cat "$B/domain.xml")" "current=\"2\""
    t_contains "$(cat "$B/qemu.argv")" "2,maxcpus=16,sockets=1,dies=1,cores=8,threads=2"
  fi
}

test_hand_edit_refused() {
  need_bundle
  echo '<!-- mine -->' >>"$B/domain.xml"
  snap >"$T/before"
  t_exit 1 "$DKVM" tune t1 iothreads --dir "$T/vms"
  t_contains "$ERR" "domain.xml was edited since dkvm wrote it"
  t_eq "$(grep -c . <<<"$ERR")" "1" "one error line"
  snap >"$T/after"; t_ok cmp "$T/before" "$T/after"
  t_ok "$DKVM" tune t1 iothreads --dir "$T/vms" --force
  t_exit 2 "$DKVM" tune t1 nosuch --dir "$T/vms"
  t_exit 2 "$DKVM" tune t1
  t_exit 1 "$DKVM" tune t1 fake-cores --dir "$T/vms"
  t_contains "$ERR" "--cpus N"
}

# gpu|usb-controller|audio BDF: passthrough on an existing VM, with create's
# checks (PCI facts from the amd-navi fixture host), undone byte-exact.
# The VM's lock held (another create, update, tune, start or destroy of it
# running): tune refused in one line, nothing changed; free again: it applies.
test_tune_locked() {
  need_bundle
  snap >"$T/before"
  exec 9>"$T/vms/.t1.lock"
  flock -x 9
  t_exit 1 "$DKVM" tune t1 iothreads --dir "$T/vms"
  t_eq "$ERR" "dkvm: t1: another dkvm command is working on this VM (create, update, tune, start or destroy); try again when it has finished"
  snap >"$T/after"; t_ok cmp "$T/before" "$T/after"
  exec 9>&-
  rm "$T/vms/.t1.lock"
  t_ok "$DKVM" tune t1 iothreads --dir "$T/vms"
  [ ! -e "$T/vms/.t1.lock" ] || t_fail "tune left its lock file"
}

test_passthrough_writeups() {
  need_bundle
  local fx="$DKVM_SRCDIR/tests/fixtures/host/amd-navi"
  hashes >"$T/before"
  t_ok "$DKVM" --sysroot "$fx" tune t1 gpu 0b:00.0 --dir "$T/vms" --dry-run
  t_contains "$OUT" "vfio-pci,host=0000:0b:00.0"
  t_contains "$OUT" "vfio-pci,host=0000:0b:00.1"
  hashes >"$T/after"; t_ok cmp "$T/before" "$T/after"
  # refusals: boot VGA, a non-viable group, no such device; nothing changes
  local bad
  for bad in "gpu 0a:00.0|boot VGA" "usb-controller 07:00.0|not viable" "gpu 0b:00.6|no such PCI device"; do
    # shellcheck disable=SC2086
    t_exit 1 "$DKVM" --sysroot "$fx" tune t1 ${bad%%|*} --dir "$T/vms"
    t_contains "$ERR" "${bad#*|}"
    t_eq "$(grep -c . <<<"$ERR")" "1" "one error line for ${bad%%|*}"
  done
  hashes >"$T/after"; t_ok cmp "$T/before" "$T/after"
  t_ok "$DKVM" --sysroot "$fx" tune t1 gpu 0b:00.0 --dir "$T/vms"
  t_contains "$(cat "$B/qemu.argv")" "vfio-pci,host=0000:0b:00.0"
  t_contains "$(cat "$B/domain.xml")" "<hostdev"
  t_ok virt-xml-validate "$B/domain.xml" domain
  t_ok "$DKVM" --sysroot "$fx" tune t1 audio 0e:00.4 --dir "$T/vms"
  t_contains "$(cat "$B/qemu.argv")" "vfio-pci,host=0000:0e:00.4"
  # its root port at the next fixed address; the plan records the DeviceProperties
  # config.plist needs (layout-id at the audio controller's guest path); an image
  # given with --opencore-image is not rebuilt, and tune says so
  t_contains "$ERR" "given with --opencore-image, so it was not rebuilt"
  t_contains "$(cat "$B/qemu.argv")" "pcie-root-port,id=dkpt2,bus=pcie.0,chassis=2,addr=1c.1"
  t_contains "$(cat "$B/qemu.argv")" "chassis=1,addr=1c.0,multifunction=on"
  t_ok virt-xml-validate "$B/domain.xml" domain
  t_eq "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print([x["value"] for x in d["plan"]["decisions"] if x["key"] == "deviceproperties"])' "$B/manifest.json")" \
    "['PciRoot(0x0)/Pci(0x1C,0x1)/Pci(0x0,0x0) layout-id 1']"
  t_contains "$(cat "$B/manifest.json")" "dkvm tune rebuilds the OpenCore image with them"
  t_exit 1 "$DKVM" --sysroot "$fx" tune t1 gpu 0b:00.0 --dir "$T/vms"
  t_contains "$ERR" "passed through already"
  t_ok "$DKVM" tune t1 undo --dir "$T/vms"
  t_ok "$DKVM" tune t1 undo --dir "$T/vms"
  hashes >"$T/after"; t_ok cmp "$T/before" "$T/after"
}

# host-side write-ups on the tune fixture host (tests/tune/fixtures/sysroot with
# debian-grub's files): system files exactly under --root, dry run by default,
# twice = no change, --off --apply restores byte for byte; the XML validates.
host_tree() {
  rm -rf "$T/r"; cp -a "$DKVM_SRCDIR/tests/tune/fixtures/sysroot" "$T/r"
  cp -a "$DKVM_SRCDIR/tests/tune/fixtures/debian-grub/root/." "$T/r/"
}
tree_snap() { (cd "$T/r" && find . -type f | LC_ALL=C sort | xargs -d '\n' sha256sum) ; }
tv() { "$DKVM" --sysroot "$T/r" --root "$T/r" tune t1 "$@" --dir "$T/vms"; }
validate() { if command -v virt-xml-validate >/dev/null; then t_ok virt-xml-validate "$B/domain.xml" domain; fi; }

test_hugepages_reserve() {
  need_bundle; host_tree
  tree_snap >"$T/t0"
  t_ok tv hugepages --reserve
  t_contains "$OUT" "+++ b/etc/sysctl.d/60-dkvm-hugepages.conf"
  t_contains "$ERR" "dry run: nothing written"
  tree_snap >"$T/t1"; t_ok cmp "$T/t0" "$T/t1"
  t_ok tv hugepages --reserve --apply
  t_eq "$(cat "$T/r/etc/sysctl.d/60-dkvm-hugepages.conf")" "# dkvm tune t1 hugepages --reserve: 2 MiB hugepages for its 2048 MiB of RAM
vm.nr_hugepages = 1024" "sysctl file"
  t_contains "$ERR" "sysctl -p /etc/sysctl.d/60-dkvm-hugepages.conf"
  validate
  tree_snap >"$T/t2"; hashes >"$T/h2"
  t_ok tv hugepages --reserve --apply
  t_contains "$ERR" "no change"
  tree_snap >"$T/t3"; t_ok cmp "$T/t2" "$T/t3"; hashes >"$T/h3"; t_ok cmp "$T/h2" "$T/h3"
  t_ok tv hugepages --off --apply
  rm -r "$T/r/var"
  tree_snap >"$T/t4"; t_ok cmp "$T/t0" "$T/t4"
  # 1 GiB pages: the kernel command line through the boot loader (GRUB here)
  t_ok tv hugepages --reserve --size 1G --apply
  t_contains "$(cat "$T/r/etc/default/grub")" "default_hugepagesz=1G hugepagesz=1G hugepages=2"
  t_contains "$(cat "$B/domain.xml")" '<page size="1024" unit="MiB"/>'
  t_contains "$ERR" "update-grub"
  validate
  t_ok tv hugepages --off --apply
  t_ok cmp "$DKVM_SRCDIR/tests/tune/fixtures/debian-grub/root/etc/default/grub" "$T/r/etc/default/grub"
}

# pin --isolate: isolcpus/nohz_full/rcu_nocbs for the pinned CPUs on the
# kernel command line (GRUB here), through the boot-loader edit hugepages
# --size 1G uses: a diff without --apply, the file under --root with it,
# twice = no change, --off --apply restores it byte for byte.
test_pin_isolate() {
  command -v qemu-system-x86_64 >/dev/null || t_skip "qemu-system-x86_64 not installed"
  mk_img "$T/oc.img"
  "$DKVM" create t1 --dir "$T/vms" --opencore-image "$T/oc.img" --no-recovery --memory 2G --disk 16G --no-tune \
    --accel kvm >/dev/null 2>&1 || t_skip "no KVM plan on this host (pinning needs KVM)"
  B="$T/vms/t1"
  host_tree
  tree_snap >"$T/t0"
  t_ok tv pin --isolate
  local set grub="$DKVM_SRCDIR/tests/tune/fixtures/debian-grub/root/etc/default/grub"
  set=$(python3 - "$B/manifest.json" <<'PY'
import json, sys
v = sorted(json.load(open(sys.argv[1]))["plan"]["pinning"]["vcpus"])
out, i = [], 0
while i < len(v):
    j = i
    while j + 1 < len(v) and v[j + 1] == v[j] + 1:
        j += 1
    out += ["%d-%d" % (v[i], v[j])] if j - i >= 2 else [str(x) for x in v[i:j + 1]]
    i = j + 1
print(",".join(out))
PY
)
  [ -n "$set" ] || t_fail "not pinned"
  local line="GRUB_CMDLINE_LINUX_DEFAULT=\"quiet isolcpus=$set nohz_full=$set rcu_nocbs=$set\""
  t_contains "$OUT" "+++ b/etc/default/grub"
  t_contains "$OUT" "+$line"
  t_contains "$ERR" "dry run: nothing written"
  tree_snap >"$T/t1"; t_ok cmp "$T/t0" "$T/t1"
  t_ok tv pin --isolate --apply
  t_eq "$(cat "$T/r/etc/default/grub")" "$(sed "s/^GRUB_CMDLINE_LINUX_DEFAULT=.*/$line/" "$grub")" "grub file"
  t_contains "$ERR" "update-grub"
  t_contains "$ERR" "CPU isolation takes effect at boot"
  [ -f "$T/r/var/lib/dkvm/tune-pin.json" ] || t_fail "no manifest"
  tree_snap >"$T/t2"; hashes >"$T/h2"
  t_ok tv pin --isolate --apply
  t_contains "$ERR" "no change"
  tree_snap >"$T/t3"; t_ok cmp "$T/t2" "$T/t3"; hashes >"$T/h3"; t_ok cmp "$T/h2" "$T/h3"
  t_ok tv pin --isolate --off --apply
  t_ok cmp "$grub" "$T/r/etc/default/grub"
  t_not_contains "$(cat "$B/domain.xml")" "<cputune>"
  rm -r "$T/r/var"
  tree_snap >"$T/t4"; t_ok cmp "$T/t0" "$T/t4"
  # a boot loader whose file is absent: the error names it, nothing written
  t_exit 1 tv pin --isolate --bootloader kernelstub --apply
  t_contains "$ERR" "etc/kernelstub/configuration: absent"
  tree_snap >"$T/t5"; t_ok cmp "$T/t0" "$T/t5"
  t_exit 2 tv iothreads --isolate
  t_contains "$ERR" "--isolate: only for pin"
}

test_evdev_writeup() {
  need_bundle; host_tree
  hashes >"$T/h0"
  t_ok tv evdev
  t_contains "$(cat "$B/domain.xml")" '<source dev="/dev/input/by-id/usb-Logitech_USB_Keyboard-event-kbd" grab="all" grabToggle="ctrl-ctrl" repeat="on"/>'
  t_contains "$(cat "$B/domain.xml")" '<source dev="/dev/input/by-id/usb-Logitech_G203-event-mouse"/>'
  t_contains "$(cat "$B/qemu.argv")" "input-linux,id=evdev0,evdev=/dev/input/by-id/usb-Logitech_USB_Keyboard-event-kbd,repeat=on,grab_all=on,grab-toggle=ctrl-ctrl"
  t_contains "$(cat "$B/qemu.argv")" "input-linux,id=evdev1,evdev=/dev/input/by-id/usb-Logitech_G203-event-mouse"
  validate
  hashes >"$T/h1"
  t_ok tv evdev
  t_contains "$ERR" "no change"
  hashes >"$T/h2"; t_ok cmp "$T/h1" "$T/h2"
  t_ok tv evdev --toggle scrolllock --device /dev/input/by-id/usb-Logitech_G203-if01-event-joystick
  t_contains "$(cat "$B/qemu.argv")" "usb-Logitech_G203-if01-event-joystick,repeat=on,grab_all=on,grab-toggle=scrolllock"
  t_exit 1 tv evdev --toggle ctrl-alt
  t_exit 1 tv evdev --device /dev/input/by-id/nosuch-event-kbd
  t_contains "$ERR" "no such device"
  t_exit 1 tv evdev --device '/dev/input/../kvm'
  t_ok tv undo; t_ok tv undo
  hashes >"$T/h3"; t_ok cmp "$T/h0" "$T/h3"
  rm -r "$T/r/dev/input"
  t_exit 1 tv evdev
  t_contains "$ERR" "no keyboard or mouse"
  t_contains "$ERR" "--device PATH"
}

# dkvm start runs QEMU as the user: an input device the user cannot open is
# named in a warning (libvirt grants it itself); the write-up still applies.
test_evdev_unreadable_warns() {
  command -v setpriv >/dev/null || t_skip "setpriv not installed"
  need_bundle; host_tree
  local u; u=$(mktemp -d /tmp/dkvm-evdev.XXXXXX)
  cp -a "$T/vms" "$T/r" "$u/"
  cp "$DKVM" "$u/dkvm" # nobody cannot reach the build dir inside a 0700 checkout
  chown -R nobody "$u"
  chown root "$u/r/dev/input/by-id/usb-Logitech_USB_Keyboard-event-kbd"
  chmod 0600 "$u/r/dev/input/by-id/usb-Logitech_USB_Keyboard-event-kbd"
  t_ok setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME="$u" "$u/dkvm" --sysroot "$u/r" tune t1 evdev --dir "$u/vms"
  t_contains "$ERR" "usb-Logitech_USB_Keyboard-event-kbd: not readable by you"
  t_contains "$ERR" "group input"
  t_not_contains "$ERR" "event-mouse: not readable"
  t_contains "$(cat "$u/vms/t1/domain.xml")" 'grab="all"'
  rm -rf "$u"
}

test_bridge_writeup() {
  need_bundle; host_tree
  mkdir -p "$T/r/etc/qemu"; printf '# mine\nallow virbr0\n' >"$T/r/etc/qemu/bridge.conf"
  tree_snap >"$T/t0"
  t_ok tv bridge
  t_contains "$OUT" "+++ b/etc/systemd/network/10-dkvm-enp5s0.network"
  tree_snap >"$T/t1"; t_ok cmp "$T/t0" "$T/t1"
  t_contains "$(cat "$B/domain.xml")" '<source bridge="br0"/>'
  t_contains "$(cat "$B/qemu.argv")" "-netdev bridge,id=net0,br=br0"
  validate
  t_ok tv bridge --apply
  t_eq "$(cat "$T/r/etc/systemd/network/10-dkvm-br0.netdev")" "# dkvm tune bridge: the host bridge the VMs' NICs join
[NetDev]
Name=br0
Kind=bridge" "netdev"
  t_eq "$(cat "$T/r/etc/systemd/network/10-dkvm-br0.network")" "# dkvm tune bridge: the bridge takes the host's address
[Match]
Name=br0

[Network]
DHCP=ipv4" "br0.network"
  t_eq "$(cat "$T/r/etc/systemd/network/10-dkvm-enp5s0.network")" "# dkvm tune bridge: enp5s0 is a port of br0
[Match]
Name=enp5s0

[Network]
Bridge=br0" "uplink network"
  t_eq "$(cat "$T/r/etc/qemu/bridge.conf")" "# mine
allow virbr0
allow br0" "bridge.conf"
  ls "$T/r/etc/qemu/"bridge.conf.dkvm-bak.* >/dev/null || t_fail "no backup of bridge.conf"
  tree_snap >"$T/t2"
  t_ok tv bridge --apply
  t_contains "$ERR" "no change"
  tree_snap >"$T/t3"; t_ok cmp "$T/t2" "$T/t3"
  t_ok tv bridge --off --apply
  rm -r "$T/r/var"
  tree_snap >"$T/t4"; t_ok cmp "$T/t0" "$T/t4"
  # NetworkManager keyfiles (0600), another uplink; Wi-Fi refused
  t_ok tv bridge --nm --uplink eno1 --apply
  t_contains "$(cat "$T/r/etc/NetworkManager/system-connections/dkvm-br0-eno1.nmconnection")" "master=br0"
  t_eq "$(stat -c %a "$T/r/etc/NetworkManager/system-connections/dkvm-br0.nmconnection")" "600" "keyfile mode"
  mkdir -p "$T/r/sys/class/net/wlan0/wireless"
  t_exit 1 tv bridge --uplink wlan0
  t_contains "$ERR" "Wi-Fi cannot be bridged"
  t_exit 1 tv bridge --uplink 'a;b'
}

test_cpu_governor_writeup() {
  need_bundle; host_tree
  t_ok tv cpu-governor --apply
  t_contains "$(cat "$T/r/etc/systemd/system/dkvm-cpu-governor@.service")" "ExecStart=/usr/local/libexec/dkvm-cpu-governor start"
  t_eq "$(stat -c %a "$T/r/usr/local/libexec/dkvm-cpu-governor")" "755" "script mode"
  t_contains "$(cat "$B/manifest.json")" '"cpu_governor":true'
  tree_snap >"$T/t1"
  t_ok tv cpu-governor --apply
  t_contains "$ERR" "no change"
  tree_snap >"$T/t2"; t_ok cmp "$T/t1" "$T/t2"
  local s="$T/r/usr/local/libexec/dkvm-cpu-governor"
  if command -v shellcheck >/dev/null; then t_ok shellcheck -s sh "$s"; fi
  # the script on a fake sysfs: start sets performance, two VMs, the last stop restores
  local fs="$T/sysfs/devices/system/cpu" c
  for c in 0 1 2; do mkdir -p "$fs/cpu$c/cpufreq"; echo powersave >"$fs/cpu$c/cpufreq/scaling_governor"; done
  echo schedutil >"$fs/cpu2/cpufreq/scaling_governor"
  export DKVM_SYSFS="$T/sysfs" DKVM_GOVERNOR_STATE="$T/state"
  t_ok sh "$s" start
  t_ok sh "$s" start
  t_eq "$(cat "$fs"/cpu*/cpufreq/scaling_governor | sort -u)" "performance" "all performance"
  t_ok sh "$s" stop
  t_eq "$(cat "$fs/cpu0/cpufreq/scaling_governor")" "performance" "one VM still runs"
  t_ok sh "$s" stop
  t_eq "$(cat "$fs"/cpu*/cpufreq/scaling_governor | tr '\n' ' ')" "powersave powersave schedutil " "restored"
  t_exit 2 sh "$s" bogus
  unset DKVM_SYSFS DKVM_GOVERNOR_STATE
  t_ok tv cpu-governor --off --apply
  [ ! -e "$s" ] || t_fail "script left after --off --apply"
}

# ---- the OpenCore-side write-ups ----

# A bundle with a real EFI from a fake OpenCorePkg release (shared Sample.plist)
# and the guide's kexts from a loopback GitHub (tests/image/fake_release.sh).
need_efi_bundle() {
  command -v qemu-system-x86_64 >/dev/null || t_skip "qemu-system-x86_64 not installed"
  [ -e /usr/share/OVMF/OVMF_CODE_4M.fd ] || [ -e /usr/share/OVMF/OVMF_CODE.fd ] || t_skip "OVMF not installed"
  [ -r "$SHARED/fixtures/opencore/Sample-1.0.6.plist" ] || t_skip "shared fixtures missing"
  local d=$T/rel f
  mkdir -p "$d/X64/EFI/BOOT" "$d/X64/EFI/OC/Drivers" "$d/X64/EFI/OC/Tools" "$d/Docs/AcpiSamples/Binaries"
  head -c 20000 /dev/urandom > "$d/X64/EFI/BOOT/BOOTx64.efi"
  head -c 70000 /dev/urandom > "$d/X64/EFI/OC/OpenCore.efi"
  for f in OpenRuntime OpenHfsPlus OpenCanopy ResetNvramEntry AudioDxe OpenPartitionDxe; do head -c 9000 /dev/urandom > "$d/X64/EFI/OC/Drivers/$f.efi"; done
  for f in OpenShell ResetSystem CleanNvram; do head -c 5000 /dev/urandom > "$d/X64/EFI/OC/Tools/$f.efi"; done
  cp "$SHARED/fixtures/opencore/Sample-1.0.6.plist" "$d/Docs/Sample.plist"
  for f in SSDT-EC-USBX-DESKTOP SSDT-PLUG-ALT SSDT-EC-DESKTOP; do head -c 300 /dev/urandom > "$d/Docs/AcpiSamples/Binaries/$f.aml"; done
  source "$DKVM_SRCDIR/tests/image/fake_release.sh"
  (cd "$T" && gh_kexts >/dev/null)
  case " $* " in *" --picker gui "*) cd "$T" && gh_resources Resources/Font/Font_1x.bin Resources/Label/EFIBoot.lbl && cd - >/dev/null ;; esac
  (cd "$T" && gh_serve && echo "$GH_PID $MIRROR" > "$T/gh") || t_fail "no fake GitHub"
  read -r GH_PID DKVM_GITHUB_MIRROR < "$T/gh"
  export DKVM_GITHUB_MIRROR XDG_CACHE_HOME=$T/cache MTOOLS_SKIP_CHECK=1
  trap 'kill $GH_PID 2>/dev/null || true' EXIT
  t_ok "$DKVM" create e1 --model "${1:-iMacPro1,1}" --opencore "$d" --no-recovery --dir "$T/vms" --disk 16G --memory 8G --no-tune "${@:2}"
  B="$T/vms/e1"
}
all_sums() { (cd "$B" && find . -path ./.tune -prune -o -type f -print0 | sort -z | xargs -0 sha256sum); }
img_cfg() { # the config.plist on the bundle's OpenCore image
  local off; off=$(sfdisk -J "$B/OpenCore.img" | python3 -c 'import json,sys; d=json.load(sys.stdin)["partitiontable"]; print(d["partitions"][0]["start"]*512)')
  mtype -i "$B/OpenCore.img@@$off" ::/EFI/OC/config.plist
}
pl() { python3 -c 'import plistlib,sys; d=plistlib.load(open(sys.argv[1],"rb")); print(eval(sys.argv[2]))' "$@"; }
pj() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }

# An SMBIOS type 17 structure per DSP0134 3.x (0x28-byte formatted area + strings).
mk_dmi17() { # mk_dmi17 FILE SIZE_MB SPEED CONF_SPEED TYPE FORM LOC BANK MAKER SERIAL PART
  python3 - "$@" <<'PY'
import struct, sys
f, size, speed, conf, typ, form = sys.argv[1], *map(int, sys.argv[2:7])
strs = [s for s in sys.argv[7:12]]
num = lambda i: i + 1 if strs[i] else 0
body = struct.pack("<BBHHHHHHBBBBBHHBBBBBIHHHH", 17, 0x28, 0x0040, 0x003e, 0xfffe, 64, 64,
                   size if size < 0x7fff else 0x7fff, form, 0, num(0), num(1), typ, 0x0080, speed,
                   num(2), num(3), 0, num(4), 0x02, size if size >= 0x7fff else 0, conf, 1200, 1200, 1200)
assert len(body) == 0x28, len(body)
tail = b"".join(s.encode() + b"\0" for s in strs if s) + b"\0"
if not any(strs): tail = b"\0\0"
open(f, "wb").write(body + tail)
PY
}

test_memory_map_dmi_parse() {
  # the fixture host's DMI (two populated DDR4 DIMMs, two empty slots)
  local fx="$DKVM_SRCDIR/tests/fixtures/host/intel-desktop/sys/firmware/dmi/entries"
  [ -r "$fx/17-0/raw" ] || t_fail "fixture DMI missing"
  t_eq "$(od -An -tx1 -N2 "$fx/17-0/raw" | tr -d ' ')" "1128" "type 17, length 0x28"
}

test_memory_map_writeup() {
  need_efi_bundle
  # a host with DMI: the fixture's type 17 entries
  mkdir -p "$T/sys"; cp -a "$DKVM_SRCDIR/tests/fixtures/host/intel-desktop/." "$T/sys/"
  local before; before=$(all_sums)
  t_ok "$DKVM" --sysroot "$T/sys" tune e1 memory-map --dry-run --dir "$T/vms"
  grep -q '^+[[:space:]]*<key>Memory</key>' <<<"$OUT" || t_fail "no Memory in the diff"
  grep -q '^-[[:space:]]*<false/>' <<<"$OUT" || t_fail "CustomMemory not turned on in the diff"
  t_contains "$OUT" "<string>CMK32GX4M2D3600C18</string>"
  t_contains "$OUT" "<key>DeviceLocator</key>"
  t_eq "$(all_sums)" "$before" "bundle after --dry-run"
  [ ! -e "$B/.tune" ] || t_fail "--dry-run made .tune"
  t_ok "$DKVM" --sysroot "$T/sys" tune e1 memory-map --dir "$T/vms"
  t_contains "$ERR" "memory-map applied"
  img_cfg > "$T/img.plist"
  t_ok cmp "$T/img.plist" "$B/config.plist"
  t_eq "$(pl "$B/config.plist" 'd["PlatformInfo"]["CustomMemory"]')" "True" "CustomMemory"
  t_eq "$(pl "$B/config.plist" '[(x["DeviceLocator"], x["Size"], x["Speed"], x["Manufacturer"], x["PartNumber"]) for x in d["PlatformInfo"]["Memory"]["Devices"]][:3]')" \
    "[('DIMM_A1', 2048, 3200, 'Corsair', 'CMK32GX4M2D3600C18'), ('DIMM_A2', 1, 1, '', ''), ('DIMM_B1', 2048, 3600, 'G.Skill', 'F4-3600C16-16GTZNC')]" "devices from DMI"
  t_eq "$(pl "$B/config.plist" '(len(d["PlatformInfo"]["Memory"]["Devices"]), d["PlatformInfo"]["Memory"]["MaxCapacity"], d["PlatformInfo"]["Memory"]["Type"], d["PlatformInfo"]["Memory"]["FormFactor"])')" \
    "(12, 8589934592, 26, 9)" "memory dict"
  t_ok "$DKVM" opencore validate "$B/config.plist" --sample "$T/rel/Docs/Sample.plist" --image "$B/OpenCore.img"
  local applied; applied=$(all_sums)
  # twice: no change
  t_ok "$DKVM" --sysroot "$T/sys" tune e1 memory-map --dir "$T/vms"
  t_contains "$ERR" "no change"
  t_eq "$(all_sums)" "$applied" "bundle after the second run"
  [ ! -e "$B/.tune/2" ] || t_fail "a second version for no change"
  # undo: byte-exact (image, config, manifest, no .prev left)
  t_ok "$DKVM" tune e1 undo --dir "$T/vms"
  t_eq "$(all_sums)" "$before" "bundle after undo"
  [ ! -e "$B/.tune/1" ] || t_fail ".tune/1 left"
  # no DMI readable: --from dmi refuses, auto falls back to the guide's layout
  mkdir -p "$T/empty"; cp -a "$T/sys/." "$T/empty/"; rm -r "$T/empty/sys/firmware"
  t_exit 1 "$DKVM" --sysroot "$T/empty" tune e1 memory-map --from dmi --dir "$T/vms"
  t_contains "$ERR" "--from guide"
  t_eq "$(all_sums)" "$before" "bundle after a refused memory-map"
  t_ok "$DKVM" --sysroot "$T/empty" tune e1 memory-map --dir "$T/vms"
  t_contains "$ERR" "the guide's layout"
  t_eq "$(pl "$B/config.plist" '[(x["Size"], x["Speed"], x["Manufacturer"], x["PartNumber"], x["SerialNumber"]) for x in d["PlatformInfo"]["Memory"]["Devices"]][0]')" \
    "(2048, 3600, 'RoyalGraphX', 'F4-3600C16-2GTZNC', '00000000')" "the guide's layout"
  # --off: CustomMemory false, no Memory
  t_ok "$DKVM" tune e1 memory-map --off --dir "$T/vms"
  t_eq "$(pl "$B/config.plist" '(d["PlatformInfo"]["CustomMemory"], "Memory" in d["PlatformInfo"])')" "(False, False)" "--off"
  t_ok "$DKVM" tune e1 undo --dir "$T/vms"
  t_ok "$DKVM" tune e1 undo --dir "$T/vms"
  t_eq "$(all_sums)" "$before" "bundle after two undos"
  # a damaged DMI entry: a clear error naming it, nothing changed
  printf '\021\050\000' > "$T/sys/sys/firmware/dmi/entries/17-1/raw"
  t_exit 1 "$DKVM" --sysroot "$T/sys" tune e1 memory-map --dir "$T/vms"
  t_contains "$ERR" "17-1/raw"
  t_eq "$(all_sums)" "$before" "bundle after a bad DMI entry"
}

test_restrict_events_writeup() {
  need_efi_bundle iMacPro1,1
  mkdir -p "$T/sys"; cp -a "$DKVM_SRCDIR/tests/fixtures/host/amd-ryzen/." "$T/sys/"
  local before; before=$(all_sums)
  ! grep -q RestrictEvents "$B/config.plist" || t_fail "test setup: RestrictEvents already there"
  t_ok "$DKVM" --sysroot "$T/sys" tune e1 restrict-events --dry-run --dir "$T/vms"
  t_contains "$OUT" "revpatch=memtab,pci,cpuname revcpu=1"
  t_contains "$OUT" "RestrictEvents.kext"
  t_eq "$(all_sums)" "$before" "bundle after --dry-run"
  t_ok "$DKVM" --sysroot "$T/sys" tune e1 restrict-events --dir "$T/vms"
  t_contains "$(pl "$B/config.plist" 'd["NVRAM"]["Add"]["7C436110-AB2A-4BBB-A880-FE41995C9F82"]["boot-args"]')" "revpatch=memtab,pci,cpuname revcpu=1"
  t_eq "$(pl "$B/config.plist" 'd["NVRAM"]["Add"]["4D1FDA02-38C7-4A6A-9CC6-4BCCA8B30102"]["revcpuname"]')" "AMD Ryzen 9 5900X" "revcpuname"
  t_contains "$(pl "$B/config.plist" 'd["NVRAM"]["Delete"]["4D1FDA02-38C7-4A6A-9CC6-4BCCA8B30102"]')" "revcpuname"
  t_contains "$(pl "$B/config.plist" '[k["BundlePath"] for k in d["Kernel"]["Add"]]')" "RestrictEvents.kext"
  t_contains "$(img_cfg)" "RestrictEvents.kext"
  t_ok "$DKVM" opencore validate "$B/config.plist" --sample "$T/rel/Docs/Sample.plist" --image "$B/OpenCore.img"
  t_contains "$(cat "$B/manifest.json")" '"restrict_events":true'
  local applied; applied=$(all_sums)
  t_ok "$DKVM" --sysroot "$T/sys" tune e1 restrict-events --dir "$T/vms"
  t_contains "$ERR" "no change"
  t_eq "$(all_sums)" "$applied" "twice"
  # --off: settings and (not MacPro7,1) the kext gone
  t_ok "$DKVM" --sysroot "$T/sys" tune e1 restrict-events --off --dir "$T/vms"
  ! grep -q 'RestrictEvents\|revpatch\|revcpuname' "$B/config.plist" || t_fail "--off left RestrictEvents settings: $(grep -n 'RestrictEvents\|revpatch\|revcpuname' "$B/config.plist")"
  t_ok "$DKVM" tune e1 undo --dir "$T/vms"
  t_eq "$(all_sums)" "$applied" "undo of --off"
  t_ok "$DKVM" tune e1 undo --dir "$T/vms"
  t_eq "$(all_sums)" "$before" "bundle after undo"
}

# gpu/audio on a bundle with a real EFI: the image is rebuilt as the plan wants
# it (the chart's kext, AppleALC, DeviceProperties at the fixed guest paths,
# agdpmod=pikera for Navi with WhateverGreen); a hand-added boot-arg survives;
# undo puts every file back byte for byte.
test_passthrough_efi_rebuild() {
  need_efi_bundle iMacPro1,1
  # the Navi fixture's card as an RX 6650 XT (0x73ef): the chart's device-id spoof 0x73ff
  local fx="$T/navi" ba='d["NVRAM"]["Add"]["7C436110-AB2A-4BBB-A880-FE41995C9F82"]["boot-args"]'
  cp -a "$DKVM_SRCDIR/tests/fixtures/host/amd-navi" "$fx"
  echo 0x73ef > "$fx/sys/bus/pci/devices/0000:0b:00.0/device"
  ! grep -q 'WhateverGreen\|agdpmod' "$B/config.plist" || t_fail "test setup: WhateverGreen already there"
  # a boot-arg the user added by hand, in the bundle's config and image alike
  python3 - "$B/config.plist" <<'PY2'
import plistlib, sys
d = plistlib.load(open(sys.argv[1], "rb"))
n = d["NVRAM"]["Add"]["7C436110-AB2A-4BBB-A880-FE41995C9F82"]
n["boot-args"] += " mytoken=1"
plistlib.dump(d, open(sys.argv[1], "wb"))
PY2
  local before; before=$(all_sums)
  t_ok "$DKVM" --sysroot "$fx" tune e1 gpu 0b:00.0 --dir "$T/vms" --dry-run
  t_contains "$OUT" "vfio-pci,host=0000:0b:00.0"
  t_contains "$OUT" "WhateverGreen.kext"
  t_contains "$OUT" "agdpmod=pikera"
  t_eq "$(all_sums)" "$before" "bundle after --dry-run"
  t_ok "$DKVM" --sysroot "$fx" tune e1 gpu 0b:00.0 --dir "$T/vms"
  t_contains "$ERR" "gpu applied"
  local dp
  dp=$(t_jget "$(cat "$B/manifest.json")" '[h["devpath"] for h in d["plan"]["passthrough"] if h["role"] == "gpu" and h["function"] == 0][0]')
  t_eq "$dp" "PciRoot(0x0)/Pci(0x1C,0x0)/Pci(0x0,0x0)" "the GPU's guest path"
  t_eq "$(pl "$B/config.plist" '{k: {p: v.hex() for p, v in x.items()} for k, x in d["DeviceProperties"]["Add"].items()}')" \
    "{'$dp': {'device-id': 'ff730000'}}" "DeviceProperties/Add"
  t_contains "$(pl "$B/config.plist" '[k["BundlePath"] for k in d["Kernel"]["Add"]]')" "WhateverGreen.kext"
  t_contains "$(pl "$B/config.plist" "$ba")" "agdpmod=pikera"
  t_contains "$(pl "$B/config.plist" "$ba")" "mytoken=1"
  t_contains "$(cat "$B/qemu.argv")" "vfio-pci,host=0000:0b:00.0"
  t_contains "$(t_jget "$(cat "$B/manifest.json")" '[k["name"] for k in d["opencore"]["kexts"]]')" "WhateverGreen"
  local off; off=$(sfdisk -J "$B/OpenCore.img" | python3 -c 'import json,sys; d=json.load(sys.stdin)["partitiontable"]; print(d["partitions"][0]["start"]*512)')
  t_contains "$(mdir -b -i "$B/OpenCore.img@@$off" ::/EFI/OC/Kexts)" "WhateverGreen.kext"
  img_cfg > "$T/img.plist"; t_ok cmp "$T/img.plist" "$B/config.plist"
  t_ok "$DKVM" opencore validate "$B/config.plist" --sample "$T/rel/Docs/Sample.plist" --image "$B/OpenCore.img"
  local gpu; gpu=$(all_sums)
  # the audio controller: AppleALC and its layout-id at the next root port
  t_ok "$DKVM" --sysroot "$fx" tune e1 audio 0e:00.4 --dir "$T/vms"
  t_eq "$(pl "$B/config.plist" '{k: {p: v.hex() for p, v in x.items()} for k, x in d["DeviceProperties"]["Add"].items() if "layout-id" in x}')" \
    "{'PciRoot(0x0)/Pci(0x1C,0x1)/Pci(0x0,0x0)': {'layout-id': '01000000'}}" "layout-id"
  t_contains "$(mdir -b -i "$B/OpenCore.img@@$off" ::/EFI/OC/Kexts)" "AppleALC.kext"
  t_ok "$DKVM" opencore validate "$B/config.plist" --sample "$T/rel/Docs/Sample.plist" --image "$B/OpenCore.img"
  # twice: refused, nothing changes
  local audio; audio=$(all_sums)
  t_exit 1 "$DKVM" --sysroot "$fx" tune e1 gpu 0b:00.0 --dir "$T/vms"
  t_eq "$(all_sums)" "$audio" "bundle after a refused second gpu"
  # an update keeps it all (the plan's inputs, the user's token)
  t_ok "$DKVM" update e1 --dir "$T/vms" --opencore "$T/rel"
  t_contains "$OUT" "up to date"
  t_eq "$(all_sums)" "$audio" "bundle after update"
  # undo twice: byte-exact, agdpmod gone, the user's token still there
  t_ok "$DKVM" tune e1 undo --dir "$T/vms"
  t_eq "$(all_sums)" "$gpu" "bundle after undoing audio"
  t_ok "$DKVM" tune e1 undo --dir "$T/vms"
  t_eq "$(all_sums)" "$before" "bundle after undoing gpu"
  [ ! -e "$B/.tune/1" ] || t_fail ".tune/1 left"
  ! grep -q 'WhateverGreen\|agdpmod' "$B/config.plist" || t_fail "undo left WhateverGreen"
  t_contains "$(pl "$B/config.plist" "$ba")" "mytoken=1"
}

# boot-args through update: the recipes' tokens follow the plan, the user's stay.
test_update_bootargs_merge() {
  need_efi_bundle iMacPro1,1
  local ba='d["NVRAM"]["Add"]["7C436110-AB2A-4BBB-A880-FE41995C9F82"]["boot-args"]'
  # by hand: a token of the user's, and a recipe token the plan does not want
  python3 - "$B/config.plist" <<'PY2'
import plistlib, sys
d = plistlib.load(open(sys.argv[1], "rb"))
n = d["NVRAM"]["Add"]["7C436110-AB2A-4BBB-A880-FE41995C9F82"]
n["boot-args"] += " mytoken=1 agdpmod=pikera"
plistlib.dump(d, open(sys.argv[1], "wb"))
PY2
  t_ok "$DKVM" --json update e1 --dir "$T/vms" --opencore "$T/rel"
  t_eq "$(t_jget "$OUT" '[c["kind"] for c in d["config"] if c["path"].endswith("/boot-args")]')" "['merged']" "boot-args change"
  t_contains "$(pl "$B/config.plist" "$ba")" "mytoken=1"
  t_contains "$(pl "$B/config.plist" "$ba")" "debug=0x100"
  [[ "$(pl "$B/config.plist" "$ba")" != *agdpmod* ]] || t_fail "agdpmod kept without a Navi GPU"
}

# update builds the fresh config from what create recorded: --picker gui
# (OpenCanopy stays), --boot-args (a removed recipe token stays removed, an
# added one stays): nothing to do right after create.
test_update_keeps_create_inputs() {
  need_efi_bundle iMacPro1,1 --picker gui --boot-args -debug=0x100 --boot-args "extra=1 -v"
  local ba='d["NVRAM"]["Add"]["7C436110-AB2A-4BBB-A880-FE41995C9F82"]["boot-args"]' before
  t_eq "$(pl "$B/config.plist" "$ba")" "-v keepsyms=1 extra=1" "boot-args at create"
  t_contains "$(pl "$B/config.plist" '[x["Path"] for x in d["UEFI"]["Drivers"]]')" "OpenCanopy.efi"
  before=$(all_sums)
  t_ok "$DKVM" update e1 --dir "$T/vms" --opencore "$T/rel"
  t_contains "$OUT" "up to date"
  t_eq "$(all_sums)" "$before" "bundle after update"
  # a real update (a Sample with a new key) keeps the recorded inputs in the
  # manifest, so the next rebuild makes the same config
  cp -a "$T/rel" "$T/rel2"; head -c 70001 /dev/urandom > "$T/rel2/X64/EFI/OC/OpenCore.efi"
  python3 -c 'import plistlib,sys; d=plistlib.load(open(sys.argv[1],"rb")); d["Misc"]["Boot"]["DkvmNewKey"]=True; plistlib.dump(d, open(sys.argv[1],"wb"))' "$T/rel2/Docs/Sample.plist"
  local inputs='[d["opencore"].get(k) for k in ("boot_args", "picker")]'
  local want; want=$(pj "$B/manifest.json" "$inputs")
  t_eq "$want" "[['-debug=0x100', 'extra=1 -v'], 'gui']" "inputs recorded at create"
  t_ok "$DKVM" update e1 --dir "$T/vms" --opencore "$T/rel2"
  t_not_contains "$OUT" "up to date"
  t_eq "$(pj "$B/manifest.json" "$inputs")" "$want" "inputs after update"
  t_eq "$(pl "$B/config.plist" "$ba")" "-v keepsyms=1 extra=1" "boot-args after update"
  before=$(all_sums)
  t_ok "$DKVM" update e1 --dir "$T/vms" --opencore "$T/rel2"
  t_contains "$OUT" "up to date"
  t_eq "$(all_sums)" "$before" "bundle after a second update"
}

# An EDID base block: vendor DEL, product 0xa0c4, 3840x2160 600x340 mm, name "DELL U2723QE".
mk_edid() { # mk_edid FILE [bad-header|bad-checksum|short]
  python3 - "$@" <<'PY'
import struct, sys
e = bytearray(128)
e[0:8] = b"\x00\xff\xff\xff\xff\xff\xff\x00"
v = (ord("D") - 64) << 10 | (ord("E") - 64) << 5 | (ord("L") - 64)
e[8:10] = struct.pack(">H", v); e[10:12] = struct.pack("<H", 0xa0c4)
e[18], e[19], e[21], e[22] = 1, 4, 60, 34
t = bytearray(18)
t[0:2] = struct.pack("<H", 53322); w, h, wm, hm = 3840, 2160, 600, 340
t[2] = w & 0xff; t[4] = (w >> 8) << 4; t[5] = h & 0xff; t[7] = (h >> 8) << 4
t[12] = wm & 0xff; t[13] = hm & 0xff; t[14] = (wm >> 8) << 4 | (hm >> 8)
e[54:72] = t
n = bytearray(18); n[3] = 0xfc; n[5:18] = b"DELL U2723QE\n"
e[72:90] = n
e[127] = (-sum(e[:127])) & 0xff
mode = sys.argv[2] if len(sys.argv) > 2 else ""
if mode == "bad-header": e[1] = 0
if mode == "bad-checksum": e[127] ^= 1
if mode == "short": e = e[:100]
open(sys.argv[1], "wb").write(e)
PY
}

test_display_override_writeup() {
  need_bundle
  mk_edid "$T/edid"
  cp -a "$B" "$T/orig"
  local before; before=$(all_sums)
  t_ok "$DKVM" tune t1 display-override --edid "$T/edid" --dry-run --dir "$T/vms"
  t_contains "$OUT" "+++ b/display-overrides/DisplayVendorID-10ac/DisplayProductID-a0c4"
  t_eq "$(all_sums)" "$before" "bundle after --dry-run"
  t_ok "$DKVM" tune t1 display-override --edid "$T/edid" --dir "$T/vms"
  t_contains "$ERR" "/Library/Displays/Contents/Resources/Overrides/DisplayVendorID-10ac/DisplayProductID-a0c4"
  local f=$B/display-overrides/DisplayVendorID-10ac/DisplayProductID-a0c4
  t_eq "$(pl "$f" '(d["DisplayVendorID"], d["DisplayProductID"], d["DisplayIsTV"], d["DisplayProductName"], d["target-default-ppmm"])')" \
    "(4268, 41156, False, 'DELL U2723QE', 6.43)" "override keys"
  t_eq "$(pl "$f" '[__import__("struct").unpack(">IIII", x)[:2] for x in d["scale-resolutions"]][:4]')" \
    "[(2048, 1152), (4096, 2304), (1984, 1116), (3968, 2232)]" "scale-resolutions"
  t_eq "$(pl "$f" '__import__("base64").b64encode(d["scale-resolutions"][5]).decode()')" "AAAPAAAACHAAAAABACAAAA==" "1920x1080 HiDPI form"
  local applied; applied=$(all_sums)
  t_ok "$DKVM" tune t1 display-override --edid "$T/edid" --dir "$T/vms"
  t_contains "$ERR" "no change"
  t_eq "$(all_sums)" "$applied" "twice"
  t_ok "$DKVM" tune t1 undo --dir "$T/vms"
  t_eq "$(all_sums)" "$before" "undo"
  [ ! -e "$B/display-overrides" ] || t_fail "display-overrides left after undo"
  # a connector through the sysroot
  mkdir -p "$T/sys"; cp -a "$DKVM_SRCDIR/tests/fixtures/host/intel-desktop/." "$T/sys/"
  mkdir -p "$T/sys/sys/class/drm/card0-DP-1"; cp "$T/edid" "$T/sys/sys/class/drm/card0-DP-1/edid"
  t_ok "$DKVM" --sysroot "$T/sys" tune t1 display-override --connector card0-DP-1 --dir "$T/vms"
  [ -e "$f" ] || t_fail "no override from the connector"
  t_ok "$DKVM" tune t1 undo --dir "$T/vms"
  # bad EDIDs: one line naming the file and the cause, nothing changed
  local m
  for m in bad-header bad-checksum short; do
    mk_edid "$T/bad" "$m"
    t_exit 1 "$DKVM" tune t1 display-override --edid "$T/bad" --dir "$T/vms"
    t_contains "$ERR" "$T/bad: "
    t_eq "$(all_sums)" "$before" "bundle after $m"
  done
  t_contains "$ERR" "not an EDID"
  mk_edid "$T/bad" bad-checksum
  t_exit 1 "$DKVM" tune t1 display-override --edid "$T/bad" --dir "$T/vms"
  t_contains "$ERR" "checksum"
  t_exit 1 "$DKVM" tune t1 display-override --dir "$T/vms"
  t_contains "$ERR" "--edid FILE or --connector NAME"
  : > "$T/sys/sys/class/drm/card0-DP-1/edid"
  t_exit 1 "$DKVM" --sysroot "$T/sys" tune t1 display-override --connector card0-DP-1 --dir "$T/vms"
  t_contains "$ERR" "empty"
}

test_create_memory_map() {
  need_efi_bundle
  t_ok "$DKVM" create e2 --opencore "$T/rel" --no-recovery --dir "$T/vms" --disk 16G --memory 8G --no-tune --memory-map guide
  local c=$T/vms/e2/config.plist
  t_eq "$(pl "$c" '(d["PlatformInfo"]["CustomMemory"], d["PlatformInfo"]["Memory"]["Devices"][0]["PartNumber"], d["PlatformInfo"]["Memory"]["MaxCapacity"])')" \
    "(True, 'F4-3600C16-2GTZNC', 8589934592)" "create --memory-map guide"
  t_ok "$DKVM" opencore validate "$c" --sample "$T/rel/Docs/Sample.plist" --image "$T/vms/e2/OpenCore.img"
  # the same map as the write-up: tune finds nothing to do
  t_ok "$DKVM" tune e2 memory-map --from guide --dir "$T/vms"
  t_contains "$ERR" "no change"
  t_exit 2 "$DKVM" create e3 --memory-map bogus --dir "$T/vms"
  t_exit 2 "$DKVM" create e3 --arch ppc --macos 10.4 --memory-map guide --dir "$T/vms"
  t_contains "$ERR" "memory-map"
}

t_main
