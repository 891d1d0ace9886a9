#!/usr/bin/env bash
# dkvm doctor: each rule fires on its corpus input (and nothing else does); a
# clean bundle from `dkvm create` has no findings; bad input is one line.
source "$(dirname "$0")/../lib.sh"
CORPUS=$DKVM_SRCDIR/tests/doctor/corpus
HOSTS=$DKVM_SRCDIR/tests/doctor/hosts

# The arguments that check a corpus file: a VM on a good AMD host (the AMD
# rules need one), a config for its release, a log.
corpus_args() { # corpus_args FILE
  local f=$1 id; id=$(basename "${f%.*}")
  case $f in
    *.xml) echo "--xml $f --sysroot $HOSTS/amd" ;;
    *.plist) if [ "$id" = secureboot-model ]; then echo "--config $f --macos sierra"; else echo "--config $f --macos sequoia"; fi ;;
    *.txt) echo "--log $f" ;;
  esac
}

ids_of() { python3 -c 'import json,sys; print(" ".join(sorted(set(x["id"] for x in json.load(sys.stdin)["findings"]))))' <<<"$1"; }

test_each_rule_fires_alone() {
  local f id n=0
  for f in "$CORPUS"/*; do
    id=$(basename "${f%.*}")
    # shellcheck disable=SC2046
    t_exit 1 "$DKVM" --json doctor $(corpus_args "$f")
    t_json "$OUT"
    t_eq "$(ids_of "$OUT")" "$id" "rule ids for $(basename "$f")"
    n=$((n + 1))
  done
  [ "$n" -ge 21 ] || t_fail "only $n corpus files"
}

test_every_rule_has_a_corpus_file() {
  local id
  local n=0
  for id in $(grep -o '^	{"[a-z-]*", DK_DOC_' "$DKVM_SRCDIR/src/doctor/rules.c" | cut -d'"' -f2); do
    n=$((n + 1))
    case $id in ignore-msrs|clocksource) continue ;; esac
    ls "$CORPUS/$id".* >/dev/null 2>&1 || t_fail "no corpus file for rule $id"
  done
  [ "$n" -ge 23 ] || t_fail "only $n rules found in rules.c"
}

test_host_rules() {
  local clean=$DKVM_SRCDIR/tests/vm/golden/amd-ryzen.libvirt-9.0.xml
  t_ok "$DKVM" doctor --xml "$clean" --sysroot "$HOSTS/amd"
  t_contains "$OUT" "no known problems found"
  t_exit 1 "$DKVM" --json doctor --xml "$clean" --sysroot "$HOSTS/intel-nomsrs"
  t_eq "$(ids_of "$OUT")" "ignore-msrs"
  t_eq "$(t_jget "$OUT" 'd["findings"][0]["source"]')" "host"
  t_exit 1 "$DKVM" --json doctor --xml "$clean" --sysroot "$HOSTS/amd-hpet"
  t_eq "$(ids_of "$OUT")" "clocksource"
  # the clocksource matters from Ventura only
  t_ok "$DKVM" doctor --xml "$clean" --sysroot "$HOSTS/amd-hpet" --macos monterey
  # --no-host reads no host facts
  t_ok "$DKVM" doctor --xml "$clean" --sysroot "$HOSTS/intel-nomsrs" --no-host
}

test_release_rules_follow_the_release() {
  # Penryn is fine for High Sierra, not for Ventura (SSE4.2, AVX2)
  t_exit 1 "$DKVM" --json doctor --xml "$CORPUS/cpu-isa.xml" --sysroot "$HOSTS/amd" --macos highsierra
  t_eq "$(ids_of "$OUT")" "nic-model" "High Sierra: only the virtio NIC"
  t_exit 1 "$DKVM" doctor --xml "$CORPUS/cpu-isa.xml" --sysroot "$HOSTS/amd" --macos ventura
  t_contains "$OUT" "lacks sse4_2, avx2"
  # the same without vendor=GenuineIntel is fine on an Intel host
  t_ok "$DKVM" doctor --xml "$CORPUS/amd-vendor.xml" --sysroot "$HOSTS/intel"
  # virtio-net before Big Sur: no driver
  t_exit 1 "$DKVM" --json doctor --xml "$DKVM_SRCDIR/tests/vm/golden/amd-ryzen.libvirt-9.0.xml" --sysroot "$HOSTS/amd" --macos catalina
  t_eq "$(ids_of "$OUT")" "nic-model"
  t_contains "$OUT" 'vmxnet3'
  # kexts: MaxKernel 21.99.99 is fine for Monterey (21)
  t_ok "$DKVM" doctor --config "$CORPUS/kext-kernel-range.plist" --macos monterey
}

test_text_output_and_fix() {
  t_exit 1 "$DKVM" doctor --xml "$CORPUS/topology-cores.xml" --sysroot "$HOSTS/amd"
  t_contains "$OUT" "$CORPUS/topology-cores.xml:"
  t_contains "$OUT" "error   topology-cores: 3 cores"
  t_contains "$OUT" 'fix: <topology sockets="1" dies="1" cores="2" threads="2"/>'
  t_contains "$OUT" "1 error, 0 warnings"
  t_exit 1 "$DKVM" --json doctor --log "$CORPUS/log-security-violation.txt"
  t_eq "$(t_jget "$OUT" 'd["errors"]')" "2"
  t_eq "$(t_jget "$OUT" 'd["warnings"]')" "0"
  t_eq "$(t_jget "$OUT" 'd["findings"][0]["evidence"]')" "00:120 00:010 OCB: LoadImage failed - Security Violation"
  t_contains "$(t_jget "$OUT" 'd["findings"][0]["fix"]')" "SecureBootModel = Disabled"
}

test_argv_input() {
  local g=$DKVM_SRCDIR/tests/vm/golden/amd-ryzen.argv
  t_ok "$DKVM" doctor --argv "$g" --sysroot "$HOSTS/amd"
  sed -e 's|-smp 8,sockets=1,dies=1,cores=4,threads=2|-smp 12,sockets=2,cores=6,threads=1|' -e '/isa-applesmc/d' \
      -e 's|vendor=GenuineIntel,||' -e 's|virtio-net-pci|e1000|' "$g" > "$T/q.argv"
  echo "  -device virtio-balloon-pci" >> "$T/q.argv"
  t_exit 1 "$DKVM" --json doctor --argv "$T/q.argv" --sysroot "$HOSTS/amd" --macos sonoma
  t_eq "$(ids_of "$OUT")" "amd-vendor applesmc memballoon nic-model topology-cores topology-sockets"
  t_contains "$OUT" "-smp 8,sockets=1,cores=8,threads=1"
}

# A bundle made by dkvm create from a (fake) OpenCorePkg release with the real
# Sample.plist: no findings; the image's config and logs are read.
test_clean_bundle() {
  command -v qemu-system-x86_64 >/dev/null || t_skip "qemu-system-x86_64 not installed"
  [ -e /usr/share/OVMF/OVMF_CODE_4M.fd ] || [ -e /usr/share/OVMF/OVMF_CODE.fd ] || t_skip "OVMF not installed"
  [ -r "$DKVM_SHARED/fixtures/opencore/Sample-1.0.6.plist" ] || t_skip "shared fixtures missing"
  local d=$T/rel f
  mkdir -p "$d/X64/EFI/BOOT" "$d/X64/EFI/OC/Drivers" "$d/X64/EFI/OC/Tools" "$d/Docs"
  head -c 20000 /dev/urandom > "$d/X64/EFI/BOOT/BOOTx64.efi"
  head -c 70000 /dev/urandom > "$d/X64/EFI/OC/OpenCore.efi"
  for f in OpenRuntime OpenHfsPlus OpenCanopy ResetNvramEntry AudioDxe OpenPartitionDxe; do
    head -c 9000 /dev/urandom > "$d/X64/EFI/OC/Drivers/$f.efi"
  done
  for f in OpenShell ResetSystem CleanNvram; do head -c 5000 /dev/urandom > "$d/X64/EFI/OC/Tools/$f.efi"; done
  cp "$DKVM_SHARED/fixtures/opencore/Sample-1.0.6.plist" "$d/Docs/Sample.plist"
  mkdir -p "$d/Docs/AcpiSamples/Binaries"
  for f in SSDT-EC-USBX-DESKTOP SSDT-PLUG-ALT; do head -c 300 /dev/urandom > "$d/Docs/AcpiSamples/Binaries/$f.aml"; done
  # the guide's kexts from a loopback GitHub (tests/image/fake_release.sh)
  source "$DKVM_SRCDIR/tests/image/fake_release.sh"
  (cd "$T" && gh_kexts >/dev/null)
  cd "$T" && gh_serve
  trap gh_stop EXIT
  export DKVM_GITHUB_MIRROR=$MIRROR XDG_CACHE_HOME=$T/cache
  t_ok "$DKVM" create mymac --opencore "$d" --no-recovery --dir "$T/vms" --disk 16G --memory 2G
  t_ok "$DKVM" doctor mymac --dir "$T/vms" --sysroot "$HOSTS/intel"
  t_contains "$OUT" "no known problems found"
  t_ok "$DKVM" --json doctor mymac --dir "$T/vms" --sysroot "$HOSTS/intel"
  t_eq "$(t_jget "$OUT" 'len(d["findings"])')" "0"
  # the bundle's config.plist is read: a shared serial in it is found
  sed -i "s|<string>$(t_jget "$(cat "$T/vms/mymac/manifest.json")" 'd["smbios"]["SystemSerialNumber"]')</string>|<string>C02FPBZPHX87</string>|" \
    "$T/vms/mymac/config.plist"
  t_exit 1 "$DKVM" --json doctor mymac --dir "$T/vms" --sysroot "$HOSTS/intel"
  t_eq "$(ids_of "$OUT")" "shared-serial"
  t_eq "$(t_jget "$OUT" 'd["findings"][0]["source"]')" "$T/vms/mymac/config.plist"
  # an OpenCore log at the root of the image is read (written with mtools)
  command -v mcopy >/dev/null || return 0
  local off; off=$(sfdisk -J "$T/vms/mymac/OpenCore.img" | python3 -c 'import json,sys; print(json.load(sys.stdin)["partitiontable"]["partitions"][0]["start"]*512)')
  MTOOLS_SKIP_CHECK=1 mcopy -i "$T/vms/mymac/OpenCore.img@@$off" "$CORPUS/log-driver-missing.txt" ::/opencore-2025-01-01-000000.txt
  t_exit 1 "$DKVM" --json doctor mymac --dir "$T/vms" --sysroot "$HOSTS/intel"
  t_eq "$(ids_of "$OUT")" "log-driver-missing shared-serial"
  t_contains "$OUT" "OpenCore.img:opencore-2025-01-01-000000.txt"
  # the config plist made by dkvm opencore config for a release is clean
  t_ok "$DKVM" opencore config --sample "$d/Docs/Sample.plist" --model MacPro7,1 --macos sonoma -o "$T/c.plist"
  t_ok "$DKVM" doctor --config "$T/c.plist" --macos sonoma
}

test_libvirt_domain() {
  virsh -c test:///default list --all >/dev/null 2>&1 || t_skip "libvirt test driver not available"
  # the test driver's stock domain: not a macOS VM (no applesmc, ...)
  t_exit 1 "$DKVM" --json doctor --domain test --connect test:///default --no-host
  t_contains "$(ids_of "$OUT")" "applesmc"
  t_eq "$(t_jget "$OUT" 'd["findings"][0]["source"]')" "libvirt domain test"
  t_exit 1 "$DKVM" doctor --domain nope --connect test:///default
  t_eq "$ERR" "dkvm: libvirt test:///default: no domain 'nope'"
}

test_bad_input() {
  printf '<domain><name>x</name>' > "$T/bad.xml"
  t_exit 1 "$DKVM" doctor --xml "$T/bad.xml"
  t_contains "$ERR" "dkvm: $T/bad.xml: not well-formed XML"
  t_eq "$(wc -l <<<"$ERR")" "1"
  printf '<network/>' > "$T/net.xml"
  t_exit 1 "$DKVM" doctor --xml "$T/net.xml"
  t_contains "$ERR" "not a libvirt domain"
  t_exit 1 "$DKVM" doctor --xml "$T/missing.xml"
  t_contains "$ERR" "$T/missing.xml"
  t_eq "$(wc -l <<<"$ERR")" "1"
  echo 'not a plist' > "$T/c.plist"
  t_exit 1 "$DKVM" doctor --config "$T/c.plist"
  t_contains "$ERR" "$T/c.plist: "
  echo '<plist><array/></plist>' > "$T/a.plist"
  t_exit 1 "$DKVM" doctor --config "$T/a.plist"
  t_contains "$ERR" "not a config.plist"
  echo 'ls -l' > "$T/q.argv"
  t_exit 1 "$DKVM" doctor --argv "$T/q.argv"
  t_contains "$ERR" "not a QEMU command line"
  printf 'qemu-system-x86_64 -cpu "Penryn\n' > "$T/q2.argv"
  t_exit 1 "$DKVM" doctor --argv "$T/q2.argv"
  t_contains "$ERR" "unterminated"
  t_exit 1 "$DKVM" doctor nope --dir "$T/vms"
  t_contains "$ERR" "dkvm: nope: no such VM"
  t_exit 1 "$DKVM" doctor --log "$T"
  t_eq "$(wc -l <<<"$ERR")" "1"
  # usage
  t_exit 2 "$DKVM" doctor
  t_exit 2 "$DKVM" doctor a b
  t_exit 2 "$DKVM" doctor a --xml "$T/bad.xml"
  t_exit 2 "$DKVM" doctor --domain x
  t_exit 2 "$DKVM" doctor --xml "$T/bad.xml" --macos nosuch
  t_exit 2 "$DKVM" doctor --bogus
  t_ok "$DKVM" doctor --help
  t_contains "$OUT" "usage: dkvm doctor"
}

t_main
