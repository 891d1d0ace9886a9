#!/usr/bin/env bash
# dkvm smbios generate|decode|check-mlb: command-level behaviour.
. "$(dirname "$0")/../lib.sh"

test_generate_json_decodes() {
  t_ok "$DKVM" smbios generate --model MacPro7,1 --count 5 --json
  t_json "$OUT"
  t_eq "$(t_jget "$OUT" 'len(d["identities"])')" 5
  t_eq "$(t_jget "$OUT" 'd["board_id"]')" "Mac-27AD2F918AE68F61"
  local gen=$OUT
  for i in 0 1 2 3 4; do
    s=$(t_jget "$gen" "d['identities'][$i]['SystemSerialNumber']")
    m=$(t_jget "$gen" "d['identities'][$i]['MLB']")
    rom=$(t_jget "$gen" "d['identities'][$i]['ROM']")
    [[ "$rom" =~ ^[0-9A-F]{12}$ ]] || t_fail "ROM $rom"
    t_ok "$DKVM" smbios decode "$s" --json
    t_eq "$(t_jget "$OUT" 'd["model"]')" "MacPro7,1"
    t_ok "$DKVM" smbios check-mlb "$m"
  done
}

test_generate_text_and_legacy() {
  t_ok "$DKVM" smbios generate --model MacPro5,1
  t_contains "$OUT" "SystemProductName   MacPro5,1"
  s=$(awk '/SystemSerialNumber/ {print $2}' <<<"$OUT")
  t_eq "${#s}" 11
  m=$(awk '/^MLB/ {print $2}' <<<"$OUT")
  t_eq "${#m}" 13
  t_ok "$DKVM" smbios check-mlb "$m" --json
  t_eq "$(t_jget "$OUT" 'd["kind"]')" "legacy (13)"
}

test_decode_known() {
  t_ok "$DKVM" smbios decode F5KZN00HP7QM --json
  t_eq "$(t_jget "$OUT" 'd["year"]')" 2019
  t_eq "$(t_jget "$OUT" 'd["week"]')" 45
  t_eq "$(t_jget "$OUT" 'd["line"]')" 17
  t_eq "$(t_jget "$OUT" 'd["copy"]')" 1
  t_ok "$DKVM" smbios decode CK151076EUH
  t_contains "$OUT" "Year        2011"
  t_contains "$OUT" "Week        51"
  t_contains "$OUT" "EUH: MacPro5,1"
  t_contains "$OUT" "valid"
}

test_decode_unlikely_exit1() {
  t_exit 1 "$DKVM" smbios decode F5KRN00HP7QM
  t_contains "$OUT" "unlikely"
  t_contains "$OUT" "not a production year of MacPro7,1"
  t_exit 1 "$DKVM" smbios decode TOOSHORT --json
  t_eq "$(t_jget "$OUT" 'd["verdict"]')" "unlikely"
}

test_check_mlb() {
  t_ok "$DKVM" smbios check-mlb F5K1211044NK3F7UE
  t_ok "$DKVM" smbios check-mlb CK150023ZBH81
  t_exit 1 "$DKVM" smbios check-mlb F5K1211044NK3F7UF --json
  t_eq "$(t_jget "$OUT" 'd["checksum"]')" False
}

test_usage_errors() {
  t_exit 2 "$DKVM" smbios generate
  t_contains "$ERR" "--model is required"
  t_exit 2 "$DKVM" smbios generate --model MacPro99,1
  t_contains "$ERR" "unknown model"
  t_exit 2 "$DKVM" smbios generate --model MacPro7,1 --count 0
  t_exit 2 "$DKVM" smbios decode
  t_exit 2 "$DKVM" smbios check-mlb a b
  t_ok "$DKVM" smbios generate --help
  t_contains "$OUT" "Exit status"
}

t_main
