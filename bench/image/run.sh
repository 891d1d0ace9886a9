#!/usr/bin/env bash
# Side by side: `dkvm opencore image` vs the classic rootless pipeline
# (truncate + sfdisk + mformat + mcopy) for a 2 GiB OpenCore image with an
# ~800 MB recoveryOS dmg, plus the time of the image without recovery.
# Prints times and ratios; no assertions.
#   bench/image/run.sh [BUILD_DIR]   (default: build)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$src/build}" 2>/dev/null && pwd || echo "$src/build")
DKVM=${DKVM:-$build/src/cli/dkvm}
DMG_MB=${DMG_MB:-800}
work=$(mktemp -d "${TMPDIR:-/tmp}/dkvm-bench-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
source "$src/tests/image/fake_release.sh"
export MTOOLS_SKIP_CHECK=1

now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }

echo "== inputs (fake OpenCorePkg release, Lilu.kext, ${DMG_MB} MB BaseSystem.dmg)"
mk_inputs
mkdir -p rec/com.apple.recovery.boot
# half random, half zeros-and-text: like a compressed dmg with some padding
head -c $((DMG_MB / 2))M /dev/urandom > rec/com.apple.recovery.boot/BaseSystem.dmg
{ yes "dkvm recovery bench padding" || true; } | head -c $((DMG_MB / 2))M >> rec/com.apple.recovery.boot/BaseSystem.dmg
head -c 8000 /dev/urandom > rec/com.apple.recovery.boot/BaseSystem.chunklist
sync

echo "== dkvm opencore image (2 GiB, with recovery)"
t0=$(now)
"$DKVM" -q opencore image --release rel.zip --config config.plist --kext Lilu.kext --acpi SSDT-EC.aml \
  --recovery rec --size 2G -o dkvm.img > /dev/null
sync dkvm.img
t1=$(now)
dkvm_rec=$(secs "$t0" "$t1")

echo "== truncate + sfdisk + mformat + mcopy (same tree, staged beforehand)"
mkdir -p stage/EFI/BOOT stage/EFI/OC/{ACPI,Drivers,Kexts,Resources,Tools}
cp rel/X64/EFI/BOOT/BOOTx64.efi stage/EFI/BOOT/
cp rel/X64/EFI/OC/OpenCore.efi stage/EFI/OC/
cp config.plist stage/EFI/OC/
cp SSDT-EC.aml stage/EFI/OC/ACPI/
cp rel/X64/EFI/OC/Drivers/{OpenRuntime,OpenHfsPlus}.efi stage/EFI/OC/Drivers/
cp rel/X64/EFI/OC/Tools/OpenShell.efi stage/EFI/OC/Tools/
cp -r Lilu.kext stage/EFI/OC/Kexts/
t0=$(now)
truncate -s 2G tools.img
printf 'label: gpt\nstart=2048, size=4188160, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="OPENCORE"\n' |
  sfdisk -q tools.img
mformat -i tools.img@@1M -F -v OPENCORE -T 4188160 -h 64 -s 32 -H 2048 ::
mcopy -s -i tools.img@@1M stage/EFI ::/
mcopy -s -i tools.img@@1M rec/com.apple.recovery.boot ::/
sync tools.img
t1=$(now)
tools_rec=$(secs "$t0" "$t1")

echo "== qcow2: dkvm --format qcow2 vs the raw image + qemu-img convert"
t0=$(now)
"$DKVM" -q opencore image --release rel.zip --config config.plist --kext Lilu.kext --acpi SSDT-EC.aml \
  --recovery rec --size 2G --format qcow2 -o dkvm.qcow2 > /dev/null
t1=$(now)
dkvm_q=$(secs "$t0" "$t1")
t0=$(now)
qemu-img convert -f raw -O qcow2 tools.img tools.qcow2
sync tools.qcow2
t1=$(now)
conv_q=$(python3 -c "print(f'{$(secs "$t0" "$t1") + $tools_rec:.2f}')")

echo "== dkvm opencore image (auto size, no recovery)"
t0=$(now)
"$DKVM" -q opencore image --release rel.zip --config config.plist --kext Lilu.kext --acpi SSDT-EC.aml \
  -o small.img > /dev/null
t1=$(now)
dkvm_small=$(secs "$t0" "$t1")

echo
printf '%-52s %8s s\n' "dkvm opencore image, 2 GiB + ${DMG_MB} MB recovery" "$dkvm_rec"
printf '%-52s %8s s\n' "truncate+sfdisk+mformat+mcopy, same content" "$tools_rec"
printf '%-52s %8s x\n' "ratio (pipeline / dkvm)" "$(python3 -c "print(f'{$tools_rec / max($dkvm_rec, 1e-9):.2f}')")"
printf '%-52s %8s s\n' "dkvm opencore image --format qcow2, same content" "$dkvm_q"
printf '%-52s %8s s\n' "pipeline + qemu-img convert -O qcow2" "$conv_q"
printf '%-52s %8s x\n' "ratio (pipeline+qemu-img / dkvm)" "$(python3 -c "print(f'{$conv_q / max($dkvm_q, 1e-9):.2f}')")"
printf '%-52s %8s s\n' "dkvm opencore image, no recovery ($(du -h --apparent-size small.img | cut -f1) sparse)" "$dkvm_small"
printf '%-52s %8s / %s\n' "allocated on disk (dkvm / pipeline)" "$(du -h dkvm.img | cut -f1)" "$(du -h tools.img | cut -f1)"
