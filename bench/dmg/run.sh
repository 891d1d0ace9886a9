#!/usr/bin/env bash
# Benchmark `dkvm dmg convert` against `qemu-img convert -O raw` and `dmg2img`
# on a BaseSystem-like UDZO image (zero runs, compressible and incompressible
# data) written by tests/dmg/mkudif.py; prints MB/s, ratios and peak RSS side by
# side, then per-codec MB/s. Prints, never asserts.
#
#   bench/dmg/run.sh [BUILD_DIR]
# Environment: BENCH_SIZES (default "1G"; e.g. "1G 8G"), BENCH_DIR (scratch,
# default a temp dir under /var/tmp), BENCH_CODEC_SIZE (default 256M),
# BENCH_RUNS (default 2, best of), BENCH_CODECS=0 to skip the per-codec part.
# Needs GNU time (/usr/bin/time, Debian package "time"), qemu-img, dmg2img.
set -u
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
dkvm=${DKVM:-$build/src/cli/dkvm}
mk=$src/tests/dmg/mkudif.py
shared=${DKVM_SHARED:-$(cd "$src/.." && pwd)/shared}
sizes=${BENCH_SIZES:-1G}
runs=${BENCH_RUNS:-2}
csize=${BENCH_CODEC_SIZE:-256M}
[ -x "$dkvm" ] || { echo "bench: $dkvm not built (ninja -C $build)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench: needs GNU time (apt-get install time)" >&2; exit 1; }
dir=${BENCH_DIR:-$(mktemp -d /var/tmp/dkvm-bench-dmg.XXXXXX)}
mkdir -p "$dir"
trap '[ -z "${BENCH_DIR:-}" ] && rm -rf "$dir"' EXIT
cd "$dir"

# run NAME OUT CMD... : best elapsed seconds and max RSS (KiB) over $runs runs
run() {
  local name=$1 out=$2; shift 2
  local best="" rss=0 i t r
  for ((i = 0; i < runs; i++)); do
    rm -f "$out"
    cat "$img" > /dev/null # same warm page cache for everyone
    if ! /usr/bin/time -f '%e %M' -o "$dir/.time" "$@" > /dev/null 2> "$dir/.err"; then
      echo "fail"; return
    fi
    read -r t r < "$dir/.time"
    if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best=$t; fi
    [ "$r" -gt "$rss" ] && rss=$r
  done
  echo "$best $rss"
}

mbs() { awk -v b="$1" -v t="$2" 'BEGIN{ if (t <= 0) t = 0.01; printf "%.0f", b / t / 1e6 }'; }

echo "dkvm dmg bench: $(nproc) CPUs, $(uname -r), scratch $dir"
echo "versions: $("$dkvm" --version), $(qemu-img --version | head -1), dmg2img $(dmg2img 2>&1 | grep -o 'v[0-9.]*' | head -1)"
for size in $sizes; do
  img=$dir/udzo-$size.dmg
  echo
  echo "== $size BaseSystem-like UDZO (zero runs, text, random; zlib level 1, 1 MiB chunks)"
  [ -f "$img" ] || python3 "$mk" --generate "$size" --codec zlib "$img"
  bytes=$("$dkvm" --json dmg info "$img" | python3 -c 'import json,sys; print(json.load(sys.stdin)["bytes"])')
  "$dkvm" dmg info "$img" | sed -n '/Chunk types/,/Partitions/p' | grep -v Partitions
  read -r dt dr <<<"$(run dkvm out.img "$dkvm" -q dmg convert "$img" -o out.img)"
  ref=$(md5sum < out.img)
  same() { [ "$(md5sum < out.img)" = "$ref" ] && echo same || echo DIFFERENT; }
  read -r qt qr <<<"$(run qemu out.img qemu-img convert -f dmg -O raw "$img" out.img)"
  qsame=$(same)
  read -r qst _ <<<"$(run qemu out.img sh -c 'qemu-img convert -f dmg -O raw "$1" out.img && sync out.img' sh "$img")"
  read -r mt mr <<<"$(run dmg2img out.img dmg2img -s "$img" out.img)"
  msame=$(same)
  read -r mst _ <<<"$(run dmg2img out.img sh -c 'dmg2img -s "$1" out.img && sync out.img' sh "$img")"
  rm -f out.img
  row() { # name seconds rss_kib note
    printf '%-32s %8s %9s %9s MiB %13sx %s\n' "$1" "$2" "$(mbs "$bytes" "$2")" "$3" \
      "$(awk -v a="$2" -v b="$dt" 'BEGIN{printf "%.2f", a / b}')" "$4"
  }
  printf '%-32s %8s %9s %13s %14s %s\n' tool seconds MB/s "peak RSS" "dkvm speedup" output
  row "dkvm dmg convert (fsync'd)" "$dt" $((dr / 1024)) reference
  row "qemu-img convert" "$qt" $((qr / 1024)) "$qsame"
  row "qemu-img convert + sync OUT" "$qst" - "(durable, like dkvm)"
  row "dmg2img" "$mt" $((mr / 1024)) "$msame"
  row "dmg2img + sync OUT" "$mst" - "(durable, like dkvm)"
  echo "targets: >= 2x qemu-img, >= 2.5x dmg2img, peak RSS < 64 MiB (peers leave OUT in the page cache unless synced)"
  [ -z "${BENCH_KEEP:-}" ] && rm -f "$img"
done

[ "${BENCH_CODECS:-1}" = 0 ] && exit 0
echo
echo "== per codec, $csize BaseSystem-like disk (dkvm dmg convert; peers where they support the codec)"
python3 "$mk" --generate "$csize" --codec raw --raw-out src.raw codec-raw.dmg
bytes=$(stat -c %s src.raw)
printf '%-8s %12s %12s %12s\n' codec "dkvm MB/s" "qemu MB/s" "dmg2img MB/s"
for codec in raw zlib bz2 lzma; do
  img=$dir/codec-$codec.dmg
  [ -f "$img" ] || python3 "$mk" --codec "$codec" src.raw "$img"
  read -r dt _ <<<"$(run dkvm out.img "$dkvm" -q dmg convert "$img" -o out.img)"
  q=n/a; m=n/a
  case $codec in raw|zlib) read -r qt _ <<<"$(run qemu out.img qemu-img convert -f dmg -O raw "$img" out.img)"; q=$(mbs "$bytes" "$qt");; esac
  case $codec in raw|zlib|bz2) read -r mt _ <<<"$(run dmg2img out.img dmg2img -s "$img" out.img)"; m=$(mbs "$bytes" "$mt");; esac
  printf '%-8s %12s %12s %12s\n' "$codec" "$(mbs "$bytes" "$dt")" "$q" "$m"
  rm -f out.img "$img"
done
rm -f src.raw codec-raw.dmg
# ADC and LZFSE (LZVN blocks): the test writer's encoders are pure Python, so
# a smaller disk (BENCH_SLOW_CODEC_SIZE, default 32M)
python3 "$mk" --generate "${BENCH_SLOW_CODEC_SIZE:-32M}" --codec raw --raw-out src.raw codec-raw.dmg
bytes=$(stat -c %s src.raw)
for codec in adc lzvn; do
  img=$dir/codec-$codec.dmg
  python3 "$mk" --codec "$codec" src.raw "$img"
  read -r dt _ <<<"$(run dkvm out.img "$dkvm" -q dmg convert "$img" -o out.img)"
  m=n/a
  if [ "$codec" = adc ]; then read -r mt _ <<<"$(run dmg2img out.img dmg2img -s "$img" out.img)"; m=$(mbs "$bytes" "$mt"); fi
  printf '%-8s %12s %12s %12s   (%s disk)\n' "$([ $codec = lzvn ] && echo lzfse || echo adc)" "$(mbs "$bytes" "$dt")" n/a "$m" \
    "${BENCH_SLOW_CODEC_SIZE:-32M}"
  rm -f out.img "$img"
done
rm -f src.raw codec-raw.dmg
