#!/usr/bin/env bash
# Bad input to 'host check|iommu|report': a missing or non-directory sysroot,
# bad options, bad output paths: one-line errors, right exit status.
. "$(dirname "$0")/../lib.sh"

one_line() { t_eq "$(wc -l <<<"$ERR")" 1 "stderr lines"; t_contains "$ERR" "dkvm: $1"; }

test_missing_sysroot_is_an_error() {
  for verb in check iommu; do
    t_exit 1 "$DKVM" host $verb --sysroot "$T/nonexist"
    one_line "$T/nonexist: sysroot: No such file or directory"
    t_eq "$OUT" ""
    t_exit 1 "$DKVM" --json host $verb --sysroot "$T/nonexist"
    t_eq "$OUT" ""
  done
  DKVM_SYSROOT="$T/nonexist" t_exit 1 "$DKVM" host report -o r.tar
  one_line "$T/nonexist: sysroot: No such file or directory"
  [ ! -e r.tar ] || t_fail "report written for a missing sysroot"
}

test_file_as_sysroot_is_an_error() {
  echo x >afile
  t_exit 1 "$DKVM" host check --sysroot afile
  one_line "afile: sysroot: not a directory"
}

test_sysroot_name_with_newline_stays_one_line() {
  t_exit 1 "$DKVM" host iommu --sysroot $'a\nb'
  one_line 'a\nb: sysroot'
}

test_bad_options_one_error_line() {
  for verb in check iommu report; do
    t_exit 2 "$DKVM" host $verb --bogus
    t_eq "$(head -n1 <<<"$ERR")" "dkvm: host $verb: unknown option '--bogus'"
    t_eq "$(wc -l <<<"$ERR")" 2 "lines (error + hint)"
    t_exit 2 "$DKVM" host $verb -x
    t_eq "$(head -n1 <<<"$ERR")" "dkvm: host $verb: unknown option '-x'"
  done
  t_exit 2 "$DKVM" host iommu --device
  t_eq "$(head -n1 <<<"$ERR")" "dkvm: host iommu: option '--device' needs a value"
  t_exit 2 "$DKVM" host report -o
  t_eq "$(head -n1 <<<"$ERR")" "dkvm: host report: option '-o' needs a value"
}

test_report_output_is_a_directory() {
  mkdir adir
  t_exit 1 "$DKVM" host report --sysroot "$FIX/host/iommu-off" -o adir
  one_line "adir: is a directory"
  t_exit 1 "$DKVM" host report --sysroot "$FIX/host/iommu-off" -o adir --force
  one_line "adir: is a directory"
  t_eq "$(ls -A adir)" ""
}

t_main
