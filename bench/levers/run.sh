#!/usr/bin/env bash
# bench/levers/run.sh [BUILD_DIR]: the performance levers `dkvm create` turns on,
# per fixture host (tests/fixtures/host), side by side with what OSX-KVM and
# quickemu configure on the same host.
#
# A guest-side comparison cannot run here (no macOS guest, no passthrough), so
# this compares configurations: dkvm's are read from `dkvm --sysroot FIXTURE
# --json create NAME --dry-run` (the plan and its decisions, the same data as
# --explain); the peers' are fixed choices, encoded below as data with the file
# and revision each comes from (../shared/reference/peers.md §2 and §4).
#
# It asserts only what the plan promises for every host: each lever is on, or
# off with a reason in the plan's decisions; pinning never puts a vCPU on host
# CPU 0. A broken promise prints "FAIL" and the script exits 1.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$src/build}
DKVM=$build/src/cli/dkvm
fx=$src/tests/fixtures/host
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The no-kvm fixture has no OVMF: give a copy the amd-ryzen fixture's pair, so
# that the plan (TCG) shows which levers a host without KVM gets.
cp -a "$fx/no-kvm" "$work/no-kvm"
mkdir -p "$work/no-kvm/usr/share"
cp -a "$fx/amd-ryzen/usr/share/edk2" "$work/no-kvm/usr/share/"

hosts=(
  "amd-ryzen|Ryzen 9 5900X, 12C/24T, two CCDs (two L3 domains)|$fx/amd-ryzen"
  "intel-hybrid|Core i7-12700K, 8P+4E, 20 threads (hybrid)|$fx/intel-hybrid"
  "xeon-2s|two sockets, 16C/32T, NUMA|$fx/xeon-2s"
  "intel-desktop|Core i9-9900K, 8C/16T|$fx/intel-desktop"
  "4core-nosmt|4 cores, no SMT|$fx/4core-nosmt"
  "iommu-off|Core i5-6600K, 4C/4T, IOMMU off|$fx/iommu-off"
  "no-kvm|Core i7-8700, 6C/12T, no /dev/kvm (TCG)|$work/no-kvm"
)

for h in "${hosts[@]}"; do
  IFS='|' read -r name label dir <<<"$h"
  set +e
  "$DKVM" --sysroot "$dir" --json create lev --dry-run --dir "$work/vms" >"$work/$name.json" 2>"$work/$name.err"
  echo $? >"$work/$name.rc"
  set -e
  echo "$label" >"$work/$name.label"
done

python3 - "$work" "${hosts[@]}" <<'EOF'
import json, sys

work = sys.argv[1]
hosts = [h.split("|")[0] for h in sys.argv[2:]]

# The peers' fixed choices, as they configure any host (they do not read its
# topology), from ../shared/reference/peers.md:
#   OSX-KVM  kholia/OSX-KVM da4b23b, OpenCore-Boot.sh (§2 "kholia/OSX-KVM");
#            hugepages/pinning/iothreads: §1b rows "CPU pinning", "Hugepages", §4.
#   quickemu quickemu-project/quickemu 2d9f6c9, the quickemu script's macOS
#            branch (§2 "quickemu"); pinning: §1b "CPU pinning" (--cpu-pinning,
#            off unless given); hugepages: §1b ("-pdpe1gb hides 1 GiB pages").
PEERS = {
    "OSX-KVM": {
        "vCPU pinning": "none",
        "emulator pin": "none",
        "iothreads": "none",
        "iothread pin": "none",
        "hugepages": "none",
        "topology": "-smp 4,cores=2,sockets=1 (fixed)",
        "memory": "4096 MiB (fixed)",
        "CPU model": "Penryn,+invtsc,vmware-cpuid-freq=on,+avx,+sse4.2...",
        "disk": "SATA (ich9-ahci, ide-hd), qcow2",
        "NIC": "virtio-net-pci (vmxnet3 in the headless/XML variants)",
    },
    "quickemu": {
        "vCPU pinning": "off (--cpu-pinning: taskset per vCPU)",
        "emulator pin": "none",
        "iothreads": "none",
        "iothread pin": "none",
        "hugepages": "none (-pdpe1gb)",
        "topology": "host cores rounded down to a power of two",
        "memory": "host-sized, at least 8G",
        "CPU model": "Intel: host,-pdpe1gb,+hypervisor; else Haswell-v2 + host flags",
        "disk": "virtio-blk (Catalina+), cache=writeback,aio=threads",
        "NIC": "virtio-net-pci (Big Sur+), vmxnet3 older",
    },
}
LEVERS = list(PEERS["OSX-KVM"].keys())

def why(plan, key):
    for d in plan.get("decisions", []):
        if d["key"] == key:
            return d
    return None

def dkvm_levers(plan):
    pin = plan.get("pinning") or {}
    t = plan["topology"]
    dev = plan["devices"]
    cpuset = lambda v: ",".join(str(x) for x in v)
    d_pin = why(plan, "pinning")
    out = {
        "vCPU pinning": cpuset(pin["vcpus"]) if pin.get("vcpus")
        else (d_pin["reason"] if d_pin and d_pin["reason"].startswith("off") else "off: " + (d_pin["reason"] if d_pin else "?")),
        "emulator pin": pin.get("emulator") or "off",
        "iothreads": "%d (virtio disks)" % plan["iothreads"] if plan.get("iothreads") else "off",
        "iothread pin": pin.get("iothread") or "off",
        "hugepages": "on" if plan.get("hugepages") else "off",
        "topology": "%d socket, %d cores x %d threads" % (t["sockets"], t["cores"], t["threads"]),
        "memory": "%d MiB" % plan["memory_mib"],
        "CPU model": plan["cpu"]["model"] + (" (%s)" % plan["accel"]),
        "disk": "%s, qcow2, cache=none (bundle), discard=unmap" % dev["disk_bus"],
        "NIC": dev["nic"],
    }
    return out

fails = []
def check(host, plan):
    # each lever on, or off with the reason in the plan's decisions
    for key, on in (("pinning", bool(plan.get("pinning"))), ("iothreads", bool(plan.get("iothreads")))):
        d = why(plan, key)
        if not on and not (d and d["reason"]):
            fails.append("%s: %s off without a reason" % (host, key))
        if on and not d:
            fails.append("%s: %s on without a decision" % (host, key))
    pin = plan.get("pinning") or {}
    if 0 in pin.get("vcpus", []):
        fails.append("%s: a vCPU pinned to host CPU 0" % host)
    if pin.get("vcpus") and len(pin["vcpus"]) != plan["topology"]["vcpus"]:
        fails.append("%s: %d pins for %d vCPUs" % (host, len(pin["vcpus"]), plan["topology"]["vcpus"]))

W = 44
for host in hosts:
    rc = open("%s/%s.rc" % (work, host)).read().strip()
    label = open("%s/%s.label" % (work, host)).read().strip()
    print("== %s: %s" % (host, label))
    if rc != "0":
        err = open("%s/%s.err" % (work, host)).read().strip().splitlines()
        print("   dkvm create refuses: %s" % (err[-1] if err else "?"))
        fails.append("%s: create --dry-run failed" % host)
        continue
    plan = json.load(open("%s/%s.json" % (work, host)))["plan"]
    check(host, plan)
    mine = dkvm_levers(plan)
    print("   %-13s %-*s %-*s %s" % ("lever", W, "dkvm create (default)", W, "OSX-KVM", "quickemu"))
    for lever in LEVERS:
        v = mine[lever]
        if len(v) > W - 1:
            v = v[: W - 4] + "..."
        a, b = PEERS["OSX-KVM"][lever], PEERS["quickemu"][lever]
        print("   %-13s %-*s %-*s %s" % (lever, W, v, W, a[:W - 1], b))
    print()
if fails:
    for f in fails:
        print("FAIL " + f)
    sys.exit(1)
print("every lever on, or off with a reason, on %d fixture hosts" % len(hosts))
EOF
