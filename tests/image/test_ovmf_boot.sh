#!/usr/bin/env bash
# Boot the image for real: QEMU q35 + OVMF. The release's BOOTx64.efi is fake,
# so OVMF falls through to its UEFI Shell, which runs startup.nsh from the
# volume root: it lists fs0:\EFI\OC, prints a marker and powers off.
source "$(dirname "$0")/../lib.sh"
source "$DKVM_SRCDIR/tests/image/fake_release.sh"

OVMF_CODE=/usr/share/OVMF/OVMF_CODE_4M.fd
OVMF_VARS=/usr/share/OVMF/OVMF_VARS_4M.fd

# boot IMG ACCEL LOG: 0 when the marker shows up. KVM is given up early when
# it cannot run OVMF here (nested virtualization often cannot: "KVM internal
# error", or no output at all after 20 s).
boot() {
  cp "$OVMF_VARS" vars.fd
  rm -f "$3"
  : > "$3"
  qemu-system-x86_64 -machine q35,accel="$2" -m 256 -smp 1 \
    -drive if=pflash,format=raw,readonly=on,file="$OVMF_CODE" \
    -drive if=pflash,format=raw,file=vars.fd \
    -drive file="$1",format=raw,if=none,id=oc -device virtio-blk-pci,drive=oc \
    -nic none -display none -monitor none -serial file:"$3" -no-reboot > qemu.out 2>&1 &
  local pid=$! i
  for i in $(seq 1 240); do
    sleep 0.5
    kill -0 "$pid" 2>/dev/null || break
    grep -aq "DKVM-MARKER-OK" "$3" && { sleep 2; break; }
    if [ "$2" = kvm ]; then
      grep -q "internal error" qemu.out && break
      [ "$i" -ge 40 ] && [ ! -s "$3" ] && break
    fi
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  grep -aq "DKVM-MARKER-OK" "$3"
}

test_ovmf_runs_startup_nsh() {
  t_guest_boot
  command -v qemu-system-x86_64 >/dev/null || t_skip "no qemu-system-x86_64"
  [ -r "$OVMF_CODE" ] && [ -r "$OVMF_VARS" ] || t_skip "no OVMF 4M firmware"
  mk_inputs
  printf 'fs0:\r\nls fs0:\\EFI\\OC\r\nls fs0:\\EFI\\OC\\Drivers\r\necho DKVM-MARKER-OK\r\nreset -s\r\n' > startup.nsh
  t_ok "$DKVM" opencore image --release rel.zip --config config.plist --kext Lilu.kext --acpi SSDT-EC.aml \
    --add startup.nsh:startup.nsh -o oc.img
  local accels="tcg" ok=""
  [ -r /dev/kvm ] && [ -w /dev/kvm ] && accels="kvm tcg"
  for a in $accels; do
    if boot oc.img "$a" serial.log; then ok=$a; break; fi
    cp serial.log "serial-$a.log" 2>/dev/null || true
  done
  [ -n "$ok" ] || t_fail "no marker on the serial console; qemu: $(head -c 300 qemu.out); log tail: $(tail -c 600 serial.log 2>/dev/null | tr -cd '[:print:]\n')"
  # strip ANSI sequences, then look for the listing
  local log; log=$(sed 's/\x1b\[[0-9;?]*[A-Za-z]//g' serial.log | tr -d '\r')
  t_contains "$log" "OpenCore.efi"
  t_contains "$log" "config.plist"
  t_contains "$log" "Kexts"
  t_contains "$log" "OpenRuntime.efi"
  t_contains "$log" "OpenHfsPlus.efi"
  t_not_contains "$log" "AudioDxe.efi"
}

t_main
