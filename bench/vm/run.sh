#!/usr/bin/env bash
# bench/vm/run.sh [BUILD_DIR]: how long dkvm create takes.
#   - `dkvm create --dry-run` (host probe + QEMU CPU query + plan), target < 100 ms
#   - `dkvm create` with a local OpenCore release and --no-recovery (no downloads):
#     SMBIOS, config.plist, OpenCore image, qcow2, XML, bundle; target < 2 s
# Prints the median of N runs and the ratio to the target.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$src/build}
DKVM=$build/src/cli/dkvm
N=${N:-7}
shared=${DKVM_SHARED:-$src/../shared}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export XDG_DATA_HOME=$work/data XDG_CACHE_HOME=$work/cache

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms() { # ms CMD...: wall time in ms
  local t0 t1
  t0=$(date +%s%N); "$@" >/dev/null 2>&1; t1=$(date +%s%N)
  echo $(( (t1 - t0) / 1000000 ))
}

# a fake OpenCorePkg release around the real Sample.plist
rel=$work/rel
mkdir -p "$rel/X64/EFI/BOOT" "$rel/X64/EFI/OC/Drivers" "$rel/X64/EFI/OC/Tools" "$rel/Docs"
head -c 20000 /dev/urandom > "$rel/X64/EFI/BOOT/BOOTx64.efi"
head -c 700000 /dev/urandom > "$rel/X64/EFI/OC/OpenCore.efi"
for f in OpenRuntime OpenHfsPlus ResetNvramEntry OpenCanopy; do head -c 20000 /dev/urandom > "$rel/X64/EFI/OC/Drivers/$f.efi"; done
cp "$shared/fixtures/opencore/Sample-1.0.6.plist" "$rel/Docs/Sample.plist"

dry=(); full=()
for i in $(seq "$N"); do
  dry+=("$(ms "$DKVM" create b$i --dry-run --dir "$work/vms")")
  full+=("$(ms "$DKVM" create b$i --opencore "$rel" --no-recovery --dir "$work/vms" --disk 16G)")
done
d=$(printf '%s\n' "${dry[@]}" | median)
f=$(printf '%s\n' "${full[@]}" | median)
printf '%-52s %6s ms  (target 100 ms, ratio %s)\n' "dkvm create --dry-run (median of $N)" "$d" \
  "$(awk -v a="$d" 'BEGIN{printf "%.2f", a/100}')"
printf '%-52s %6s ms  (target 2000 ms, ratio %s)\n' "dkvm create, local release, no recovery (median)" "$f" \
  "$(awk -v a="$f" 'BEGIN{printf "%.2f", a/2000}')"
# where the dry run spends its time
printf '%-52s %6s ms\n' "  of which: dkvm host check (host probe)" \
  "$(printf '%s\n' $(for i in 1 2 3; do ms "$DKVM" host check; done) | median)"
