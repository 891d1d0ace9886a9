# Helpers for the image tests (sourced): a fake OpenCorePkg release (files
# with arbitrary bytes named like the real ones), a kext, an SSDT, a config.
# Deterministic content (seeded), so failures reproduce.

# rbytes SEED SIZE > file
rbytes() { python3 -c 'import random,sys; r=random.Random(sys.argv[1]); sys.stdout.buffer.write(r.randbytes(int(sys.argv[2])))' "$1" "$2"; }

# rfiles SEED:SIZE:PATH...: several files in one python run
rfiles() {
  python3 - "$@" <<'PY'
import os, random, sys
for spec in sys.argv[1:]:
    seed, size, path = spec.split(":", 2)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as f:
        f.write(random.Random(seed).randbytes(int(size)))
PY
}

# mk_release DIR: unpacked release in DIR, zip beside it (DIR.zip)
mk_release() {
  local d=$1 f specs=()
  mkdir -p "$d/X64/EFI/BOOT" "$d/X64/EFI/OC/Drivers" "$d/X64/EFI/OC/Tools" "$d/X64/EFI/OC/ACPI" \
    "$d/X64/EFI/OC/Kexts" "$d/X64/EFI/OC/Resources" "$d/Docs" "$d/IA32/EFI/OC"
  specs+=("boot:20480:$d/X64/EFI/BOOT/BOOTx64.efi" "oc:700001:$d/X64/EFI/OC/OpenCore.efi" "ia32:1000:$d/IA32/EFI/OC/OpenCore.efi")
  for f in OpenRuntime OpenHfsPlus OpenCanopy ResetNvramEntry AudioDxe OpenPartitionDxe Ext4Dxe; do
    specs+=("$f:$((9000 + ${#f} * 777)):$d/X64/EFI/OC/Drivers/$f.efi")
  done
  for f in OpenShell ResetSystem CleanNvram ControlMsrE2; do
    specs+=("$f:$((5000 + ${#f} * 333)):$d/X64/EFI/OC/Tools/$f.efi")
  done
  for f in SSDT-EC-USBX-DESKTOP SSDT-EC-USBX-LAPTOP SSDT-EC-DESKTOP SSDT-PLUG SSDT-PLUG-ALT SSDT-AWAC-DISABLE; do
    specs+=("$f:$((300 + ${#f} * 7)):$d/Docs/AcpiSamples/Binaries/$f.aml")
  done
  rfiles "${specs[@]}"
  printf 'OpenCore' > "$d/X64/EFI/BOOT/.contentFlavour"
  printf 'Disabled' > "$d/X64/EFI/BOOT/.contentVisibility"
  printf 'OpenCore' > "$d/X64/EFI/OC/.contentFlavour"
  printf '<?xml version="1.0"?><plist version="1.0"><dict/></plist>\n' > "$d/Docs/Sample.plist"
  (cd "$d" && zip -qr "../$(basename "$d").zip" X64 IA32 Docs)
}

# mk_kext DIR NAME: DIR/NAME.kext with Info.plist and an executable
mk_kext() {
  local k="$1/$2.kext"
  mkdir -p "$k/Contents/MacOS"
  cat > "$k/Contents/Info.plist" <<PL
<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict><key>CFBundleIdentifier</key><string>as.vit9696.$2</string></dict></plist>
PL
  rbytes "$2" 40000 > "$k/Contents/MacOS/$2"
}

# mk_kext_zips NAME VER [EXTRA...]: NAME-VER-RELEASE.zip and NAME-VER-DEBUG.zip as
# acidanthera ships them: NAME.kext (depends on Lilu unless NAME is Lilu), its
# .dSYM, and the EXTRA bundles; the DEBUG build differs in its binary
mk_kext_zips() {
  local n=$1 v=$2 b
  shift 2
  for b in RELEASE DEBUG; do
    rm -rf "kz-$n-$b" && mkdir -p "kz-$n-$b" && (
      cd "kz-$n-$b"
      mk_kext . "$n"
      [ "$n" = Lilu ] || sed -i 's|</dict></plist>|<key>OSBundleLibraries</key><dict><key>as.vit9696.Lilu</key><string>1.2.0</string></dict></dict></plist>|' "$n.kext/Contents/Info.plist"
      sed -i "s|</dict></plist>|<key>CFBundleShortVersionString</key><string>$v</string><key>CFBundleExecutable</key><string>$n</string></dict></plist>|" "$n.kext/Contents/Info.plist"
      [ "$b" = DEBUG ] && rbytes "$n-debug" 30000 > "$n.kext/Contents/MacOS/$n"
      mkdir -p "$n.kext.dSYM/Contents/Resources/DWARF" && rbytes "$n-dsym" 5000 > "$n.kext.dSYM/Contents/Resources/DWARF/$n"
      for e in "$@"; do mk_kext . "$e"; done
      zip -qr "../$n-$v-$b.zip" .
    )
  done
}

# mk_config FILE [extra driver dict entries...]: a config enabling OpenRuntime and
# OpenHfsPlus (AudioDxe disabled), tool OpenShell (CleanNvram disabled), kext Lilu,
# SSDT-EC.aml (SSDT-OFF.aml disabled)
mk_config() {
  cat > "$1" <<'PL'
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>ACPI</key><dict><key>Add</key><array>
    <dict><key>Enabled</key><true/><key>Path</key><string>SSDT-EC.aml</string></dict>
    <dict><key>Enabled</key><false/><key>Path</key><string>SSDT-OFF.aml</string></dict>
  </array></dict>
  <key>Kernel</key><dict><key>Add</key><array>
    <dict><key>BundlePath</key><string>Lilu.kext</string><key>Enabled</key><true/>
      <key>ExecutablePath</key><string>Contents/MacOS/Lilu</string><key>PlistPath</key><string>Contents/Info.plist</string></dict>
    <dict><key>BundlePath</key><string>Disabled.kext</string><key>Enabled</key><false/>
      <key>ExecutablePath</key><string></string><key>PlistPath</key><string>Contents/Info.plist</string></dict>
  </array></dict>
  <key>Misc</key><dict><key>Tools</key><array>
    <dict><key>Enabled</key><true/><key>Path</key><string>OpenShell.efi</string></dict>
    <dict><key>Enabled</key><false/><key>Path</key><string>CleanNvram.efi</string></dict>
  </array></dict>
  <key>UEFI</key><dict><key>Drivers</key><array>
    <dict><key>Enabled</key><true/><key>Path</key><string>OpenRuntime.efi</string></dict>
    <dict><key>Enabled</key><true/><key>Path</key><string>OpenHfsPlus.efi</string></dict>
    <dict><key>Enabled</key><false/><key>Path</key><string>AudioDxe.efi</string></dict>
PL
  local extra
  for extra in "${@:2}"; do
    printf '    <dict><key>Enabled</key><true/><key>Path</key><string>%s</string></dict>\n' "$extra" >> "$1"
  done
  cat >> "$1" <<'PL'
  </array></dict>
</dict>
</plist>
PL
}

# mk_inputs: release "rel" + rel.zip, Lilu.kext, SSDT-EC.aml, config.plist in $PWD
mk_inputs() {
  mk_release rel
  mk_kext . Lilu
  rfiles ssdt:321:SSDT-EC.aml
  mk_config config.plist
}

# esp_offset IMG: byte offset of the first partition per sfdisk
esp_offset() { sfdisk -J "$1" | python3 -c 'import json,sys; d=json.load(sys.stdin)["partitiontable"]; print(d["partitions"][0]["start"]*d.get("sectorsize",512))'; }
esp_sectors() { sfdisk -J "$1" | python3 -c 'import json,sys; d=json.load(sys.stdin)["partitiontable"]; print(d["partitions"][0]["size"])'; }

# extract_esp IMG OUT: the partition as its own (sparse) file
extract_esp() {
  dd if="$1" of="$2" bs=512 skip=$(( $(esp_offset "$1") / 512 )) count="$(esp_sectors "$1")" conv=sparse status=none
}

export MTOOLS_SKIP_CHECK=1
# fsck.fat, sfdisk and mkfs.fat live in /usr/sbin, not on a normal user's PATH
export PATH="$PATH:/usr/sbin:/sbin"

# gh_publish OWNER REPO TAG ZIP...: a release with these assets (digests
# published) into srv/, as latest and as tags/TAG. DKVM_FAKE_DIGEST, when set,
# replaces every published digest.
gh_publish() {
  local o=$1 r=$2 t=$3 d=srv/repos/$1/$2/releases
  shift 3
  mkdir -p "$d/tags" "srv/$o/$r/releases/download/$t"
  python3 - "$o" "$r" "$t" "$@" > "$d/tags/$t" <<'PY'
import hashlib, json, os, sys
o, r, t = sys.argv[1:4]
fake = os.environ.get("DKVM_FAKE_DIGEST")
assets = []
for z in sys.argv[4:]:
    n = os.path.basename(z)
    assets.append({"name": n, "size": os.path.getsize(z),
                   "digest": fake or "sha256:" + hashlib.sha256(open(z, "rb").read()).hexdigest(),
                   "browser_download_url": f"https://github.com/{o}/{r}/releases/download/{t}/{n}"})
print(json.dumps({"tag_name": t, "name": t, "assets": assets}))
PY
  cp "$d/tags/$t" "$d/latest"
  cp "$@" "srv/$o/$r/releases/download/$t/"
}

# gh_kexts: fake releases of every kext the guide's set may fetch
gh_kexts() {
  local spec n v repo
  for spec in acidanthera/Lilu:1.7.1 Carnations-Botanica/VMHide:2.0.0 acidanthera/WhateverGreen:1.6.9 \
      ChefKissInc/NootRX:1.0.0 acidanthera/AppleALC:1.9.3 acidanthera/RestrictEvents:1.1.5; do
    repo=${spec%%:*}; v=${spec##*:}; n=${repo##*/}
    if [ "$n" = RestrictEvents ]; then mk_kext_zips "$n" "$v" Extra; else mk_kext_zips "$n" "$v"; fi
    gh_publish "${repo%%/*}" "$n" "$v" "$n-$v-RELEASE.zip" "$n-$v-DEBUG.zip"
  done
}

# gh_serve: python's http.server on 127.0.0.1 over srv/ (killed by gh_stop);
# $MIRROR is its URL
# gh_resources FILE...: OcBinaryData files (Resources/...) at dkvm's pinned commit
# in srv/, junk of distinct sizes, and a pins file ./pins naming them, exported
# as DKVM_OCBINARYDATA_PINS (the real files cannot be served here). Run in $T.
OCBD_COMMIT=3b2e3749975714f5329bea00bdffec8233c02385
gh_resources() {
  local f n=0 srv=srv/acidanthera/OcBinaryData/$OCBD_COMMIT
  echo "# test pins" > pins
  for f in "$@"; do
    n=$((n + 1))
    mkdir -p "$(dirname "$srv/$f")"
    head -c $((1000 * n + 7)) /dev/urandom > "$srv/$f"
    echo "$f $(sha256sum < "$srv/$f" | cut -c1-64) $(stat -c %s "$srv/$f")" >> pins
  done
  export DKVM_OCBINARYDATA_PINS=$PWD/pins
}

gh_serve() {
  timeout 300 python3 -u -m http.server --bind 127.0.0.1 0 --directory srv > server.log 2>&1 &
  GH_PID=$!
  local i
  for i in $(seq 1 100); do
    PORT=$(sed -n 's/.*port \([0-9]*\).*/\1/p' server.log | head -1)
    [ -n "$PORT" ] && break
    sleep 0.1
  done
  [ -n "$PORT" ] || t_fail "http.server did not start: $(cat server.log)"
  MIRROR=http://127.0.0.1:$PORT
}
gh_stop() { kill "$GH_PID" 2>/dev/null || true; wait "$GH_PID" 2>/dev/null || true; }
