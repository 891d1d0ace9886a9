#!/usr/bin/env bash
# dkvm opencore image: checked with fsck.fat, mtools and sfdisk.
source "$(dirname "$0")/../lib.sh"
source "$DKVM_SRCDIR/tests/image/fake_release.sh"

build() { t_ok "$DKVM" opencore image --release rel.zip --config config.plist --kext Lilu.kext --acpi SSDT-EC.aml "$@"; }

test_zip_release_fsck_and_mtools() {
  mk_inputs
  build -o oc.img
  t_contains "$OUT" "oc.img"
  extract_esp oc.img esp.img
  fsck.fat -n esp.img > fsck.log 2>&1 || t_fail "fsck.fat: $(cat fsck.log)"
  t_not_contains "$(cat fsck.log)" "differ"
  t_contains "$(mlabel -s -i oc.img@@1M ::)" "Volume label is OPENCORE"
  mkdir out
  mcopy -s -i oc.img@@1M ::/EFI out/
  cmp out/EFI/BOOT/BOOTx64.efi rel/X64/EFI/BOOT/BOOTx64.efi
  cmp out/EFI/BOOT/.contentFlavour rel/X64/EFI/BOOT/.contentFlavour
  cmp out/EFI/BOOT/.contentVisibility rel/X64/EFI/BOOT/.contentVisibility
  cmp out/EFI/OC/OpenCore.efi rel/X64/EFI/OC/OpenCore.efi
  cmp out/EFI/OC/config.plist config.plist
  cmp out/EFI/OC/ACPI/SSDT-EC.aml SSDT-EC.aml
  diff -r out/EFI/OC/Kexts/Lilu.kext Lilu.kext
  cmp out/EFI/OC/Drivers/OpenRuntime.efi rel/X64/EFI/OC/Drivers/OpenRuntime.efi
  cmp out/EFI/OC/Drivers/OpenHfsPlus.efi rel/X64/EFI/OC/Drivers/OpenHfsPlus.efi
  cmp out/EFI/OC/Tools/OpenShell.efi rel/X64/EFI/OC/Tools/OpenShell.efi
  # empty folders exist
  [ -d out/EFI/OC/Resources ] || t_fail "no Resources folder"
}

test_only_used_drivers_and_tools() {
  mk_inputs
  build -o oc.img
  t_eq "$(mdir -b -i oc.img@@1M ::/EFI/OC/Drivers | sed 's|.*/||' | sort | tr '\n' ' ')" "OpenHfsPlus.efi OpenRuntime.efi " "drivers"
  t_eq "$(mdir -b -i oc.img@@1M ::/EFI/OC/Tools | sed 's|.*/||' | tr '\n' ' ')" "OpenShell.efi " "tools"
  t_eq "$(mdir -b -i oc.img@@1M ::/EFI/OC/Kexts | sed 's|/$||; s|.*/||' | tr '\n' ' ')" "Lilu.kext " "kexts"
}

test_unpacked_release_and_json() {
  mk_inputs
  t_ok "$DKVM" --json opencore image --release rel --config config.plist --kext Lilu.kext --acpi SSDT-EC.aml -o oc.img
  t_json "$OUT"
  t_eq "$(t_jget "$OUT" 'd["partition"]["type"]')" "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
  t_eq "$(t_jget "$OUT" 'd["partition"]["offset"]')" "1048576"
  t_eq "$(t_jget "$OUT" 'd["drivers"]')" "['OpenRuntime.efi', 'OpenHfsPlus.efi']"
  t_eq "$(t_jget "$OUT" 'd["disk_bytes"]')" "$(stat -c %s oc.img)"
  mcopy -i oc.img@@1M ::/EFI/OC/OpenCore.efi oc.efi
  cmp oc.efi rel/X64/EFI/OC/OpenCore.efi
}

test_sfdisk_sees_gpt() {
  mk_inputs
  build -o oc.img
  sfdisk --verify oc.img > verify.log 2>&1 || t_fail "sfdisk --verify: $(cat verify.log)"
  local dump; dump=$(sfdisk -d oc.img)
  t_contains "$dump" "label: gpt"
  t_contains "$dump" "start=        2048"
  t_contains "$dump" "type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
  t_contains "$dump" 'name="OPENCORE"'
  # the backup header is found when the primary is destroyed
  cp --sparse=always oc.img broken.img
  dd if=/dev/zero of=broken.img bs=512 seek=1 count=1 conv=notrunc status=none
  sfdisk -d broken.img > d2.log 2>&1 || t_fail "sfdisk with backup GPT: $(cat d2.log)"
  t_contains "$(cat d2.log)" "type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
  # the image is sparse
  [ "$(du -k oc.img | cut -f1)" -lt 8192 ] || t_fail "image not sparse: $(du -k oc.img)"
}

test_reproducible() {
  mk_inputs
  build --reproducible -o a.img
  touch config.plist Lilu.kext/Contents/Info.plist
  sleep 1
  build --reproducible -o b.img
  cmp a.img b.img || t_fail "reproducible builds differ"
  SOURCE_DATE_EPOCH=1700000000 build --reproducible -o c.img
  ! cmp -s a.img c.img || t_fail "SOURCE_DATE_EPOCH ignored"
  build -o d.img
  build -o e.img
  ! cmp -s d.img e.img || t_fail "non-reproducible builds have equal GUIDs"
  t_contains "$(mdir -i c.img@@1M ::/EFI/OC)" "2023-11-14"
}

test_refuse_existing_and_force() {
  mk_inputs
  echo keep > oc.img
  t_exit 1 "$DKVM" opencore image --release rel.zip --config config.plist --kext Lilu.kext --acpi SSDT-EC.aml -o oc.img
  t_contains "$ERR" "already exists"
  t_eq "$(cat oc.img)" "keep"
  build --force -o oc.img
  mdir -i oc.img@@1M ::/EFI > /dev/null
}

test_recovery_size_and_long_names() {
  mk_inputs
  mkdir -p rec/com.apple.recovery.boot extra/sub
  rbytes dmg 3000000 > rec/com.apple.recovery.boot/BaseSystem.dmg
  rbytes cl 2000 > rec/com.apple.recovery.boot/BaseSystem.chunklist
  for i in $(seq 1 12); do echo "n$i" > "extra/longfilename$i.txt"; done
  echo a > "extra/A very long file name, with spaces and (parens).text"
  echo b > "extra/sub/ñandú.txt"
  echo c > extra/.hidden
  echo d > extra/UPPER.TXT
  printf '' > extra/empty
  build --recovery rec --add extra:Extra --add config.plist:notes.txt --size 300M -o oc.img
  t_eq "$(stat -c %s oc.img)" "314572800" "size"
  extract_esp oc.img esp.img
  fsck.fat -n esp.img > fsck.log 2>&1 || t_fail "fsck.fat: $(cat fsck.log)"
  mkdir out
  mcopy -s -i oc.img@@1M ::/com.apple.recovery.boot ::/Extra ::/notes.txt out/
  diff -r out/com.apple.recovery.boot rec/com.apple.recovery.boot
  diff -r out/Extra extra
  cmp out/notes.txt config.plist
  # recovery given as the folder itself
  build --recovery rec/com.apple.recovery.boot -o oc2.img
  mcopy -i oc2.img@@1M ::/com.apple.recovery.boot/BaseSystem.dmg x.dmg
  cmp x.dmg rec/com.apple.recovery.boot/BaseSystem.dmg
}

test_qcow2() {
  mk_inputs
  mkdir -p rec/com.apple.recovery.boot
  rfiles dmg:3000000:rec/com.apple.recovery.boot/BaseSystem.dmg
  build --format qcow2 --reproducible --recovery rec -o oc.qcow2
  build --reproducible --recovery rec -o oc.img
  t_contains "$(qemu-img info oc.qcow2)" "file format: qcow2"
  qemu-img check oc.qcow2 > check.log 2>&1 || t_fail "qemu-img check: $(cat check.log)"
  t_contains "$(cat check.log)" "No errors were found"
  qemu-img compare -f raw -F qcow2 oc.img oc.qcow2 > cmp.log 2>&1 || t_fail "qemu-img compare: $(cat cmp.log)"
  qemu-img convert -f qcow2 -O raw oc.qcow2 back.img
  cmp back.img oc.img
  mcopy -i back.img@@1M ::/EFI/OC/OpenCore.efi oc.efi
  cmp oc.efi rel/X64/EFI/OC/OpenCore.efi
  # a 3 GiB disk with little data: the qcow2 stays small
  build --format qcow2 --size 3G -o big.qcow2
  t_contains "$(qemu-img info big.qcow2)" "virtual size: 3 GiB"
  qemu-img check big.qcow2 > check2.log 2>&1 || t_fail "qemu-img check: $(cat check2.log)"
  [ "$(stat -c %s big.qcow2)" -lt 10000000 ] || t_fail "qcow2 too large: $(stat -c %s big.qcow2)"
  t_eq "$(ls -A | grep -cE '^\.(oc|big|dkvm-raw)' || true)" "0" "temp files left"
}

# bad input: exit 1, one line naming the file, nothing at -o, no temp files
bad() { # bad WHAT-IN-MESSAGE args...
  local want=$1; shift
  t_exit 1 "$DKVM" opencore image "$@" -o out.img
  t_contains "$ERR" "$want"
  t_eq "$(wc -l <<<"$ERR")" "1" "error lines"
  [ ! -e out.img ] || t_fail "output left behind"
  t_eq "$(ls -A | grep -cE '^\.(out\.img|dkvm-raw)' || true)" "0" "temp files left"
}

test_bad_inputs() {
  mk_inputs
  head -c 3000 rel.zip > corrupt.zip
  bad "corrupt.zip" --release corrupt.zip --config config.plist --kext Lilu.kext --acpi SSDT-EC.aml
  printf 'PK\003\004garbage' > garbage.zip
  bad "garbage.zip" --release garbage.zip --config config.plist --kext Lilu.kext --acpi SSDT-EC.aml
  # damaged member data: CRC error when read
  cp rel.zip crc.zip
  python3 - <<'PY'
import zipfile
z = zipfile.ZipFile("crc.zip")
i = z.getinfo("X64/EFI/OC/OpenCore.efi")
off = i.header_offset + 30 + len(i.filename.encode()) + len(i.extra) + 100
with open("crc.zip", "r+b") as f:
    f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0xFF]))
PY
  bad "crc.zip" --release crc.zip --config config.plist --kext Lilu.kext --acpi SSDT-EC.aml
  cp -r rel norel && rm norel/X64/EFI/OC/OpenCore.efi
  bad "norel: not an OpenCorePkg release: no X64/EFI/OC/OpenCore.efi" --release norel --config config.plist --kext Lilu.kext --acpi SSDT-EC.aml
  mkdir -p Bad.kext/Contents
  bad "Bad.kext: missing Contents/Info.plist" --release rel.zip --config config.plist --kext Lilu.kext --kext Bad.kext --acpi SSDT-EC.aml
  printf '<?xml version="1.0"?><plist><dict><key>A</key>' > broken.plist
  bad "broken.plist: not a valid property list" --release rel.zip --config broken.plist
  python3 -c 'n=1000000; open("deep.plist","w").write("<plist><dict><key>a</key>"+"<array>"*n+"</array>"*n+"</dict></plist>")'
  bad "deep.plist: plist nested deeper than 128 levels" --release rel.zip --config deep.plist
  bad "no --kext Lilu.kext" --release rel.zip --config config.plist --acpi SSDT-EC.aml
  bad "no --acpi SSDT-EC.aml" --release rel.zip --config config.plist --kext Lilu.kext
  mk_config more.plist HfsPlus.efi
  bad "HfsPlus.efi is enabled but the release rel.zip has no" --release rel.zip --config more.plist --kext Lilu.kext --acpi SSDT-EC.aml
  bad "nope.zip" --release nope.zip --config config.plist
  bad "out.img: image size 1048576 bytes is too small" --release rel.zip --config config.plist --kext Lilu.kext --acpi SSDT-EC.aml --size 1M
  bad "too small" --release rel.zip --config config.plist --kext Lilu.kext --acpi SSDT-EC.aml --size 20M
  ln -s .. Lilu.kext/Contents/loop
  bad "nested too deeply (a symlink loop?)" --release rel.zip --config config.plist --kext Lilu.kext --acpi SSDT-EC.aml
  rm Lilu.kext/Contents/loop
  rm Lilu.kext/Contents/MacOS/Lilu
  bad "ExecutablePath Contents/MacOS/Lilu not found" --release rel.zip --config config.plist --kext Lilu.kext --acpi SSDT-EC.aml
}

# a missing --acpi/--driver/--recovery says so (not "not a regular file")
test_missing_vs_wrong_kind() {
  mk_inputs
  local a="--release rel.zip --config config.plist --kext Lilu.kext --acpi SSDT-EC.aml"
  bad "nope.aml: No such file or directory" $a --acpi nope.aml
  bad "rel: not a regular file" $a --acpi rel
  bad "Nope.efi: No such file or directory" $a --driver Nope.efi
  bad "rel: not a regular file" $a --driver rel
  bad "norecovery: No such file or directory" $a --recovery norecovery
  bad "config.plist: not a directory" $a --recovery config.plist
  # FIFOs: not waited on as config.plist, not replaced as the output (even with --force)
  mkfifo fifo
  bad "fifo: not a regular file" --release rel.zip --config fifo
  t_exit 1 timeout 60 "$DKVM" opencore image $a --force -o fifo
  t_contains "$ERR" "fifo: not a regular file (a device, FIFO or socket); refusing to replace it"
  [ -p fifo ] || t_fail "the FIFO was replaced"
}

test_kext_release_zips() {
  mk_inputs
  mkdir z1 z2 z3
  (cd z1 && mk_kext . Lilu && mkdir -p Lilu.kext.dSYM/Contents && echo dsym > Lilu.kext.dSYM/Contents/x && zip -qr ../lilu.zip .)
  (cd z2 && mkdir Kexts && mk_kext Kexts VirtualSMC && mk_kext Kexts SMCProcessor && zip -qr ../smc.zip .)
  (cd z3 && mk_kext . VoodooPS2Controller && mk_kext VoodooPS2Controller.kext/Contents/PlugIns VoodooPS2Keyboard &&
    zip -qr ../ps2.zip .)
  kx() { printf '<dict><key>BundlePath</key><string>%s</string><key>Enabled</key><true/><key>ExecutablePath</key><string>Contents/MacOS/%s</string><key>PlistPath</key><string>Contents/Info.plist</string></dict>' "$1" "$2"; }
  cat > kz.plist <<PL
<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict><key>Kernel</key><dict><key>Add</key><array>
$(kx Lilu.kext Lilu) $(kx VirtualSMC.kext VirtualSMC) $(kx VoodooPS2Controller.kext VoodooPS2Controller)
$(kx VoodooPS2Controller.kext/Contents/PlugIns/VoodooPS2Keyboard.kext VoodooPS2Keyboard)
</array></dict></dict></plist>
PL
  t_ok "$DKVM" --json opencore image --release rel.zip --config kz.plist --kext lilu.zip --kext smc.zip --kext ps2.zip -o oc.img
  t_eq "$(t_jget "$OUT" 'd["kexts"]')" "['Lilu.kext', 'VirtualSMC.kext', 'VoodooPS2Controller.kext']"
  mkdir out
  mcopy -s -i oc.img@@1M ::/EFI/OC/Kexts out/
  diff -r out/Kexts/Lilu.kext z1/Lilu.kext
  diff -r out/Kexts/VirtualSMC.kext z2/Kexts/VirtualSMC.kext
  diff -r out/Kexts/VoodooPS2Controller.kext z3/VoodooPS2Controller.kext
  [ ! -e out/Kexts/SMCProcessor.kext ] || t_fail "unused kext from a zip was copied"
  # a plug-in missing from the zip
  rm -r z3/VoodooPS2Controller.kext/Contents/PlugIns/VoodooPS2Keyboard.kext/Contents/MacOS
  rm ps2.zip && (cd z3 && zip -qr ../ps2.zip .)
  t_exit 1 "$DKVM" opencore image --release rel.zip --config kz.plist --kext lilu.zip --kext smc.zip --kext ps2.zip -o bad.img
  t_contains "$ERR" "ExecutablePath Contents/MacOS/VoodooPS2Keyboard not found in ps2.zip"
  # a zip without kexts
  t_exit 1 "$DKVM" opencore image --release rel.zip --config kz.plist --kext rel.zip -o bad.img
  t_contains "$ERR" "rel.zip: no .kext bundle in the zip"
  [ ! -e bad.img ] || t_fail "output left behind"
}

# zip_patch ZIP ENTRY FIELD VALUE: overwrite usize/csize/crc of ENTRY in its
# local and central headers (a hostile zip)
zip_patch() {
  python3 - "$@" <<'PY'
import struct, sys, zipfile
path, name, field, val = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4], 0)
with zipfile.ZipFile(path) as z:
    loff = z.getinfo(name).header_offset
d = bytearray(open(path, "rb").read())
assert d[loff:loff + 4] == b"PK\x03\x04"
struct.pack_into("<I", d, loff + {"crc": 14, "csize": 18, "usize": 22}[field], val)
c = d.find(b"PK\x01\x02")
while c >= 0:
    nl, = struct.unpack_from("<H", d, c + 28)
    if d[c + 46:c + 46 + nl] == name.encode():
        struct.pack_into("<I", d, c + {"crc": 16, "csize": 20, "usize": 24}[field], val)
    c = d.find(b"PK\x01\x02", c + 4)
open(path, "wb").write(d)
PY
}

# every entry read from a zip has its recorded size and CRC-32 checked
test_zip_entry_size_and_crc_checked() {
  mk_inputs
  local a="--config config.plist --kext Lilu.kext --acpi SSDT-EC.aml" e=X64/EFI/OC/OpenCore.efi
  # deflated, recorded size smaller than the data: was silently truncated
  cp rel.zip small.zip && zip_patch small.zip $e usize 1000
  bad "small.zip: $e: size mismatch" --release small.zip $a
  # the same with a CRC-32 that matches the truncated data
  cp small.zip smallcrc.zip
  zip_patch smallcrc.zip $e crc "$(python3 -c 'import sys,zlib; print(zlib.crc32(open(sys.argv[1],"rb").read()[:1000]))' rel/$e)"
  bad "smallcrc.zip: $e: size mismatch" --release smallcrc.zip $a
  # recorded size larger than the data
  cp rel.zip big.zip && zip_patch big.zip $e usize 800000
  bad "big.zip: $e: size mismatch" --release big.zip $a
  # wrong CRC-32, data intact
  cp rel.zip crc.zip && zip_patch crc.zip $e crc 0x12345678
  bad "crc.zip: $e: CRC-32 mismatch" --release crc.zip $a
  # stored entries: sizes cut down together, then a CRC-32 that matches them
  (cd rel && zip -q0r ../stored.zip X64 Docs)
  cp stored.zip st1.zip && zip_patch st1.zip $e usize 1000 && zip_patch st1.zip $e csize 1000
  bad "st1.zip: $e: CRC-32 mismatch" --release st1.zip $a
  cp stored.zip st2.zip && zip_patch st2.zip $e usize 1000
  bad "st2.zip: $e: size mismatch" --release st2.zip $a
  # a kext zip is checked the same way
  mkdir z && (cd z && mk_kext . Lilu && zip -qr ../lilu.zip .)
  zip_patch lilu.zip Lilu.kext/Contents/MacOS/Lilu usize 100
  bad "lilu.zip: Lilu.kext/Contents/MacOS/Lilu: size mismatch" --release rel.zip --config config.plist --kext lilu.zip --acpi SSDT-EC.aml
  # the intact zips still work
  build --release stored.zip -o ok.img
}

# a symbolic link stored in a kext zip is refused, not written as its target text
test_zip_symlink_entry_refused() {
  mk_inputs
  mkdir z && (cd z && mk_kext . Lilu && rm Lilu.kext/Contents/MacOS/Lilu && ln -s /etc/passwd Lilu.kext/Contents/MacOS/Lilu &&
    zip -qry ../lilu.zip .)
  bad "lilu.zip: Lilu.kext/Contents/MacOS/Lilu: is a symbolic link in the zip" --release rel.zip --config config.plist --kext lilu.zip --acpi SSDT-EC.aml
  # in the OpenCore release zip too
  (cd rel && ln -s /etc/passwd X64/EFI/OC/Tools/OpenShell.efi.tmp && rm X64/EFI/OC/Tools/OpenShell.efi &&
    mv X64/EFI/OC/Tools/OpenShell.efi.tmp X64/EFI/OC/Tools/OpenShell.efi && zip -qry ../lnk.zip X64 Docs)
  bad "lnk.zip: X64/EFI/OC/Tools/OpenShell.efi: is a symbolic link in the zip" --release lnk.zip --config config.plist --kext Lilu.kext --acpi SSDT-EC.aml
}

# symbolic links in a --kext folder: inside the bundle followed, leading outside refused
test_kext_folder_symlinks() {
  mk_inputs
  echo secret > outside.txt
  ln -s Lilu Lilu.kext/Contents/MacOS/Alias
  build -o ok.img
  mkdir out && mcopy -i ok.img@@1M ::/EFI/OC/Kexts/Lilu.kext/Contents/MacOS/Alias out/
  cmp out/Alias Lilu.kext/Contents/MacOS/Lilu
  ln -s ../../outside.txt Lilu.kext/Contents/Leak
  bad "Lilu.kext/Contents/Leak: a symbolic link to $PWD/outside.txt, outside the kext (refused)" \
    --release rel.zip --config config.plist --kext Lilu.kext --acpi SSDT-EC.aml
  rm Lilu.kext/Contents/Leak && ln -s /etc Lilu.kext/Contents/Resources
  bad "Lilu.kext/Contents/Resources: a symbolic link to /etc, outside the kext (refused)" \
    --release rel.zip --config config.plist --kext Lilu.kext --acpi SSDT-EC.aml
  rm Lilu.kext/Contents/Resources && ln -s nowhere Lilu.kext/Contents/Dangling
  bad "Lilu.kext/Contents/Dangling: a symbolic link that does not resolve" \
    --release rel.zip --config config.plist --kext Lilu.kext --acpi SSDT-EC.aml
}

test_extra_driver_option() {
  mk_inputs
  mk_config more.plist HfsPlus.efi
  rbytes hfs 5000 > HfsPlus.efi
  build --config more.plist --driver HfsPlus.efi -o oc.img
  mcopy -i oc.img@@1M ::/EFI/OC/Drivers/HfsPlus.efi h.efi
  cmp h.efi HfsPlus.efi
}

test_usage_errors() {
  t_exit 2 "$DKVM" opencore image --config x -o y
  t_contains "$ERR" "--release"
  t_exit 2 "$DKVM" opencore image --release a --config b -o c --format vmdk
  t_exit 2 "$DKVM" opencore image --release a --config b -o c --size lots
  t_exit 2 "$DKVM" opencore image --release a --config b -o c --add nocolon
  t_ok "$DKVM" opencore image --help
  t_contains "$OUT" "usage: dkvm opencore image"
}

test_interrupt_removes_temp() {
  source "$DKVM_SRCDIR/tests/image/interrupt.sh"
  mk_inputs
  truncate -s 512M big.bin
  local sig fmt want
  for sig in INT TERM; do
    for fmt in raw qcow2; do
      want=$((128 + $(kill -l "$sig")))
      interrupt_caught "$sig" "$DKVM" opencore image --release rel.zip --config config.plist --kext Lilu.kext \
        --acpi SSDT-EC.aml --add big.bin:BIG --format "$fmt" -o out.img
      t_eq "$IRC" "$want" "exit status after SIG$sig ($fmt)"
      [ ! -e out.img ] || t_fail "SIG$sig ($fmt): output left at out.img"
      no_temp_left
      [ -z "$(compgen -G '.dkvm-raw.*' || true)" ] || t_fail "SIG$sig: raw temp left behind"
    done
  done
}

t_main
