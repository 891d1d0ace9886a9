#!/usr/bin/env bash
# dkvm wizard: walked in an 80x24 terminal (tmux) and through a pipe, on the
# host area's fixture sysroots, always with --dry-run.
. "$(dirname "$0")/../lib.sh"

# fx NAME: a scratch copy of a fixture sysroot (git does not keep /dev/kvm's mode)
fx() {
  cp -a "$FIX/host/$1" "$T/$1"
  if [ -e "$T/$1/dev/kvm" ]; then chmod 0660 "$T/$1/dev/kvm"; fi
  echo "$T/$1"
}

need_tmux() { command -v tmux >/dev/null || t_skip "tmux is not installed"; }

# A private tmux server per test, an 80x24 window running CMD; the exit
# status lands in $T/rc.
tm() { tmux -S "$T/tmux${TM_N:-0}.sock" "$@"; }
tm_start() {
  tm -f /dev/null new-session -d -x 80 -y 24 -s wz \
    "env -u NO_COLOR TERM=screen $* ; echo \$? > '$T/rc'; sleep 30"
  tm set-option -t wz history-limit 5000 >/dev/null
}
# each session gets a fresh server (socket): a killed one may still be exiting
tm_stop() { tm kill-server 2>/dev/null || true; TM_N=$((${TM_N:-0} + 1)); }
# the whole window and its history
tm_cap() { tm capture-pane -p -S - -E - -t wz "$@"; }
# tm_wait TEXT: until the screen shows TEXT (10 s), answering "-- more" pauses
tm_wait() {
  local i
  for i in $(seq 100); do
    local scr; scr=$(tm_cap)
    case "$scr" in *"$1"*) return 0;; esac
    if [ "$(tm capture-pane -p -t wz | grep -v '^$' | tail -n1 | cut -c1-7)" = "-- more" ]; then
      tm send-keys -t wz Enter
    fi
    sleep 0.1
  done
  tm_cap >&2
  t_fail "the screen never showed '$1'"
}
# tm_answer PROMPT ANSWER: when the last line on screen is PROMPT waiting
# for input, type ANSWER + Enter (10 s; "-- more" pauses are answered)
tm_answer() {
  local i last
  for i in $(seq 100); do
    last=$(tm capture-pane -p -t wz | grep -v '^$' | tail -n1)
    if [[ "$last" == *"$1"* && "$last" == *: ]]; then
      [ -z "$2" ] || tm send-keys -t wz -l -- "$2"
      tm send-keys -t wz Enter
      sleep 0.3
      return 0
    fi
    if [ "${last:0:7}" = "-- more" ]; then tm send-keys -t wz Enter; sleep 0.2; fi
    sleep 0.1
  done
  tm_cap >&2
  t_fail "no prompt '$1'"
}
tm_rc() {
  local i
  for i in $(seq 100); do [ -s "$T/rc" ] && { cat "$T/rc"; return; }; sleep 0.1; done
  t_fail "the wizard did not exit"
}
# the printed create command, continuation lines joined
create_line() { sed -n '/^  dkvm create /,/[^\\]$/p' | sed 's/ \\$//; s/^ *//' | tr '\n' ' ' | sed 's/ *$//'; }
# no captured line wider than 79 columns
narrow() {
  local long; long=$(awk 'length($0) > 79' <<<"$1")
  [ -z "$long" ] || t_fail "lines wider than 79 columns: $long"
}

test_tmux_walk_to_the_end() {
  need_tmux
  local r; r=$(fx amd-ryzen)
  tm_start NO_COLOR=1 "$DKVM" wizard --dry-run --sysroot "$r" --dir "$T/vms"
  trap tm_stop EXIT
  tm_answer "VM name [mymac]:" "bigmac"
  tm_answer "Choose 1-15 [2]:" "3"          # Sonoma
  tm_answer "Choose 1-2 [1]:" "2"           # iMacPro1,1
  tm_answer "vCPUs [8]:" "4"
  tm_answer "Memory, e.g. 8G" "12G"
  tm_answer "Disk size" "200"
  tm_answer "Choose 1-3 [1]:" "1"           # QEMU directly
  tm_wait "Pass a GPU through"
  tm_answer "Choose 1-2 [1]:" "2"           # the GTX 1080
  tm_answer "Start the VM once it is created?" "y"
  tm_answer "Plan it now (dry run" "y"
  t_eq "$(tm_rc)" 0
  local out; out=$(tm_cap)
  narrow "$out"
  t_eq "$(create_line <<<"$out")" "dkvm create bigmac --model iMacPro1,1 --macos sonoma --cpus 4 --memory 12G --disk 200G --dir $T/vms --sysroot $r"
  t_contains "$out" "dkvm host iommu --device 0000:0b:00.0"
  t_contains "$out" "dkvm start bigmac --dir $T/vms"
  t_contains "$out" "bigmac: iMacPro1,1 running macOS sonoma, 4 vCPUs, 12288 MiB, 200 GiB disk"
  t_contains "$out" "(dry run: nothing was created)"
  # step 1 and 2 were shown
  t_contains "$out" "16 passed, 5 warnings, 0 failed"
  t_contains "$out" "0000:0b:00.0      1  yes"
  [ ! -e "$T/vms" ] || t_fail "a dry run created $T/vms"
}

# A host with failures: each is shown with its fix; long lines wrap; the
# window pages ("-- more") rather than scrolling past; defaults all the way.
test_tmux_failures_and_defaults() {
  need_tmux
  local r; r=$(fx iommu-off)
  tm_start NO_COLOR=1 "$DKVM" --sysroot "$r" wizard --dry-run --dir "$T/vms"
  trap tm_stop EXIT
  tm_answer "VM name [mymac]:" ""
  local i
  for i in 1 2 3 4 5 6 7 8; do tm_answer "]:" ""; done
  tm_answer "Plan it now (dry run" "n"
  t_eq "$(tm_rc)" 0
  local out; out=$(tm_cap)
  narrow "$out"
  t_contains "$out" "[FAIL]"
  t_contains "$out" "fix: "
  t_contains "$out" "No IOMMU groups"
  t_contains "$out" "-- more: Enter goes on"
  t_contains "$(create_line <<<"$out")" "dkvm create mymac --model MacPro7,1 --macos sequoia --cpus 2 --memory 4G --disk 128G"
  t_contains "$out" "Nothing was created"
}

test_tmux_invalid_input_reprompts() {
  need_tmux
  local r; r=$(fx intel-desktop)
  tm_start NO_COLOR=1 "$DKVM" wizard --dry-run --sysroot "$r" --dir "$T/vms"
  trap tm_stop EXIT
  tm_answer "VM name [mymac]:" "a/b"
  tm_wait "not a safe name"
  tm_answer "VM name [mymac]:" "ok"
  tm_answer "Choose 1-15 [2]:" "16"
  tm_wait "'16' is not a choice"
  tm_answer "Choose 1-15 [2]:" "abc"
  tm_wait "'abc' is not a choice"
  tm_answer "Choose 1-15 [2]:" ""
  tm_answer "Choose 1-2 [1]:" ""
  tm_answer "vCPUs [8]:" "3"
  tm_wait "power-of-two core count"
  tm_answer "vCPUs [8]:" "lots"
  tm_wait "'lots': a number of vCPUs"
  tm_answer "vCPUs [8]:" ""
  tm_answer "Memory, e.g. 8G" "8X"
  tm_wait "'8X':"
  tm_answer "Memory, e.g. 8G" ""
  tm_answer "Disk size" "8G"
  tm_wait "at least 16 GiB"
  tm_answer "Disk size" "q"
  t_eq "$(tm_rc)" 1
  local out; out=$(tm_cap)
  narrow "$out"
  t_contains "$out" "dkvm: wizard: aborted"
  t_not_contains "$out" "The same as commands"
}

test_tmux_q_quits_first_prompt() {
  need_tmux
  local r; r=$(fx amd-ryzen)
  tm_start NO_COLOR=1 "$DKVM" wizard --dry-run --sysroot "$r"
  trap tm_stop EXIT
  tm_answer "VM name [mymac]:" "q"
  t_eq "$(tm_rc)" 1
  t_contains "$(tm_cap)" "dkvm: wizard: aborted"
}

# 'dkvm' alone on a terminal is the wizard; NO_COLOR: not one escape sequence;
# without it, colors.
test_tmux_no_args_and_color() {
  need_tmux
  local r; r=$(fx amd-ryzen)
  tm_start NO_COLOR=1 "$DKVM" --sysroot "$r"
  trap tm_stop EXIT
  tm_wait "VM name [mymac]:"
  local esc; esc=$(tm capture-pane -p -e -S - -E - -t wz)
  t_contains "$esc" "Step 1 of 5: host check"
  [[ "$esc" != *$'\e'* ]] || t_fail "NO_COLOR output has escape sequences"
  tm send-keys -t wz q Enter
  t_eq "$(tm_rc)" 1
  tm_stop
  rm -f "$T/rc"
  tm_start "$DKVM" --sysroot "$r" wizard
  tm_wait "VM name [mymac]:"
  esc=$(tm capture-pane -p -e -S - -E - -t wz)
  [[ "$esc" == *$'\e['* ]] || t_fail "no colors on a terminal without NO_COLOR"
  tm send-keys -t wz q Enter
  t_eq "$(tm_rc)" 1
  tm_stop
  rm -f "$T/rc"
  tm_start "$DKVM" --sysroot "$r" --no-color wizard
  tm_wait "VM name [mymac]:"
  esc=$(tm capture-pane -p -e -S - -E - -t wz)
  [[ "$esc" != *$'\e'* ]] || t_fail "--no-color output has escape sequences"
  tm send-keys -t wz q Enter
  t_eq "$(tm_rc)" 1
}

# Without a terminal, 'dkvm' alone is still the usage error.
test_no_tty_no_args_is_usage() {
  t_exit 2 "$DKVM"
  t_contains "$ERR" "usage: dkvm"
}

# Piped answers reach the command line; the answers are echoed.
test_piped_answers() {
  local r; r=$(fx intel-desktop)
  set +e
  printf 'pipe1\n1\n\n16\n16G\n64G\n2\n\nn\nn\n' |
    "$DKVM" wizard --dry-run --sysroot "$r" --dir "$T/vms" >"$T/out" 2>"$T/err"
  local rc=$?
  set -e
  t_eq "$rc" 0
  local out; out=$(cat "$T/out")
  narrow "$out"
  t_contains "$out" "VM name [mymac]: pipe1"
  t_eq "$(create_line <<<"$out")" "dkvm create pipe1 --model MacPro7,1 --macos tahoe --cpus 16 --memory 16G --disk 64G --connect qemu:///system --dir $T/vms --sysroot $r"
  [[ "$out" != *$'\e'* ]] || t_fail "escape sequences in piped output"
  [ ! -e "$T/vms" ] || t_fail "a dry run created $T/vms"
}

# End of input at any prompt: exit 1, "aborted", no command line.
test_piped_eof_aborts() {
  local r; r=$(fx amd-ryzen)
  t_exit 1 "$DKVM" wizard --dry-run --sysroot "$r" --dir "$T/vms" < <(printf 'x1\n2\n')
  t_contains "$ERR" "dkvm: wizard: aborted"
  t_not_contains "$OUT" "The same as commands"
  t_exit 1 "$DKVM" wizard --dry-run --sysroot "$r" </dev/null
  t_contains "$ERR" "aborted"
}

# A host the planner refuses: the reason, exit 1.
test_piped_unplannable_host() {
  local r; r=$(fx no-kvm)
  t_exit 1 "$DKVM" wizard --dry-run --sysroot "$r" < <(printf '\n\n\n')
  t_contains "$OUT" "OVMF: no firmware found"
}

test_usage() {
  t_exit 2 "$DKVM" wizard extra
  t_contains "$ERR" "unexpected argument"
  t_exit 2 "$DKVM" --json wizard
  t_ok "$DKVM" wizard --help
  t_contains "$OUT" "usage: dkvm wizard"
  narrow "$OUT"
}

t_main
