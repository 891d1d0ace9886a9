#!/usr/bin/env bash
# Run every test against one build directory and print "N passed, N failed".
#   tests/run.sh BUILD_DIR [FILTER]
# C unit tests are the executables named test-* under BUILD_DIR/tests; shell
# tests are tests/**/test_*.sh. Each prints ok / not ok / skip lines.
set -u
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?usage: tests/run.sh BUILD_DIR [FILTER]}" && pwd)
filter=${2:-}
export DKVM_SRCDIR=$src
export DKVM_SHARED=${DKVM_SHARED:-$(cd "$src/.." && pwd)/shared}
export DKVM=$build/src/cli/dkvm
export DKVM_BUILD=$build
export NO_COLOR=1
log=$(mktemp)
pass=0; fail=0; skip=0
run_one() {
  local name=$1; shift
  local out rc
  out=$(timeout --kill-after=10 "${DKVM_TEST_TIMEOUT:-1800}" "$@" 2>"$log")
  rc=$?
  printf '%s\n' "$out"
  [ -s "$log" ] && sed 's/^/    /' "$log"
  local p f s
  p=$(grep -c '^ok ' <<<"$out"); f=$(grep -c '^not ok ' <<<"$out"); s=$(grep -c '^skip ' <<<"$out")
  if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
    echo "not ok $name (exited $rc without reporting a failure)"; f=1
  fi
  pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
}
while IFS= read -r t; do
  [ -n "$filter" ] && [[ "$t" != *"$filter"* ]] && continue
  run_one "$(basename "$t")" "$t"
done < <(find "$build/tests" -type f -name 'test-*' -perm -u+x | sort)
while IFS= read -r t; do
  [ -n "$filter" ] && [[ "$t" != *"$filter"* ]] && continue
  run_one "$(basename "$t")" bash "$t"
done < <(find "$src/tests" -type f -name 'test_*.sh' | sort)
rm -f "$log"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
