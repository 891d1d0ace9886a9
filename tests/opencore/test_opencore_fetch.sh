#!/usr/bin/env bash
# dkvm opencore fetch against a fake GitHub (API JSON + zips) served by
# python3's http.server on 127.0.0.1.
source "$(dirname "$0")/../lib.sh"
source "$DKVM_SRCDIR/tests/image/fake_release.sh"

# release_json OWNER REPO TAG ZIP [DIGEST] > json
release_json() {
  python3 - "$@" <<'PY'
import hashlib, json, os, sys
owner, repo, tag, z = sys.argv[1:5]
dg = sys.argv[5] if len(sys.argv) > 5 else "sha256:" + hashlib.sha256(open(z, "rb").read()).hexdigest()
n = os.path.basename(z)
print(json.dumps({"tag_name": tag, "name": tag, "assets": [
  {"name": n.replace(".zip", "-dSYM.zip"), "size": 3, "digest": None,
   "browser_download_url": f"https://github.com/{owner}/{repo}/releases/download/{tag}/nothing.zip"},
  {"name": n, "size": os.path.getsize(z), "digest": dg,
   "browser_download_url": f"https://github.com/{owner}/{repo}/releases/download/{tag}/{n}"}]}))
PY
}

# publish OWNER REPO TAG ZIP [DIGEST]: into srv/ as latest and as tags/TAG
publish() {
  local d=srv/repos/$1/$2/releases
  mkdir -p "$d/tags" "srv/$1/$2/releases/download/$3"
  release_json "$@" > "$d/latest"
  cp "$d/latest" "$d/tags/$3"
  cp "$4" "srv/$1/$2/releases/download/$3/"
}

start_server() {
  timeout 120 python3 -u -m http.server --bind 127.0.0.1 0 --directory srv > server.log 2>&1 &
  SERVER_PID=$!
  local i
  for i in $(seq 1 100); do
    PORT=$(sed -n 's/.*port \([0-9]*\).*/\1/p' server.log | head -1)
    [ -n "$PORT" ] && break
    sleep 0.1
  done
  [ -n "$PORT" ] || t_fail "http.server did not start: $(cat server.log)"
  MIRROR=http://127.0.0.1:$PORT
}
stop_server() { kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }

setup_fake_github() {
  mk_release OpenCore-1.0.6-RELEASE
  mk_kext . Lilu
  zip -qr Lilu-1.7.1-RELEASE.zip Lilu.kext
  publish acidanthera OpenCorePkg 1.0.6 OpenCore-1.0.6-RELEASE.zip
  publish acidanthera Lilu 1.7.1 Lilu-1.7.1-RELEASE.zip
  export XDG_CACHE_HOME=$T/cache
  start_server
  trap stop_server EXIT
}

test_fetch_verify_cache_offline() {
  setup_fake_github
  t_ok "$DKVM" --json opencore fetch --kext Lilu --mirror "$MIRROR/"
  t_json "$OUT"
  local oc lilu
  oc=$(t_jget "$OUT" 'd["releases"][0]["path"]')
  lilu=$(t_jget "$OUT" 'd["releases"][1]["path"]')
  t_eq "$oc" "$T/cache/dkvm/releases/acidanthera/OpenCorePkg/1.0.6/OpenCore-1.0.6-RELEASE.zip"
  t_eq "$(t_jget "$OUT" 'd["releases"][0]["verified"]')" "True"
  t_eq "$(t_jget "$OUT" 'd["releases"][0]["cached"]')" "False"
  t_eq "$(t_jget "$OUT" 'd["releases"][1]["version"]')" "1.7.1"
  t_eq "$(t_jget "$OUT" 'd["releases"][0]["sha256"]')" "$(sha256sum OpenCore-1.0.6-RELEASE.zip | cut -d' ' -f1)"
  cmp "$oc" OpenCore-1.0.6-RELEASE.zip
  cmp "$lilu" Lilu-1.7.1-RELEASE.zip
  # again: from the cache
  t_ok "$DKVM" --json opencore fetch --kext Lilu --mirror "$MIRROR"
  t_eq "$(t_jget "$OUT" 'd["releases"][0]["cached"]')" "True"
  # pinned and cached: no network needed
  stop_server
  t_ok "$DKVM" opencore fetch --version 1.0.6 --kext Lilu@1.7.1 --mirror "$MIRROR"
  t_contains "$OUT" "cached, verified"
  # latest without the API: the newest verified release in the cache, with a warning
  t_ok "$DKVM" opencore fetch --mirror "$MIRROR"
  t_contains "$ERR" "127.0.0.1:$PORT"
  t_contains "$ERR" "using the cached acidanthera/OpenCorePkg 1.0.6"
  t_contains "$OUT" "1.0.6"
  # nothing cached: one clear line
  t_exit 1 "$DKVM" opencore fetch --no-opencore --kext WhateverGreen --mirror "$MIRROR"
  t_eq "$(wc -l <<<"$ERR")" "1"
  t_contains "$ERR" "127.0.0.1:$PORT/repos/acidanthera/WhateverGreen/releases/latest"
  # the fetched zip builds an image
  mk_config config.plist
  rbytes ssdt 100 > SSDT-EC.aml
  unzip -q "$lilu" -d kexts
  t_ok "$DKVM" opencore image --release "$oc" --config config.plist --kext kexts/Lilu.kext --acpi SSDT-EC.aml -o oc.img
  # or straight from the kext release zip
  t_ok "$DKVM" opencore image --release "$oc" --config config.plist --kext "$lilu" --acpi SSDT-EC.aml -o oc2.img
  mcopy -i oc2.img@@1M ::/EFI/OC/Kexts/Lilu.kext/Contents/MacOS/Lilu lilu.bin
  cmp lilu.bin kexts/Lilu.kext/Contents/MacOS/Lilu
}

test_bad_digest_leaves_nothing() {
  mk_release OpenCore-1.0.6-RELEASE
  publish acidanthera OpenCorePkg 1.0.6 OpenCore-1.0.6-RELEASE.zip "sha256:$(printf '%064d' 0)"
  export XDG_CACHE_HOME=$T/cache
  start_server; trap stop_server EXIT
  t_exit 1 "$DKVM" opencore fetch --mirror "$MIRROR"
  t_contains "$ERR" "SHA-256 mismatch"
  t_eq "$(wc -l <<<"$ERR")" "1"
  t_eq "$(find cache -type f | wc -l)" "0" "files left in the cache"
}

test_asset_wrong_size_or_missing_leaves_nothing() {
  mk_release OpenCore-1.0.6-RELEASE
  publish acidanthera OpenCorePkg 1.0.6 OpenCore-1.0.6-RELEASE.zip
  export XDG_CACHE_HOME=$T/cache
  local z=srv/acidanthera/OpenCorePkg/releases/download/1.0.6/OpenCore-1.0.6-RELEASE.zip
  local size; size=$(stat -c %s "$z")
  start_server; trap stop_server EXIT
  # shorter than the release lists
  head -c $((size - 10)) OpenCore-1.0.6-RELEASE.zip > "$z"
  t_exit 1 "$DKVM" opencore fetch --mirror "$MIRROR"
  t_contains "$ERR" "got $((size - 10)) bytes, the release lists $size"
  t_eq "$(find cache -type f | wc -l)" "0" "files left in the cache"
  # longer
  { cat OpenCore-1.0.6-RELEASE.zip; printf 'xxxxxxxxxx'; } > "$z"
  t_exit 1 "$DKVM" opencore fetch --mirror "$MIRROR"
  t_contains "$ERR" "OpenCore-1.0.6-RELEASE.zip: response larger than $((size + 1)) bytes"
  t_eq "$(find cache -type f | wc -l)" "0" "files left in the cache"
  # missing: the server's error page is not kept as the asset
  rm "$z"
  t_exit 1 "$DKVM" opencore fetch --mirror "$MIRROR"
  t_contains "$ERR" "OpenCore-1.0.6-RELEASE.zip: not found (HTTP 404)"
  t_eq "$(wc -l <<<"$ERR")" "1"
  t_eq "$(find cache -type f | wc -l)" "0" "files left in the cache"
  # and then the right bytes are fetched and verified
  cp OpenCore-1.0.6-RELEASE.zip "$z"
  t_ok "$DKVM" opencore fetch --mirror "$MIRROR"
  cmp "$z" cache/dkvm/releases/acidanthera/OpenCorePkg/1.0.6/OpenCore-1.0.6-RELEASE.zip || t_fail "cached zip differs"
}

test_not_found_and_no_network() {
  mk_release OpenCore-1.0.6-RELEASE
  publish acidanthera OpenCorePkg 1.0.6 OpenCore-1.0.6-RELEASE.zip
  export XDG_CACHE_HOME=$T/cache
  start_server; trap stop_server EXIT
  t_exit 1 "$DKVM" opencore fetch --version 9.9.9 --mirror "$MIRROR"
  t_contains "$ERR" "releases/tags/9.9.9: not found (HTTP 404)"
  stop_server
  t_exit 1 "$DKVM" opencore fetch --mirror http://127.0.0.1:1
  t_eq "$(wc -l <<<"$ERR")" "1"
  t_contains "$ERR" "no network?"
  # garbage API answer
  mkdir -p srv/repos/acidanthera/Lilu/releases && echo '{"tag_name": 5' > srv/repos/acidanthera/Lilu/releases/latest
  start_server
  t_exit 1 "$DKVM" opencore fetch --no-opencore --kext Lilu --mirror "$MIRROR"
  t_contains "$ERR" "releases/latest: not a JSON object"
}

# the guide's set: OpenCorePkg (with Sample.plist) + every kext release on the fake GitHub
setup_guide_set() {
  [ -r "$SHARED/fixtures/opencore/Sample-1.0.6.plist" ] || t_skip "shared fixtures missing"
  command -v qemu-system-x86_64 >/dev/null || t_skip "qemu-system-x86_64 not installed"
  mk_release OpenCore-1.0.6-RELEASE
  cp "$SHARED/fixtures/opencore/Sample-1.0.6.plist" OpenCore-1.0.6-RELEASE/Docs/Sample.plist
  rm OpenCore-1.0.6-RELEASE.zip && (cd OpenCore-1.0.6-RELEASE && zip -qr ../OpenCore-1.0.6-RELEASE.zip .)
  gh_publish acidanthera OpenCorePkg 1.0.6 OpenCore-1.0.6-RELEASE.zip
  gh_kexts
  export XDG_CACHE_HOME=$T/cache
  gh_serve
  trap gh_stop EXIT
  export DKVM_GITHUB_MIRROR=$MIRROR
}

# Kernel/Add of a config: "BundlePath MinKernel MaxKernel Enabled ExecutablePath" per line
kernel_add() {
  python3 - "$1" <<'PY'
import plistlib, sys
c = plistlib.load(open(sys.argv[1], "rb"))
for e in c["Kernel"]["Add"]:
    print(e["BundlePath"], e["MinKernel"] or "-", e["MaxKernel"] or "-", e["Enabled"], e["ExecutablePath"] or "-")
PY
}
acpi_add() { python3 -c 'import plistlib,sys; print(" ".join(e["Path"]+("" if e["Enabled"] else "(off)") for e in plistlib.load(open(sys.argv[1],"rb"))["ACPI"]["Add"]))' "$1"; }

create_vm() { # create_vm NAME MACOS [args...]
  local n=$1 m=$2
  shift 2
  t_ok "$DKVM" --json create "$n" --macos "$m" --no-recovery --dir "$T/vms" --disk 16G --memory 2G --accel tcg "$@"
}

test_create_fetches_guide_set() {
  setup_guide_set
  # the dry run names the set, fetches nothing
  t_ok "$DKVM" --json create dry --macos sequoia --dry-run --dir "$T/vms"
  t_eq "$(t_jget "$OUT" '" ".join(k["name"] for k in d["efi"]["kexts"])')" "Lilu VMHide AppleMCEReporterDisabler RestrictEvents"
  t_eq "$(t_jget "$OUT" '" ".join(k["name"] for k in d["efi"]["acpi"])')" "SSDT-EC-USBX-DESKTOP.aml SSDT-PLUG-ALT.aml"
  [ ! -e cache/dkvm/releases ] || t_fail "a dry run fetched something"
  t_ok "$DKVM" create dry --macos bigsur --dry-run --explain --dir "$T/vms"
  # upgrade-safe: a Big Sur config holds the kexts later releases need (MinKernel gates them)
  t_contains "$OUT" "kexts     Lilu, VMHide, AppleMCEReporterDisabler, RestrictEvents"
  t_contains "$OUT" "ACPI      SSDT-EC-USBX-DESKTOP.aml, SSDT-PLUG-ALT.aml"
  t_contains "$OUT" "EFI SSDT-PLUG-ALT.aml: guide: SSDT-PLUG"

  # Sequoia: Lilu first, plugins after it; VMHide only from Darwin 23, the MCE disabler from 21.4
  create_vm sq sequoia --kext-version Lilu=1.7.1
  local dir=$T/vms/sq
  t_eq "$(kernel_add "$dir/config.plist")" "Lilu.kext - - True Contents/MacOS/Lilu
AppleMCEReporterDisabler.kext 21.4.0 - True -
RestrictEvents.kext - - True Contents/MacOS/RestrictEvents
VMHide.kext 23.0.0 - True Contents/MacOS/VMHide"
  t_eq "$(acpi_add "$dir/config.plist")" "SSDT-EC-USBX-DESKTOP.aml SSDT-PLUG-ALT.aml"
  t_ok "$DKVM" opencore validate --image "$dir/OpenCore.img"
  # the files are on the image: the RELEASE build, no dSYM, no other bundle
  local img=$dir/OpenCore.img@@1M
  t_eq "$(mdir -b -i "$img" ::/EFI/OC/Kexts | sed 's|/$||; s|.*/||' | sort | tr '\n' ' ')" "AppleMCEReporterDisabler.kext Lilu.kext RestrictEvents.kext VMHide.kext "
  t_eq "$(mdir -b -i "$img" ::/EFI/OC/ACPI | sed 's|/$||; s|.*/||' | sort | tr '\n' ' ')" "SSDT-EC-USBX-DESKTOP.aml SSDT-PLUG-ALT.aml "
  mcopy -i "$img" ::/EFI/OC/Kexts/VMHide.kext/Contents/MacOS/VMHide vmh.bin
  cmp vmh.bin kz-VMHide-RELEASE/VMHide.kext/Contents/MacOS/VMHide || t_fail "not the RELEASE build"
  mcopy -i "$img" ::/EFI/OC/ACPI/SSDT-PLUG-ALT.aml plug.aml
  cmp plug.aml OpenCore-1.0.6-RELEASE/Docs/AcpiSamples/Binaries/SSDT-PLUG-ALT.aml || t_fail "SSDT differs"
  mcopy -i "$img" ::/EFI/OC/Kexts/AppleMCEReporterDisabler.kext/Contents/Info.plist mce.plist
  t_contains "$(cat mce.plist)" "<string>AppleIntelMCEInterruptNub</string>"
  t_contains "$(cat mce.plist)" "<key>OSBundleRequired</key>"
  t_contains "$(cat mce.plist)" "<integer>5000</integer>"
  # the manifest records versions and digests
  t_eq "$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["opencore"]; print(" ".join(k["name"]+"="+str(k["version"])+":"+k["source"] for k in m["kexts"]))' "$dir/manifest.json")" \
    "Lilu=1.7.1:fetched VMHide=2.0.0:fetched AppleMCEReporterDisabler=1.0:dkvm RestrictEvents=1.1.5:fetched"
  t_eq "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["opencore"]["kexts"][0]["sha256"])' "$dir/manifest.json")" \
    "$(sha256sum Lilu-1.7.1-RELEASE.zip | cut -d' ' -f1)"

  # Monterey 12.5 and Big Sur: the same kexts, VMHide and the MCE disabler
  # gated by MinKernel (an in-place upgrade to Sonoma loads them)
  create_vm mo 12.5
  t_eq "$(kernel_add "$T/vms/mo/config.plist" | cut -d' ' -f1-2 | tr '\n' ' ')" "Lilu.kext - AppleMCEReporterDisabler.kext 21.4.0 RestrictEvents.kext - VMHide.kext 23.0.0 "
  t_ok "$DKVM" opencore validate --image "$T/vms/mo/OpenCore.img"
  create_vm bs bigsur --boot-args "alcid=1 +-radvesa" --boot-args -keepsyms=1
  t_eq "$(python3 -c 'import plistlib,sys; print(plistlib.load(open(sys.argv[1],"rb"))["NVRAM"]["Add"]["7C436110-AB2A-4BBB-A880-FE41995C9F82"]["boot-args"])' "$T/vms/bs/config.plist")" "-v debug=0x100 alcid=1 -radvesa"
  # the manifest keeps the config's inputs (a rebuild keeps them)
  t_eq "$(python3 -c 'import json,sys; o=json.load(open(sys.argv[1]))["opencore"]; print(o["boot_args"], o["picker"])' "$T/vms/bs/manifest.json")" "['alcid=1 +-radvesa', '-keepsyms=1'] text"
  t_eq "$(kernel_add "$T/vms/bs/config.plist" | cut -d' ' -f1-2 | tr '\n' ' ')" "Lilu.kext - AppleMCEReporterDisabler.kext 21.4.0 RestrictEvents.kext - VMHide.kext 23.0.0 "
  t_eq "$(acpi_add "$T/vms/bs/config.plist")" "SSDT-EC-USBX-DESKTOP.aml SSDT-PLUG-ALT.aml"
  t_ok "$DKVM" opencore validate --image "$T/vms/bs/OpenCore.img"

  # a given kext replaces the fetched one; a given SSDT is added
  mkdir own && mk_kext own Lilu && rbytes own-ssdt 200 > own/SSDT-X.aml
  create_vm own bigsur --kext own/Lilu.kext --acpi own/SSDT-X.aml
  mcopy -i "$T/vms/own/OpenCore.img@@1M" ::/EFI/OC/Kexts/Lilu.kext/Contents/MacOS/Lilu own.bin
  cmp own.bin own/Lilu.kext/Contents/MacOS/Lilu || t_fail "the given Lilu was not used"
  t_eq "$(acpi_add "$T/vms/own/config.plist")" "SSDT-X.aml SSDT-EC-USBX-DESKTOP.aml SSDT-PLUG-ALT.aml"

  # offline: from the cache (no server needed)
  gh_stop
  create_vm off sequoia --offline
  t_contains "$(kernel_add "$T/vms/off/config.plist")" "VMHide.kext 23.0.0"
}

# opencore fetch --macos and opencore config --guide-kexts resolve the guide's
# set as create does: fetch unpacks the RELEASE kexts beside the release,
# config puts the set in Kernel/Add and ACPI/Add.
test_fetch_and_config_guide_set() {
  setup_guide_set
  t_ok "$DKVM" --json opencore fetch --macos sequoia
  t_json "$OUT"
  local efi=cache/dkvm/releases/acidanthera/OpenCorePkg/1.0.6/efi-MacPro7,1-sequoia
  t_eq "$(t_jget "$OUT" '" ".join(k["name"] for k in d["set"])')" \
    "Lilu VMHide AppleMCEReporterDisabler RestrictEvents SSDT-EC-USBX-DESKTOP.aml SSDT-PLUG-ALT.aml"
  t_eq "$(ls "$T/$efi/Kexts" | tr '\n' ' ')" "AppleMCEReporterDisabler.kext Lilu.kext RestrictEvents.kext VMHide.kext "
  cmp "$T/$efi/Kexts/VMHide.kext/Contents/MacOS/VMHide" kz-VMHide-RELEASE/VMHide.kext/Contents/MacOS/VMHide || t_fail "not the RELEASE build"
  [ ! -e "$T/$efi/Kexts/VMHide.kext.dSYM" ] || t_fail "dSYM unpacked"
  # again: replaced in place, nothing else left
  t_ok "$DKVM" opencore fetch --macos bigsur --gpu amd
  t_contains "$OUT" "WhateverGreen"
  t_eq "$(ls "$T/cache/dkvm/releases/acidanthera/OpenCorePkg/1.0.6" | grep efi- | tr '\n' ' ')" "efi-MacPro7,1-bigsur-amd efi-MacPro7,1-sequoia "
  # every GPU kind opencore config takes (navi and kepler were refused)
  t_ok "$DKVM" opencore fetch --macos bigsur --gpu navi
  t_contains "$OUT" "efi-MacPro7,1-bigsur-navi/Kexts/WhateverGreen.kext"
  t_ok "$DKVM" opencore fetch --macos bigsur --gpu kepler
  [ -d "$T/cache/dkvm/releases/acidanthera/OpenCorePkg/1.0.6/efi-MacPro7,1-bigsur-kepler/Kexts/WhateverGreen.kext" ] ||
    t_fail "--gpu kepler: no set staged"
  t_exit 2 "$DKVM" opencore fetch --macos bigsur --gpu nosuch
  t_contains "$ERR" "navi22, navi or kepler"
  t_exit 2 "$DKVM" opencore fetch --gpu amd
  t_exit 2 "$DKVM" opencore fetch --macos nosuch
  # config: Kernel/Add and ACPI/Add from the set, nothing left beside the output
  mkdir out
  t_ok "$DKVM" opencore config --sample OpenCore-1.0.6-RELEASE/Docs/Sample.plist --model MacPro7,1 --macos sequoia \
    --guide-kexts --kext-version Lilu=1.7.1 -o out/config.plist
  t_eq "$(kernel_add out/config.plist | cut -d' ' -f1 | tr '\n' ' ')" "Lilu.kext AppleMCEReporterDisabler.kext RestrictEvents.kext VMHide.kext "
  t_eq "$(acpi_add out/config.plist)" "SSDT-EC-USBX-DESKTOP.aml SSDT-PLUG-ALT.aml"
  t_eq "$(ls -A out)" "config.plist"
  # a failure after the set is staged (a bad --smbios file): nothing left beside the output
  echo '{' > smbios-bad.json
  t_exit 1 "$DKVM" opencore config --sample OpenCore-1.0.6-RELEASE/Docs/Sample.plist --model MacPro7,1 --macos sequoia \
    --guide-kexts --smbios smbios-bad.json -o out/c4.plist
  t_eq "$(ls -A out)" "config.plist"
  # a Sample.plist outside a release: refused, nothing written or left
  cp OpenCore-1.0.6-RELEASE/Docs/Sample.plist out/Sample.plist
  t_exit 1 "$DKVM" opencore config --sample out/Sample.plist --model MacPro7,1 --macos sequoia --guide-kexts -o out/c2.plist
  t_contains "$ERR" "not the Docs/Sample.plist of an unpacked OpenCorePkg release"
  t_eq "$(ls -A out | tr '\n' ' ')" "Sample.plist config.plist "
  t_exit 2 "$DKVM" opencore config --sample out/Sample.plist --model MacPro7,1 --macos sequoia --offline -o out/c3.plist
}

test_create_offline_names_missing() {
  export XDG_CACHE_HOME=$T/cache
  t_exit 1 "$DKVM" create o --macos sequoia --offline --no-recovery --dir "$T/vms" --disk 16G --memory 2G --accel tcg
  t_contains "$ERR" "--offline: not in the cache: acidanthera/Lilu (any version), Carnations-Botanica/VMHide (any version), acidanthera/RestrictEvents (any version), acidanthera/OpenCorePkg (any version)"
  t_eq "$(grep -vc "^dkvm: warning" <<<"$ERR")" "1" "error lines"
  [ ! -e "$T/vms/o" ] || t_fail "bundle left"
  t_eq "$(find "$T/vms" -mindepth 1 2>/dev/null | wc -l)" "0" "files left"
}

test_create_bad_kext_release_leaves_nothing() {
  setup_guide_set
  # a digest that does not match
  DKVM_FAKE_DIGEST="sha256:$(printf '%064d' 0)" gh_publish acidanthera Lilu 1.7.1 Lilu-1.7.1-RELEASE.zip Lilu-1.7.1-DEBUG.zip
  t_exit 1 "$DKVM" create b --macos bigsur --no-recovery --dir "$T/vms" --disk 16G --memory 2G --accel tcg
  t_contains "$ERR" "SHA-256 mismatch"
  t_eq "$(grep -vc "^dkvm: warning" <<<"$ERR")" "1" "error lines"
  t_eq "$(find cache -type f -path '*Lilu*' | wc -l)" "0" "Lilu files left in the cache"
  t_eq "$(find "$T/vms" -mindepth 1 2>/dev/null | wc -l)" "0" "files left"
  # the asset is missing on the server
  gh_publish acidanthera Lilu 1.7.1 Lilu-1.7.1-RELEASE.zip Lilu-1.7.1-DEBUG.zip
  rm srv/acidanthera/Lilu/releases/download/1.7.1/Lilu-1.7.1-RELEASE.zip
  t_exit 1 "$DKVM" create b --macos bigsur --no-recovery --dir "$T/vms" --disk 16G --memory 2G --accel tcg
  t_contains "$ERR" "Lilu-1.7.1-RELEASE.zip: not found (HTTP 404)"
  t_eq "$(grep -vc "^dkvm: warning" <<<"$ERR")" "1" "error lines"
  t_eq "$(find cache -type f -path '*Lilu*' | wc -l)" "0" "Lilu files left in the cache"
  t_eq "$(find "$T/vms" -mindepth 1 2>/dev/null | wc -l)" "0" "files left"
  # a zip without the kext
  rm Lilu-1.7.1-RELEASE.zip
  mkdir -p nokext/Lilu.kext.dSYM && echo hi > nokext/Lilu.kext.dSYM/README && (cd nokext && zip -qr ../Lilu-1.7.1-RELEASE.zip .)
  gh_publish acidanthera Lilu 1.7.1 Lilu-1.7.1-RELEASE.zip
  t_exit 1 "$DKVM" create b --macos bigsur --no-recovery --dir "$T/vms" --disk 16G --memory 2G --accel tcg
  t_contains "$ERR" "no Lilu.kext in the zip"
  t_eq "$(grep -vc "^dkvm: warning" <<<"$ERR")" "1" "error lines"
  t_eq "$(find cache -type f -path '*Lilu*' | wc -l)" "0" "Lilu files left in the cache"
  t_eq "$(find "$T/vms" -mindepth 1 2>/dev/null | wc -l)" "0" "files left"
}

test_usage() {
  t_exit 2 "$DKVM" create x --kext-version Lilu
  t_contains "$ERR" "expected NAME=VERSION"
  t_exit 2 "$DKVM" create x --kext-version Nope=1.0
  t_contains "$ERR" "Nope is not a kext dkvm fetches"
  t_exit 2 "$DKVM" opencore fetch --kext NoSuchKext
  t_contains "$ERR" "unknown kext 'NoSuchKext'"
  t_exit 2 "$DKVM" opencore fetch --no-opencore
  t_ok "$DKVM" opencore fetch --help
  t_contains "$OUT" "usage: dkvm opencore fetch"
}

t_main
