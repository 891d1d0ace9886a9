#!/usr/bin/env bash
# Bad input to 'fetch recovery|installer|list' and 'chunklist verify': errors
# about local paths come before any network work (the server here does not exist).
. "$(dirname "$0")/../lib.sh"
CL="$SHARED/fixtures/chunklist/BaseSystem.chunklist"
NOSRV=http://127.0.0.1:1

one_line() { t_eq "$(wc -l <<<"$ERR")" 1 "stderr lines"; t_contains "$ERR" "dkvm: $1"; }

test_recovery_output_is_a_file() {
  echo x >afile
  t_exit 1 "$DKVM" fetch recovery --macos sonoma --server $NOSRV -o afile
  one_line "afile: not a directory"
  mkdir -p d && echo x >d/com.apple.recovery.boot
  t_exit 1 "$DKVM" fetch recovery --macos sonoma --server $NOSRV -o d
  one_line "d/com.apple.recovery.boot: not a directory"
}

test_recovery_bad_trust_key_before_network() {
  t_exit 1 "$DKVM" fetch recovery --macos sonoma --server $NOSRV --trust-key nokey.pem
  one_line "nokey.pem: No such file or directory"
  echo garbage >key.pem
  t_exit 1 "$DKVM" fetch recovery --macos sonoma --server $NOSRV --trust-key key.pem
  one_line "key.pem: not a PEM RSA public key"
  [ ! -e com.apple.recovery.boot ] || t_fail "output directory created"
}

test_empty_output_dir_is_usage_error() {
  # "" must not become "/com.apple.recovery.boot"
  t_exit 2 "$DKVM" fetch recovery --macos sonoma --server $NOSRV -o ""
  t_contains "$ERR" "dkvm: fetch recovery: empty output directory name"
  t_exit 2 "$DKVM" fetch installer --version 14 --catalog $NOSRV/c.sucatalog -o ""
  t_contains "$ERR" "dkvm: fetch installer: empty output directory name"
}

test_installer_output_is_a_file() {
  echo x >afile
  t_exit 1 "$DKVM" fetch installer --version 14 --catalog $NOSRV/c.sucatalog -o afile
  one_line "afile: not a directory"
}

test_installer_version_syntax() {
  for v in "" . ... 14. .14 1.2.3.4 14a 1..2; do
    t_exit 2 "$DKVM" fetch installer --version "$v" --catalog $NOSRV/c.sucatalog
    t_contains "$ERR" "dkvm: fetch installer: --version must look like 15, 14.6 or 14.6.1, not '$v'"
  done
}

test_number_and_choice_options() {
  t_exit 2 "$DKVM" fetch recovery --macos sonoma --connections " 4"
  t_contains "$ERR" "--connections must be 1..32, not ' 4'"
  t_exit 2 "$DKVM" fetch recovery --macos sonoma --os newest
  t_contains "$ERR" "--os must be default or latest, not 'newest'"
  t_exit 2 "$DKVM" fetch list --offline --timeout 0
  t_contains "$ERR" "--timeout must be 1..600, not '0'"
  t_exit 2 "$DKVM" fetch list extra
  t_contains "$ERR" "dkvm: fetch list: unexpected argument 'extra'"
}

test_chunklist_image_is_a_directory() {
  mkdir adir
  t_exit 1 "$DKVM" chunklist verify "$CL" --image adir
  t_contains "$ERR" "dkvm: adir: is a directory"
  t_exit 1 "$DKVM" --json chunklist verify "$CL" --image adir
  t_json "$OUT"
  t_eq "$(t_jget "$OUT" 'd["bad_chunk"]')" None
  t_eq "$(t_jget "$OUT" 'd["error"]')" "adir: is a directory"
}

test_chunklist_bad_trust_key_reported_before_any_result() {
  echo junk >junk.pem
  t_exit 1 "$DKVM" chunklist verify "$CL" --trust-key junk.pem
  t_eq "$OUT" ""
  one_line "junk.pem: not a PEM RSA public key"
  t_exit 1 "$DKVM" --json chunklist verify "$CL" --trust-key junk.pem
  t_eq "$(t_jget "$OUT" 'd["ok"], d["error"].startswith("junk.pem: not a PEM")')" "(False, True)"
}

test_chunklist_newline_name_one_line() {
  : >$'a\nb'
  t_exit 1 "$DKVM" chunklist verify $'a\nb'
  one_line 'a\nb: chunklist: truncated header (0 bytes)'
}

t_main
