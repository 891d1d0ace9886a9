#!/usr/bin/env bash
# dkvm opencore config / validate: command-level behaviour on the real
# Sample.plist files of OpenCore 1.0.5-1.0.7.
. "$(dirname "$0")/../lib.sh"

S="$SHARED/fixtures/opencore"

# mkkext DIR IDENTIFIER EXECUTABLE|"" [DEPENDENCY...]
mkkext() {
  local d=$1 id=$2 exe=$3; shift 3
  mkdir -p "$d/Contents"
  {
    echo '<?xml version="1.0" encoding="UTF-8"?>'
    echo '<plist version="1.0"><dict>'
    echo "<key>CFBundleIdentifier</key><string>$id</string>"
    if [ -n "$exe" ]; then
      echo "<key>CFBundleExecutable</key><string>$exe</string>"
      mkdir -p "$d/Contents/MacOS"; printf 'MACHO' > "$d/Contents/MacOS/$exe"
    fi
    echo '<key>CFBundleShortVersionString</key><string>1.0.0</string>'
    echo '<key>OSBundleLibraries</key><dict><key>com.apple.kpi.libkern</key><string>8.0.0</string>'
    for x in "$@"; do echo "<key>$x</key><string>1.0</string>"; done
    echo '</dict></dict></plist>'
  } > "$d/Contents/Info.plist"
}

fake_kexts() {
  mkkext kx/Lilu.kext as.vit9696.Lilu Lilu
  mkkext kx/WhateverGreen.kext as.vit9696.WhateverGreen WhateverGreen as.vit9696.Lilu
  mkkext kx/AAAFirst.kext org.example.aaa AAAFirst as.vit9696.WhateverGreen
  mkkext kx/VoodooPS2Controller.kext as.acidanthera.voodoo.driver.PS2Controller VoodooPS2Controller
  mkkext kx/VoodooPS2Controller.kext/Contents/PlugIns/VoodooPS2Keyboard.kext \
    as.acidanthera.voodoo.driver.PS2Keyboard VoodooPS2Keyboard as.acidanthera.voodoo.driver.PS2Controller
  mkkext kx/AppleMCEReporterDisabler.kext com.apple.driver.AppleMCEReporterDisabler ""
}

bundle_paths() { # config.plist -> Kernel/Add BundlePaths, one per line
  python3 -c 'import plistlib,sys; [print(k["BundlePath"]) for k in plistlib.load(open(sys.argv[1],"rb"))["Kernel"]["Add"]]' "$1"
}

test_every_model_every_sample_validates() {
  local n=0
  for v in 1.0.5 1.0.6 1.0.7; do
    for m in MacPro7,1:sonoma MacPro7,1:sequoia MacPro7,1:tahoe MacPro7,1:catalina MacPro5,1:mojave \
             MacPro5,1:highsierra MacPro6,1:monterey MacPro4,1:elcapitan MacPro3,1:elcapitan \
             MacPro2,1:lion MacPro1,1:lion iMacPro1,1:sequoia iMac20,1:tahoe iMac19,1:sonoma Macmini8,1:ventura; do
      out="c-$v-${m//[,:]/_}.plist"
      t_ok "$DKVM" opencore config --sample "$S/Sample-$v.plist" --model "${m%%:*}" --macos "${m##*:}" -o "$out"
      t_ok "$DKVM" opencore validate "$out" --sample "$S/Sample-$v.plist"
      t_contains "$OUT" "0 errors"
      n=$((n + 1))
    done
  done
  t_eq "$n" 45
}

test_config_values_match_guide() {
  t_ok "$DKVM" opencore config -s "$S/Sample-1.0.6.plist" -m MacPro7,1 -M sonoma --resolution 1920x1080 -o c.plist
  python3 - c.plist <<'EOF'
import plistlib, sys
d = plistlib.load(open(sys.argv[1], "rb"))
sec = d["Misc"]["Security"]
assert sec["SecureBootModel"] == "Disabled" and sec["DmgLoading"] == "Any", sec
assert sec["ScanPolicy"] == 0 and sec["Vault"] == "Optional"
assert d["UEFI"]["Output"]["Resolution"] == "1920x1080"
assert [x["Path"] for x in d["UEFI"]["Drivers"]] == ["OpenRuntime.efi", "OpenHfsPlus.efi", "ResetNvramEntry.efi"]
assert len(d["Kernel"]["Patch"]) == 1 and d["Kernel"]["Patch"][0]["MaxKernel"] == "29.99.99"
assert d["Kernel"]["Patch"][0]["Find"] == bytes.fromhex("8400754B")
g = d["PlatformInfo"]["Generic"]
assert g["SystemProductName"] == "MacPro7,1" and len(g["ROM"]) == 6
assert d["NVRAM"]["Add"]["7C436110-AB2A-4BBB-A880-FE41995C9F82"]["prev-lang:kbd"] == b"en:252"
assert d["DeviceProperties"]["Add"] == {}
EOF
  # the serial in the file decodes as MacPro7,1
  serial=$(python3 -c 'import plistlib,sys; print(plistlib.load(open(sys.argv[1],"rb"))["PlatformInfo"]["Generic"]["SystemSerialNumber"])' c.plist)
  t_ok "$DKVM" smbios decode "$serial" --json
  t_eq "$(t_jget "$OUT" 'd["model"]')" "MacPro7,1"
}

test_smbios_json_is_used() {
  t_ok "$DKVM" smbios generate --model MacPro5,1 --json
  printf '%s' "$OUT" > id.json
  serial=$(t_jget "$OUT" 'd["identities"][0]["SystemSerialNumber"]')
  rom=$(t_jget "$OUT" 'd["identities"][0]["ROM"]')
  t_ok "$DKVM" opencore config -s "$S/Sample-1.0.5.plist" -m MacPro5,1 -M mojave --smbios id.json -o c.plist --json
  t_json "$OUT"
  t_eq "$(t_jget "$OUT" 'd["smbios"]["SystemSerialNumber"]')" "$serial"
  t_eq "$(t_jget "$OUT" 'd["release"]')" "1.0.5"
  got=$(python3 -c 'import plistlib,sys; g=plistlib.load(open(sys.argv[1],"rb"))["PlatformInfo"]["Generic"]; print(g["SystemSerialNumber"], g["ROM"].hex().upper())' c.plist)
  t_eq "$got" "$serial $rom"
  # identity for another model is refused
  t_exit 1 "$DKVM" opencore config -s "$S/Sample-1.0.5.plist" -m MacPro7,1 -M sonoma --smbios id.json -o d.plist
  t_contains "$ERR" "SMBIOS identity is for MacPro5,1"
  [ ! -e d.plist ] || t_fail "output written on failure"
}

test_explain_lists_changes_with_reasons() {
  t_ok "$DKVM" opencore config -s "$S/Sample-1.0.7.plist" -m MacPro5,1 -M mojave -o c.plist --explain
  t_contains "$OUT" "Misc/Security/ScanPolicy = 0"
  t_contains "$OUT" "UEFI/Drivers[2] = + HfsPlusLegacy.efi"
  t_contains "$OUT" "-nehalem_error_disable"
  t_contains "$OUT" "guide (MacPro5,1)"
  t_ok "$DKVM" opencore config -s "$S/Sample-1.0.7.plist" -m MacPro7,1 -M sequoia -o j.plist --explain --json
  t_json "$OUT"
  python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert all(c["reason"] for c in d["changes"]) and len(d["changes"]) > 40' "$OUT" \
    || t_fail "changes without reasons"
}

test_kexts_ordered_by_dependency() {
  fake_kexts
  t_ok "$DKVM" opencore config -s "$S/Sample-1.0.6.plist" -m MacPro7,1 -M sequoia --kexts kx --gpu navi -o c.plist
  order=$(bundle_paths c.plist | tr '\n' ' ')
  t_eq "$order" "Lilu.kext AppleMCEReporterDisabler.kext VoodooPS2Controller.kext VoodooPS2Controller.kext/Contents/PlugIns/VoodooPS2Keyboard.kext WhateverGreen.kext AAAFirst.kext "
  python3 - c.plist <<'EOF'
import plistlib, sys
d = plistlib.load(open(sys.argv[1], "rb"))
k = {x["BundlePath"]: x for x in d["Kernel"]["Add"]}
assert k["Lilu.kext"]["ExecutablePath"] == "Contents/MacOS/Lilu"
assert k["AppleMCEReporterDisabler.kext"]["ExecutablePath"] == ""
assert k["AppleMCEReporterDisabler.kext"]["MinKernel"] == "21.4.0"
assert all(x["PlistPath"] == "Contents/Info.plist" and x["Enabled"] for x in k.values())
assert "agdpmod=pikera" in d["NVRAM"]["Add"]["7C436110-AB2A-4BBB-A880-FE41995C9F82"]["boot-args"]
assert d["Kernel"]["Quirks"]["DisableLinkeditJettison"] is True
EOF
  # EFI tree with everything: valid; then remove files -> exact paths
  mkdir -p efi/OC/Kexts efi/OC/Drivers
  cp -r kx/. efi/OC/Kexts/
  touch efi/OC/OpenCore.efi efi/OC/Drivers/OpenRuntime.efi efi/OC/Drivers/OpenHfsPlus.efi efi/OC/Drivers/ResetNvramEntry.efi
  t_ok "$DKVM" opencore validate c.plist --sample "$S/Sample-1.0.6.plist" --efi efi
  rm efi/OC/Kexts/WhateverGreen.kext/Contents/MacOS/WhateverGreen efi/OC/Drivers/OpenHfsPlus.efi
  t_exit 1 "$DKVM" opencore validate c.plist --efi efi --json
  t_eq "$(t_jget "$OUT" 'sorted(f["path"] for f in d["findings"])')" "['Kernel/Add[4]/ExecutablePath', 'UEFI/Drivers[1]/Path']"
}

test_validate_reads_efi_from_image() {
  command -v mkfs.fat >/dev/null && command -v mcopy >/dev/null || t_skip "mkfs.fat/mcopy missing"
  fake_kexts
  t_ok "$DKVM" opencore config -s "$S/Sample-1.0.6.plist" -m MacPro7,1 -M sequoia --kexts kx -o c.plist
  mkdir -p tree/EFI/OC/Kexts tree/EFI/OC/Drivers tree/EFI/BOOT
  cp -r kx/. tree/EFI/OC/Kexts/
  cp c.plist tree/EFI/OC/config.plist
  touch tree/EFI/OC/OpenCore.efi tree/EFI/OC/Drivers/OpenRuntime.efi tree/EFI/OC/Drivers/OpenHfsPlus.efi \
    tree/EFI/OC/Drivers/ResetNvramEntry.efi
  mkfs.fat -F 32 -s 1 -S 512 -n OPENCORE -C good.img 40960 >/dev/null
  MTOOLS_SKIP_CHECK=1 mcopy -s -i good.img tree/EFI ::/
  t_ok "$DKVM" opencore validate --image good.img --sample "$S/Sample-1.0.6.plist"
  t_contains "$OUT" "0 errors"
  rm tree/EFI/OC/Drivers/ResetNvramEntry.efi tree/EFI/OC/Kexts/Lilu.kext/Contents/Info.plist
  mkfs.fat -F 32 -s 1 -S 512 -n OPENCORE -C bad.img 40960 >/dev/null
  MTOOLS_SKIP_CHECK=1 mcopy -s -i bad.img tree/EFI ::/
  t_exit 1 "$DKVM" opencore validate c.plist --image bad.img --json
  t_eq "$(t_jget "$OUT" 'sorted(f["path"] for f in d["findings"])')" "['Kernel/Add[0]/PlistPath', 'UEFI/Drivers[2]/Path']"
}

test_host_cpu_and_gpu_recipes() {
  mkdir -p amd/proc intel/proc
  printf 'processor\t: 0\nvendor_id\t: AuthenticAMD\n' > amd/proc/cpuinfo
  printf 'processor\t: 0\nvendor_id\t: GenuineIntel\n' > intel/proc/cpuinfo
  dpm() { python3 -c 'import plistlib,sys; print(plistlib.load(open(sys.argv[1],"rb"))["Kernel"]["Emulate"]["DummyPowerManagement"])' "$1"; }
  t_ok "$DKVM" --sysroot amd opencore config -s "$S/Sample-1.0.6.plist" -m MacPro7,1 -M sonoma -o a.plist
  t_eq "$(dpm a.plist)" True
  t_ok "$DKVM" --sysroot intel opencore config -s "$S/Sample-1.0.6.plist" -m MacPro7,1 -M sonoma -o i.plist
  t_eq "$(dpm i.plist)" False
  t_ok "$DKVM" --sysroot intel opencore config -s "$S/Sample-1.0.6.plist" -m MacPro7,1 -M sonoma --host-cpu amd -o f.plist
  t_eq "$(dpm f.plist)" True
  # NVIDIA + WhateverGreen -> agdpmod=vit9696; without WhateverGreen no agdpmod
  mkkext kx/Lilu.kext as.vit9696.Lilu Lilu
  mkkext kx/WhateverGreen.kext as.vit9696.WhateverGreen WhateverGreen as.vit9696.Lilu
  args() { python3 -c 'import plistlib,sys; print(plistlib.load(open(sys.argv[1],"rb"))["NVRAM"]["Add"]["7C436110-AB2A-4BBB-A880-FE41995C9F82"]["boot-args"])' "$1"; }
  t_ok "$DKVM" opencore config -s "$S/Sample-1.0.6.plist" -m MacPro7,1 -M bigsur --gpu nvidia --kexts kx -o n.plist
  t_eq "$(args n.plist)" "-v keepsyms=1 debug=0x100 agdpmod=vit9696"
  t_ok "$DKVM" opencore config -s "$S/Sample-1.0.6.plist" -m MacPro7,1 -M bigsur --gpu nvidia -o n2.plist
  t_eq "$(args n2.plist)" "-v keepsyms=1 debug=0x100"
}

test_kext_without_info_plist_fails() {
  fake_kexts
  mkdir -p kx/Broken.kext/Contents
  t_exit 1 "$DKVM" opencore config -s "$S/Sample-1.0.6.plist" -m MacPro7,1 -M sequoia --kexts kx -o c.plist
  t_contains "$ERR" "Broken.kext: no Contents/Info.plist"
  [ ! -e c.plist ] || t_fail "output written on failure"
  t_eq "$(wc -l <<<"$ERR")" 1
}

test_dependency_cycle_fails() {
  mkkext kx/A.kext org.a A org.b
  mkkext kx/B.kext org.b B org.a
  t_exit 1 "$DKVM" opencore config -s "$S/Sample-1.0.6.plist" -m MacPro7,1 -M sequoia --kexts kx -o c.plist
  t_contains "$ERR" "cycle"
}

test_malformed_sample_one_line_no_output() {
  head -c 3000 "$S/Sample-1.0.6.plist" > Sample.plist
  t_exit 1 "$DKVM" opencore config -s Sample.plist -m MacPro7,1 -M sequoia -o c.plist
  t_contains "$ERR" "Sample.plist: not a valid property list"
  t_eq "$(wc -l <<<"$ERR")" 1
  [ ! -e c.plist ] || t_fail "output written on failure"
  ls -A | grep -q '^\.c\.plist' && t_fail "temp file left" || true
}

test_missing_key_in_sample_names_key_and_release() {
  python3 - "$S/Sample-1.0.6.plist" <<'EOF'
import plistlib, sys, os
d = plistlib.load(open(sys.argv[1], "rb"))
del d["Misc"]["Security"]["DmgLoading"]
os.makedirs("OpenCore-1.0.6-RELEASE/Docs")
plistlib.dump(d, open("OpenCore-1.0.6-RELEASE/Docs/Sample.plist", "wb"))
EOF
  t_exit 1 "$DKVM" opencore config -s OpenCore-1.0.6-RELEASE/Docs/Sample.plist -m MacPro7,1 -M sequoia -o c.plist
  t_eq "$ERR" "dkvm: Sample.plist (OpenCore 1.0.6): missing key Misc/Security/DmgLoading"
  t_exit 1 "$DKVM" opencore config -s OpenCore-1.0.6-RELEASE/Docs/Sample.plist --release 9.9.9 -m MacPro7,1 -M sequoia -o c.plist
  t_contains "$ERR" "(OpenCore 9.9.9)"
}

test_stripped_sample_darwinocpkg_style() {
  # a Sample with every example array emptied (as DarwinOCPkg ships it): entries
  # are then built from dkvm's field list alone and still validate
  python3 - "$S/Sample-1.0.7.plist" <<'EOF'
import plistlib, sys
d = plistlib.load(open(sys.argv[1], "rb"))
for sec, key in [("ACPI", "Add"), ("ACPI", "Delete"), ("ACPI", "Patch"), ("Booter", "MmioWhitelist"),
                 ("Booter", "Patch"), ("Kernel", "Add"), ("Kernel", "Block"), ("Kernel", "Force"),
                 ("Kernel", "Patch"), ("Misc", "Entries"), ("Misc", "Tools"), ("UEFI", "Drivers"),
                 ("UEFI", "ReservedMemory")]:
    d[sec][key] = []
d["DeviceProperties"]["Add"] = {}
plistlib.dump(d, open("Stripped-1.0.7.plist", "wb"))
EOF
  fake_kexts
  t_ok "$DKVM" opencore config -s Stripped-1.0.7.plist -m MacPro7,1 -M tahoe --kexts kx -o c.plist
  t_ok "$DKVM" opencore validate c.plist --sample Stripped-1.0.7.plist
  t_ok "$DKVM" opencore validate c.plist --sample "$S/Sample-1.0.7.plist"
  t_contains "$OUT" "0 errors"
}

test_refuses_existing_output() {
  echo keep > c.plist
  t_exit 1 "$DKVM" opencore config -s "$S/Sample-1.0.6.plist" -m MacPro7,1 -M sequoia -o c.plist
  t_contains "$ERR" "exists"
  t_eq "$(cat c.plist)" keep
  t_ok "$DKVM" opencore config -s "$S/Sample-1.0.6.plist" -m MacPro7,1 -M sequoia -o c.plist --force
  t_ok "$DKVM" opencore validate c.plist
}

test_validate_broken_copies() {
  t_ok "$DKVM" opencore config -s "$S/Sample-1.0.5.plist" -m MacPro7,1 -M sonoma -o c.plist
  python3 - c.plist <<'EOF'
import plistlib, sys, copy
base = plistlib.load(open(sys.argv[1], "rb"))
def save(name, f):
    d = copy.deepcopy(base); f(d); plistlib.dump(d, open(name, "wb"))
save("unknown.plist", lambda d: d["UEFI"]["Output"].__setitem__("Bogus", True))
save("removed.plist", lambda d: d["Booter"]["Quirks"].pop("SetupVirtualMap"))
save("type.plist", lambda d: d["Misc"]["Boot"].__setitem__("Timeout", "5"))
save("enum.plist", lambda d: d["Misc"]["Security"].__setitem__("SecureBootModel", "Banana"))
kext = {"Arch": "Any", "BundlePath": "Lilu.kext", "Comment": "", "Enabled": True, "ExecutablePath": "Contents/MacOS/Lilu",
        "MaxKernel": "", "MinKernel": "", "PlistPath": "Contents/Info.plist"}
save("dup.plist", lambda d: d["Kernel"]["Add"].extend([kext, dict(kext)]))
save("noschema.plist", lambda d: d["NVRAM"].pop("LegacySchema"))
EOF
  # the guide allows deleting NVRAM/LegacySchema: a warning only
  t_ok "$DKVM" opencore validate noschema.plist --sample "$S/Sample-1.0.5.plist"
  t_contains "$OUT" "warning: NVRAM/LegacySchema: missing key"
  t_exit 1 "$DKVM" opencore validate unknown.plist --sample "$S/Sample-1.0.5.plist"
  t_contains "$OUT" "error: UEFI/Output/Bogus: unknown key"
  t_exit 1 "$DKVM" opencore validate removed.plist --sample "$S/Sample-1.0.5.plist"
  t_contains "$OUT" "error: Booter/Quirks/SetupVirtualMap: missing key"
  t_exit 1 "$DKVM" opencore validate type.plist --sample "$S/Sample-1.0.5.plist" --json
  t_eq "$(t_jget "$OUT" '[f["path"] for f in d["findings"] if f["severity"]=="error"]')" "['Misc/Boot/Timeout']"
  t_exit 1 "$DKVM" opencore validate enum.plist --json
  # the bad enum, and (Sonoma: DmgLoading Any) the secure-boot dependency it breaks
  t_eq "$(t_jget "$OUT" '[(f["path"], f["rule"]) for f in d["findings"] if f["severity"]=="error"]')" "[('Misc/Security/SecureBootModel', 'enum'), ('Misc/Security/DmgLoading', 'misc.secureboot')]"
  t_exit 1 "$DKVM" opencore validate dup.plist --json
  t_eq "$(t_jget "$OUT" '[(f["path"], f["rule"]) for f in d["findings"] if f["severity"]=="error"]')" "[('Kernel/Add[1]/BundlePath', 'kernel.duplicate')]"
}

test_validate_usage_and_bad_input() {
  t_exit 2 "$DKVM" opencore validate
  t_exit 2 "$DKVM" opencore validate a.plist b.plist
  t_exit 1 "$DKVM" opencore validate nope.plist
  t_contains "$ERR" "nope.plist"
  echo '<plist><dict>' > bad.plist
  t_exit 1 "$DKVM" opencore validate bad.plist
  t_eq "$(wc -l <<<"$ERR")" 1
  t_exit 1 "$DKVM" opencore validate "$S/Sample-1.0.6.plist" --image disk.img
  t_contains "$ERR" "disk.img"
  t_exit 2 "$DKVM" opencore validate c.plist --image disk.img --efi .
  t_ok "$DKVM" opencore validate --help
  t_contains "$OUT" "Exit status"
}

test_config_usage_errors() {
  t_exit 2 "$DKVM" opencore config -m MacPro7,1 -M sonoma -o c.plist
  t_contains "$ERR" "--sample is required"
  t_exit 2 "$DKVM" opencore config -s "$S/Sample-1.0.6.plist" -m MacPro9,1 -M sonoma -o c.plist
  t_exit 2 "$DKVM" opencore config -s "$S/Sample-1.0.6.plist" -m MacPro7,1 -M leopard -o c.plist
  t_exit 2 "$DKVM" opencore config -s "$S/Sample-1.0.6.plist" -m MacPro7,1 -M sonoma --gpu intel -o c.plist
  t_exit 1 "$DKVM" opencore config -s "$S/Sample-1.0.6.plist" -m MacPro5,1 -M sonoma -o c.plist
  t_contains "$ERR" "does not run macOS Sonoma"
  t_exit 1 "$DKVM" opencore config -s "$S/Sample-1.0.6.plist" -m MacPro7,1 -M sonoma --resolution 1920 -o c.plist
  [ ! -e c.plist ] || t_fail "output written on failure"
  t_ok "$DKVM" opencore config --help
  t_contains "$OUT" "Exit status"
}

test_boot_args_gpu_and_active() {
  args() { python3 -c 'import plistlib,sys; print(plistlib.load(open(sys.argv[1],"rb"))["NVRAM"]["Add"]["7C436110-AB2A-4BBB-A880-FE41995C9F82"]["boot-args"])' "$1"; }
  t_ok "$DKVM" opencore config -s "$S/Sample-1.0.7.plist" -m MacPro7,1 -M sonoma -o b.plist \
    --boot-args "alcid=1 +-radvesa" --boot-args -keepsyms=1 --explain
  t_eq "$(args b.plist)" "-v debug=0x100 alcid=1 -radvesa"
  t_contains "$OUT" "removed by --boot-args"
  # every change says for which releases it acts
  t_contains "$OUT" "active: macOS 14 Sonoma and later"
  t_ok "$DKVM" --json opencore config -s "$S/Sample-1.0.7.plist" -m MacPro7,1 -M catalina -o c.plist
  t_eq "$(t_jget "$OUT" '[c["active"] for c in d["changes"] if c["path"]=="Kernel/Patch[0]"][0]')" \
    "macOS 13 Ventura and later (MinKernel 22.0.0, MaxKernel 29.99.99); kept for every release of the model, the kernel range gates it"
  # removing what is not there: one line, nothing written
  t_exit 1 "$DKVM" opencore config -s "$S/Sample-1.0.7.plist" -m MacPro7,1 -M sonoma -o r.plist --boot-args -radvesa
  t_contains "$ERR" "write +-radvesa"
  [ ! -e r.plist ] || t_fail "output written on failure"
  t_exit 2 "$DKVM" opencore config -s "$S/Sample-1.0.7.plist" -m MacPro7,1 -M sonoma -o r.plist --boot-args 'a;b'
  # Kepler past Big Sur: the OCLP route and a warning
  t_ok "$DKVM" opencore config -s "$S/Sample-1.0.7.plist" -m MacPro7,1 -M monterey --gpu kepler -o k.plist
  t_contains "$ERR" "OpenCore Legacy Patcher"
  t_eq "$(python3 -c 'import plistlib,sys; print(plistlib.load(open(sys.argv[1],"rb"))["NVRAM"]["Add"]["7C436110-AB2A-4BBB-A880-FE41995C9F82"]["csr-active-config"].hex())' k.plist)" "03080000"
  t_ok "$DKVM" opencore validate k.plist --sample "$S/Sample-1.0.7.plist"
}

t_main
