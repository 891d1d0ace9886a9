#!/usr/bin/env bash
# PowerPC guests (--arch ppc): create / start / stop / destroy against real
# qemu-system-ppc and OpenBIOS; bad input.
source "$(dirname "$0")/../lib.sh"

stop_vms() {
  local m
  for m in "$T"/vms/*/manifest.json; do
    [ -e "$m" ] || continue
    "$DKVM" stop "$(basename "$(dirname "$m")")" --dir "$T/vms" --force >/dev/null 2>&1 || true
  done
}

need_ppc() {
  trap stop_vms EXIT
  command -v qemu-system-ppc >/dev/null || t_skip "qemu-system-ppc not installed"
  [ -e /usr/share/qemu/openbios-ppc ] || [ -e /usr/share/openbios/openbios-ppc ] || t_skip "no OpenBIOS for ppc (qemu-system-data)"
}

# Wait up to SECONDS for the OpenBIOS banner in FILE.
wait_openbios() { # wait_openbios FILE SECONDS
  local i
  for ((i = 0; i < $2 * 2; i++)); do
    grep -aq 'OpenBIOS' "$1" 2>/dev/null && return 0
    sleep 0.5
  done
  return 1
}

test_boot_to_openbios() {
  t_guest_boot
  need_ppc
  truncate -s 1M "$T/blank.iso"
  t_ok "$DKVM" create tiger --arch ppc --macos 10.4 --iso "$T/blank.iso" --memory 512 --disk 2 --dir "$T/vms"
  local b=$T/vms/tiger
  t_contains "$(cat "$b/manifest.json")" '"arch":"ppc"'
  [ -f "$b/disk.qcow2" ] || t_fail "no disk.qcow2"
  t_contains "$(qemu-img info "$b/disk.qcow2")" "file format: qcow2"
  # no OpenCore, no OVMF, no SMBIOS
  [ ! -e "$b/OpenCore.img" ] && [ ! -e "$b/OVMF_VARS.fd" ] || t_fail "x86 firmware files in a ppc bundle"
  t_not_contains "$(cat "$b/manifest.json")" '"smbios"'
  t_contains "$(cat "$b/qemu.argv")" "qemu-system-ppc"
  t_contains "$(cat "$b/qemu.argv")" "ide-cd,bus=ide.0,unit=1,drive=installer"
  t_ok "$DKVM" list --dir "$T/vms"
  t_contains "$OUT" "PowerMac3,1"
  t_ok "$DKVM" start tiger --display none --dir "$T/vms"
  t_contains "$OUT" "started"
  t_contains "$OUT" "tcg"
  local pid
  pid=$(cat "$b/qemu.pid")
  t_contains "$(tr '\0' ' ' < "/proc/$pid/cmdline")" "qemu-system-ppc"
  wait_openbios "$b/serial.log" 60 || t_fail "no OpenBIOS banner within 60 s: $(head -c 600 "$b/serial.log" 2>/dev/null)"
  t_ok "$DKVM" --json show tiger --dir "$T/vms"
  t_eq "$(t_jget "$OUT" 'd["state"]')" "running"
  t_eq "$(t_jget "$OUT" 'd["manifest"]["arch"]')" "ppc"
  t_exit 1 "$DKVM" start tiger --display none --dir "$T/vms"
  t_contains "$ERR" "already running"
  t_ok "$DKVM" stop tiger --timeout 1 --dir "$T/vms"
  local i
  for ((i = 0; i < 50; i++)); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
  [ ! -d "/proc/$pid" ] || t_fail "QEMU $pid still running after stop"
  t_ok "$DKVM" destroy tiger --yes --delete-disks --dir "$T/vms"
  [ -z "$(ls -A "$T/vms")" ] || t_fail "left behind: $(ls -A "$T/vms")"
}

test_create_per_release() {
  need_ppc
  local v
  for v in 10.0 10.1 10.2 10.3 10.4 10.5 cheetah leopard; do
    t_ok "$DKVM" --json create "p$v" --arch ppc --macos "$v" --dir "$T/vms" --dry-run --explain
    t_eq "$(t_jget "$OUT" 'd["arch"]')" "ppc"
    t_eq "$(t_jget "$OUT" 'd["plan"]["nic"]')" "sungem"
  done
  t_ok "$DKVM" create leo --arch ppc --macos 10.5 --dry-run --explain --dir "$T/vms"
  t_contains "$OUT" "mac99,via=pmu,usb=on"
  t_contains "$OUT" "Decisions:"
  t_contains "$OUT" "OpenBIOS"
  [ ! -e "$T/vms/leo" ] || t_fail "a dry run made the bundle"
}

test_bad_input() {
  need_ppc
  local r
  for r in 10.6 sonoma; do
    t_exit 1 "$DKVM" create x --arch ppc --macos "$r" --dir "$T/vms"
    t_eq "$(wc -l <<<"$ERR")" "1" "error lines"
    t_contains "$ERR" "not a PowerPC release"
  done
  local opt
  for opt in "--pool default" --pin "--cpus 2" "--cpu host" "--model MacPro5,1" "--opencore x.zip" --no-recovery \
             "--recovery d" "--kexts d" "--opencore-image x.img" "--accel kvm"; do
    # shellcheck disable=SC2086
    t_exit 2 "$DKVM" create x --arch ppc --macos 10.4 $opt --dir "$T/vms"
    t_contains "$ERR" "dkvm: create:"
  done
  t_contains "$ERR" "TCG"
  # every x86-only option is named in the refusal, before or after --arch ppc
  for opt in "model MacPro5,1" "cpus 2" "cpu host" pin "opencore x.zip" "opencore-image x.img" "kexts d" \
             "kext k.zip" "recovery d" no-recovery "pool default" "driver d.efi" iothreads hugepages fake-cores \
             "gpu 01:00.0" "gpu-rom r.rom" "usb-controller 02:00.0" "audio 03:00.0" "acpi a.aml" \
             "kext-version Lilu=1.6.9" offline "boot-args -v" "picker gui" "memory-map guide"; do
    # shellcheck disable=SC2086
    t_exit 2 "$DKVM" create x --$opt --arch ppc --macos 10.4 --dir "$T/vms"
    t_contains "$ERR" "dkvm: create: --${opt%% *}: x86 only (not with --arch ppc)"
  done
  t_exit 2 "$DKVM" create x --arch ppc --macos 10.4 --pin --iothreads --dir "$T/vms"
  t_contains "$ERR" "--pin: x86 only"
  t_exit 2 "$DKVM" create x --arch ppc --dir "$T/vms"
  t_contains "$ERR" "needs --macos"
  t_exit 2 "$DKVM" create x --arch sparc --macos 10.4 --dir "$T/vms"
  t_exit 2 "$DKVM" create x --iso /dev/null --dir "$T/vms"
  t_contains "$ERR" "only with --arch ppc"
  t_exit 1 "$DKVM" create x --arch ppc --macos 10.4 --iso "$T/missing.iso" --dir "$T/vms"
  t_contains "$ERR" "missing.iso"
  mkfifo "$T/fifo.iso"
  t_exit 1 timeout 10 "$DKVM" create x --arch ppc --macos 10.4 --iso "$T/fifo.iso" --dir "$T/vms"
  t_contains "$ERR" "not a regular file"
  t_exit 1 "$DKVM" create x --arch ppc --macos 10.5 --memory 4G --dir "$T/vms"
  t_contains "$ERR" "2048 MiB"
  [ -z "$(ls -A "$T/vms" 2>/dev/null)" ] || t_fail "left behind: $(ls -A "$T/vms")"
}

test_ppc_goldens_validate() {
  command -v virt-xml-validate >/dev/null || t_skip "virt-xml-validate not installed"
  local f n=0
  for f in "$DKVM_SRCDIR"/tests/vm/golden/ppc-*.libvirt.xml; do
    t_ok virt-xml-validate "$f" domain
    n=$((n + 1))
  done
  t_eq "$n" 6 "ppc golden XML files"
}

t_main
