#!/usr/bin/env bash
# dkvm export --proxmox: a real bundle -> a qemu-server config checked against Proxmox's syntax.
source "$(dirname "$0")/../lib.sh"

need_tools() {
  command -v qemu-img >/dev/null || t_skip "qemu-img not installed"
  command -v qemu-system-x86_64 >/dev/null || t_skip "qemu-system-x86_64 not installed"
  [ -e /usr/share/OVMF/OVMF_CODE_4M.fd ] || [ -e /usr/share/OVMF/OVMF_CODE.fd ] || t_skip "OVMF not installed"
  command -v mformat >/dev/null || t_skip "mtools not installed"
}

# A bundle made quickly: a small ESP image as the OpenCore image, no recoveryOS.
mk_vm() { # mk_vm NAME [DIR]
  local dir=${2:-$T/vms}
  if [ ! -e "$T/oc.img" ]; then
    truncate -s 64M "$T/oc.img"
    printf 'label: gpt\nstart=2048, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\n' | sfdisk -q "$T/oc.img"
    mformat -i "$T/oc.img@@1M" -v OPENCORE -T 126976 -h 64 -s 32 ::
  fi
  t_ok "$DKVM" -q create "$1" --dir "$dir" --opencore-image "$T/oc.img" --no-recovery --memory 2G --disk 16G
}

# Keys of /etc/pve/qemu-server/*.conf this export may write (Proxmox VE's qm.conf).
KNOWN_KEYS=" affinity allow-ksm args balloon bios boot cores kvm machine memory name net0 numa ostype smbios1 sockets tablet vga "

# Every line a notes comment or "key: value" with a known key; keys sorted, each once.
check_pve_syntax() { # check_pve_syntax FILE
  local line key rest prev="" n=0 in_notes=1
  while IFS= read -r line; do
    if [[ $line == \#* ]]; then
      [ "$in_notes" = 1 ] || t_fail "a comment after the keys: '$line'"
      # Proxmox's encoding of notes: printable ASCII, ':' and '%' escaped as %XX
      rest=${line:1}
      ! LC_ALL=C eval '[[ $rest =~ [^\ -~] ]]' || t_fail "a raw control or non-ASCII byte in the notes: '$line'"
      [[ $rest != *:* ]] || t_fail "a raw ':' in the notes: '$line'"
      [[ ${rest//%[0-9A-F][0-9A-F]/} != *%* ]] || t_fail "a raw '%' in the notes: '$line'"
      continue
    fi
    in_notes=0
    [[ $line =~ ^([a-z][a-z0-9-]*):\ ([^[:space:]].*[^[:space:]]|[^[:space:]])$ ]] || t_fail "not 'key: value': '$line'"
    key=${BASH_REMATCH[1]}
    t_contains "$KNOWN_KEYS" " $key "
    [[ "$prev" < "$key" ]] || t_fail "keys not sorted or repeated: '$prev' then '$key'"
    prev=$key
    n=$((n + 1))
  done <"$1"
  [ "$n" -ge 15 ] || t_fail "only $n keys"
}

val() { sed -n "s/^$1: //p" "$2"; }

test_export_fields() {
  need_tools
  mk_vm m1
  t_ok "$DKVM" export m1 --proxmox --dir "$T/vms" --vmid 4321
  printf '%s\n' "$OUT" >"$T/4321.conf"
  check_pve_syntax "$T/4321.conf"
  local c="$T/4321.conf" man; man=$(cat "$T/vms/m1/manifest.json")
  t_eq "$(val machine "$c")" "q35"
  t_eq "$(val bios "$c")" "ovmf"
  t_eq "$(val balloon "$c")" "0"
  t_eq "$(val numa "$c")" "0"
  t_eq "$(val ostype "$c")" "other"
  t_eq "$(val name "$c")" "m1"
  t_eq "$(val memory "$c")" "2048"
  t_eq "$(val sockets "$c")" "1"
  t_eq "$(val cores "$c")" "$(t_jget "$man" 'd["plan"]["topology"]["vcpus"]')"
  t_eq "$(val smbios1 "$c")" "uuid=$(t_jget "$man" 'd["plan"]["uuid"]')"
  t_eq "$(val net0 "$c")" "virtio=$(t_jget "$man" 'd["plan"]["devices"]["mac"]'),bridge=vmbr0"
  t_eq "$(val vga "$c")" "vmware"
  t_eq "$(val boot "$c")" "order=virtio0;virtio1"
  local args; args=$(val args "$c")
  t_contains "$args" '-device isa-applesmc,osk="ourhardworkbythesewordsguardedpleasedontsteal(c)AppleComputerInc"'
  t_contains "$args" "-smbios type=2"
  t_contains "$args" "-cpu $(t_jget "$man" 'd["plan"]["cpu"]["arg"]')"
  t_contains "$args" "vendor=GenuineIntel"
  # Proxmox splits args as shell words: the OSK stays one word
  local words; words=$(eval "printf '%s\n' $args")
  t_contains "$words" $'\nisa-applesmc,osk=ourhardworkbythesewordsguardedpleasedontsteal(c)AppleComputerInc\n'
  if [ "$(t_jget "$man" 'd["plan"]["accel"]')" = tcg ]; then
    t_eq "$(val kvm "$c")" "0"
  else
    t_eq "$(grep -c '^kvm:' "$c")" "0"
  fi
  # the plan's decisions are the notes, one line each
  local nd; nd=$(t_jget "$man" 'len(d["plan"]["decisions"])')
  t_eq "$(grep -c '^#- [a-z]' "$c" | awk -v n="$nd" '{print ($1 >= n)}')" "1" "a notes line per decision"
  t_contains "$(cat "$c")" "#- machine = q35 ("
  # the commands are on stderr (stdout is the .conf), valid shell, one per line
  t_contains "$ERR" "# on the Proxmox host, with the config as /etc/pve/qemu-server/4321.conf:"
  t_contains "$ERR" $'\nqm set 4321 --efidisk0 local-lvm:1,efitype=4m,pre-enrolled-keys=0\n'
  t_contains "$ERR" $'\nqm importdisk 4321 '"$T/vms/m1/OpenCore.img"$' local-lvm --format qcow2\n'
  t_contains "$ERR" $'\nqm importdisk 4321 '"$T/vms/m1/disk.qcow2"$' local-lvm --format qcow2\n'
  t_contains "$ERR" "qm set 4321 --virtio1 \"\$(qm config 4321 | sed -n 's/^unused0: //p')\",discard=on"
  bash -n <<<"$ERR" || t_fail "the commands are not valid shell"
  t_eq "$(grep -c "^qm " <<<"$OUT" || true)" "0" "commands on stdout"
}

test_export_json_and_options() {
  need_tools
  mk_vm 'my mac' "$T/my vms"
  t_ok "$DKVM" --json export 'my mac' --proxmox --dir "$T/my vms" --storage tank.vm-1
  t_json "$OUT"
  t_eq "$(t_jget "$OUT" 'd["vmid"]')" "100"
  t_eq "$(t_jget "$OUT" '(list(d), d["output"])')" "(['vmid', 'config', 'output', 'commands'], None)"
  t_eq "$(t_jget "$OUT" 'len(d["commands"])')" "5"
  t_eq "$(t_jget "$OUT" 'd["commands"][1]')" "qm importdisk 100 '$T/my vms/my mac/OpenCore.img' tank.vm-1 --format qcow2"
  t_jget "$OUT" 'd["config"]' >"$T/c.conf"
  sed -i '$d' "$T/c.conf" # print() added a newline
  check_pve_syntax "$T/c.conf"
  t_eq "$(val name "$T/c.conf")" "my-mac"
  head -n1 "$T/c.conf" | grep -qx '#my mac - MacPro7,1, macOS sequoia (15), exported by dkvm' || t_fail "first notes line: $(head -n1 "$T/c.conf")"
  t_exit 2 "$DKVM" export 'my mac' --proxmox --dir "$T/my vms" --storage 'a b'
  t_contains "$ERR" "--storage 'a b': not a Proxmox storage ID"
}

test_export_output_file() {
  need_tools
  mk_vm m2
  mkdir -p "$T/out"
  t_ok "$DKVM" export m2 --proxmox --dir "$T/vms" -o "$T/out/100.conf"
  check_pve_syntax "$T/out/100.conf"
  t_eq "$(stat -c %a "$T/out/100.conf")" "600"
  t_contains "$OUT" "qm importdisk 100 "        # the commands on stdout with -o
  t_eq "$ERR" ""
  # an existing file is kept without --force
  echo keep >"$T/out/101.conf"
  t_exit 1 "$DKVM" export m2 --proxmox --dir "$T/vms" -o "$T/out/101.conf" --vmid 101
  t_eq "$ERR" "dkvm: $T/out/101.conf: already exists (use --force to replace it)"
  t_eq "$(cat "$T/out/101.conf")" "keep"
  t_ok "$DKVM" export m2 --proxmox --dir "$T/vms" -o "$T/out/101.conf" --vmid 101 --force
  t_eq "$(val machine "$T/out/101.conf")" "q35"
  t_eq "$(ls -A "$T/out" | tr '\n' ' ')" "100.conf 101.conf " # no temp files left
}

test_export_errors() {
  need_tools
  t_exit 1 "$DKVM" export nope --proxmox --dir "$T/vms"
  t_eq "$ERR" "dkvm: nope: no such VM (no $T/vms/nope/manifest.json)"
  mk_vm m3
  local v
  for v in 99 0 1000000000 -5 12x ''; do
    t_exit 2 "$DKVM" export m3 --proxmox --dir "$T/vms" --vmid "$v"
    t_contains "$ERR" "dkvm: export: --vmid must be 100..999999999, not '$v'"
  done
  t_ok "$DKVM" export m3 --proxmox --dir "$T/vms" --vmid 999999999
  t_exit 2 "$DKVM" export m3 --dir "$T/vms"
  t_contains "$ERR" "--proxmox"
  t_exit 2 "$DKVM" export --proxmox --dir "$T/vms"
  t_contains "$ERR" "missing VM name"
  t_exit 2 "$DKVM" export m3 m4 --proxmox --dir "$T/vms"
  t_exit 2 "$DKVM" export m3 --proxmox --force --dir "$T/vms"
  t_ok "$DKVM" export --help
  t_contains "$OUT" "usage: dkvm export NAME --proxmox"
  # a manifest whose MAC or -cpu would add a line or an argument: refused, nothing written
  cp "$T/vms/m3/manifest.json" "$T/good.json"
  local field
  for field in mac cpu; do
    cp "$T/good.json" "$T/vms/m3/manifest.json"
    python3 - "$T/vms/m3/manifest.json" "$field" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
if sys.argv[2] == "mac":
    m["plan"]["devices"]["mac"] = "52:54\nhostpci0:01"
else:
    m["plan"]["cpu"]["arg"] = "Penryn -device evil"
json.dump(m, open(sys.argv[1], "w"))
EOF
    t_exit 1 "$DKVM" export m3 --proxmox --dir "$T/vms" -o "$T/m3.conf"
    t_eq "$(printf '%s\n' "$ERR" | wc -l)" "1"
    t_contains "$ERR" "dkvm: m3: plan: "
    [ ! -e "$T/m3.conf" ] || t_fail "a config was written for a refused plan ($field)"
  done
}

t_main
