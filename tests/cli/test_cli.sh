#!/usr/bin/env bash
# CLI conventions shared by every command (issue 2, item 2).
. "$(dirname "$0")/../lib.sh"

test_help_lists_every_command() {
  t_ok "$DKVM" --help
  for c in "host check" "host iommu" "host report" "smbios generate" "opencore config" \
           "opencore image" "dmg convert" "fetch recovery" "chunklist verify" create start stop destroy export wizard doctor "hooks install" "vfio bind" "vfio persist" "vfio undo"; do
    t_contains "$OUT" "$c"
  done
  t_contains "$OUT" "--sysroot DIR"
}

test_version() {
  t_ok "$DKVM" --version
  t_contains "$OUT" "dkvm 0.1.0"
}

test_no_args_is_usage_error() {
  t_exit 2 "$DKVM"
  t_contains "$ERR" "usage: dkvm"
}

test_unknown_command_exit_2_one_line() {
  t_exit 2 "$DKVM" frobnicate
  t_eq "$(head -n1 <<<"$ERR")" "dkvm: unknown command 'frobnicate'"
}

test_unknown_subcommand_exit_2() {
  t_exit 2 "$DKVM" host frobnicate
  t_contains "$ERR" "dkvm: host: unknown subcommand 'frobnicate'"
  t_exit 2 "$DKVM" dmg
  t_contains "$ERR" "missing subcommand"
}

test_noun_help_lists_verbs() {
  t_ok "$DKVM" opencore --help
  t_contains "$OUT" "config"
  t_contains "$OUT" "validate"
  t_contains "$OUT" "image"
}

test_global_option_needs_value() {
  t_exit 2 "$DKVM" host check --sysroot
  t_contains "$ERR" "dkvm: option '--sysroot' needs a directory"
}

# a value that looks like a global option stays the value of its option
test_option_value_is_not_a_global() {
  t_exit 2 "$DKVM" create x --boot-args -v --arch ppc --macos 10.4 --dir "$T/vms"
  t_contains "$ERR" "--boot-args: x86 only"
  t_exit 2 "$DKVM" create x --boot-args --json --arch ppc --macos 10.4 --dir "$T/vms"
  t_contains "$ERR" "--boot-args: x86 only"
  t_eq "$OUT" "" "no JSON mode"
}

test_every_command_has_help() {
  while read -r c; do
    # shellcheck disable=SC2086
    t_ok "$DKVM" $c --help
    [ -n "$OUT" ] || t_fail "'$c --help' printed nothing"
    t_contains "$OUT" "dkvm"
  done <<'LIST'
host check
host iommu
host report
smbios generate
smbios decode
smbios check-mlb
opencore config
opencore validate
opencore image
opencore fetch
dmg info
dmg verify
dmg convert
fetch list
fetch recovery
fetch installer
chunklist verify
create
start
stop
list
show
destroy
update
export
wizard
doctor
hooks install
hooks remove
vfio bind
vfio unbind
vfio persist
vfio undo
LIST
}

test_unknown_option_is_one_error_line_everywhere() {
  while read -r c; do
    # shellcheck disable=SC2086
    t_exit 2 "$DKVM" $c --bogus-option
    t_eq "$(head -n1 <<<"$ERR")" "dkvm: $c: unknown option '--bogus-option'" "first line for '$c'"
    t_eq "$(wc -l <<<"$ERR")" "2" "stderr lines for '$c' (error + hint)"
  done <<'LIST'
host check
host iommu
host report
smbios generate
opencore config
opencore validate
opencore image
opencore fetch
dmg info
dmg verify
dmg convert
fetch list
fetch recovery
fetch installer
chunklist verify
create
start
stop
list
show
destroy
update
export
wizard
doctor
hooks install
hooks remove
vfio bind
vfio unbind
vfio persist
vfio undo
LIST
}

# A cluster of short options ("-rf") names the letter getopt refused, not a
# neighbouring word; before the command, the cluster itself.
test_unknown_short_option_cluster_named() {
  t_exit 2 "$DKVM" create -rf x
  t_eq "$(head -n1 <<<"$ERR")" "dkvm: create: unknown option '-r'"
  t_exit 2 "$DKVM" create x --force -rf
  t_eq "$(head -n1 <<<"$ERR")" "dkvm: create: unknown option '-r'"
  t_exit 2 "$DKVM" -rf create x
  t_eq "$(head -n1 <<<"$ERR")" "dkvm: unknown option '-rf'"
  while read -r c; do
    # shellcheck disable=SC2086
    t_exit 2 "$DKVM" $c -Zy operand
    t_eq "$(head -n1 <<<"$ERR")" "dkvm: $c: unknown option '-Z'" "first line for '$c'"
  done <<'LIST'
host check
smbios generate
opencore config
opencore image
dmg convert
fetch recovery
chunklist verify
create
start
stop
list
show
destroy
update
export
wizard
doctor
hooks install
hooks remove
vfio bind
vfio unbind
vfio persist
vfio undo
LIST
}

test_man_pages_render() {
  command -v man >/dev/null || t_skip "man not installed"
  for p in "$DKVM_SRCDIR"/docs/*.1; do
    out=$(MANWIDTH=80 man -l "$p" 2>&1) || t_fail "man -l $p failed"
    t_contains "$out" "NAME"
    t_not_contains "$out" "to be written"
  done
}

t_main
