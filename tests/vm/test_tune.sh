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

t_main
