#!/usr/bin/env bash
# Shell completion generated from the option tables (dkvm completion bash|zsh|fish).
. "$(dirname "$0")/../lib.sh"

# comp WORD... : COMPREPLY of the bash completion for the line "WORD..." with
# the cursor on the last word, one per line.
comp() {
  "$DKVM" completion bash > "$T/dkvm.bash" || t_fail "dkvm completion bash failed"
  bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _dkvm; printf "%s\n" "${COMPREPLY[@]}"' \
    comp "$T/dkvm.bash" "$@"
}

test_bash_script_parses() {
  t_ok "$DKVM" completion bash
  printf '%s\n' "$OUT" > "$T/dkvm.bash"
  bash -n "$T/dkvm.bash" || t_fail "bash -n rejected the script"
  t_contains "$OUT" "complete -F _dkvm dkvm"
}

test_zsh_script_parses() {
  t_ok "$DKVM" completion zsh
  t_contains "$OUT" "#compdef dkvm"
  command -v zsh >/dev/null || t_skip "zsh not installed"
  printf '%s\n' "$OUT" > "$T/_dkvm"
  zsh -n "$T/_dkvm" || t_fail "zsh -n rejected the script"
}

test_fish_script_parses() {
  t_ok "$DKVM" completion fish
  t_contains "$OUT" "complete -c dkvm -n '__dkvm_is \"create\"' -l macos"
  command -v fish >/dev/null || t_skip "fish not installed"
  printf '%s\n' "$OUT" > "$T/dkvm.fish"
  fish -n "$T/dkvm.fish" || t_fail "fish -n rejected the script"
  # what fish offers (complete -C works without a terminal)
  out=$(fish -c 'source $argv[1]; complete -C "dkvm cr"' "$T/dkvm.fish")
  t_contains "$out" "create"
  out=$(fish -c 'source $argv[1]; complete -C "dkvm create x --ma"' "$T/dkvm.fish")
  t_contains "$out" "--macos"
  out=$(fish -c 'source $argv[1]; complete -C "dkvm create x --accel "' "$T/dkvm.fish")
  t_eq "$(cut -f1 <<<"$out" | tr '\n' ' ')" "auto kvm tcg "
  mkdir -p "$T/data/dkvm/alpha"
  touch "$T/data/dkvm/alpha/manifest.json"
  out=$(XDG_DATA_HOME=$T/data fish -c 'source $argv[1]; complete -C "dkvm stop "' "$T/dkvm.fish")
  t_eq "$(cut -f1 <<<"$out")" "alpha"
}

test_completion_usage_errors() {
  t_exit 2 "$DKVM" completion tcsh
  t_contains "$ERR" "dkvm: completion: the shell must be bash, zsh or fish, not 'tcsh'"
  t_exit 2 "$DKVM" completion
  t_contains "$ERR" "missing argument"
  t_ok "$DKVM" completion --help
  t_contains "$OUT" "usage: dkvm completion bash|zsh|fish"
}

test_bash_commands_and_verbs() {
  t_eq "$(comp dkvm cr)" "create"
  t_eq "$(comp dkvm host "")" "$(printf 'check\niommu\nreport')"
  t_eq "$(comp dkvm --sysroot /x host ch)" "check"
  t_eq "$(comp dkvm -q smbios check)" "check-mlb"
  t_contains "$(comp dkvm --no)" "--no-color"
}

test_bash_options_and_arguments() {
  t_eq "$(comp dkvm create x --ma)" "--macos"
  t_eq "$(comp dkvm create x --accel "")" "$(printf 'kvm\ntcg\nauto')"
  t_eq "$(comp dkvm create x --accel = t)" "tcg"
  t_eq "$(comp dkvm create x --model MacPro7)" "MacPro7,1"
  t_eq "$(comp dkvm create x --macos son)" "sonoma"
  t_eq "$(comp dkvm start x --display s)" "spice"
  t_eq "$(comp dkvm opencore image --format q)" "qcow2"
  # --gpu: the library's one table of GPU kinds, the same for every command
  t_eq "$(comp dkvm opencore fetch --gpu "" | tr '\n' ' ')" "none amd nvidia navi22 navi kepler "
  t_eq "$(comp dkvm opencore config --gpu "" | tr '\n' ' ')" "none amd nvidia navi22 navi kepler "
  t_eq "$(comp dkvm dmg convert --thr)" "--threads"
  # global options after the command, short options too
  t_contains "$(comp dkvm dmg convert --j)" "--json"
  t_eq "$(comp dkvm dmg convert -o)" "-o"
  # a file argument
  touch "$T/image-one.dmg"
  t_eq "$(comp dkvm dmg info "$T/image-o")" "$T/image-one.dmg"
  t_eq "$(comp dkvm completion b)" "bash"
}

test_bash_vm_names() {
  mkdir -p "$T/data/dkvm/alpha" "$T/data/dkvm/beta" "$T/data/dkvm/notavm" "$T/other/gamma"
  touch "$T/data/dkvm/alpha/manifest.json" "$T/data/dkvm/beta/manifest.json" "$T/other/gamma/manifest.json"
  t_eq "$(XDG_DATA_HOME=$T/data comp dkvm start "")" "$(printf 'alpha\nbeta')"
  t_eq "$(XDG_DATA_HOME=$T/data comp dkvm destroy b)" "beta"
  t_eq "$(XDG_DATA_HOME=$T/data comp dkvm show --dir "$T/other" "")" "gamma"
  # create takes a new name: nothing offered
  t_eq "$(XDG_DATA_HOME=$T/data comp dkvm create "")" ""
}

test_bash_pci_addresses() {
  n=$(ls /sys/bus/pci/devices 2>/dev/null | wc -l)
  [ "$n" -gt 0 ] || t_skip "no /sys/bus/pci/devices"
  t_eq "$(comp dkvm host iommu --device "" | wc -l)" "$n"
  first=$(ls /sys/bus/pci/devices | head -n1)
  t_contains "$(comp dkvm host iommu --device "${first:0:7}")" "$first"
}

# One source of truth: every option the tables declare is in the command's
# --help and in its man page.
test_every_option_in_help_and_man_page() {
  "$DKVM" completion bash > "$T/dkvm.bash"
  while read -r line; do
    cmd=${line% *} page=${line##* }
    # shellcheck disable=SC2086
    opts=$(bash -c '. "$1"; _dkvm_opts "$2"' x "$T/dkvm.bash" "$cmd")
    [ -n "$opts" ] || t_fail "no options for '$cmd'"
    # shellcheck disable=SC2086
    help=$("$DKVM" $cmd --help)
    man=$(sed 's/\\-/-/g' "$DKVM_SRCDIR/docs/$page")
    for o in $opts; do
      case $o in --help|-h) continue;; --*) ;; *) continue;; esac
      t_contains "$help" "$o"
      t_contains "$man" "$o"
    done
  done <<'LIST'
host check dkvm-host.1
host iommu dkvm-host.1
host report dkvm-host.1
smbios generate dkvm-smbios.1
opencore config dkvm-opencore.1
opencore validate dkvm-opencore.1
opencore image dkvm-opencore-image.1
opencore fetch dkvm-opencore-image.1
dmg verify dkvm-dmg.1
dmg convert dkvm-dmg.1
fetch list dkvm-fetch.1
fetch recovery dkvm-fetch.1
fetch installer dkvm-fetch.1
chunklist verify dkvm-fetch.1
create dkvm-vm.1
export dkvm-export.1
tune dkvm-tune.1
vfio bind dkvm-vfio.1
vfio persist dkvm-vfio.1
hooks install dkvm-hooks.1
doctor dkvm-doctor.1
wizard dkvm-wizard.1
start dkvm-vm.1
stop dkvm-vm.1
list dkvm-vm.1
show dkvm-vm.1
destroy dkvm-vm.1
update dkvm-vm.1
LIST
}

t_main
