#!/usr/bin/env bash
# bench/fetch/run.sh [BUILD_DIR]: dkvm fetch recovery against the loopback
# osrecovery server (tests/fetch/osrserver.py) throttled to RATE bytes/s per
# connection with LATENCY ms per request, side by side with a single-stream
# curl of the same asset URL (same session cookie / AssetToken protocol).
# Prints times and ratios; asserts nothing.
#   env: SIZE_MB (64), CHUNK_MB (4), RATE (8000000), LATENCY (20), CONNS (4)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
DKVM=$build/src/cli/dkvm
SRV=$src/tests/fetch/osrserver.py
SIZE_MB=${SIZE_MB:-64} CHUNK_MB=${CHUNK_MB:-4} RATE=${RATE:-8000000} LATENCY=${LATENCY:-20} CONNS=${CONNS:-4}
[ -x "$DKVM" ] || { echo "no dkvm at $DKVM (build first)" >&2; exit 2; }
W=$(mktemp -d "${TMPDIR:-/tmp}/dkvm-bench-fetch.XXXXXX")
SPID=
cleanup() { [ -n "$SPID" ] && kill "$SPID" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
cd "$W"
openssl genrsa -out key.pem 2048 2>/dev/null
openssl rsa -in key.pem -pubout -out pub.pem 2>/dev/null
python3 "$SRV" mkasset --out srv/assets --key key.pem --size $((SIZE_MB << 20)) --chunk $((CHUNK_MB << 20))

start() { # start [faults]
  [ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null || true
  rm -f port
  python3 "$SRV" serve --dir srv --port-file port --log log --timeout 900 "$@" &
  SPID=$!
  for _ in $(seq 100); do [ -s port ] && break; sleep 0.05; done
  URL=http://127.0.0.1:$(cat port)
}
# t CMD...: prints wall seconds; CPU (user+sys) seconds of the command go to cpu.txt
t() {
  local TIMEFORMAT='%R %U %S' out
  out=$( { time "$@" >/dev/null 2>&1; } 2>&1 )
  awk '{print $2 + $3}' <<<"$out" > cpu.txt
  awk '{print $1}' <<<"$out"
}
calc() { awk "BEGIN { printf \"%.2f\", $1 }"; }
dk() { rm -rf out; t "$DKVM" -q fetch recovery --macos sonoma --server "$URL" --trust-key pub.pem -o out "$@"; }
curl_one() { # the osrecovery protocol with curl, then one stream of the image
  local sess ans au at
  sess=$(curl -s -D - -o /dev/null "$URL/" | sed -n 's/^[Ss]et-[Cc]ookie: \(session=[^;]*\).*/\1/p' | tr -d '\r')
  ans=$(curl -s -H "Cookie: $sess" -H 'Content-Type: text/plain' --data-binary \
    "$(printf 'cid=%016X\nsn=00000000000000000\nbid=Mac-827FAC58A8FDFA22\nk=%064X\nfg=%064X\nos=default' 1 2 3)" \
    "$URL/InstallationPayload/RecoveryImage")
  au=$(sed -n 's/^AU: //p' <<<"$ans"); at=$(sed -n 's/^AT: //p' <<<"$ans")
  rm -f curl.dmg
  t curl -s -f -o curl.dmg -H "Cookie: AssetToken=$at" "$au"
}
r() { calc "$1 / $2"; }

echo "image ${SIZE_MB} MiB in ${CHUNK_MB} MiB chunks; server: $((RATE / 1000000)) MB/s per connection, ${LATENCY} ms latency"
start --throttle "$RATE" --latency "$LATENCY"
tc=$(curl_one); ccpu=$(cat cpu.txt)
cmp -s curl.dmg srv/assets/BaseSystem.dmg || echo "warning: curl download differs"
td=$(dk --connections "$CONNS"); dcpu=$(cat cpu.txt)
cmp -s out/com.apple.recovery.boot/BaseSystem.dmg srv/assets/BaseSystem.dmg || echo "warning: dkvm download differs"
td1=$(dk --connections 1); d1cpu=$(cat cpu.txt)
td1n=$(dk --connections 1 --no-verify-for-bench); d1ncpu=$(cat cpu.txt)
printf '%-44s %8.2f s  cpu %5.2f s\n' "curl, 1 stream" "$tc" "$ccpu"
printf '%-44s %8.2f s  cpu %5.2f s   %sx faster than curl (target >= 3.5x)\n' "dkvm, $CONNS connections, verified" "$td" "$dcpu" "$(r "$tc" "$td")"
printf '%-44s %8.2f s  cpu %5.2f s   %sx curl time\n' "dkvm, 1 connection, verified" "$td1" "$d1cpu" "$(r "$td1" "$tc")"
printf '%-44s %8.2f s  cpu %5.2f s\n' "dkvm, 1 connection, no hashing (bench only)" "$td1n" "$d1ncpu"
printf '%-44s %8s    wall %+.1f%%, cpu %+.2f s (= %.1f%% of the download time) (target < 5%%)\n' \
  "hashing overhead (throttled)" "" "$(calc "($td1 - $td1n) * 100 / $td1n")" "$(calc "$d1cpu - $d1ncpu")" \
  "$(calc "($d1cpu - $d1ncpu) * 100 / $td1")"

echo "unthrottled loopback (hashing at full speed):"
start
tu=$(dk --connections "$CONNS"); ucpu=$(cat cpu.txt)
tun=$(dk --connections "$CONNS" --no-verify-for-bench); uncpu=$(cat cpu.txt)
printf '%-44s %8.2f s  cpu %5.2f s\n' "dkvm, $CONNS connections, verified" "$tu" "$ucpu"
printf '%-44s %8.2f s  cpu %5.2f s\n' "dkvm, $CONNS connections, no hashing" "$tun" "$uncpu"
printf '%-44s %8s    wall %+.1f%%, cpu %+.2f s\n' "hashing overhead (unthrottled)" "" \
  "$(calc "($tu - $tun) * 100 / $tun")" "$(calc "$ucpu - $uncpu")"
