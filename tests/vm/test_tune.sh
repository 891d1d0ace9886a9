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
  # config.plist needs (layout-id at the audio controller's guest path), for the
  # image rebuild: tune itself leaves the OpenCore image alone
  t_contains "$(cat "$B/qemu.argv")" "pcie-root-port,id=dkpt2,bus=pcie.0,chassis=2,addr=1c.1"
  t_contains "$(cat "$B/qemu.argv")" "chassis=1,addr=1c.0,multifunction=on"
  t_ok virt-xml-validate "$B/domain.xml" domain
  t_eq "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print([x["value"] for x in d["plan"]["decisions"] if x["key"] == "deviceproperties"])' "$B/manifest.json")" \
    "['PciRoot(0x0)/Pci(0x1C,0x1)/Pci(0x0,0x0) layout-id 1']"
  t_contains "$(cat "$B/manifest.json")" "OpenCore image is rebuilt (dkvm update)"
  t_exit 1 "$DKVM" --sysroot "$fx" tune t1 gpu 0b:00.0 --dir "$T/vms"
  t_contains "$ERR" "passed through already"
  t_ok "$DKVM" tune t1 undo --dir "$T/vms"
  t_ok "$DKVM" tune t1 undo --dir "$T/vms"
  hashes >"$T/after"; t_ok cmp "$T/before" "$T/after"
}

t_main
