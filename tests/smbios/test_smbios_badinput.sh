#!/usr/bin/env bash
# Bad input to 'smbios generate|decode|check-mlb'.
. "$(dirname "$0")/../lib.sh"

test_count_rejects_space_sign_and_junk() {
  for n in " 5" -5 0 1001 5x "" 99999999999999999999; do
    t_exit 2 "$DKVM" smbios generate -m MacPro7,1 -n "$n"
    t_contains "$ERR" "dkvm: smbios generate: --count must be 1..1000, not '$n'"
    t_eq "$OUT" ""
  done
  t_ok "$DKVM" --json smbios generate -m MacPro7,1 -n 3
  t_eq "$(t_jget "$OUT" 'len(d["identities"])')" 3
}

test_decode_bad_length_shows_whole_serial() {
  s='ÄÄÄÄÄÄÄÄÄÄÄÄ'  # 24 bytes: a 15-byte copy would cut a character in two
  t_exit 1 "$DKVM" --json smbios decode "$s"
  t_json "$OUT"
  t_eq "$(t_jget "$OUT" 'd["serial"]')" "$s"
  t_eq "$(t_jget "$OUT" 'd["verdict"]')" unlikely
  t_exit 1 "$DKVM" smbios decode "$s"
  t_contains "$OUT" "Serial      $s (bad length)"
}

test_operand_errors() {
  for verb in decode check-mlb; do
    t_exit 2 "$DKVM" smbios $verb
    t_eq "$(head -n1 <<<"$ERR")" "dkvm: smbios $verb: missing argument"
    t_exit 2 "$DKVM" smbios $verb a b
    t_eq "$(head -n1 <<<"$ERR")" "dkvm: smbios $verb: too many arguments"
    t_ok "$DKVM" smbios $verb --help
    t_contains "$OUT" "usage: dkvm smbios $verb"
  done
}

t_main
