#!/usr/bin/env bash
# dkvm host check / iommu side by side with the peers a user would run by hand:
# libvirt's virt-host-validate (qemu checks) and lscpu (CPU facts). Prints
# wall-clock per run (median of N) and the ratio; never asserts.
set -uo pipefail
DKVM=${DKVM:-$(cd "$(dirname "$0")/../.." && pwd)/build/src/cli/dkvm}
N=${N:-5}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
t() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N); echo $(( (e - s) / 1000 )); }
runN() { for _ in $(seq "$N"); do t "$@"; done | median; }
row() {
  local name=$1 ours=$2 peer=$3
  printf '%-34s %9s us %9s us  ratio %s\n' "$name" "$ours" "$peer" \
    "$(awk -v a="$ours" -v b="$peer" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')"
}
printf '%-34s %12s %12s\n' "" "dkvm" "peer"
ours=$(runN "$DKVM" host check --json)
if command -v virt-host-validate >/dev/null; then
  row "host check vs virt-host-validate" "$ours" "$(runN virt-host-validate qemu)"
else
  echo "virt-host-validate not installed: dkvm host check ${ours} us"
fi
fix=$(cd "$(dirname "$0")/../.." && pwd)/tests/fixtures/host/amd-ryzen
row "check --sysroot (snapshot) vs lscpu" "$(runN "$DKVM" host check --json --sysroot "$fix")" "$(runN lscpu)"
if command -v lspci >/dev/null; then
  row "host iommu vs lspci -nn" "$(runN "$DKVM" host iommu)" "$(runN lspci -nn)"
else
  echo "lspci not installed: dkvm host iommu $(runN "$DKVM" host iommu) us"
fi
