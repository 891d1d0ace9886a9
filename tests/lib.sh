# Shell test library. A test script defines functions named test_* and ends
# with `t_main`. Each function runs in its own subshell under `set -e`, in a
# fresh scratch directory ($T). Output: "ok NAME" / "not ok NAME" / "skip NAME".
# Environment (set by tests/run.sh): DKVM (the binary), DKVM_SRCDIR, DKVM_SHARED,
# DKVM_BUILD.
set -u
: "${DKVM_SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${DKVM_SHARED:=$DKVM_SRCDIR/../shared}"
: "${DKVM:=$DKVM_SRCDIR/build/src/cli/dkvm}"
FIX="$DKVM_SRCDIR/tests/fixtures"
SHARED="$DKVM_SHARED"
export DKVM DKVM_SRCDIR DKVM_SHARED

t_fail() { echo "  $T_NAME: $*" >&2; exit 1; }
# t_eq ACTUAL EXPECTED [what]
t_eq() { [ "$1" == "$2" ] || t_fail "${3:-value}: got '$1', expected '$2'"; }
t_contains() { case "$1" in *"$2"*) ;; *) t_fail "'${1:0:600}' does not contain '$2'";; esac; }
t_not_contains() { case "$1" in *"$2"*) t_fail "'${1:0:600}' contains '$2'";; esac; }
# t_exit CODE cmd... : run cmd, expect exit status CODE; stdout in $OUT, stderr in $ERR
t_exit() {
  local want=$1; shift
  set +e
  "$@" >"$T/.out" 2>"$T/.err"
  local rc=$?
  set -e
  OUT=$(cat "$T/.out"); ERR=$(cat "$T/.err")
  [ "$rc" = "$want" ] || t_fail "'$*' exited $rc, expected $want; stderr: ${ERR:0:800}"
}
t_ok() { t_exit 0 "$@"; }
# t_skip REASON: mark the current test skipped
t_skip() { echo "skip: $*" > "$T/.skip"; exit 0; }
# t_guest_boot: the test spends its time inside a booting guest (QEMU/OVMF),
# not in dkvm: the sanitizer pass skips it (DKVM_SKIP_GUEST_BOOTS=1); the gcc
# pass runs it.
t_guest_boot() { [ -z "${DKVM_SKIP_GUEST_BOOTS:-}" ] || t_skip "boots a guest (run by the gcc pass)"; }
t_json() { python3 -c 'import json,sys; json.load(sys.stdin)' <<<"$1" || t_fail "not valid JSON: ${1:0:400}"; }
# jq-like field access with python: t_jget JSON 'expr' (expr in python on variable d)
t_jget() { python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print(eval(sys.argv[1]))' "$2" <<<"$1"; }

t_main() {
  local fn rc failed=0
  for fn in $(declare -F | awk '{print $3}' | grep '^test_'); do
    # T_ONLY=PATTERN runs only the matching tests (for development)
    [ -n "${T_ONLY:-}" ] && [[ "$fn" != *"$T_ONLY"* ]] && continue
    T=$(mktemp -d "${TMPDIR:-/tmp}/dkvm-sh.XXXXXX")
    T_NAME="$(basename "$0" .sh):${fn#test_}"
    ( set -e; cd "$T"; "$fn" ) </dev/null
    rc=$?
    if [ -f "$T/.skip" ]; then echo "skip $T_NAME ($(cat "$T/.skip"))"
    elif [ $rc = 0 ]; then echo "ok $T_NAME"
    else echo "not ok $T_NAME"; failed=1; fi
    rm -rf "$T"
  done
  return "$failed"
}
