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

no_raw_controls() { # no C0 control but newline, no DEL, no C1 CSI
  LC_ALL=C grep -q $'[\001-\011\013-\037\177]\|\302\233' <<<"$1" && t_fail "raw control characters in: $1" || true
}

test_control_characters_escaped() {
  # bad length: the serial as given
  t_exit 1 "$DKVM" smbios decode $'C02\e[2J\nXY\\ZZZ'
  t_contains "$OUT" 'Serial      C02\x1b[2J\x0aXY\\ZZZ (bad length)'
  no_raw_controls "$OUT"
  [ "$(grep -c '^XY' <<<"$OUT")" = 0 ] || t_fail "the serial broke the line: $OUT"
  # 12 characters: the decoded fields and the reason
  t_exit 1 "$DKVM" smbios decode $'C02\e[2JAB\x7fC\x01'
  t_contains "$OUT" 'Serial      C02\x1b[2JAB\x7fC\x01 (12 characters)'
  t_contains "$OUT" 'Model       B\x7fC\x01:'
  no_raw_controls "$OUT"
  # valid UTF-8 is kept, invalid bytes are escaped
  t_exit 1 "$DKVM" smbios decode $'C02\xc3\xa9\xff'
  t_contains "$OUT" $'C02\xc3\xa9\\xff'
  t_exit 1 "$DKVM" smbios check-mlb $'F5K12\e]0;pwned\a110'
  t_contains "$OUT" 'MLB         F5K12\x1b]0;pwned\x07110'
  no_raw_controls "$OUT"
  # usage errors quote argv the same way
  t_exit 2 "$DKVM" smbios generate -m $'Mac\e[31mPro'
  t_contains "$ERR" "unknown model 'Mac\\x1b[31mPro'"
  no_raw_controls "$ERR"
  # JSON keeps the real value
  t_exit 1 "$DKVM" --json smbios check-mlb $'A\eB'
  t_eq "$(t_jget "$OUT" 'd["mlb"] == "A\x1bB"')" True "JSON mlb"
}

t_main
