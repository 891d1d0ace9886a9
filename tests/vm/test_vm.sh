#!/usr/bin/env bash
# dkvm create / start / stop / list / show / destroy, against real QEMU, OVMF and libvirtd.
source "$(dirname "$0")/../lib.sh"

# A small OpenCore-like disk: GPT + FAT ESP whose BOOTx64.efi is junk, so OVMF
# falls through to the UEFI Shell, which runs startup.nsh and prints the marker.
mk_esp() { # mk_esp IMG
  local img=$1
  truncate -s 64M "$img"
  printf 'label: gpt\nstart=2048, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\n' | sfdisk -q "$img"
  printf 'echo DKVM-VM-BOOT-MARKER\r\n' > "$T/startup.nsh"
  echo junk > "$T/BOOTx64.efi"
  mformat -i "$img@@1M" -v OPENCORE -T 126976 -h 64 -s 32 ::
  mmd -i "$img@@1M" ::/EFI ::/EFI/BOOT
  mcopy -i "$img@@1M" "$T/BOOTx64.efi" ::/EFI/BOOT/
  mcopy -i "$img@@1M" "$T/startup.nsh" ::/
}

# On any exit of a test: no QEMU of ours left running.
stop_vms() {
  local m
  for m in "$T"/vms/*/manifest.json; do
    [ -e "$m" ] || continue
    "$DKVM" stop "$(basename "$(dirname "$m")")" --dir "$T/vms" --force >/dev/null 2>&1 || true
  done
}

need_qemu() {
  trap stop_vms EXIT
  command -v qemu-system-x86_64 >/dev/null || t_skip "qemu-system-x86_64 not installed"
  [ -e /usr/share/OVMF/OVMF_CODE_4M.fd ] || [ -e /usr/share/OVMF/OVMF_CODE.fd ] || t_skip "OVMF not installed"
}

# Nothing but the listed names in DIR (no temp dirs, no half bundles).
only_entries() { # only_entries DIR names...
  local dir=$1; shift
  local got want
  got=$(ls -A "$dir" 2>/dev/null | sort | tr '\n' ' ')
  want=$(printf '%s\n' "$@" | sed '/^$/d' | sort | tr '\n' ' ')
  t_eq "$got" "$want" "entries of $dir"
}

wait_marker() { # wait_marker FILE SECONDS
  local i
  for ((i = 0; i < $2 * 2; i++)); do
    grep -q 'DKVM-VM-BOOT-MARKER' "$1" 2>/dev/null && grep -a 'DKVM-VM-BOOT-MARKER' "$1" | grep -qv 'echo' && return 0
    sleep 0.5
  done
  return 1
}

test_goldens_validate() {
  command -v virt-xml-validate >/dev/null || t_skip "virt-xml-validate not installed"
  local f n=0
  for f in "$DKVM_SRCDIR"/tests/vm/golden/*.libvirt-9.0.xml; do
    t_ok virt-xml-validate "$f" domain
    n=$((n + 1))
  done
  [ "$n" -ge 5 ] || t_fail "only $n golden XML files"
  # The schema of the installed libvirt decides about the 10.0 renderings (itco watchdog).
  local v; v=$(libvirtd --version | awk '{print $NF}')
  if [ "$(printf '%s\n9.1.0\n' "$v" | sort -V | head -n1)" = "9.1.0" ]; then
    t_ok virt-xml-validate "$DKVM_SRCDIR/tests/vm/golden/amd-ryzen.libvirt-10.0.xml" domain
  else
    t_exit 3 virt-xml-validate "$DKVM_SRCDIR/tests/vm/golden/amd-ryzen.libvirt-10.0.xml" domain
    t_contains "$ERR" "fails to validate"
  fi
}

test_dry_run_json() {
  need_qemu
  t_ok "$DKVM" --json create dry1 --dry-run --dir "$T/vms" --macos sonoma --memory 4G
  t_json "$OUT"
  t_eq "$(t_jget "$OUT" 'd["dry_run"]')" "True"
  t_eq "$(t_jget "$OUT" 'd["plan"]["model"]')" "MacPro7,1"
  t_eq "$(t_jget "$OUT" 'd["plan"]["macos"]')" "sonoma"
  t_eq "$(t_jget "$OUT" 'd["plan"]["memory_mib"]')" "4096"
  t_eq "$(t_jget "$OUT" 'd["plan"]["topology"]["sockets"]')" "1"
  t_contains "$(t_jget "$OUT" 'd["plan"]["cpu"]["arg"]')" "Cascadelake-Server,vendor=GenuineIntel"
  t_contains "$(t_jget "$OUT" '[x["key"] for x in d["plan"]["decisions"]]')" "topology"
  [ ! -e "$T/vms" ] || t_fail "dry run created $T/vms"
  # --explain prints every decision with its reason
  t_ok "$DKVM" create dry2 --dry-run --explain --dir "$T/vms" --model MacPro5,1 --macos mojave
  t_contains "$OUT" "Westmere-v2"
  t_contains "$OUT" $'Decisions:\nmodel          MacPro5,1\n               as requested (--model)\n'
  t_contains "$OUT" "vmxnet3"
  t_contains "$OUT" "qcow2 on SATA"
  t_contains "$OUT" "dry run: nothing was created"
}

test_bad_input() {
  need_qemu
  mkdir -p "$T/vms"
  t_exit 1 "$DKVM" create bad --model MacPro9,9 --dir "$T/vms"
  t_contains "$ERR" "dkvm: model 'MacPro9,9': unknown"
  t_eq "$(grep -vc "^dkvm: warning" <<<"$ERR")" "1" "error lines"
  t_exit 1 "$DKVM" create bad --macos cheetah --dir "$T/vms"
  t_contains "$ERR" "macOS release 'cheetah': unknown"
  t_exit 1 "$DKVM" create bad --model MacPro5,1 --macos sonoma --dir "$T/vms"
  t_contains "$ERR" "does not run macOS Sonoma"
  t_exit 1 "$DKVM" create bad --cpus 1000 --dir "$T/vms"
  t_contains "$ERR" "logical CPUs"
  t_exit 1 "$DKVM" create 'a/b' --dir "$T/vms"
  t_contains "$ERR" "not a safe name"
  t_exit 1 "$DKVM" create "it's" --dir "$T/vms"
  t_contains "$ERR" "not a safe name"
  t_exit 1 "$DKVM" create 'q"x' --dir "$T/vms"
  t_exit 2 "$DKVM" create
  t_exit 2 "$DKVM" create x --cpus zero
  t_exit 2 "$DKVM" create x --connect qemu:///system --no-libvirt
  # unreachable libvirt: one line, nothing created
  t_exit 1 "$DKVM" create bad --connect "qemu:///system?socket=$T/nonexistent/sock" --dir "$T/vms" --no-recovery
  t_contains "$ERR" "dkvm: libvirt qemu:///system?socket="
  t_eq "$(grep -vc "^dkvm: warning" <<<"$ERR")" "1" "error lines"
  # no OpenCore source: clear error, nothing left
  t_exit 1 "$DKVM" create bad --opencore "$T/nope.zip" --no-recovery --dir "$T/vms"
  t_contains "$ERR" "nope.zip"
  t_exit 1 "$DKVM" create bad --opencore-image "$T/nope.img" --no-recovery --dir "$T/vms"
  t_contains "$ERR" "nope.img"
  # --opencore-image must be a raw GPT disk with an ESP (it is attached as format=raw)
  head -c 100000 /dev/urandom > "$T/junk.img"
  t_exit 1 "$DKVM" create bad --opencore-image "$T/junk.img" --no-recovery --dir "$T/vms"
  t_contains "$ERR" "dkvm: --opencore-image: $T/junk.img: "
  t_eq "$(grep -vc "^dkvm: warning" <<<"$ERR")" "1" "error lines"
  qemu-img create -q -f qcow2 "$T/oc.qcow2" 64M
  t_exit 1 "$DKVM" create bad --opencore-image "$T/oc.qcow2" --no-recovery --dir "$T/vms"
  t_contains "$ERR" "oc.qcow2: a qcow2 image"
  t_exit 1 "$DKVM" create bad --opencore-image "$T" --no-recovery --dir "$T/vms"
  t_contains "$ERR" "not a regular file"
  mkfifo "$T/oc.fifo"
  t_exit 1 timeout 60 "$DKVM" create bad --opencore-image "$T/oc.fifo" --no-recovery --dir "$T/vms"
  t_contains "$ERR" "oc.fifo: not a regular file"
  only_entries "$T/vms"
  # sizes: 0 is not a size, a bare number that overflows is refused
  t_exit 2 "$DKVM" create bad --disk 0 --dry-run --dir "$T/vms"
  t_contains "$ERR" "--disk '0': must be more than 0"
  t_exit 2 "$DKVM" create bad --memory 0 --dry-run --dir "$T/vms"
  t_exit 2 "$DKVM" create bad --disk 99999999999999 --dry-run --dir "$T/vms"
  t_contains "$ERR" "too large"
  # an existing bundle (or kept disk) is refused without --force
  mkdir -p "$T/vms/taken" && echo x > "$T/vms/taken/disk.qcow2"
  t_exit 1 "$DKVM" create taken --dir "$T/vms"
  t_contains "$ERR" "use --force"
  t_eq "$(cat "$T/vms/taken/disk.qcow2")" "x" "kept disk"
  only_entries "$T/vms" taken
  # commands on missing VMs
  t_exit 1 "$DKVM" start nosuch --dir "$T/vms"
  t_contains "$ERR" "nosuch: no such VM"
  t_exit 1 "$DKVM" show nosuch --dir "$T/vms"
  t_exit 1 "$DKVM" destroy nosuch --yes --dir "$T/vms"
  # a damaged manifest: one line that says what is wrong and what to do
  mkdir -p "$T/vms/broken" && echo garbage > "$T/vms/broken/manifest.json"
  t_exit 1 "$DKVM" show broken --dir "$T/vms"
  t_contains "$ERR" "manifest.json: not valid JSON (a damaged bundle: remove $T/vms/broken by hand)"
  echo '{"name":"broken"}' > "$T/vms/broken/manifest.json"
  t_exit 1 "$DKVM" start broken --dir "$T/vms"
  t_contains "$ERR" "not a dkvm manifest (no plan)"
  t_ok "$DKVM" list --dir "$T/vms"
  t_contains "$OUT" "broken"
  rm -r "$T/vms/broken"
  t_exit 2 "$DKVM" start --display nope x
}

# A fake OpenCorePkg release: real Sample.plist (shared fixture), junk EFI binaries.
mk_fake_release() { # mk_fake_release DIR
  local d=$1 f
  mkdir -p "$d/X64/EFI/BOOT" "$d/X64/EFI/OC/Drivers" "$d/X64/EFI/OC/Tools" "$d/Docs"
  head -c 20000 /dev/urandom > "$d/X64/EFI/BOOT/BOOTx64.efi"
  head -c 70000 /dev/urandom > "$d/X64/EFI/OC/OpenCore.efi"
  for f in OpenRuntime OpenHfsPlus OpenCanopy ResetNvramEntry AudioDxe OpenPartitionDxe; do
    head -c 9000 /dev/urandom > "$d/X64/EFI/OC/Drivers/$f.efi"
  done
  for f in OpenShell ResetSystem CleanNvram; do head -c 5000 /dev/urandom > "$d/X64/EFI/OC/Tools/$f.efi"; done
  cp "$SHARED/fixtures/opencore/Sample-1.0.6.plist" "$d/Docs/Sample.plist"
  mkdir -p "$d/Docs/AcpiSamples/Binaries"
  for f in SSDT-EC-USBX-DESKTOP SSDT-PLUG-ALT SSDT-EC-DESKTOP; do head -c 300 /dev/urandom > "$d/Docs/AcpiSamples/Binaries/$f.aml"; done
  # the guide's kexts from a loopback GitHub (tests/image/fake_release.sh)
  if [ -z "${DKVM_GITHUB_MIRROR:-}" ]; then
    source "$DKVM_SRCDIR/tests/image/fake_release.sh"
    (cd "$T" && gh_kexts >/dev/null)
    (cd "$T" && gh_serve && echo "$GH_PID $MIRROR" > "$T/gh") || t_fail "no fake GitHub"
    read -r GH_PID DKVM_GITHUB_MIRROR < "$T/gh"
    export DKVM_GITHUB_MIRROR XDG_CACHE_HOME=$T/cache
    trap 'stop_vms; kill $GH_PID 2>/dev/null || true' EXIT
  fi
}

# The whole pipeline: SMBIOS -> config.plist from the release's Sample.plist -> image -> disk.
test_full_pipeline() {
  need_qemu
  [ -r "$SHARED/fixtures/opencore/Sample-1.0.6.plist" ] || t_skip "shared fixtures missing"
  mk_fake_release "$T/rel"
  t_ok "$DKVM" --json create full --opencore "$T/rel" --no-recovery --dir "$T/vms" --disk 16G --memory 2G
  local dir="$T/vms/full"
  only_entries "$T/vms" full
  only_entries "$dir" OVMF_VARS.fd OpenCore.img config.plist disk.qcow2 domain.xml manifest.json qemu.argv start.sh
  local serial; serial=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["smbios"]["SystemSerialNumber"])' "$dir/manifest.json")
  # the image is a GPT disk whose ESP holds OpenCore and our config with this VM's serial
  local off; off=$(sfdisk -J "$dir/OpenCore.img" | python3 -c 'import json,sys; d=json.load(sys.stdin)["partitiontable"]; print(d["partitions"][0]["start"]*512)')
  export MTOOLS_SKIP_CHECK=1
  t_contains "$(mtype -i "$dir/OpenCore.img@@$off" ::/EFI/OC/config.plist)" "<string>$serial</string>"
  cmp -s <(mtype -i "$dir/OpenCore.img@@$off" ::/EFI/OC/OpenCore.efi) "$T/rel/X64/EFI/OC/OpenCore.efi" || t_fail "OpenCore.efi differs"
  t_contains "$(cat "$dir/config.plist")" "MacPro7,1"
  # a release without Sample.plist fails half way: nothing left behind
  rm "$T/rel/Docs/Sample.plist"
  t_exit 1 "$DKVM" create broken --opencore "$T/rel" --no-recovery --dir "$T/vms" --disk 16G
  t_contains "$ERR" "Sample.plist"
  t_eq "$(grep -vc "^dkvm: warning" <<<"$ERR")" "1" "error lines"
  only_entries "$T/vms" full
  # --force replaces a VM
  mk_fake_release "$T/rel2"
  mkdir -p "$T/rec/com.apple.recovery.boot"
  head -c 100000 /dev/urandom > "$T/rec/com.apple.recovery.boot/BaseSystem.dmg"
  echo chunk > "$T/rec/com.apple.recovery.boot/BaseSystem.chunklist"
  t_ok "$DKVM" create full --force --opencore "$T/rel2" --recovery "$T/rec" --dir "$T/vms" --disk 16G --memory 2G
  local serial2; serial2=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["smbios"]["SystemSerialNumber"])' "$dir/manifest.json")
  [ "$serial" != "$serial2" ] || t_fail "--force kept the old identity"
  # recoveryOS given: on the image, byte for byte
  off=$(sfdisk -J "$dir/OpenCore.img" | python3 -c 'import json,sys; d=json.load(sys.stdin)["partitiontable"]; print(d["partitions"][0]["start"]*512)')
  cmp -s <(mtype -i "$dir/OpenCore.img@@$off" ::/com.apple.recovery.boot/BaseSystem.dmg) "$T/rec/com.apple.recovery.boot/BaseSystem.dmg" ||
    t_fail "recovery dmg not on the image"
  only_entries "$T/vms" full
}

# Plans from the host area's fixture sysroots (dkvm --sysroot).
# Each fixture host: the exit status and, where it plans, accel, topology and
# memory; where it cannot, the one-line reason.
test_fixture_sysroots() {
  local fx="$DKVM_SRCDIR/tests/fixtures/host"
  local expect='
amd-navi 0 kvm 4x2 16384
amd-ryzen 0 kvm 4x2 16384
broken 1 /proc/cpuinfo: no '"'"'processor'"'"' entries
intel-desktop 0 kvm 4x2 8192
intel-hybrid 0 kvm 4x2 8192
iommu-off 0 kvm 2x1 4096
no-kvm 1 OVMF: no firmware found
secrets 0 kvm 4x2 8192
xeon-2s 0 kvm 8x2 8192
4core-nosmt 0 kvm 2x1 8192'
  local f name want n=0
  for f in "$fx"/*/; do
    f=${f%/}; name=$(basename "$f")
    want=$(awk -v n="$name" '$1 == n' <<<"$expect")
    [ -n "$want" ] || t_fail "fixture $name has no expected outcome here"
    set +e
    "$DKVM" --sysroot "$f" --json create fx --dry-run --dir "$T/vms" >"$T/out" 2>"$T/err"
    local rc=$?
    set -e
    t_eq "$rc" "$(awk '{print $2}' <<<"$want")" "$name exit status"
    if [ "$rc" = 0 ]; then
      OUT=$(cat "$T/out"); t_json "$OUT"
      t_eq "$(t_jget "$OUT" 'd["plan"]["accel"]')" "$(awk '{print $3}' <<<"$want")" "$name accel"
      t_eq "$(t_jget "$OUT" '"%dx%d" % (d["plan"]["topology"]["cores"], d["plan"]["topology"]["threads"])')" \
        "$(awk '{print $4}' <<<"$want")" "$name cores x threads"
      t_eq "$(t_jget "$OUT" 'd["plan"]["memory_mib"]')" "$(awk '{print $5}' <<<"$want")" "$name memory"
      t_eq "$(t_jget "$OUT" 'd["plan"]["topology"]["sockets"]')" "1" "$name sockets"
      t_eq "$(t_jget "$OUT" 'd["plan"]["cpu"]["topoext"] == d["plan"]["cpu"]["amd_host"] and d["plan"]["topology"]["threads"] == 2 or not d["plan"]["cpu"]["topoext"]')" "True" "$name topoext"
    else
      t_eq "$(grep -vc '^dkvm: warning' "$T/err")" "1" "$name error lines"
      t_contains "$(cat "$T/err")" "$(cut -d' ' -f3- <<<"$want")"
    fi
    n=$((n + 1))
  done
  t_eq "$n" "$(grep -c . <<<"$expect")" "fixtures planned"
  [ ! -e "$T/vms" ] || t_fail "dry runs created files"
  t_ok "$DKVM" --sysroot "$fx/amd-ryzen" --json create fx --dry-run
  t_eq "$(t_jget "$OUT" 'd["plan"]["cpu"]["amd_host"]')" "True"
  t_contains "$(t_jget "$OUT" 'd["plan"]["cpu"]["arg"]')" "vendor=GenuineIntel"
}

# create's default levers per fixture host: pinning (vCPUs, emulator, IO
# thread) and the IO thread on wherever the host has room, off with the reason
# in the plan's decisions (--explain) where it has not: a host without KVM
# (TCG), more guest cores than the host can spare. --no-tune: neither.
test_default_levers() {
  local fx="$DKVM_SRCDIR/tests/fixtures/host" name want
  while read -r name want; do
    [ -n "$name" ] || continue
    t_ok "$DKVM" --sysroot "$fx/$name" --json create lv --dry-run --dir "$T/vms"
    t_eq "$(t_jget "$OUT" 'd["plan"].get("iothreads"), d["plan"].get("pinning")')" "$want" "$name levers"
    t_eq "$(t_jget "$OUT" 'sorted(x["key"] for x in d["plan"]["decisions"] if x["key"] in ("pinning", "iothreads"))')" \
      "['iothreads', 'pinning']" "$name decisions"
  done <<'EOT'
amd-ryzen (1, {'vcpus': [1, 13, 2, 14, 3, 15, 4, 16], 'emulator': '0,12', 'iothread': '5,17'})
amd-navi (1, {'vcpus': [1, 13, 2, 14, 3, 15, 4, 16], 'emulator': '0,12', 'iothread': '5,17'})
intel-hybrid (1, {'vcpus': [2, 3, 4, 5, 6, 7, 8, 9], 'emulator': '0,1', 'iothread': '10,11'})
xeon-2s (1, {'vcpus': [8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31], 'emulator': '0,16', 'iothread': '1,17'})
intel-desktop (1, {'vcpus': [1, 9, 2, 10, 3, 11, 4, 12], 'emulator': '0,8', 'iothread': '5,13'})
secrets (1, {'vcpus': [1, 9, 2, 10, 3, 11, 4, 12], 'emulator': '0,8', 'iothread': '5,13'})
4core-nosmt (1, {'vcpus': [1, 2], 'emulator': '0', 'iothread': '3'})
iommu-off (1, {'vcpus': [1, 2], 'emulator': '0', 'iothread': '3'})
EOT
  # two NUMA nodes: the pins on node 1 (node 0 has no room beside CPU 0's core), guest RAM bound there
  t_ok "$DKVM" --sysroot "$fx/xeon-2s" --json create lv --dry-run --dir "$T/vms"
  t_eq "$(t_jget "$OUT" 'd["plan"].get("numa_node")')" "1"
  t_ok "$DKVM" --sysroot "$fx/xeon-2s" create lv --dry-run --explain --dir "$T/vms"
  t_contains "$OUT" "memory.numa    node 1 of 2 (strict)"
  t_contains "$OUT" "all on NUMA node 1 (of the host's 2)"
  t_ok "$DKVM" --sysroot "$fx/amd-ryzen" --json create lv --dry-run --dir "$T/vms"
  t_eq "$(t_jget "$OUT" 'd["plan"].get("numa_node")')" "None"
  # the explanation says where each lever went
  t_ok "$DKVM" --sysroot "$fx/amd-ryzen" create lv --dry-run --explain --dir "$T/vms"
  t_contains "$OUT" "within one L3 domain"
  t_contains "$OUT" "IO thread on 5,17"
  # no room: 4 guest cores on a 4-core host keep nothing for the host
  t_ok "$DKVM" --sysroot "$fx/4core-nosmt" --json create lv --dry-run --cpus 4 --dir "$T/vms"
  t_eq "$(t_jget "$OUT" 'd["plan"].get("iothreads"), d["plan"].get("pinning")')" "(1, None)"
  t_eq "$(t_jget "$OUT" '[x["value"] + ": " + x["reason"] for x in d["plan"]["decisions"] if x["key"] == "pinning"]')" \
    "['off (the host has no room): 4 guest cores need 4 host cores besides the one of host CPU 0; the host has 3']"
  t_ok "$DKVM" --sysroot "$fx/4core-nosmt" create lv --dry-run --explain --cpus 4 --dir "$T/vms"
  t_contains "$OUT" "pinning        off (the host has no room)"
  # no KVM (the no-kvm fixture, given the OVMF pair it lacks): TCG, nothing to pin
  cp -a "$fx/no-kvm" "$T/nokvm"
  mkdir -p "$T/nokvm/usr/share"
  cp -a "$fx/amd-ryzen/usr/share/edk2" "$T/nokvm/usr/share/"
  t_ok "$DKVM" --sysroot "$T/nokvm" --json create lv --dry-run --dir "$T/vms"
  t_eq "$(t_jget "$OUT" 'd["plan"]["accel"], d["plan"].get("iothreads"), d["plan"].get("pinning")')" "('tcg', 1, None)"
  t_eq "$(t_jget "$OUT" '[x["reason"] for x in d["plan"]["decisions"] if x["key"] == "pinning"]')" \
    "['off: TCG threads are not vCPUs to pin']"
  # --no-tune: the plain plan
  t_ok "$DKVM" --sysroot "$fx/amd-ryzen" --json create lv --dry-run --no-tune --dir "$T/vms"
  t_eq "$(t_jget "$OUT" 'd["plan"].get("iothreads"), d["plan"].get("pinning")')" "(None, None)"
  [ ! -e "$T/vms" ] || t_fail "dry runs created files"
}

# --gpu/--usb-controller/--audio on the amd-navi fixture: planned from its
# PCI facts; each refusal one line, nothing created.
test_passthrough_cli() {
  local fx="$DKVM_SRCDIR/tests/fixtures/host/amd-navi"
  t_ok "$DKVM" --sysroot "$fx" --json create gfx --dry-run --dir "$T/vms" --gpu 0b:00.0 --usb-controller 0d:00.3
  t_eq "$(t_jget "$OUT" '[(h["host"], h["port"], h["function"], h["multifunction"]) for h in d["plan"]["passthrough"]]')" \
    "[('0000:0b:00.0', 1, 0, True), ('0000:0b:00.1', 1, 1, False), ('0000:0d:00.3', 2, 0, False)]"
  t_eq "$(t_jget "$OUT" 'd["plan"]["gpu_kext"], d["plan"]["gpu"]["boot_args"], d["plan"]["devices"]["video"]')" \
    "('WhateverGreen', 'agdpmod=pikera', 'none')"
  # the EFI gets the kext the chart names for the card, AppleALC with the audio controller
  t_eq "$(t_jget "$OUT" '[k["name"] for k in d["efi"]["kexts"] if k["name"] in ("WhateverGreen", "NootRX", "AppleALC")]')" \
    "['WhateverGreen']"
  t_ok "$DKVM" --sysroot "$fx" --json create gfx --dry-run --dir "$T/vms" --gpu 0b:00.0 --audio 0e:00.4
  t_eq "$(t_jget "$OUT" '[k["name"] for k in d["efi"]["kexts"] if k["name"] in ("WhateverGreen", "NootRX", "AppleALC")]')" \
    "['WhateverGreen', 'AppleALC']"
  t_ok "$DKVM" --sysroot "$fx" --json create plain --dry-run --dir "$T/vms"
  t_eq "$(t_jget "$OUT" '[k["name"] for k in d["efi"]["kexts"] if k["name"] in ("WhateverGreen", "NootRX", "AppleALC")]')" "[]"
  local bad
  while IFS='|' read -r bad want; do
    [ -n "$bad" ] || continue
    # shellcheck disable=SC2086
    t_exit 1 "$DKVM" --sysroot "$fx" create gfx --dry-run --dir "$T/vms" $bad
    t_eq "$(wc -l <<<"$ERR")" 1 "error lines for $bad"
    t_contains "$ERR" "$want"
  done <<'EOT'
--gpu 0a:00.0|dkvm: --gpu 0000:0a:00.0: the host's boot VGA device
--usb-controller 07:00.0|IOMMU group 3 is not viable
--gpu 0b:00.6|dkvm: --gpu 0b:00.6: no such PCI device on this host
--gpu 0b:00.0 --macos bigsur|runs macOS 12 -> 26 per the guide's GPU chart, not Big Sur (11)
--gpu 0b:00.0 --gpu-rom /nonexistent.rom|dkvm: --gpu-rom /nonexistent.rom: No such file or directory
EOT
  # --force passes the boot VGA card anyway, and says so
  t_ok "$DKVM" --sysroot "$fx" --json create gfx --dry-run --dir "$T/vms" --gpu 0a:00.0 --force
  t_contains "$ERR" "boot VGA device"
  t_contains "$ERR" "passed through anyway (--force)"
  t_exit 2 "$DKVM" --sysroot "$fx" create gfx --dry-run --dir "$T/vms" --gpu-rom /x.rom
  [ ! -e "$T/vms" ] || t_fail "dry runs created files"
}

# Passed devices get DeviceProperties in config.plist at the guest paths of
# the fixed root ports (1c.N): AppleALC's layout-id on the audio controller;
# a VM without passthrough gets none. (Devices named by address with --force:
# the bundle is built on this host, whatever its PCI devices; the GPU chart's
# spoofs are asserted in test_vm.c and test_opencore.c.)
test_passthrough_device_properties() {
  need_qemu
  [ -r "$SHARED/fixtures/opencore/Sample-1.0.6.plist" ] || t_skip "shared fixtures missing"
  mk_fake_release "$T/rel"
  t_ok "$DKVM" --json create pt --opencore "$T/rel" --no-recovery --dir "$T/vms" --disk 16G --memory 2G \
    --usb-controller 0000:7d:00.3 --audio 0000:7e:00.4 --force
  t_eq "$(t_jget "$OUT" '[(h["host"], h["port_address"], h["devpath"]) for h in d["plan"]["passthrough"]]')" \
    "[('0000:7d:00.3', '0000:00:1c.0', 'PciRoot(0x0)/Pci(0x1C,0x0)/Pci(0x0,0x0)'), ('0000:7e:00.4', '0000:00:1c.1', 'PciRoot(0x0)/Pci(0x1C,0x1)/Pci(0x0,0x0)')]"
  local cfg="$T/vms/pt/config.plist"
  t_eq "$(python3 -c 'import plistlib,sys; d=plistlib.load(open(sys.argv[1],"rb"))["DeviceProperties"]["Add"]; print({k: {p: v.hex() for p, v in x.items()} for k, x in d.items()})' "$cfg")" \
    "{'PciRoot(0x0)/Pci(0x1C,0x1)/Pci(0x0,0x0)': {'layout-id': '01000000'}}"
  t_contains "$(cat "$T/vms/pt/qemu.argv")" "pcie-root-port,id=dkpt1,bus=pcie.0,chassis=1,addr=1c.0,multifunction=on"
  t_contains "$(cat "$T/vms/pt/qemu.argv")" "pcie-root-port,id=dkpt2,bus=pcie.0,chassis=2,addr=1c.1"
  t_contains "$(cat "$T/vms/pt/domain.xml")" 'slot="0x1c" function="0x1"'
  if command -v virt-xml-validate >/dev/null; then t_ok virt-xml-validate "$T/vms/pt/domain.xml" domain; fi
  t_ok "$DKVM" --json create plain --opencore "$T/rel" --no-recovery --dir "$T/vms" --disk 16G --memory 2G
  t_eq "$(python3 -c 'import plistlib,sys; print(plistlib.load(open(sys.argv[1],"rb"))["DeviceProperties"]["Add"])' "$T/vms/plain/config.plist")" "{}"
}

# --pin: vCPU threads of a directly run QEMU are pinned as planned.
test_direct_pinning() {
  t_guest_boot
  need_qemu
  mk_esp "$T/oc.img"
  t_ok "$DKVM" --json create p1 --pin --dir "$T/vms" --opencore-image "$T/oc.img" --no-recovery --memory 2G --disk 16G
  local pins; pins=$(t_jget "$OUT" 'd["plan"].get("pinning", {}).get("vcpus", [])')
  [ "$pins" != "[]" ] || t_skip "this host has too few cores to pin ($(t_jget "$OUT" '[x["reason"] for x in d["plan"]["decisions"] if x["key"] == "pinning"]'))"
  t_contains "$(cat "$T/vms/p1/domain.xml")" "<vcpupin vcpu=\"0\" cpuset="
  t_ok "$DKVM" --json start p1 --dir "$T/vms" --display none
  local pid; pid=$(t_jget "$OUT" 'd["pid"]')
  local want; want=$(t_jget "$pins" 'd[0]' 2>/dev/null || python3 -c "import sys; print(eval(sys.argv[1])[0])" "$pins")
  local task found=""
  for task in /proc/"$pid"/task/*; do
    if grep -q '^CPU 0/' "$task/comm" 2>/dev/null; then
      found=$(awk '/^Cpus_allowed_list/ {print $2}' "$task/status")
    fi
  done
  t_ok "$DKVM" stop p1 --dir "$T/vms" --force
  t_eq "$found" "$want" "CPU 0 thread affinity"
}

# Names with spaces (VM and folder): valid start.sh and domain.xml, a pasteable hint.
test_hostile_names() {
  need_qemu
  mk_esp "$T/oc.img"
  local dir="$T/my vms"
  t_ok "$DKVM" create 'my mac' --dir "$dir" --opencore-image "$T/oc.img" --no-recovery --memory 2G --disk 16G
  t_contains "$OUT" "Start it: dkvm start 'my mac' --dir '$dir'"
  bash -n "$dir/my mac/start.sh" || t_fail "start.sh is not valid shell"
  xmllint --noout "$dir/my mac/domain.xml" || t_fail "domain.xml is not well-formed"
  t_ok "$DKVM" --json list --dir "$dir"
  t_eq "$(t_jget "$OUT" 'd[0]["name"]')" "my mac"
  t_ok "$DKVM" show 'my mac' --dir "$dir"
  t_ok "$DKVM" destroy 'my mac' --yes --delete-disks --dir "$dir"
  only_entries "$dir"
}

# The README path without libvirt: bundle, QEMU directly, OVMF -> UEFI Shell marker.
test_direct_qemu_lifecycle() {
  t_guest_boot
  need_qemu
  mk_esp "$T/oc.img"
  t_ok "$DKVM" --json create m1 --dir "$T/vms" --opencore-image "$T/oc.img" --no-recovery --memory 2G --disk 16G
  t_json "$OUT"
  local dir="$T/vms/m1"
  only_entries "$T/vms" m1
  only_entries "$dir" OVMF_VARS.fd OpenCore.img disk.qcow2 domain.xml manifest.json qemu.argv start.sh
  cmp -s "$T/oc.img" "$dir/OpenCore.img" || t_fail "OpenCore.img differs from the given image"
  t_contains "$(qemu-img info "$dir/disk.qcow2")" "file format: qcow2"
  t_contains "$(qemu-img info "$dir/disk.qcow2")" "virtual size: 16 GiB"
  t_ok virt-xml-validate "$dir/domain.xml" domain
  t_contains "$(cat "$dir/qemu.argv")" "isa-applesmc,osk=ourhardworkbythesewordsguardedpleasedontsteal(c)AppleComputerInc"
  sh -n "$dir/qemu.argv" || t_fail "qemu.argv is not valid sh"
  local man; man=$(cat "$dir/manifest.json")
  t_json "$man"
  t_eq "$(t_jget "$man" 'd["plan"]["name"]')" "m1"
  t_eq "$(t_jget "$man" 'len(d["smbios"]["SystemSerialNumber"]) in (11, 12)')" "True"
  # list / show
  t_ok "$DKVM" --json list --dir "$T/vms"
  t_eq "$(t_jget "$OUT" '[(x["name"], x["state"]) for x in d]')" "[('m1', 'stopped')]"
  t_ok "$DKVM" show m1 --dir "$T/vms"
  t_contains "$OUT" "Decisions:"
  # a second create of the same name is refused and changes nothing
  t_exit 1 "$DKVM" create m1 --dir "$T/vms" --opencore-image "$T/oc.img" --no-recovery
  t_contains "$ERR" "exists"
  # start: QEMU directly, detached, QMP + pidfile in the bundle
  t_ok "$DKVM" --json start m1 --dir "$T/vms" --display none
  local pid; pid=$(t_jget "$OUT" 'd["pid"]')
  [ -S "$dir/qmp.sock" ] || t_fail "no QMP socket"
  t_eq "$(cat "$dir/qemu.pid")" "$pid" "pidfile"
  t_exit 1 "$DKVM" start m1 --dir "$T/vms" --display none
  t_contains "$ERR" "already running"
  t_exit 1 "$DKVM" create m1 --force --dir "$T/vms" --opencore-image "$T/oc.img" --no-recovery
  t_contains "$ERR" "is running; stop it first"
  if ! wait_marker "$dir/serial.log" 240; then
    "$DKVM" stop m1 --dir "$T/vms" --force >/dev/null 2>&1
    t_fail "no boot marker on the serial console: $(tail -c 400 "$dir/serial.log" | tr -d '\033')"
  fi
  t_ok "$DKVM" --json show m1 --dir "$T/vms"
  t_eq "$(t_jget "$OUT" 'd["state"]')" "running"
  # stop: ACPI powerdown (the UEFI Shell ignores it), then quit
  t_ok "$DKVM" --json stop m1 --dir "$T/vms" --timeout 2
  t_eq "$(t_jget "$OUT" 'd["forced"]')" "True"
  ! kill -0 "$pid" 2>/dev/null || grep -q '^State:.*Z' "/proc/$pid/status" || t_fail "QEMU $pid still alive"
  [ ! -e "$dir/qmp.sock" ] || t_fail "qmp.sock left behind"
  t_ok "$DKVM" stop m1 --dir "$T/vms"
  t_contains "$OUT" "not running"
  # destroy: refused without a terminal, keeps the disk by default
  t_exit 1 "$DKVM" destroy m1 --dir "$T/vms"
  t_contains "$ERR" "--yes"
  t_ok "$DKVM" destroy m1 --dir "$T/vms" --yes
  only_entries "$dir" disk.qcow2
  t_ok "$DKVM" --json list --dir "$T/vms"
  t_eq "$(t_jget "$OUT" 'len(d)')" "0" "VMs listed"
}

# KVM that cannot run OVMF (nested): start falls back to TCG with a warning.
test_direct_kvm_fallback() {
  t_guest_boot
  need_qemu
  [ -w /dev/kvm ] || t_skip "/dev/kvm not usable here"
  mk_esp "$T/oc.img"
  t_ok "$DKVM" create k1 --dir "$T/vms" --opencore-image "$T/oc.img" --no-recovery --memory 2G --disk 16G --accel kvm
  t_ok "$DKVM" show k1 --dir "$T/vms" --json
  t_eq "$(t_jget "$OUT" 'd["manifest"]["plan"]["accel"]')" "kvm"
  t_ok "$DKVM" --json start k1 --dir "$T/vms" --display none
  local accel fb
  accel=$(t_jget "$OUT" 'd["accel"]'); fb=$(t_jget "$OUT" 'd["fell_back"]')
  if [ "$fb" = "True" ]; then
    t_eq "$accel" "tcg"
    t_contains "$ERR" "falling back to TCG"
  else
    t_eq "$accel" "kvm"
  fi
  wait_marker "$T/vms/k1/serial.log" 240 || { "$DKVM" stop k1 --dir "$T/vms" --force; t_fail "no boot marker"; }
  t_ok "$DKVM" stop k1 --dir "$T/vms" --force
  t_ok "$DKVM" destroy k1 --dir "$T/vms" --yes --delete-disks
  only_entries "$T/vms"
}

# A stale qemu.pid naming a live process that is not the bundle's QEMU (pid
# reuse): stop and destroy say so, remove the pidfile and signal nothing.
test_stale_pidfile_kills_nothing() {
  need_qemu
  mk_esp "$T/oc.img"
  t_ok "$DKVM" create s1 --dir "$T/vms" --opencore-image "$T/oc.img" --no-recovery --memory 2G --disk 16G
  local dir="$T/vms/s1"
  bash -c 'exec -a qemu-system-x86_64 sleep 1000' &
  local v1=$!
  # "qemu" and the bundle's own paths on its command line, but not as QEMU's -pidfile
  python3 -c 'import time; time.sleep(1000)' qemu-system-x86_64 -qmp "unix:$dir/qmp.sock" "$dir/qemu.pid" &
  local v2=$!
  trap "kill $v1 $v2 2>/dev/null; stop_vms" EXIT
  local i
  for ((i = 0; i < 50; i++)); do
    grep -q qemu "/proc/$v1/cmdline" && grep -q qemu "/proc/$v2/cmdline" && break
    sleep 0.1
  done
  echo "$v1" > "$dir/qemu.pid"
  t_ok "$DKVM" --json show s1 --dir "$T/vms"
  t_eq "$(t_jget "$OUT" 'd["state"]')" "stopped"
  t_ok "$DKVM" stop s1 --dir "$T/vms" --force
  t_contains "$ERR" "names pid $v1, which is not this VM's QEMU: a stale pidfile, removed"
  t_contains "$OUT" "s1: not running"
  kill -0 "$v1" 2>/dev/null || t_fail "stop killed an unrelated process"
  [ ! -e "$dir/qemu.pid" ] || t_fail "stale pidfile kept"
  echo "$v2" > "$dir/qemu.pid"
  t_ok "$DKVM" stop s1 --dir "$T/vms"
  kill -0 "$v2" 2>/dev/null || t_fail "stop killed an unrelated process"
  echo "$v1" > "$dir/qemu.pid"
  t_ok "$DKVM" destroy s1 --yes --delete-disks --dir "$T/vms"
  t_contains "$ERR" "stale pidfile"
  kill -0 "$v1" 2>/dev/null || t_fail "destroy killed an unrelated process"
  only_entries "$T/vms"
  kill "$v1" "$v2"
}

# QEMU option values split at commas: a VM name and a folder with commas
# reach QEMU intact (QMP query-name), and stop finds the QEMU by its pidfile.
test_comma_names_start() {
  t_guest_boot
  need_qemu
  mk_esp "$T/oc.img"
  local vms="$T/v,ms" dir="$T/v,ms/a,b"
  t_ok "$DKVM" create 'a,b' --dir "$vms" --opencore-image "$T/oc.img" --no-recovery --memory 2G --disk 16G --accel tcg
  t_contains "$(cat "$dir/qemu.argv")" "guest=a,,b,debug-threads=on"
  t_ok "$DKVM" --json start 'a,b' --dir "$vms" --display none
  local pid; pid=$(t_jget "$OUT" 'd["pid"]')
  local name; name=$(python3 - "$dir/qmp.sock" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rw")
f.readline()
for cmd in ("qmp_capabilities", "query-name"):
    f.write(json.dumps({"execute": cmd}) + "\n"); f.flush()
    while True:
        m = json.loads(f.readline())
        if "return" in m or "error" in m:
            break
print(m.get("return", {}).get("name", m))
PY
)
  t_eq "$name" "a,b" "QMP query-name"
  grep -q '^guest=a,,b,debug-threads=on$' <(tr '\0' '\n' < "/proc/$pid/cmdline") || t_fail "-name not escaped"
  [ -s "$dir/serial.log" ] || sleep 2
  [ -e "$dir/serial.log" ] || t_fail "serial.log not in the bundle"
  t_ok "$DKVM" stop 'a,b' --dir "$vms" --force
  t_contains "$OUT" "stopped (forced)"
  ! kill -0 "$pid" 2>/dev/null || grep -q '^State:.*Z' "/proc/$pid/status" || t_fail "QEMU $pid still alive"
  t_ok "$DKVM" destroy 'a,b' --yes --delete-disks --dir "$vms"
  only_entries "$vms"
}

# Hostile names are refused at create, in one line, before anything is made.
test_hostile_names_refused() {
  local n
  for n in 'a/b' '..' '.' $'a\nb' '-rf' '.hidden' $'\xff\xfe' "$(printf 'x%.0s' {1..201})"; do
    t_exit 1 "$DKVM" create --dir "$T/vms" --no-recovery -- "$n"
    t_eq "$(grep -vc '^dkvm: warning' <<<"$ERR")" "1" "error lines for '$n'"
    t_contains "$ERR" "not a safe name"
  done
  [ ! -e "$T/vms" ] || t_fail "a refused create made $T/vms"
}

# Secrets (SMBIOS serials, UUID) are the owner's only.
test_bundle_modes() {
  need_qemu
  [ -r "$SHARED/fixtures/opencore/Sample-1.0.6.plist" ] || t_skip "shared fixtures missing"
  mk_fake_release "$T/rel"
  umask 022
  t_ok "$DKVM" create m1 --opencore "$T/rel" --no-recovery --dir "$T/vms" --disk 16G --memory 2G
  local dir="$T/vms/m1" f
  t_eq "$(stat -c %a "$dir")" "700" "mode of the bundle"
  for f in manifest.json config.plist OpenCore.img OVMF_VARS.fd disk.qcow2 domain.xml; do
    t_eq "$(stat -c %a "$dir/$f")" "600" "mode of $f"
  done
  t_eq "$(stat -c %a "$dir/qemu.argv")" "700" "mode of qemu.argv"
  mk_esp "$T/oc.img"
  chmod 644 "$T/oc.img"
  t_ok "$DKVM" create m2 --opencore-image "$T/oc.img" --no-recovery --dir "$T/vms" --disk 16G --memory 2G
  t_eq "$(stat -c %a "$T/vms/m2")" "700" "mode of the bundle"
  for f in manifest.json OpenCore.img OVMF_VARS.fd; do
    t_eq "$(stat -c %a "$T/vms/m2/$f")" "600" "mode of $f"
  done
  # the standalone image and config carry the serials too
  # (without the kexts and SSDTs, which the bundle's image holds)
  python3 -c 'import plistlib,sys; c=plistlib.load(open(sys.argv[1],"rb")); c["ACPI"]["Add"]=[]; c["Kernel"]["Add"]=[]; plistlib.dump(c, open(sys.argv[2],"wb"))' "$dir/config.plist" "$T/bare.plist"
  t_ok "$DKVM" opencore image --release "$T/rel" --config "$T/bare.plist" -o "$T/oc2.img"
  t_eq "$(stat -c %a "$T/oc2.img")" "600" "mode of opencore image output"
  t_contains "$OUT" "EFI System Partition"
  # -q: nothing on success
  t_ok "$DKVM" -q opencore image --release "$T/rel" --config "$T/bare.plist" -o "$T/oc3.img"
  t_eq "$OUT" "" "opencore image stdout with -q"
  t_ok "$DKVM" opencore config -s "$T/rel/Docs/Sample.plist" -m MacPro7,1 -M sonoma -o "$T/config.plist"
  t_eq "$(stat -c %a "$T/config.plist")" "600" "mode of opencore config output"
}

# -q: a create prints nothing on success; errors still print.
test_quiet_create() {
  need_qemu
  mk_esp "$T/oc.img"
  t_ok "$DKVM" -q create q1 --opencore-image "$T/oc.img" --no-recovery --dir "$T/vms" --disk 16G --memory 2G
  t_eq "$OUT" "" "stdout with -q"
  t_eq "$ERR" "" "stderr with -q"
  [ -e "$T/vms/q1/manifest.json" ] || t_fail "not created"
  t_exit 1 "$DKVM" -q create q1 --opencore-image "$T/oc.img" --no-recovery --dir "$T/vms"
  t_contains "$ERR" "use --force"
  t_ok "$DKVM" create q2 --opencore-image "$T/oc.img" --no-recovery --dir "$T/vms" --disk 16G --memory 2G
  t_contains "$OUT" "Created $T/vms/q2"
}

# Two creates of one name: the loser says so in one line and leaves nothing.
test_concurrent_create() {
  need_qemu
  mk_esp "$T/oc.img"
  mkdir -p "$T/vms"
  # deterministic: the lock is held (as by a running create)
  exec 9>"$T/vms/.c1.lock"
  flock -x 9
  t_exit 1 "$DKVM" create c1 --opencore-image "$T/oc.img" --no-recovery --dir "$T/vms" --disk 16G --memory 2G
  t_eq "$ERR" "dkvm: c1: another dkvm command is working on this VM (create, update, tune, start or destroy); try again when it has finished"
  exec 9>&-
  rm "$T/vms/.c1.lock"
  only_entries "$T/vms"
  # two at once: one creates, the other fails in one line
  local rc1 rc2
  "$DKVM" create c2 --opencore-image "$T/oc.img" --no-recovery --dir "$T/vms" --disk 16G --memory 2G >"$T/o1" 2>"$T/e1" & local p1=$!
  "$DKVM" create c2 --opencore-image "$T/oc.img" --no-recovery --dir "$T/vms" --disk 16G --memory 2G >"$T/o2" 2>"$T/e2" & local p2=$!
  set +e; wait $p1; rc1=$?; wait $p2; rc2=$?; set -e
  t_eq "$((rc1 + rc2))" "1" "exit statuses $rc1 $rc2"
  local e; e=$(grep -hv '^dkvm: warning' "$T/e1" "$T/e2")
  t_eq "$(wc -l <<<"$e")" "1" "error lines"
  case "$e" in
    *"another dkvm command is working on this VM (create, update, tune, start or destroy); try again when it has finished"|*"use --force to replace it") ;;
    *) t_fail "loser's error: $e";;
  esac
  only_entries "$T/vms" c2
}

# A private libvirtd (+ virtlogd) on a private socket, unless one already runs.
LV_PIDS=()
POOL_DIRS=()
lv_stop() {
  local p d
  stop_vms
  if [ -n "${URI:-}" ]; then # leave no definitions behind (they persist in /etc/libvirt)
    for d in $(virsh -c "$URI" list --all --name 2>/dev/null | grep "^dkvm-test-$$"); do
      virsh -c "$URI" destroy "$d" >/dev/null 2>&1 || true
      virsh -c "$URI" undefine --keep-nvram "$d" >/dev/null 2>&1 || true
    done
    virsh -c "$URI" pool-destroy "dkvmtest$$" >/dev/null 2>&1 || true
    virsh -c "$URI" pool-undefine "dkvmtest$$" >/dev/null 2>&1 || true
  fi
  for d in "${POOL_DIRS[@]}"; do rm -rf "$d"; done
  for p in "${LV_PIDS[@]}"; do
    kill "$p" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
}
# A private libvirtd (and virtlogd) left by a test file that was killed (no
# EXIT trap ran) holds the machine's one libvirtd: stop those whose owner
# (the test file's shell, in lv/owner beside their config) is gone.
lv_reap_stale() {
  local pid dir owner cmd
  for pid in $(pgrep -f '^/usr/sbin/(libvirtd|virtlogd) -d .*/dkvm-sh\.[^/ ]+/lv/' || true); do
    cmd=$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null) || continue
    dir=$(sed -n 's|.* \(/[^ ]*/dkvm-sh\.[^/ ]*/lv\)/.*|\1|p' <<<"$cmd")
    [ -n "$dir" ] || continue
    owner=$(cat "$dir/owner" 2>/dev/null || true)
    if [ -z "$owner" ] || ! kill -0 "$owner" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  # its domain definitions persist in /etc/libvirt/qemu (dkvm-test-<owner>...):
  # a libvirtd started later would load them
  local f n
  for f in /etc/libvirt/qemu/dkvm-test-*.xml; do
    [ -e "$f" ] || continue
    n=${f##*/dkvm-test-}; n=${n%%[!0-9]*}
    if [ -n "$n" ] && ! kill -0 "$n" 2>/dev/null; then
      rm -f "$f" /var/lib/libvirt/qemu/nvram/"$(basename "$f" .xml)"_VARS.fd
    fi
  done
}
lv_start() {
  if timeout 5 virsh -c qemu:///system version >/dev/null 2>&1; then
    URI=qemu:///system; return 0
  fi
  [ "$(id -u)" = 0 ] || t_skip "no libvirtd running and not root to start one"
  [ -x /usr/sbin/libvirtd ] || t_skip "libvirtd not installed"
  lv_reap_stale
  mkdir -p "$T/lv/sock"
  echo $$ > "$T/lv/owner"
  cat > "$T/lv/libvirtd.conf" <<EOF
unix_sock_dir = "$T/lv/sock"
unix_sock_rw_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
EOF
  trap lv_stop EXIT
  trap 'exit 143' TERM # so that the EXIT trap stops our libvirtd when the run is killed
  trap 'exit 130' INT
  if [ ! -S /run/libvirt/virtlogd-sock ] || ! pgrep -x virtlogd >/dev/null; then
    /usr/sbin/virtlogd -d -p "$T/lv/virtlogd.pid" || t_skip "virtlogd cannot start"
    for _ in $(seq 50); do [ -s "$T/lv/virtlogd.pid" ] && break; sleep 0.1; done
    LV_PIDS+=("$(cat "$T/lv/virtlogd.pid")")
  fi
  /usr/sbin/libvirtd -d --config "$T/lv/libvirtd.conf" -p "$T/lv/libvirtd.pid" 2>"$T/lv/err" ||
    t_skip "libvirtd cannot start: $(head -c 300 "$T/lv/err")"
  for _ in $(seq 100); do [ -s "$T/lv/libvirtd.pid" ] && [ -S "$T/lv/sock/libvirt-sock" ] && break; sleep 0.1; done
  local lvpid; lvpid=$(cat "$T/lv/libvirtd.pid" 2>/dev/null || true)
  [ -n "$lvpid" ] && [ -S "$T/lv/sock/libvirt-sock" ] ||
    t_skip "the private libvirtd did not start (one libvirtd per machine: another one runs?): $(head -c 300 "$T/lv/err")"
  LV_PIDS+=("$lvpid")
  URI="qemu:///system?socket=$T/lv/sock/libvirt-sock"
  timeout 20 virsh -c "$URI" version >/dev/null 2>&1 || t_skip "private libvirtd does not answer"
}

# Can libvirt's QEMU user (Debian: libvirt-qemu, in group kvm) open /dev/kvm?
# Asked of the kernel, as that user.
qemu_user_kvm() {
  setpriv --reuid=libvirt-qemu --regid=libvirt-qemu --init-groups test -r /dev/kvm -a -w /dev/kvm 2>/dev/null
}
# The named-user ACL entry of libvirt's QEMU user on a path ("" if none).
qemu_acl() { getfacl -pn "$1" 2>/dev/null | grep "^user:$(id -u libvirt-qemu):" || true; }

# The scratch dir is private (0700, as mktemp makes it, like a 0700 home): dkvm
# gives libvirt's QEMU user exactly the search/rw it lacks, and takes it back.
test_libvirt_domain() {
  t_guest_boot
  need_qemu
  lv_start
  id -u libvirt-qemu >/dev/null 2>&1 || t_skip "no libvirt-qemu user"
  t_eq "$(stat -c %a "$T")" 700 "mode of the scratch dir"
  mk_esp "$T/oc.img"
  local name="dkvm-test-$$"
  # --no-grant: refused before anything is made, with the command that fixes it
  t_exit 1 "$DKVM" create "$name" --dir "$T/vms" --opencore-image "$T/oc.img" --no-recovery --connect "$URI" --no-grant
  t_contains "$ERR" "setfacl -m u:libvirt-qemu:x $T"
  t_eq "$(grep -vc '^dkvm: warning:' <<<"$ERR")" 1 "error lines"
  [ ! -e "$T/vms" ] || t_fail "refused create left $T/vms"
  t_eq "$(qemu_acl "$T")" "" "ACL after a refused create"
  # --accel kvm: define a KVM domain; start detects when KVM cannot run OVMF,
  # or when libvirt's QEMU user cannot open /dev/kvm
  local accel=(--accel kvm); [ -w /dev/kvm ] || accel=()
  t_ok "$DKVM" --json create "$name" --dir "$T/vms" --opencore-image "$T/oc.img" --no-recovery --memory 2G --disk 16G \
    --connect "$URI" "${accel[@]}"
  t_eq "$(t_jget "$OUT" 'd["defined"]')" "True"
  t_contains "$ERR" "gave libvirt's QEMU user libvirt-qemu"
  t_eq "$(qemu_acl "$T")" "user:$(id -u libvirt-qemu):--x" "ACL on the scratch dir"
  t_eq "$(qemu_acl "$T/vms/$name/disk.qcow2")" "user:$(id -u libvirt-qemu):rw-" "ACL on the disk"
  t_eq "$(stat -c %a "$T")" 710 "mode (mask) of the scratch dir"
  t_ok virsh -c "$URI" dominfo "$name"
  t_ok virt-xml-validate "$T/vms/$name/domain.xml" domain
  # virsh accepts our XML as is, too
  t_ok virsh -c "$URI" define "$T/vms/$name/domain.xml"
  # a second create of the same name is refused: the domain exists
  t_exit 1 "$DKVM" create "$name" --dir "$T/vms2" --opencore-image "$T/oc.img" --no-recovery --connect "$URI"
  t_contains "$ERR" "already defined"
  [ ! -e "$T/vms2/$name" ] || t_fail "refused create left files"
  # --force replaces the bundle and redefines the domain in place (same UUID)
  local uuid; uuid=$(virsh -c "$URI" domuuid "$name")
  t_ok "$DKVM" create "$name" --force --dir "$T/vms" --opencore-image "$T/oc.img" --no-recovery --memory 2G --disk 16G \
    --connect "$URI" "${accel[@]}"
  t_eq "$(virsh -c "$URI" domuuid "$name")" "$uuid" "UUID after --force"
  t_ok "$DKVM" --json start "$name" --dir "$T/vms"
  if ! qemu_user_kvm; then # a fresh host: /dev/kvm root-only
    t_eq "$(t_jget "$OUT" 'd["fell_back"]')" "True" "fell back to TCG"
    t_contains "$ERR" "cannot open /dev/kvm"
    t_not_contains "$ERR" "Permission denied"
  fi
  local accel_used; accel_used=$(t_jget "$OUT" 'd["accel"]')
  if [ "$(t_jget "$OUT" 'd["fell_back"]')" = "True" ]; then
    t_eq "$accel_used" "tcg"
    t_contains "$(virsh -c "$URI" dumpxml "$name")" "<domain type='qemu'"
  fi
  t_contains "$(virsh -c "$URI" domstate "$name")" "running"
  t_ok "$DKVM" --json show "$name" --dir "$T/vms"
  t_eq "$(t_jget "$OUT" 'd["state"]')" "running"
  t_ok "$DKVM" --json list --dir "$T/vms"
  t_eq "$(t_jget "$OUT" 'd[0]["state"]')" "running"
  t_ok "$DKVM" --json stop "$name" --dir "$T/vms" --timeout 2
  t_contains "$(virsh -c "$URI" domstate "$name")" "shut off"
  t_ok "$DKVM" destroy "$name" --dir "$T/vms" --yes --delete-disks
  t_exit 1 virsh -c "$URI" dominfo "$name"
  only_entries "$T/vms"
  # the grants went with the VM: the private dir is as it was
  t_eq "$(qemu_acl "$T")" "" "ACL after destroy"
  t_eq "$(stat -c %a "$T")" 700 "mode after destroy"
  # the disk as a volume of a libvirt storage pool
  # a directory pool where libvirt keeps images (reachable by its QEMU user, as
  # a real pool is); under the scratch dir when the host has no such place
  local pool="dkvmtest$$" pooldir="$T/pool"
  [ -d /var/lib/libvirt/images ] && pooldir=/var/lib/libvirt/images/dkvmtest$$
  POOL_DIRS+=("$pooldir")
  mkdir -p "$pooldir"
  t_ok virsh -c "$URI" pool-define-as "$pool" dir --target "$pooldir"
  t_ok virsh -c "$URI" pool-start "$pool"
  t_exit 2 "$DKVM" create p1 --pool "$pool" --dir "$T/vms"
  t_ok "$DKVM" create "$name-p" --dir "$T/vms" --opencore-image "$T/oc.img" --no-recovery --memory 2G --disk 16G \
    --connect "$URI" --pool "$pool" --accel tcg
  t_contains "$(virsh -c "$URI" vol-list "$pool")" "$name-p.qcow2"
  t_contains "$(virsh -c "$URI" dumpxml "$name-p")" "$pooldir/$name-p.qcow2"
  t_contains "$(qemu-img info "$pooldir/$name-p.qcow2")" "virtual size: 16 GiB"
  only_entries "$T/vms/$name-p" OVMF_VARS.fd OpenCore.img domain.xml manifest.json qemu.argv start.sh
  # the domain runs from the pool alone: the bundle moved away, libvirt starts
  # it (the pool's directory reachable by libvirt's QEMU, as a real pool's is)
  mv "$T/vms/$name-p" "$T/moved"
  if [ "$pooldir" != "$T/pool" ]; then
    t_ok virsh -c "$URI" start "$name-p"
    t_contains "$(virsh -c "$URI" domstate "$name-p")" "running"
    t_ok virsh -c "$URI" destroy "$name-p"
  fi
  mv "$T/moved" "$T/vms/$name-p"
  t_ok "$DKVM" destroy "$name-p" --dir "$T/vms" --yes --delete-disks
  t_not_contains "$(virsh -c "$URI" vol-list "$pool")" "$name-p.qcow2"
  t_eq "$(ls -A "$pooldir")" "" "the pool after destroy --delete-disks"
  only_entries "$T/vms"
  virsh -c "$URI" pool-destroy "$pool" >/dev/null 2>&1 || true
  virsh -c "$URI" pool-undefine "$pool" >/dev/null 2>&1 || true
}

# Every domain-changing tune write-up, in turn, on a VM defined in a private
# libvirtd: tune redefines the domain, `virsh define` accepts each domain.xml
# as is, and `virsh dumpxml` keeps the write-up's element. Pinning reads the
# dual-socket fixture (two NUMA nodes: <numatune> too), evdev and bridge the
# tune fixture's input devices and interfaces; defining does not start the VM.
test_libvirt_writeups() {
  need_qemu
  lv_start
  mk_esp "$T/oc.img"
  # the write-ups on a bundle, then one define of the result: this libvirt probes
  # QEMU again on every define while its QEMU user cannot open /dev/kvm (about a
  # minute each on a busy host), so the domain is defined once with all of them
  local name="dkvm-test-$$-w" fx="$DKVM_SRCDIR/tests/fixtures/host"
  local accel=(--accel kvm); qemu_user_kvm || accel=()
  t_ok "$DKVM" create "$name" --dir "$T/vms" --opencore-image "$T/oc.img" --no-recovery --memory 2G --disk 16G \
    --no-tune "${accel[@]}"
  local B="$T/vms/$name" want=()
  rm -rf "$T/r"; cp -a "$DKVM_SRCDIR/tests/tune/fixtures/sysroot" "$T/r"
  t_ok "$DKVM" tune "$name" iothreads --dir "$T/vms"
  want+=("<iothreads>1</iothreads>" "iothread='1'")
  t_ok "$DKVM" tune "$name" fake-cores --cpus 2 --dir "$T/vms"
  want+=("current='2'" "<vcpus>")
  if [ ${#accel[@]} -gt 0 ]; then
    t_ok "$DKVM" --sysroot "$fx/xeon-2s" tune "$name" pin --dir "$T/vms"
    want+=("<cputune>" "<vcpupin vcpu='0' cpuset='1'/>" "<emulatorpin cpuset='0,16'/>" "<iothreadpin iothread='1'"
           "<numatune>" "<memory mode='strict' nodeset='0'/>")
  fi
  t_ok "$DKVM" tune "$name" hugepages --dir "$T/vms"
  want+=("<memoryBacking>" "<hugepages/>")
  t_ok "$DKVM" --sysroot "$T/r" tune "$name" evdev --dir "$T/vms"
  want+=("<input type='evdev'>" "/dev/input/by-id/usb-Logitech_USB_Keyboard-event-kbd")
  t_ok "$DKVM" --sysroot "$T/r" --root "$T/r" tune "$name" bridge --uplink eth0 --dir "$T/vms"
  want+=("<interface type='bridge'>" "<source bridge='br0'/>")
  t_ok virt-xml-validate "$B/domain.xml" domain
  # libvirt accepts all of them at once and keeps each
  t_ok virsh -c "$URI" define "$B/domain.xml"
  local x e; x=$(virsh -c "$URI" dumpxml "$name")
  for e in "${want[@]}"; do t_contains "$x" "$e"; done
  t_ok virsh -c "$URI" undefine --nvram "$name"
  t_ok "$DKVM" destroy "$name" --dir "$T/vms" --yes --delete-disks
}

# --picker gui: OcBinaryData's Resources onto EFI/OC/Resources. The real files
# cannot be served here, so the pin table is substituted (DKVM_OCBINARYDATA_PINS)
# and a loopback mirror serves junk files with those pins: every pinned file on
# the image, byte for byte; the config validates against the image; a second
# create uses the cache (no request); a wrong file is refused (named, with its
# pinned digest; nothing cached for it, no bundle); --offline with an empty
# cache names a missing file.
test_picker_gui_resources() {
  need_qemu
  [ -r "$SHARED/fixtures/opencore/Sample-1.0.6.plist" ] || t_skip "shared fixtures missing"
  unset DKVM_GITHUB_MIRROR
  mk_fake_release "$T/rel"
  export MTOOLS_SKIP_CHECK=1
  local commit=3b2e3749975714f5329bea00bdffec8233c02385 f
  local srv=$T/srv/acidanthera/OcBinaryData/$commit
  local files="Resources/Font/Font_1x.bin Resources/Font/Font_2x.png Resources/Image/Acidanthera/GoldenGate/Background.icns Resources/Label/EFIBoot.lbl"
  source "$DKVM_SRCDIR/tests/image/fake_release.sh"
  # shellcheck disable=SC2086
  cd "$T" && gh_resources $files && cd - >/dev/null
  # the dry run explains the picker: the Resources and no Audio
  t_ok "$DKVM" create gui0 --picker gui --opencore "$T/rel" --no-recovery --dir "$T/vms" --dry-run --explain
  t_contains "$OUT" "EFI Resources: what OpenCanopy draws with, from acidanthera/OcBinaryData@${commit:0:12}"
  t_contains "$OUT" "no Audio: PickerAudioAssist stays off"
  t_ok "$DKVM" create gui1 --picker gui --opencore "$T/rel" --no-recovery --dir "$T/vms" --disk 16G --memory 2G
  t_not_contains "$ERR" "builtin picker"
  local dir=$T/vms/gui1 off
  off=$(sfdisk -J "$dir/OpenCore.img" | python3 -c 'import json,sys; d=json.load(sys.stdin)["partitiontable"]; print(d["partitions"][0]["start"]*512)')
  t_eq "$(mdir -/ -b -i "$dir/OpenCore.img@@$off" ::/EFI/OC/Resources | grep -v '/$' | sed 's|^::/EFI/OC/||' | sort | tr '\n' ' ')" \
    "$(tr ' ' '\n' <<<"$files" | sort | tr '\n' ' ')" "Resources on the image"
  for f in $files; do
    cmp -s <(mtype -i "$dir/OpenCore.img@@$off" "::/EFI/OC/$f") "$srv/$f" || t_fail "$f differs on the image"
  done
  t_ok "$DKVM" opencore validate "$dir/config.plist" --sample "$T/rel/Docs/Sample.plist" --image "$dir/OpenCore.img"
  t_not_contains "$OUT$ERR" "picker"
  t_eq "$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["efi"]["resources"]; print(r["version"], r["files"])' "$dir/manifest.json")" \
    "$commit 4" "manifest resources"
  local hits; hits=$(grep -c "OcBinaryData/$commit/Resources/" "$T/server.log")
  t_eq "$hits" 4 "requests for Resources"
  # a second create: from the cache, nothing requested
  t_ok "$DKVM" create gui2 --picker gui --opencore "$T/rel" --no-recovery --dir "$T/vms" --disk 16G --memory 2G
  t_eq "$(grep -c "OcBinaryData/$commit/Resources/" "$T/server.log")" 4 "requests after a cached create"
  # dkvm update to a newer release keeps EFI/OC/Resources as they were
  cp -r "$T/rel" "$T/rel2"
  python3 - "$T/rel2/Docs/Sample.plist" <<'PY'
import plistlib, sys
d = plistlib.load(open(sys.argv[1], "rb"))
d["Misc"]["Boot"]["DkvmNewKey"] = True
plistlib.dump(d, open(sys.argv[1], "wb"))
PY
  t_ok "$DKVM" update gui1 --opencore "$T/rel2" --dir "$T/vms"
  [ -e "$dir/OpenCore.img.prev" ] || t_fail "update did not rebuild the image"
  off=$(sfdisk -J "$dir/OpenCore.img" | python3 -c 'import json,sys; d=json.load(sys.stdin)["partitiontable"]; print(d["partitions"][0]["start"]*512)')
  for f in $files; do
    cmp -s <(mtype -i "$dir/OpenCore.img@@$off" "::/EFI/OC/$f") "$srv/$f" || t_fail "$f differs on the updated image"
  done
  t_ok "$DKVM" opencore validate "$dir/config.plist" --sample "$T/rel2/Docs/Sample.plist" --image "$dir/OpenCore.img"
  t_not_contains "$OUT$ERR" "picker"
  t_eq "$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["opencore"]["picker"], m["efi"]["resources"]["files"])' "$dir/manifest.json")" \
    "gui 4" "manifest after update"
  # a served file that is not the pinned one: refused, not cached, no bundle
  rm -rf "$T/cache/dkvm/ocbinarydata"
  head -c "$(stat -c %s "$srv/Resources/Label/EFIBoot.lbl")" /dev/urandom > "$T/bad" && mv "$T/bad" "$srv/Resources/Label/EFIBoot.lbl"
  t_exit 1 "$DKVM" create gui3 --picker gui --opencore "$T/rel" --no-recovery --dir "$T/vms" --disk 16G --memory 2G
  t_contains "$ERR" "Resources/Label/EFIBoot.lbl"
  t_contains "$ERR" "$(grep EFIBoot.lbl "$T/pins" | cut -d' ' -f2)"
  [ -z "$(find "$T/cache/dkvm/ocbinarydata" -name 'EFIBoot.lbl*' 2>/dev/null)" ] || t_fail "a refused download was cached"
  [ ! -e "$T/vms/gui3" ] || t_fail "a failed create left the bundle"
  only_entries "$T/vms" gui1 gui2
  # --offline, nothing cached: the missing file is named
  rm -rf "$T/cache/dkvm/ocbinarydata"
  t_exit 1 "$DKVM" create gui4 --offline --picker gui --opencore "$T/rel" --no-recovery --dir "$T/vms" --disk 16G --memory 2G
  t_contains "$ERR" "not in the cache"
  t_contains "$ERR" "Resources/Font/Font_1x.bin"
  only_entries "$T/vms" gui1 gui2
  # a malformed pins file is named
  echo "Resources/../x 00 1" > "$T/pins"
  t_exit 1 "$DKVM" create gui5 --picker gui --opencore "$T/rel" --no-recovery --dir "$T/vms" --disk 16G --memory 2G
  t_contains "$ERR" "$T/pins: line 1"
}

# The guide's MacPro5,1 + Mojave path end to end: HfsPlusLegacy.efi (OcBinaryData,
# never in OpenCorePkg) from a loopback mirror (a wrong file: refused, nothing
# cached, nothing left) or given with --driver; exactly one HFS+ driver; SATA,
# vmxnet3, VGA; `show` lists the EFI.
test_macpro51_mojave() {
  need_qemu
  [ -r "$SHARED/fixtures/opencore/Sample-1.0.6.plist" ] || t_skip "shared fixtures missing"
  mk_fake_release "$T/rel"
  export XDG_CACHE_HOME=$T/cache MTOOLS_SKIP_CHECK=1
  local commit=3b2e3749975714f5329bea00bdffec8233c02385
  mkdir -p "$T/srv/acidanthera/OcBinaryData/$commit/Drivers"
  head -c 37892 /dev/urandom > "$T/srv/acidanthera/OcBinaryData/$commit/Drivers/HfsPlusLegacy.efi"
  timeout 120 python3 -u -m http.server --bind 127.0.0.1 0 --directory "$T/srv" > "$T/server.log" 2>&1 &
  local spid=$! port= i
  for i in $(seq 1 100); do
    port=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$T/server.log" | head -1)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || t_fail "http.server did not start"
  DKVM_GITHUB_MIRROR=http://127.0.0.1:$port t_exit 1 "$DKVM" create mp5 --model MacPro5,1 --macos mojave \
    --opencore "$T/rel" --no-recovery --dir "$T/vms" --disk 16G --memory 2G
  kill "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true
  t_contains "$ERR" "HfsPlusLegacy.efi"
  t_contains "$ERR" "a7185433aacf677268ccfd339b8adc27fa07f19149500a78d08bf79670c82c37"
  [ -z "$(find "$T/cache/dkvm/ocbinarydata" -type f 2>/dev/null)" ] || t_fail "a refused download was cached: $(find "$T/cache/dkvm/ocbinarydata" -type f)"
  [ ! -e "$T/vms/mp5" ] || t_fail "a failed create left the bundle"
  # the wrong family's HFS+ driver is refused
  head -c 4000 /dev/urandom > "$T/HfsPlus.efi"
  t_exit 1 "$DKVM" create mp5 --model MacPro5,1 --macos mojave --opencore "$T/rel" --no-recovery --dir "$T/vms" \
    --disk 16G --memory 2G --driver "$T/HfsPlus.efi"
  t_contains "$ERR" "HfsPlus.efi cannot be used with macOS Mojave"
  # given with --driver (and one more driver passed through)
  head -c 5000 /dev/urandom > "$T/HfsPlusLegacy.efi"
  head -c 6000 /dev/urandom > "$T/ExtraDxe.efi"
  t_ok "$DKVM" create mp5 --model MacPro5,1 --macos mojave --opencore "$T/rel" --no-recovery --dir "$T/vms" \
    --disk 16G --memory 2G --driver "$T/HfsPlusLegacy.efi" --driver "$T/ExtraDxe.efi"
  local dir=$T/vms/mp5 off
  t_ok "$DKVM" opencore validate "$dir/config.plist" --sample "$T/rel/Docs/Sample.plist" --image "$dir/OpenCore.img"
  off=$(sfdisk -J "$dir/OpenCore.img" | python3 -c 'import json,sys; d=json.load(sys.stdin)["partitiontable"]; print(d["partitions"][0]["start"]*512)')
  t_eq "$(mdir -b -i "$dir/OpenCore.img@@$off" ::/EFI/OC/Drivers | sed 's|.*/||' | sort | tr '\n' ' ')" \
    "ExtraDxe.efi HfsPlusLegacy.efi OpenPartitionDxe.efi OpenRuntime.efi ResetNvramEntry.efi " "drivers on the image"
  cmp -s <(mtype -i "$dir/OpenCore.img@@$off" ::/EFI/OC/Drivers/HfsPlusLegacy.efi) "$T/HfsPlusLegacy.efi" || t_fail "driver differs"
  t_contains "$(cat "$dir/qemu.argv")" "ide-hd,bus=sata.0,drive=opencore,bootindex=1"
  t_contains "$(cat "$dir/qemu.argv")" "vmxnet3,netdev=net0"
  t_contains "$(cat "$dir/qemu.argv")" "-device VGA"
  # show: the EFI's drivers with versions and sources
  t_ok "$DKVM" show mp5 --dir "$T/vms"
  t_contains "$OUT" "driver  HfsPlusLegacy.efi"
  t_contains "$OUT" "driver  OpenRuntime.efi              1.0.6/1.0.7    OpenCorePkg 1.0.6/1.0.7"
  t_ok "$DKVM" --json show mp5 --dir "$T/vms"
  t_eq "$(python3 -c 'import json,sys; e=json.loads(sys.argv[1])["manifest"]["efi"]; print(" ".join(d["name"] for d in e["drivers"]), [(k["name"], k["version"], k["source"].split(" (")[0]) for k in e["kexts"]], [a["name"] for a in e["acpi"]])' "$OUT")" \
    "OpenRuntime.efi OpenPartitionDxe.efi HfsPlusLegacy.efi ResetNvramEntry.efi ExtraDxe.efi [('Lilu.kext', '1.7.1', 'acidanthera/Lilu 1.7.1')] ['SSDT-EC-DESKTOP.aml']" "efi listing"
  t_eq "$(python3 -c 'import json,sys; d=[d for d in json.loads(sys.argv[1])["manifest"]["efi"]["drivers"] if d["name"]=="HfsPlusLegacy.efi"][0]; print(d["sha256"], d["source"])' "$OUT")" \
    "$(sha256sum < "$T/HfsPlusLegacy.efi" | cut -c1-64) $T/HfsPlusLegacy.efi" "driver digest and source"
}

# Every file of a bundle with its SHA-256 (sorted): what "changed nothing" compares.
bundle_sums() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
# The PlatformInfo/Generic identity of a config.plist, byte for byte.
identity_of() { python3 -c 'import re,sys; t=open(sys.argv[1]).read(); g=t[t.index("<key>Generic</key>"):]; print("|".join(re.search("<key>%s</key>\\s*<[a-z]+>([^<]*)<" % k, g).group(1) for k in ("MLB","ROM","SystemSerialNumber","SystemUUID")))' "$1"; }

# dkvm update: a newer release and Lilu; the config migrated through the new
# Sample.plist (identity kept byte for byte, a new key added, a dropped key
# gone), the old image kept as .prev; --dry-run, an invalid config and a
# running VM change nothing; a second update finds nothing to do.
test_update() {
  need_qemu
  [ -r "$SHARED/fixtures/opencore/Sample-1.0.6.plist" ] || t_skip "shared fixtures missing"
  mk_fake_release "$T/OpenCore-1.0.6-RELEASE"
  mkdir -p "$T/rec/com.apple.recovery.boot"
  head -c 70000 /dev/urandom > "$T/rec/com.apple.recovery.boot/BaseSystem.dmg"
  t_ok "$DKVM" create u1 --opencore "$T/OpenCore-1.0.6-RELEASE" --recovery "$T/rec" --dir "$T/vms" --disk 16G --memory 2G
  local dir=$T/vms/u1 id sums off
  id=$(identity_of "$dir/config.plist")
  [ -n "$id" ] || t_fail "no identity in config.plist"
  # the same release: nothing to do, nothing touched
  sums=$(bundle_sums "$dir")
  t_ok "$DKVM" update u1 --opencore "$T/OpenCore-1.0.6-RELEASE" --dir "$T/vms"
  t_contains "$OUT" "up to date"
  t_eq "$(bundle_sums "$dir")" "$sums" "bundle after a no-op update"
  # a newer release: Sample.plist gains Misc/Boot/DkvmNewKey, loses Misc/Debug/DisplayDelay; Lilu 1.7.2
  cp -r "$T/OpenCore-1.0.6-RELEASE" "$T/OpenCore-1.0.7-RELEASE"
  python3 - "$T/OpenCore-1.0.7-RELEASE/Docs/Sample.plist" <<'PY'
import plistlib, sys
d = plistlib.load(open(sys.argv[1], "rb"))
d["Misc"]["Boot"]["DkvmNewKey"] = True
del d["Misc"]["Debug"]["DisplayDelay"]
plistlib.dump(d, open(sys.argv[1], "wb"))
PY
  head -c 70001 /dev/urandom > "$T/OpenCore-1.0.7-RELEASE/X64/EFI/OC/OpenCore.efi"
  (cd "$T" && mk_kext_zips Lilu 1.7.2 && gh_publish acidanthera Lilu 1.7.2 Lilu-1.7.2-RELEASE.zip Lilu-1.7.2-DEBUG.zip) >/dev/null
  # a user's value for a key both Samples have is kept
  python3 -c 'import re,sys; p=sys.argv[1]; t=open(p).read(); open(p,"w").write(re.sub(r"(<key>Timeout</key>\s*)<integer>\d+</integer>", r"\g<1><integer>7</integer>", t, count=1))' "$dir/config.plist"
  grep -A1 '<key>Timeout</key>' "$dir/config.plist" | grep -q '<integer>7</integer>' || t_fail "test setup: Timeout not edited"
  sums=$(bundle_sums "$dir")
  # --dry-run: what would change, nothing changed
  t_ok "$DKVM" update u1 --opencore "$T/OpenCore-1.0.7-RELEASE" --dir "$T/vms" --dry-run
  t_contains "$OUT" "would update"
  t_contains "$OUT" "Lilu                     1.7.1 -> 1.7.2"
  grep -q '^+[[:space:]]*<key>DkvmNewKey</key>' <<<"$OUT" || t_fail "no added key in the diff: $OUT"
  grep -q '^-[[:space:]]*<key>DisplayDelay</key>' <<<"$OUT" || t_fail "no dropped key in the diff"
  t_contains "$OUT" "--- config.plist"
  t_contains "$OUT" "config    dropped     Misc/Debug/DisplayDelay"
  t_eq "$(bundle_sums "$dir")" "$sums" "bundle after --dry-run"
  only_entries "$T/vms" u1
  # an invalid value in the VM's config: refused, bundle unchanged, nothing left
  cp "$dir/config.plist" "$T/good.plist"
  python3 -c 'import re,sys; p=sys.argv[1]; t=open(p).read(); open(p,"w").write(re.sub(r"(<key>Vault</key>\s*)<string>\w+</string>", r"\g<1><string>Bogus</string>", t, count=1))' "$dir/config.plist"
  local bad; bad=$(bundle_sums "$dir")
  t_exit 1 "$DKVM" update u1 --opencore "$T/OpenCore-1.0.7-RELEASE" --dir "$T/vms"
  t_contains "$ERR" "not valid"
  t_contains "$ERR" "Vault"
  t_contains "$ERR" "the bundle is unchanged"
  t_eq "$(bundle_sums "$dir")" "$bad" "bundle after a refused update"
  only_entries "$T/vms" u1
  cp "$T/good.plist" "$dir/config.plist"
  # the update
  local old_img; old_img=$(sha256sum < "$dir/OpenCore.img")
  t_ok "$DKVM" --json update u1 --opencore "$T/OpenCore-1.0.7-RELEASE" --dir "$T/vms"
  t_json "$OUT"
  t_eq "$(t_jget "$OUT" '(d["changed"], d["applied"], d["opencore"]["old"], d["opencore"]["new"])')" \
    "(True, True, '1.0.6/1.0.7', '1.0.7')"
  t_eq "$(t_jget "$OUT" 'sorted((c["kind"], c["path"]) for c in d["config"] if c["kind"] in ("added", "dropped"))')" \
    "[('added', 'Misc/Boot/DkvmNewKey'), ('dropped', 'Misc/Debug/DisplayDelay')]"
  t_eq "$(t_jget "$OUT" '[(k["name"], k["old"], k["new"]) for k in d["kexts"] if k["name"] == "Lilu"]')" "[('Lilu', '1.7.1', '1.7.2')]"
  only_entries "$T/vms" u1
  only_entries "$dir" OVMF_VARS.fd OpenCore.img OpenCore.img.prev config.plist config.plist.prev disk.qcow2 domain.xml manifest.json qemu.argv start.sh
  t_eq "$(sha256sum < "$dir/OpenCore.img.prev")" "$old_img" "previous image kept"
  t_eq "$(identity_of "$dir/config.plist")" "$id" "identity after the update"
  grep -A1 '<key>Timeout</key>' "$dir/config.plist" | grep -q '<integer>7</integer>' || t_fail "the user's Timeout was not kept"
  t_contains "$(cat "$dir/config.plist")" "<key>DkvmNewKey</key>"
  ! grep -q '<key>DisplayDelay</key>' "$dir/config.plist" || t_fail "dropped key still there"
  # the image: the new release, the new config, Lilu 1.7.2, recoveryOS carried over; valid
  t_ok "$DKVM" opencore validate "$dir/config.plist" --sample "$T/OpenCore-1.0.7-RELEASE/Docs/Sample.plist" --image "$dir/OpenCore.img"
  export MTOOLS_SKIP_CHECK=1
  off=$(sfdisk -J "$dir/OpenCore.img" | python3 -c 'import json,sys; d=json.load(sys.stdin)["partitiontable"]; print(d["partitions"][0]["start"]*512)')
  cmp -s <(mtype -i "$dir/OpenCore.img@@$off" ::/EFI/OC/OpenCore.efi) "$T/OpenCore-1.0.7-RELEASE/X64/EFI/OC/OpenCore.efi" || t_fail "OpenCore.efi is not the new release's"
  cmp -s <(mtype -i "$dir/OpenCore.img@@$off" ::/EFI/OC/config.plist) "$dir/config.plist" || t_fail "image config differs"
  cmp -s <(mtype -i "$dir/OpenCore.img@@$off" ::/com.apple.recovery.boot/BaseSystem.dmg) "$T/rec/com.apple.recovery.boot/BaseSystem.dmg" || t_fail "recoveryOS not carried over"
  t_contains "$(mtype -i "$dir/OpenCore.img@@$off" ::/EFI/OC/Kexts/Lilu.kext/Contents/Info.plist)" "<string>1.7.2</string>"
  local man; man=$(cat "$dir/manifest.json")
  t_eq "$(t_jget "$man" '(d["efi"]["opencore"], [(k["name"], k["version"]) for k in d["opencore"]["kexts"] if k["name"] == "Lilu"], d["opencore"]["recovery"])')" \
    "('1.0.7', [('Lilu', '1.7.2')], '$T/rec')"
  grep -q "$dir/OpenCore.img" "$dir/domain.xml" || t_fail "domain.xml lost the image path"
  # twice: nothing to do, nothing touched
  sums=$(bundle_sums "$dir")
  t_ok "$DKVM" update u1 --opencore "$T/OpenCore-1.0.7-RELEASE" --dir "$T/vms"
  t_contains "$OUT" "up to date"
  t_eq "$(bundle_sums "$dir")" "$sums" "bundle after a second update"
  # a running VM is refused
  t_ok "$DKVM" start u1 --dir "$T/vms" --display none --accel tcg
  t_exit 1 "$DKVM" update u1 --opencore "$T/OpenCore-1.0.6-RELEASE" --dir "$T/vms"
  "$DKVM" stop u1 --dir "$T/vms" --force >/dev/null 2>&1
  t_contains "$ERR" "is running; stop it first"
  t_eq "$(sha256sum < "$dir/config.plist")" "$(cut -d' ' -f1 <<<"$(grep ' ./config.plist$' <<<"$sums")")  -" "config after a refused update"
  t_exit 2 "$DKVM" update
  t_exit 1 "$DKVM" update nosuch --dir "$T/vms"
}

# update carries a large recoveryOS over in bounded chunks: byte-exact (mcopy
# reads it back from the new image), and the update's peak memory stays far
# below the file's size.
test_update_large_recovery() {
  need_qemu
  [ -r "$SHARED/fixtures/opencore/Sample-1.0.6.plist" ] || t_skip "shared fixtures missing"
  [ -x /usr/bin/time ] || t_skip "no /usr/bin/time"
  mk_fake_release "$T/OpenCore-1.0.6-RELEASE"
  mkdir -p "$T/rec/com.apple.recovery.boot"
  head -c $((96 << 20)) /dev/urandom > "$T/rec/com.apple.recovery.boot/BaseSystem.dmg"
  t_ok "$DKVM" create big --opencore "$T/OpenCore-1.0.6-RELEASE" --recovery "$T/rec" --dir "$T/vms" --disk 16G --memory 2G
  cp -r "$T/OpenCore-1.0.6-RELEASE" "$T/OpenCore-1.0.7-RELEASE"
  python3 - "$T/OpenCore-1.0.7-RELEASE/Docs/Sample.plist" <<'PY'
import plistlib, sys
d = plistlib.load(open(sys.argv[1], "rb"))
d["Misc"]["Boot"]["DkvmNewKey"] = True
plistlib.dump(d, open(sys.argv[1], "wb"))
PY
  local dir=$T/vms/big
  t_ok /usr/bin/time -f 'maxrss %M' -o "$T/rss" "$DKVM" update big --opencore "$T/OpenCore-1.0.7-RELEASE" --dir "$T/vms"
  t_contains "$OUT" "updated"
  local kb; kb=$(sed -n 's/^maxrss //p' "$T/rss")
  # (under ASan the shadow memory and quarantine make RSS meaningless)
  if [ -z "${ASAN_OPTIONS:-}" ]; then
    [ -n "$kb" ] && [ "$kb" -lt $((48 << 10)) ] || t_fail "update's peak memory ${kb:-?} KiB for a 96 MiB recovery file"
  fi
  export MTOOLS_SKIP_CHECK=1
  local off; off=$(sfdisk -J "$dir/OpenCore.img" | python3 -c 'import json,sys; d=json.load(sys.stdin)["partitiontable"]; print(d["partitions"][0]["start"]*512)')
  t_ok mcopy -n -i "$dir/OpenCore.img@@$off" ::/com.apple.recovery.boot/BaseSystem.dmg "$T/back.dmg"
  cmp -s "$T/back.dmg" "$T/rec/com.apple.recovery.boot/BaseSystem.dmg" || t_fail "BaseSystem.dmg differs after the update"
  only_entries "$T/vms" big
}

# update's refusals: one error line, exit 1 (2 for usage), the bundle byte for
# byte as it was and nothing left beside it. The VM's lock held (as by a
# running create, update, tune, start or destroy) refuses update, start and
# destroy; two updates at once: one updates, the other is refused or finds
# nothing to do.
test_update_refusals() {
  need_qemu
  [ -r "$SHARED/fixtures/opencore/Sample-1.0.6.plist" ] || t_skip "shared fixtures missing"
  mk_fake_release "$T/rel"
  mkdir -p "$T/rec/com.apple.recovery.boot"
  head -c 300000 /dev/urandom > "$T/rec/com.apple.recovery.boot/BaseSystem.dmg"
  t_ok "$DKVM" create u2 --opencore "$T/rel" --recovery "$T/rec" --dir "$T/vms" --disk 16G --memory 2G
  cp -r "$T/rel" "$T/rel2"
  python3 - "$T/rel2/Docs/Sample.plist" <<'PY'
import plistlib, sys
d = plistlib.load(open(sys.argv[1], "rb"))
d["Misc"]["Boot"]["DkvmNewKey"] = True
plistlib.dump(d, open(sys.argv[1], "wb"))
PY
  local dir=$T/vms/u2 sums n
  sums=$(bundle_sums "$dir")
  one_error() { # one_error STATUS TEXT CMD...: refused in one line, nothing changed
    local st=$1 want=$2; shift 2
    t_exit "$st" "$@"
    t_contains "$ERR" "$want"
    t_eq "$(grep -v '^Try .dkvm' <<<"$ERR" | grep -vc '^dkvm: warning:')" 1 "error lines of $*: $ERR"
    t_eq "$(bundle_sums "$dir")" "$sums" "bundle after $*"
    only_entries "$T/vms" u2 $extra
  }
  local extra=""
  local up=(--opencore "$T/rel2" --dir "$T/vms")
  # no such bundle, names that are not a bundle's
  one_error 1 "nosuch: no such VM" "$DKVM" update nosuch "${up[@]}"
  for n in ../x ../vms/u2 a/b . ..; do
    one_error 1 "not a safe name" "$DKVM" update "$n" "${up[@]}"
  done
  [ ! -e "$T/x" ] && [ ! -e "$T/.x.lock" ] || t_fail "update ../x made something outside --dir"
  one_error 2 "missing VM name" "$DKVM" update
  one_error 2 "unexpected argument" "$DKVM" update u2 extra "${up[@]}"
  # a release without Docs/Sample.plist (zip and folder)
  cp -r "$T/rel2" "$T/nosample" && rm "$T/nosample/Docs/Sample.plist"
  (cd "$T/nosample" && zip -qr ../nosample.zip X64 Docs)
  one_error 1 "no Docs/Sample.plist in the release" "$DKVM" update u2 --opencore "$T/nosample.zip" --dir "$T/vms"
  one_error 1 "no Docs/Sample.plist in the release" "$DKVM" update u2 --opencore "$T/nosample" --dir "$T/vms"
  one_error 1 "nosuch.zip" "$DKVM" update u2 --opencore "$T/nosuch.zip" --dir "$T/vms"
  # the VM's lock held: update, start, destroy refused at once
  exec 9>"$dir/../.u2.lock"
  flock -x 9
  extra=.u2.lock
  local busy="dkvm: u2: another dkvm command is working on this VM (create, update, tune, start or destroy); try again when it has finished"
  one_error 1 "$busy" "$DKVM" update u2 "${up[@]}"
  t_eq "$ERR" "$busy"
  one_error 1 "$busy" "$DKVM" start u2 --dir "$T/vms" --display none --accel tcg
  one_error 1 "$busy" "$DKVM" destroy u2 --dir "$T/vms" --yes
  exec 9>&-
  rm "$T/vms/.u2.lock"
  extra=""
  # a truncated manifest
  cp "$dir/manifest.json" "$T/man.json"
  head -c 200 "$T/man.json" > "$dir/manifest.json"
  sums=$(bundle_sums "$dir")
  one_error 1 "manifest.json: not valid JSON" "$DKVM" update u2 "${up[@]}"
  # made with --pool (its OpenCore image a volume): refused, saying why and what to do
  python3 - "$T/man.json" "$dir/manifest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["volumes"] = [{"role": "opencore", "pool": "p1", "volume": "u2-OpenCore.img", "path": "/nowhere/u2-OpenCore.img"}]
json.dump(m, open(sys.argv[2], "w"))
PY
  sums=$(bundle_sums "$dir")
  one_error 1 "u2: made with --pool: it boots volume u2-OpenCore.img of libvirt pool p1, which dkvm update does not upload again; build an image with dkvm opencore image and upload it with virsh vol-upload (the VM is unchanged)" \
    "$DKVM" update u2 "${up[@]}"
  cp "$T/man.json" "$dir/manifest.json"
  # a damaged OpenCore.img: BaseSystem.dmg's cluster chain loops; no boot sector
  export MTOOLS_SKIP_CHECK=1
  local img=$dir/OpenCore.img off first
  cp "$img" "$T/good.img"
  off=$(sfdisk -J "$img" | python3 -c 'import json,sys; d=json.load(sys.stdin)["partitiontable"]; print(d["partitions"][0]["start"]*512)')
  first=$(mshowfat -i "$img@@$off" ::/com.apple.recovery.boot/BaseSystem.dmg | sed -E 's/.*<([0-9]+)-.*/\1/')
  [ -n "$first" ] || t_fail "no cluster chain for BaseSystem.dmg"
  python3 - "$img" "$off" "$first" <<'PY'
import struct, sys
p, off, c = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(p, "r+b") as f:
    f.seek(off + 14); reserved, = struct.unpack("<H", f.read(2))
    f.seek(off + reserved * 512 + 4 * (c + 3)); f.write(struct.pack("<I", c + 1))
PY
  sums=$(bundle_sums "$dir")
  one_error 1 "com.apple.recovery.boot/BaseSystem.dmg: the cluster chain loops" timeout 60 "$DKVM" update u2 "${up[@]}"
  t_contains "$ERR" "the current OpenCore image $img"
  cp "$T/good.img" "$img"
  dd if=/dev/zero of="$img" bs=512 seek=$((off / 512)) count=1 conv=notrunc status=none
  sums=$(bundle_sums "$dir")
  one_error 1 "no FAT boot sector signature" "$DKVM" update u2 "${up[@]}"
  cp "$T/good.img" "$img"
  # two updates at once: one updates; the other is refused (the lock, or the
  # VM changed under it) or finds it up to date; the result is valid
  local rc1 rc2
  "$DKVM" update u2 "${up[@]}" >"$T/o1" 2>"$T/e1" & local p1=$!
  "$DKVM" update u2 "${up[@]}" >"$T/o2" 2>"$T/e2" & local p2=$!
  set +e; wait $p1; rc1=$?; wait $p2; rc2=$?; set -e
  t_eq "$(cat "$T/o1" "$T/o2" | grep -c '^u2: updated$')" 1 "updates done: $(cat "$T/o1" "$T/o2" "$T/e1" "$T/e2")"
  local other; other=$(cat "$T/o1" "$T/o2" "$T/e1" "$T/e2" | grep -v '^dkvm: warning' | grep -E '^(u2: up to date|dkvm: u2: another dkvm command)' || true)
  t_eq "$(wc -l <<<"$other")" 1 "the other update: $other (exit $rc1 $rc2)"
  t_ok "$DKVM" opencore validate "$dir/config.plist" --sample "$T/rel2/Docs/Sample.plist" --image "$dir/OpenCore.img"
  only_entries "$T/vms" u2
  [ ! -e "$T/vms/.u2.lock" ] || t_fail "lock file left"
}

# The sum and size of a file: "SHA256 BYTES".
sum_size() { echo "$(sha256sum <"$1" | cut -d' ' -f1) $(stat -c %s "$1")"; }

# create --pool: every file the domain uses is a volume of the pool, uploaded
# through libvirt's storage API; the domain names no path of the bundle.
test_libvirt_pool_volumes() {
  need_qemu
  lv_start
  mk_esp "$T/oc.img"
  local name="dkvm-pool-$$" pool="dkvmpool$$" v
  mkdir -p "$T/pool"
  t_ok virsh -c "$URI" pool-define-as "$pool" dir --target "$T/pool"
  t_ok virsh -c "$URI" pool-start "$pool"
  local args=(--dir "$T/vms" --opencore-image "$T/oc.img" --no-recovery --memory 2G --disk 16G --accel tcg --connect "$URI")
  # a pool that does not exist: one line, nothing made
  t_exit 1 "$DKVM" create "$name" "${args[@]}" --pool "nosuch$$"
  t_contains "$ERR" "storage pool nosuch$$"
  t_eq "$(grep -vc '^dkvm: warning:' <<<"$ERR")" 1 "error lines"
  [ ! -e "$T/vms/$name" ] || t_fail "failed create left a bundle"
  t_exit 1 virsh -c "$URI" dominfo "$name"
  # --explain says what moves and what stays a host path
  t_ok "$DKVM" create "$name" "${args[@]}" --pool "$pool" --dry-run --explain
  t_contains "$OUT" "pool $pool: $name.qcow2, $name-OpenCore.img, $name-VARS.fd"
  t_contains "$OUT" "stay paths on the libvirt host"
  t_ok "$DKVM" --json create "$name" "${args[@]}" --pool "$pool"
  local b="$T/vms/$name"
  only_entries "$b" OVMF_VARS.fd OpenCore.img domain.xml manifest.json qemu.argv start.sh
  t_eq "$(virsh -c "$URI" vol-list "$pool" | awk 'NR>2 && NF {print $1}' | sort | tr '\n' ' ')" \
    "$name-OpenCore.img $name-VARS.fd $name.qcow2 " "volumes of the pool"
  # the domain names the volumes' paths, nothing of the bundle
  local xml; xml=$(virsh -c "$URI" dumpxml "$name")
  t_not_contains "$xml" "$T/vms"
  local files; files=$(xmllint --xpath '//devices/disk/source/@file | //os/nvram/text()' - <<<"$xml" |
    sed -E 's/^ *file="([^"]*)"$/\1/' | sort | tr '\n' ' ')
  t_eq "$files" "$T/pool/$name-OpenCore.img $T/pool/$name-VARS.fd $T/pool/$name.qcow2 " "the domain's files"
  # each volume holds exactly the local artifact (downloaded back through libvirt)
  local dl="$T/dl"
  for v in "$name-OpenCore.img:$b/OpenCore.img" "$name-VARS.fd:$b/OVMF_VARS.fd"; do
    t_ok virsh -c "$URI" vol-download --pool "$pool" "${v%%:*}" "$dl"
    t_eq "$(sum_size "$dl")" "$(sum_size "${v#*:}")" "volume ${v%%:*}"
  done
  t_eq "$(sum_size "$b/OpenCore.img")" "$(sum_size "$T/oc.img")" "OpenCore image"
  t_ok virsh -c "$URI" vol-download --pool "$pool" "$name.qcow2" "$dl"
  qemu-img create -q -f qcow2 "$T/fresh.qcow2" 16G
  t_eq "$(sum_size "$dl")" "$(sum_size "$T/fresh.qcow2")" "disk volume"
  # the manifest records them with their sums
  local man; man=$(cat "$b/manifest.json")
  t_eq "$(t_jget "$man" '" ".join(v["role"] + ":" + v["volume"] for v in d["volumes"])')" \
    "disk:$name.qcow2 opencore:$name-OpenCore.img vars:$name-VARS.fd"
  t_eq "$(t_jget "$man" '[v["sha256"] + " " + str(v["bytes"]) for v in d["volumes"] if v["role"] == "vars"][0]')" \
    "$(sum_size "$b/OVMF_VARS.fd")" "manifest sum of the NVRAM"
  t_ok "$DKVM" show "$name" --dir "$T/vms"
  t_contains "$OUT" "volumes   pool $pool: $name.qcow2, $name-OpenCore.img, $name-VARS.fd"
  t_contains "$OUT" "disk      $T/pool/$name.qcow2"
  # no ACL entry anywhere: the pool is libvirt's, the bundle is not used
  t_eq "$(getfacl -pn "$T" 2>/dev/null | grep -c '^user:[0-9]')" 0 "ACL entries on the scratch dir"
  # a manifest naming a volume that is not this VM's: refused, nothing deleted
  cp "$b/manifest.json" "$T/man.json"
  python3 - "$b/manifest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["volumes"][1]["volume"] = "victim.img"
json.dump(m, open(sys.argv[1], "w"))
PY
  t_exit 1 "$DKVM" destroy "$name" --dir "$T/vms" --yes --delete-disks
  t_contains "$ERR" 'manifest.json: "volumes"[1]: not a volume of this VM'
  t_eq "$(ls -A "$T/pool" | wc -l)" 3 "volumes after a refused destroy"
  cp "$T/man.json" "$b/manifest.json"
  # destroy without --delete-disks keeps the disk volume only
  t_ok "$DKVM" destroy "$name" --dir "$T/vms" --yes
  t_eq "$(ls -A "$T/pool")" "$name.qcow2" "the pool after destroy"
  t_ok virsh -c "$URI" vol-delete --pool "$pool" "$name.qcow2"
  # --delete-disks: every volume goes, the pool is empty
  t_ok "$DKVM" create "$name" "${args[@]}" --pool "$pool"
  t_ok "$DKVM" destroy "$name" --dir "$T/vms" --yes --delete-disks
  t_eq "$(virsh -c "$URI" vol-list "$pool" | awk 'NR>2 && NF' | wc -l)" 0 "volumes after destroy --delete-disks"
  t_eq "$(ls -A "$T/pool")" "" "the pool dir after destroy --delete-disks"
  only_entries "$T/vms"
  # a volume name taken: one line; the volumes made before it are gone, the
  # taken one is left alone, no bundle, no domain
  t_ok virsh -c "$URI" vol-create-as "$pool" "$name-VARS.fd" 1M
  t_exit 1 "$DKVM" create "$name" "${args[@]}" --pool "$pool"
  t_contains "$ERR" "a volume $name-VARS.fd exists already"
  t_eq "$(grep -vc '^dkvm: warning:' <<<"$ERR")" 1 "error lines"
  t_eq "$(ls -A "$T/pool")" "$name-VARS.fd" "the pool after a failed create"
  t_exit 1 virsh -c "$URI" dominfo "$name"
  only_entries "$T/vms"
  t_ok virsh -c "$URI" vol-delete --pool "$pool" "$name-VARS.fd"
  virsh -c "$URI" pool-destroy "$pool" >/dev/null 2>&1 || true
  virsh -c "$URI" pool-undefine "$pool" >/dev/null 2>&1 || true
}

t_main
