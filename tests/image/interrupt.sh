# Helper for the interrupt tests of the image and dmg areas (sourced).
# interrupt_midway SIG CMD...: run CMD in the background with default signal
# dispositions (a background job of a script ignores SIGINT otherwise), wait
# until its temporary output (".NAME.XXXXXX" in $PWD) exists, freeze CMD with
# SIGSTOP, send SIG and let it run. IRC = CMD's exit status. Returns 1 when CMD
# finished before it could be caught (the caller retries with a larger input).
interrupt_midway() {
  local sig=$1 pid i
  shift
  env --default-signal=INT,TERM,HUP "$@" >/dev/null 2>&1 &
  pid=$!
  for ((i = 0; i < 6000; i++)); do
    if compgen -G '.*.??????' >/dev/null && kill -STOP "$pid" 2>/dev/null; then
      if compgen -G '.*.??????' >/dev/null; then
        kill -"$sig" "$pid"
        kill -CONT "$pid"
        IRC=0
        wait "$pid" || IRC=$?
        return 0
      fi
      kill -CONT "$pid"
      break
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
  done
  wait "$pid" || true
  return 1
}

# interrupt_caught SIG CMD...: interrupt_midway, tried up to 3 times (a run
# that finished before it could be caught says nothing); the test fails, never
# skips, when all three were missed.
interrupt_caught() {
  local try
  for try in 1 2 3; do
    interrupt_midway "$@" && return 0
    rm -f out.img
  done
  t_fail "$2 finished 3 times before it could be interrupted (input too small?)"
}

# no_temp_left: fail when a ".NAME.XXXXXX" or ".dkvm-raw.XXXXXX" file is left in $PWD
no_temp_left() {
  local left
  left=$(compgen -G '.*.??????' || true)
  [ -z "$left" ] || t_fail "temporary file left behind: $left"
}
