#!/usr/bin/env bash
# dkvm host check | iommu | report: command-level tests on fixture sysroots
# and on the live machine.
. "$(dirname "$0")/../lib.sh"

# fx NAME: a scratch copy of a fixture sysroot (git does not keep /dev/kvm's mode)
fx() {
  cp -a "$FIX/host/$1" "$T/$1"
  if [ -e "$T/$1/dev/kvm" ]; then chmod 0660 "$T/$1/dev/kvm"; fi
  echo "$T/$1"
}

# jcheck JSON ID -> "status" of that check
jcheck() { t_jget "$1" "[c for c in d['checks'] if c['id']=='$2'][0]['status']"; }
jfix() { t_jget "$1" "[c for c in d['checks'] if c['id']=='$2'][0]['fix']"; }

REQUIRED='
import json, sys
d = json.loads(sys.stdin.read())
h = d["host"]; c = h["cpu"]
for k in ["vendor","model_name","sockets","cores","threads","smt","l3_domains","hybrid"]: assert k in c, k
assert isinstance(c["l3_domains"], list) and all(isinstance(x, list) for x in c["l3_domains"])
assert isinstance(h["memory_kib"], int)
assert isinstance(d["kvm"]["usable"], bool) and "detail" in d["kvm"]
assert isinstance(d["iommu"]["enabled"], bool) and isinstance(d["iommu"]["groups"], int)
for m in d["macos_support"]:
    assert isinstance(m["release"], str) and isinstance(m["ok"], bool) and isinstance(m["missing"], list)
assert any(m["release"] == "sonoma" for m in d["macos_support"])
r = d["recommended"]
assert r["sockets"] == 1 and r["cores"] >= 1 and r["threads"] in (1, 2) and r["memory_kib"] >= 4*1024*1024
ids = set()
for k in d["checks"]:
    for f in ["id","status","summary","detail","fix"]: assert f in k, f
    assert k["status"] in ("pass","warn","fail","skip")
    assert k["id"] not in ids; ids.add(k["id"])
for want in ["cpu.model","cpu.virt","kvm.dev","kvm.smoke","kvm.msrs","kvm.nested","macos.isa","tsc","iommu.enabled",
             "iommu.cmdline","iommu.irq_remap","topo.layout","topo.hybrid","topo.recommend","mem.total","mem.hugepages",
             "disk.free","qemu.binary","qemu.version","qemu.applesmc","qemu.q35","ovmf","libvirt.version",
             "libvirt.socket","user.groups","virt_manager","distro","bootloader"]:
    assert want in ids, want
'
t_required() { python3 -c "$REQUIRED" <<<"$1" || t_fail "JSON misses required keys"; }

test_intel_desktop_passes() {
  r=$(fx intel-desktop)
  DKVM_USER=alice t_ok "$DKVM" host check --json --sysroot "$r"
  t_required "$OUT"
  t_eq "$(t_jget "$OUT" "d['host']['cpu']['vendor']")" GenuineIntel
  t_eq "$(t_jget "$OUT" "(d['host']['cpu']['cores'], d['host']['cpu']['threads'], d['host']['cpu']['smt'])")" "(8, 16, True)"
  t_eq "$(t_jget "$OUT" "(d['recommended']['cores'], d['recommended']['threads'], d['recommended']['memory_kib'])")" "(4, 2, 8388608)"
  t_eq "$(t_jget "$OUT" "d['summary']['fail'] + d['summary']['warn']")" 0
  t_eq "$(jcheck "$OUT" kvm.smoke)" skip
  t_eq "$(t_jget "$OUT" "d['iommu']")" "{'enabled': True, 'groups': 5, 'irq_remapping': True, 'cmdline_intel_iommu_on': True, 'cmdline_iommu_pt': True}"
}

# host iommu gives each GPU the guide's chart row
test_iommu_gpu_chart() {
  r=$(fx amd-navi)
  t_ok "$DKVM" host iommu --json --sysroot "$r"
  t_eq "$(t_jget "$OUT" "[x['gpu'] for g in d['groups'] for x in g['devices'] if x['bdf']=='0000:0b:00.0'][0]")" \
    "{'family': 'Navi 23', 'supported': True, 'macos_range': '12 -> 26', 'macos_min': 'monterey', 'macos_max': None, 'kext': 'WhateverGreen', 'boot_args': 'agdpmod=pikera', 'device_id_spoof': None, 'notes': 'native; Pro W6600(X) may need a spoof'}"
  t_eq "$(t_jget "$OUT" "[(x['gpu']['family'], x['gpu']['macos_max'], x['boot_vga']) for g in d['groups'] for x in g['devices'] if x['bdf']=='0000:0a:00.0'][0]")" \
    "('Pascal', 'highsierra', True)"
  t_eq "$(t_jget "$OUT" "[x for g in d['groups'] for x in g['devices'] if 'gpu' in x and x['class'][:4] != '0x03']")" "[]"
  t_ok "$DKVM" host iommu --sysroot "$r"
  t_contains "$OUT" "macOS: Navi 23, 12 -> 26; kext WhateverGreen, boot-args agdpmod=pikera"
}

test_intel_desktop_human() {
  r=$(fx intel-desktop)
  DKVM_USER=alice t_ok "$DKVM" host check --sysroot "$r"
  t_contains "$OUT" "dkvm host check: Arch Linux, grub, snapshot"
  t_contains "$OUT" $'\nIOMMU\n  [pass] IOMMU on: 5 groups'
  t_contains "$OUT" "[pass] guest: 1 socket, 1 die, 4 cores, 2 threads per core = 8 vCPUs, 8.0 GiB RAM"
  t_contains "$OUT" "22 passed, 0 warnings, 0 failed, 7 skipped"
}

test_amd_ryzen() {
  r=$(fx amd-ryzen)
  DKVM_USER=bob t_exit 0 "$DKVM" host check --json --sysroot "$r"
  t_required "$OUT"
  t_eq "$(t_jget "$OUT" "d['host']['cpu']['l3_domains']")" "[[0, 1, 2, 3, 4, 5, 12, 13, 14, 15, 16, 17], [6, 7, 8, 9, 10, 11, 18, 19, 20, 21, 22, 23]]"
  t_eq "$(jcheck "$OUT" tsc)" warn
  t_contains "$(jfix "$OUT" tsc)" "sudo grub2-mkconfig -o /boot/grub2/grub.cfg"
  t_eq "$(jcheck "$OUT" kvm.msrs)" warn
  t_contains "$(jfix "$OUT" kvm.msrs)" "options kvm ignore_msrs=1 report_ignored_msrs=0"
  t_eq "$(jcheck "$OUT" iommu.cmdline)" warn
  t_eq "$(t_jget "$OUT" "(d['recommended']['cores'], d['recommended']['threads'], d['recommended']['memory_kib'])")" "(4, 2, 16777216)"
  # human: fix lines are indented under their check
  DKVM_USER=bob t_ok "$DKVM" host check --sysroot "$r"
  t_contains "$OUT" $'  [warn] clocksource is hpet, not tsc\n'
  t_contains "$OUT" $'\n         fix: edit /etc/default/grub: GRUB_CMDLINE_LINUX="rhgb quiet tsc=reliable clocksource=tsc"\n              then run: sudo grub2-mkconfig -o /boot/grub2/grub.cfg'
}

test_iommu_off_fails() {
  r=$(fx iommu-off)
  DKVM_USER=carol t_exit 1 "$DKVM" host check --json --sysroot "$r"
  t_required "$OUT"
  t_eq "$(t_jget "$OUT" "d['iommu']['enabled']")" False
  t_eq "$(jcheck "$OUT" iommu.enabled)" fail
  t_eq "$(jcheck "$OUT" iommu.cmdline)" fail
  t_contains "$(jfix "$OUT" iommu.cmdline)" $'edit /etc/default/grub: GRUB_CMDLINE_LINUX="intel_iommu=on iommu=pt"\nthen run: sudo update-grub'
  t_ok "$DKVM" host iommu --sysroot "$r"
  t_contains "$OUT" "No IOMMU groups"
  t_ok "$DKVM" host iommu --json --sysroot "$r"
  t_eq "$(t_jget "$OUT" "(d['groups'], len(d['ungrouped']))")" "([], 3)"
}

test_no_kvm_fails() {
  r=$(fx no-kvm)
  DKVM_USER=dave t_exit 1 "$DKVM" host check --json --sysroot "$r"
  t_required "$OUT"
  t_eq "$(jcheck "$OUT" cpu.virt)" fail
  t_eq "$(jcheck "$OUT" kvm.dev)" fail
  t_eq "$(t_jget "$OUT" "d['kvm']['usable']")" False
  t_contains "$(jfix "$OUT" iommu.cmdline)" 'sudo kernelstub -a "intel_iommu=on iommu=pt"'
}

test_hybrid() {
  r=$(fx intel-hybrid)
  DKVM_USER=erin t_exit 0 "$DKVM" host check --json --sysroot "$r"
  t_required "$OUT"
  t_eq "$(t_jget "$OUT" "(d['host']['cpu']['hybrid'], d['host']['cpu']['p_cores'], d['host']['cpu']['e_cores'])")" "(True, 8, 4)"
  t_eq "$(jcheck "$OUT" topo.hybrid)" warn
  t_contains "$(jfix "$OUT" iommu.cmdline)" 'edit /boot/loader/entries/arch.conf: append "iommu=pt" to the options line'
}

test_broken_input() {
  r=$(fx broken)
  t_exit 1 "$DKVM" host check --sysroot "$r"
  t_eq "$(wc -l <<<"$ERR")" 1
  t_contains "$ERR" "dkvm: /proc/cpuinfo: no 'processor' entries"
  t_contains "$OUT" "[FAIL] CPU not identified"
  t_exit 1 "$DKVM" host check --json --sysroot "$r"
  t_json "$OUT"
  t_ok "$DKVM" host iommu --json --sysroot "$r"
  t_json "$OUT"
  # a sysroot with nothing at all
  mkdir empty
  t_exit 1 "$DKVM" host check --json --sysroot "$T/empty"
  t_json "$OUT"
  t_contains "$ERR" "/proc/cpuinfo: missing or unreadable"
}

# Every fixture sysroot: its exit status and how many checks pass, warn,
# fail and skip (a fixture added without a row here fails the test).
test_fixture_sysroots() {
  local rows='4core-nosmt alice 0 22 0 0 7
amd-navi bob 0 15 6 0 8
amd-ryzen bob 0 15 6 0 8
broken root 1 3 6 7 13
intel-desktop alice 0 22 0 0 7
intel-hybrid erin 0 19 3 0 7
iommu-off carol 1 17 1 3 8
no-kvm dave 1 11 3 5 10
secrets alice 0 22 0 0 7
xeon-2s alice 0 22 0 0 7'
  local name user rc p w f s n=0
  while read -r name user rc p w f s; do
    r=$(fx "$name")
    DKVM_USER=$user t_exit "$rc" "$DKVM" host check --json --sysroot "$r"
    t_eq "$(t_jget "$OUT" "(d['summary']['pass'], d['summary']['warn'], d['summary']['fail'], d['summary']['skip'])")" "($p, $w, $f, $s)" "$name pass/warn/fail/skip"
    t_eq "$(t_jget "$OUT" "[k['status'] for k in d['checks']].count('fail')")" "$f" "$name fail verdicts"
    n=$((n + 1))
  done <<<"$rows"
  t_eq "$n" "$(ls -d "$FIX"/host/*/ | wc -l)" "fixtures with a row"
}

test_unreadable_dev_kvm() {
  r=$(fx intel-desktop)
  chmod 000 "$r/dev/kvm"
  DKVM_USER=mallory t_exit 1 "$DKVM" host check --sysroot "$r"
  t_contains "$OUT" "[FAIL] /dev/kvm is not accessible to mallory"
  t_contains "$OUT" "fix: sudo usermod -a -G kvm mallory"
}

test_iommu_listing() {
  r=$(fx intel-desktop)
  t_ok "$DKVM" host iommu --sysroot "$r"
  t_contains "$OUT" "IOMMU group 1: viable"
  t_contains "$OUT" "IOMMU group 3: not viable — shared with other devices: 0000:00:17.0 [0106]"
  t_contains "$OUT" "HDMI audio: 0000:01:00.1"
  t_contains "$OUT" "GPU 0000:01:00.0: vfio-pci.ids=1002:73ff,1002:ab28"
  t_ok "$DKVM" host iommu --json --sysroot "$r"
  python3 - "$OUT" <<'EOF' || t_fail "iommu JSON"
import json, sys
d = json.loads(sys.argv[1])
g = {x["id"]: x for x in d["groups"]}
assert sorted(g) == [0, 1, 2, 3, 4]
assert [g[i]["viable"] for i in range(5)] == [False, True, True, False, True]
dev = [x for x in g[1]["devices"] if x["bdf"] == "0000:01:00.0"][0]
assert dev == {**dev, "class": "0x030000", "vendor": "0x1002", "device": "0x73ff", "driver": "amdgpu",
               "boot_vga": True, "audio_function": "0000:01:00.1", "reset_methods": ["bus"]}, dev
assert "name" in dev and "subsystem_vendor" in dev
EOF
  t_ok "$DKVM" host iommu --device 01:00.0 --sysroot "$r"
  t_eq "$OUT" "vfio-pci.ids=1002:73ff,1002:ab28"
  t_ok "$DKVM" host iommu --device 0000:01:00.0 --json --sysroot "$r"
  t_eq "$(t_jget "$OUT" "(d['vfio_pci_ids'], d['group'], d['viable'])")" "('vfio-pci.ids=1002:73ff,1002:ab28', 1, True)"
  t_exit 1 "$DKVM" host iommu --device 09:00.0 --sysroot "$r"
  t_eq "$ERR" "dkvm: 09:00.0: no such PCI device"
  t_exit 2 "$DKVM" host iommu --bogus
  t_exit 2 "$DKVM" host iommu --device
}

test_iommu_names_from_sysroot_pci_ids() {
  r=$(fx intel-desktop)
  mkdir -p "$r/usr/share/misc"
  printf '# test ids\n1002  Fixture Vendor\n\t73ff  Fixture GPU\n' >"$r/usr/share/misc/pci.ids"
  t_ok "$DKVM" host iommu --json --sysroot "$r"
  t_eq "$(t_jget "$OUT" "[(x['vendor_name'], x['name']) for g in d['groups'] for x in g['devices'] if x['bdf']=='0000:01:00.0'][0]")" "('Fixture Vendor', 'Fixture GPU')"
  t_eq "$(t_jget "$OUT" "d['ids_file']")" "$r/usr/share/misc/pci.ids"
  # a sysroot path longer than any fixed buffer: the names still come from its pci.ids
  local long=$T/$(printf 'deep-sysroot-%03d/' $(seq 1 40))x
  mkdir -p "$long" && mv "$r" "$long/r"
  t_ok "$DKVM" host iommu --json --sysroot "$long/r"
  t_eq "$(t_jget "$OUT" "d['ids_file']")" "$long/r/usr/share/misc/pci.ids"
  t_eq "$(t_jget "$OUT" "[x['name'] for g in d['groups'] for x in g['devices'] if x['bdf']=='0000:01:00.0'][0]")" "Fixture GPU"
}

# report of a fixture -> untar -> check equal (non-live), iommu equal
roundtrip() {
  local name=$1 user=$2 r
  r=$(fx "$name")
  DKVM_USER=$user "$DKVM" host check --json --sysroot "$r" >a.json 2>/dev/null || true
  "$DKVM" host iommu --json --sysroot "$r" >ia.json
  DKVM_SYSROOT="$r" t_ok "$DKVM" host report -o rep.tar
  mkdir un && tar -xf rep.tar -C un
  DKVM_USER=$user "$DKVM" host check --json --sysroot "$T/un" >b.json 2>/dev/null || true
  "$DKVM" host iommu --json --sysroot "$T/un" >ib.json
  python3 - <<'EOF' || t_fail "$name: report does not reproduce the check"
import json
a, b = json.load(open("a.json")), json.load(open("b.json"))
ca = [c for c in a["checks"] if not c["live"]]
cb = [c for c in b["checks"] if not c["live"]]
assert len(ca) == len(cb) > 20
for x, y in zip(ca, cb):
    assert x == y, (x, y)
for k in ["cpu", "memory_kib", "hugepages", "distro", "bootloader", "clocksource"]:
    assert a["host"][k] == b["host"][k], k
assert a["recommended"] == b["recommended"] and a["macos_support"] == b["macos_support"] and a["iommu"] == b["iommu"]
assert json.load(open("ia.json"))["groups"] == json.load(open("ib.json"))["groups"]
EOF
}

test_report_roundtrip_intel() {
  roundtrip intel-desktop alice
  # sysfs symlinks stay relative symlinks
  tar -tvf rep.tar >list
  grep -q '^l.* sys/bus/pci/devices/0000:01:00.0 -> ../../../devices/pci0000:00/0000:00:01.0/0000:01:00.0$' list || t_fail "pci device symlink missing"
  grep -q '^l.*/iommu_group -> \.\./' list || t_fail "iommu_group link missing"
  grep -q '^l.*/driver -> \.\./' list || t_fail "driver link missing"
  # sanitized: no UUID from the cmdline, only the GRUB cmdline lines
  t_not_contains "$(cat un/proc/cmdline)" "3f2a9c1e"
  t_eq "$(cat un/etc/default/grub)" $'GRUB_CMDLINE_LINUX_DEFAULT="loglevel=3 quiet"\nGRUB_CMDLINE_LINUX="intel_iommu=on iommu=pt"'
  t_not_contains "$(cat un/etc/group)" "wheel"
  t_json "$(cat un/dkvm-host-check.json)"
}
test_report_long_paths() {
  # a device deep behind switches: link target > 100 bytes, path > 255 bytes (pax headers)
  r=$(fx intel-desktop)
  deep=devices/pci0000:00
  for b in 10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f 20; do deep="$deep/0000:$b:00.0"; done
  mkdir -p "$r/sys/$deep"
  echo 0x0c0330 >"$r/sys/$deep/class"; echo 0x1b21 >"$r/sys/$deep/vendor"; echo 0x2142 >"$r/sys/$deep/device"
  ln -s "../../../$deep" "$r/sys/bus/pci/devices/0000:20:00.0"
  "$DKVM" host iommu --json --sysroot "$r" >ia.json
  DKVM_SYSROOT="$r" t_ok "$DKVM" host report -o rep.tar
  mkdir un && tar -xf rep.tar -C un
  [ -f "un/sys/$deep/class" ] || t_fail "deep file not unpacked"
  t_eq "$(readlink "un/sys/bus/pci/devices/0000:20:00.0")" "../../../$deep"
  "$DKVM" host iommu --json --sysroot "$T/un" >ib.json
  python3 -c 'import json,tarfile; a=json.load(open("ia.json")); b=json.load(open("ib.json")); assert a["ungrouped"]==b["ungrouped"] and any(d["bdf"]=="0000:20:00.0" for d in b["ungrouped"]); tarfile.open("rep.tar").getmembers()' || t_fail "long-path round trip"
}
test_report_roundtrip_amd() { roundtrip amd-ryzen bob; }
test_report_roundtrip_hybrid() { roundtrip intel-hybrid erin; }
test_report_roundtrip_nokvm() { roundtrip no-kvm dave; }
test_report_roundtrip_iommu_off() { roundtrip iommu-off carol; }
test_report_roundtrip_broken() { roundtrip broken root; }

# A sysroot full of identifying data: none of it may reach the report tar (any
# file, the check JSON included), and the verdicts still round-trip.
SECRETS='7c9e6679-7425-40de-944b-e07fc1f90ae7 9b2d4f6a-1c3e-4a5b-8d7f-0e1a2b3c4d5e
0d6f1a2b-3c4d-4e5f-a6b7-c8d9e0f1a2b3 5f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0 4c4c4544-0042-3510-8052-b4c04f4e3132
192.168.77.23 192.168.77.1 52:54:00:12:34:56 frodo-secret-box SERIAL-XYZ-98765 BOARD-SN-424242
0123456789abcdef0123456789abcdef DEADBEEFSECRETHASH'
test_report_scrubs_secrets() {
  r=$(fx secrets)
  # the fixture really holds every secret (else this test proves nothing)
  for s in $SECRETS; do grep -rqF -- "$s" "$r" || t_fail "fixture lacks $s"; done
  DKVM_USER=alice t_ok "$DKVM" host check --json --sysroot "$r"
  echo "$OUT" >a.json
  grep -qF 192.168.77.23 a.json || t_fail "check JSON should quote the cmdline (else the scrub test is empty)"
  DKVM_SYSROOT="$r" t_ok "$DKVM" host report -o rep.tar
  mkdir un && tar -xf rep.tar -C un
  for s in $SECRETS; do
    ! grep -rqiF -- "$s" un || t_fail "$s leaked into $(grep -rliF -- "$s" un | tr '\n' ' ')"
    ! grep -qaiF -- "$s" rep.tar || t_fail "$s leaked into the tar"
  done
  t_contains "$(cat un/proc/cmdline)" "root=REDACTED resume=REDACTED rw ip=REDACTED"
  t_contains "$(cat un/proc/cmdline)" "intel_iommu=on iommu=pt"
  t_contains "$(cat un/etc/default/grub)" 'GRUB_CMDLINE_LINUX="cryptdevice=REDACTED ip=REDACTED intel_iommu=on iommu=pt"'
  t_contains "$(cat un/dkvm-host-check.json)" '"cmdline":"BOOT_IMAGE=/boot/vmlinuz-linux root=REDACTED'
  DKVM_USER=alice t_ok "$DKVM" host check --json --sysroot "$T/un"
  echo "$OUT" >b.json
  python3 - <<'EOF2' || t_fail "verdicts do not round-trip"
import json
a, b, c = (json.load(open(f)) for f in ("a.json", "b.json", "un/dkvm-host-check.json"))
va = [(k["id"], k["status"]) for k in a["checks"] if not k["live"]]
for other in (b, c):
    assert va == [(k["id"], k["status"]) for k in other["checks"] if not k["live"]], other["checks"]
assert a["summary"] == b["summary"] == c["summary"] and a["summary"]["fail"] == 0
assert a["recommended"] == b["recommended"] and a["iommu"] == b["iommu"]
EOF2
}

test_report_refuses_existing() {
  r=$(fx iommu-off)
  echo keep >rep.tar
  DKVM_SYSROOT="$r" t_exit 1 "$DKVM" host report -o rep.tar
  t_contains "$ERR" "rep.tar: already exists (use --force to replace it)"
  t_eq "$(cat rep.tar)" keep
  DKVM_SYSROOT="$r" t_ok "$DKVM" host report -o rep.tar --force
  tar -tf rep.tar >/dev/null || t_fail "not a tar"
  t_eq "$(ls -A | grep -c '^\.rep')" 0
  DKVM_SYSROOT="$r" t_ok "$DKVM" --json host report -o rep.tar --force
  t_eq "$(t_jget "$OUT" "(list(d), d['output'], d['files'] > 0 and d['bytes'] > 0)")" \
    "(['output', 'files', 'symlinks', 'directories', 'placeholders', 'bytes'], 'rep.tar', True)"
  t_exit 1 "$DKVM" host report -o /nonexistent/dir/rep.tar
  t_contains "$ERR" "dkvm: "
  t_exit 2 "$DKVM" host report extra
}

test_report_default_name() {
  r=$(fx intel-hybrid)
  DKVM_SYSROOT="$r" t_ok "$DKVM" host report
  f=$(ls host-report-*.tar)
  t_eq "$f" "host-report-$(hostname | tr -c 'A-Za-z0-9._\n-' _)-$(date -u +%F).tar"
  DKVM_SYSROOT="$r" t_exit 1 "$DKVM" host report
}

test_live_check() {
  t_exit_any() { set +e; "$@" >"$T/.out" 2>"$T/.err"; RC=$?; set -e; OUT=$(cat "$T/.out"); ERR=$(cat "$T/.err"); }
  t_exit_any "$DKVM" host check --json
  [ "$RC" = 0 ] || [ "$RC" = 1 ] || t_fail "exit $RC: $ERR"
  t_required "$OUT"
  t_eq "$(t_jget "$OUT" "d['host']['live']")" True
  s=$(jcheck "$OUT" kvm.smoke)
  [ "$s" = pass ] || [ "$s" = fail ] || t_fail "kvm.smoke status $s"
  d=$(t_jget "$OUT" "d['kvm']['detail']")
  [ -n "$d" ] || t_fail "no KVM detail"
  if [ "$s" = pass ]; then t_contains "$d" "KVM_EXIT_HLT"; fi
  echo "# live kvm.smoke: $s: $d" >&2
  # fail exit status <=> a failed check
  t_eq "$RC" "$(t_jget "$OUT" "1 if d['summary']['fail'] else 0")"
  t_exit_any "$DKVM" host check
  t_contains "$OUT" "passed,"
  t_contains "$OUT" $'\nKVM\n'
  # where VMs go, however long: named whole, its free space measured on the nearest existing parent
  local long=$T/$(printf 'data-home-%03d/' $(seq 1 50))x
  mkdir -p "$T/data-home-001"
  XDG_DATA_HOME=$long t_exit_any "$DKVM" host check --json
  t_eq "$(t_jget "$OUT" "(d['host']['vm_dir'], [c['status'] != 'skip' for c in d['checks'] if c['id'] == 'disk.free'])")" "('$long/dkvm', [True])"
}

test_live_report_roundtrip() {
  t_ok "$DKVM" host report -o live.tar
  mkdir un && tar -xf live.tar -C un
  "$DKVM" host check --json >a.json || true
  "$DKVM" host check --json --sysroot "$T/un" >b.json || true
  python3 - <<'EOF' || t_fail "live report does not reproduce the check"
import json
a, b = json.load(open("a.json")), json.load(open("b.json"))
ca = {c["id"]: c for c in a["checks"] if not c["live"]}
cb = {c["id"]: c for c in b["checks"] if not c["live"]}
# group membership and /dev/kvm access are judged from the snapshot's files
for k in ["kvm.dev", "user.groups"]:
    ca.pop(k); cb.pop(k)
# a snapshot keeps /dev/kvm's mode, not its owner: the verdict must agree
if "libvirt.qemu_kvm" in ca or "libvirt.qemu_kvm" in cb:
    assert ca.pop("libvirt.qemu_kvm")["status"] == cb.pop("libvirt.qemu_kvm")["status"]
# available memory moves between the two runs
assert ca.pop("mem.total")["status"] == cb.pop("mem.total")["status"]
assert ca == cb, [(ca[k], cb[k]) for k in ca if ca[k] != cb.get(k)]
EOF
  ! grep -rqs "$(cat /etc/machine-id 2>/dev/null || echo no-machine-id-here)" un || t_fail "machine-id leaked"
  # people's accounts never go into a report: at most libvirt's QEMU user
  if [ -e un/etc/passwd ]; then t_eq "$(cut -d: -f1 un/etc/passwd | grep -v '^libvirt-qemu$' || true)" "" "users in the report"; fi
}

test_help_and_usage() {
  for v in check iommu report; do
    t_ok "$DKVM" host "$v" --help
    t_contains "$OUT" "usage: dkvm host $v"
    t_contains "$OUT" "Exit status"
  done
  t_exit 2 "$DKVM" host check --nope
  t_contains "$ERR" "unknown option"
  t_exit 2 "$DKVM" host check stray
}

t_main
