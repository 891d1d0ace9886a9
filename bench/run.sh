#!/usr/bin/env bash
# Run every area's benchmark side by side with its peers and print ratios.
#   bench/run.sh [AREA...]      (default: all of bench/*/run.sh)
# Benchmarks build dkvm first (./dev build) and never assert: they print.
set -euo pipefail
cd "$(dirname "$0")/.."
./dev build build >/dev/null
export DKVM=$PWD/build/src/cli/dkvm
areas=("$@")
[ ${#areas[@]} = 0 ] && areas=($(ls -d bench/*/ 2>/dev/null | xargs -n1 basename))
for a in "${areas[@]}"; do
  [ -x "bench/$a/run.sh" ] || continue
  echo "== bench/$a"
  "bench/$a/run.sh" || echo "bench/$a: failed (exit $?)"
done
