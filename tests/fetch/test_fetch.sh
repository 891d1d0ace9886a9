#!/usr/bin/env bash
# dkvm fetch / chunklist: command tests against a loopback osrecovery server
# (tests/fetch/osrserver.py, 127.0.0.1 only, exits by itself).
. "$(dirname "$0")/../lib.sh"

SRV="$DKVM_SRCDIR/tests/fetch/osrserver.py"
APPLE_CL="$SHARED/fixtures/chunklist/BaseSystem.chunklist"
SIZE=$((8 * 524288 + 12345))   # 9 chunks of 512 KiB, the last one short
CHUNK=524288

# One test key and asset set for the whole script.
FT=$(mktemp -d "${TMPDIR:-/tmp}/dkvm-fetch.XXXXXX")
trap 'rm -rf "$FT"' EXIT
openssl genrsa -out "$FT/key.pem" 2048 2>/dev/null
openssl rsa -in "$FT/key.pem" -pubout -out "$FT/pub.pem" 2>/dev/null
openssl genrsa -out "$FT/other.pem" 2048 2>/dev/null
openssl rsa -in "$FT/other.pem" -pubout -out "$FT/otherpub.pem" 2>/dev/null
python3 "$SRV" mkasset --out "$FT/srv/assets" --key "$FT/key.pem" --size $SIZE --chunk $CHUNK
python3 "$SRV" mkcatalog --out "$FT/srv" --key "$FT/key.pem"
IMG="$FT/srv/assets/BaseSystem.dmg"
OUTD=out/com.apple.recovery.boot

# start_server [faults...]: sets URL, SPID; the server log is ./log
start_server() {
  rm -f port
  python3 "$SRV" serve --dir "$FT/srv" --port-file port --log "${LOG:-log}" --timeout 90 "$@" &
  SPID=$!
  trap 'kill $SPID 2>/dev/null || true; [ -z "${MNT:-}" ] || umount -l "$MNT" 2>/dev/null || true' EXIT
  local i
  for i in $(seq 100); do [ -s port ] && break; sleep 0.05; done
  [ -s port ] || t_fail "test server did not start"
  URL="http://127.0.0.1:$(cat port)"
}
stop_server() { kill "$SPID" 2>/dev/null || true; wait "$SPID" 2>/dev/null || true; }
recovery() { t_exit "$1" "$DKVM" fetch recovery --macos sonoma --server "$URL" --trust-key "$FT/pub.pem" -o out "${@:2}"; }
counts() { python3 "$SRV" checklog --log "${1:-log}" --size $SIZE --chunk $CHUNK; }
one_line() { [ "$(printf '%s\n' "$ERR" | grep -c .)" = 1 ] || t_fail "expected one error line, got: $ERR"; t_contains "$ERR" "dkvm: "; }
no_final() {
  [ ! -e $OUTD/BaseSystem.dmg ] || t_fail "final image exists after a failure"
  [ ! -e $OUTD/BaseSystem.chunklist ] || t_fail "final chunklist exists after a failure"
}

test_chunklist_apple_fixture() {
  t_ok "$DKVM" chunklist verify "$APPLE_CL"
  t_contains "$OUT" "76 chunks, image 789568598 bytes"
  t_contains "$OUT" "verified with Apple's key"
  t_ok "$DKVM" --json chunklist verify "$APPLE_CL"
  t_json "$OUT"
  t_eq "$(t_jget "$OUT" 'd["chunks"], d["image_size"], d["signature"], d["ok"]')" "(76, 789568598, 'verified', True)"
}

test_chunklist_flipped_bytes_fail() {
  local off
  for off in 0 5 10 12 20 28 36 40 100 1000 2771 2772 2800 3027; do
    cp "$APPLE_CL" x.chunklist; chmod u+w x.chunklist
    python3 - "$off" <<'PY'
import sys
o = int(sys.argv[1]); b = bytearray(open("x.chunklist", "rb").read()); b[o] ^= 0x10
open("x.chunklist", "wb").write(b)
PY
    t_exit 1 "$DKVM" chunklist verify x.chunklist
    one_line
  done
}

test_chunklist_trust_key_and_image() {
  t_ok "$DKVM" chunklist verify "$FT/srv/assets/BaseSystem.chunklist" --trust-key "$FT/pub.pem" --image "$IMG"
  t_contains "$OUT" "all chunks verified"
  t_exit 1 "$DKVM" chunklist verify "$FT/srv/assets/BaseSystem.chunklist"
  t_contains "$ERR" "does not verify with Apple's key"
  t_exit 1 "$DKVM" chunklist verify "$FT/srv/assets/BaseSystem.chunklist" --trust-key "$FT/otherpub.pem"
  # PKCS#1 "RSA PUBLIC KEY" PEM works too; junk is named
  openssl rsa -in "$FT/key.pem" -RSAPublicKey_out -out pkcs1.pem 2>/dev/null
  t_ok "$DKVM" chunklist verify "$FT/srv/assets/BaseSystem.chunklist" --trust-key pkcs1.pem
  echo junk > junk.pem
  t_exit 1 "$DKVM" chunklist verify "$FT/srv/assets/BaseSystem.chunklist" --trust-key junk.pem
  t_contains "$ERR" "junk.pem: not a PEM RSA public key"
  cp "$IMG" bad.dmg
  printf '\xff' | dd of=bad.dmg bs=1 seek=$((3 * CHUNK + 77)) conv=notrunc 2>/dev/null
  t_exit 1 "$DKVM" --json chunklist verify "$FT/srv/assets/BaseSystem.chunklist" --trust-key "$FT/pub.pem" --image bad.dmg
  t_eq "$(t_jget "$OUT" 'd["bad_chunk"], d["image_verified"]')" "(3, False)"
  t_contains "$ERR" "chunk 3"
  t_exit 1 "$DKVM" chunklist verify /nonexistent.chunklist
  one_line
  t_exit 2 "$DKVM" chunklist verify
}

test_recovery_downloads_and_verifies() {
  start_server
  recovery 0 --connections 4
  cmp $OUTD/BaseSystem.dmg "$IMG" || t_fail "image differs"
  cmp $OUTD/BaseSystem.chunklist "$FT/srv/assets/BaseSystem.chunklist" || t_fail "chunklist differs"
  [ ! -e $OUTD/.BaseSystem.dmg.dkvm-state ] || t_fail "state file left behind"
  [ ! -e $OUTD/.BaseSystem.dmg.dkvm-part ] || t_fail "part file left behind"
  # protocol: session first, then the POST with sonoma's board-id, then chunklist before image
  python3 - log <<'PY' || t_fail "protocol order"
import json, sys
recs = sorted((json.loads(l) for l in open(sys.argv[1])), key=lambda r: r["t0"])
seq = [(r["method"], r["path"].rsplit("/", 1)[-1]) for r in recs]
assert seq[0] == ("GET", ""), seq
assert seq[1] == ("POST", "RecoveryImage"), seq
p = recs[1]
assert (p["status"], p["bid"], p["sn"], p["os"]) == (200, "Mac-827FAC58A8FDFA22", "00000000000000000", "default"), p
assert seq[2] == ("GET", "BaseSystem.chunklist"), seq
assert all(s == ("GET", "BaseSystem.dmg") for s in seq[3:]), seq
PY
  # parallel ranged requests, every chunk delivered exactly once
  [ "$(grep -c 'BaseSystem.dmg.*"status": 206' log)" -ge 4 ] || t_fail "expected >= 4 ranged requests"
  t_eq "$(counts)" '{"full": [1, 1, 1, 1, 1, 1, 1, 1, 1], "touched": [1, 1, 1, 1, 1, 1, 1, 1, 1]}'
  # a second run finds the verified image and downloads nothing
  : > log
  recovery 0
  t_contains "$OUT" "already present"
  t_eq "$(grep -c 'BaseSystem.dmg' log)" 0
}

# The server picks the file names at the end of AU/CU; they must not decide
# where anything is written (the same name for both used to let the chunklist
# overwrite the verified image, and the run still said "every chunk verified").
test_recovery_hostile_asset_names() {
  local m base files
  for m in same dotdot slash encoded recovery; do
    rm -rf w log; mkdir -p w/sub
    start_server --hostile-names $m
    t_ok "$DKVM" fetch recovery --macos sonoma --server "$URL" --trust-key "$FT/pub.pem" -o w/sub/out
    base=BaseSystem; [ $m = recovery ] && base=RecoveryImage
    local d=w/sub/out/com.apple.recovery.boot
    t_contains "$OUT" "$d/$base.dmg: downloaded, every chunk verified"
    cmp $d/$base.dmg "$IMG" || t_fail "$m: image differs"
    cmp $d/$base.chunklist "$FT/srv/assets/BaseSystem.chunklist" || t_fail "$m: chunklist differs"
    t_ok "$DKVM" chunklist verify $d/$base.chunklist --trust-key "$FT/pub.pem" --image $d/$base.dmg
    # exactly the two files, nothing beside or above them
    files=$(cd w && find . -mindepth 1 | sort | tr '\n' ' ')
    t_eq "$files" "./sub ./sub/out ./sub/out/com.apple.recovery.boot ./sub/out/com.apple.recovery.boot/$base.chunklist ./sub/out/com.apple.recovery.boot/$base.dmg " "$m: files"
    t_eq "$(ls -A | sort | tr '\n' ' ')" ".err .out log port w " "$m: scratch dir"
    grep -q '"status": 206' log || t_fail "$m: the hostile URLs were not used"
    stop_server
  done
}

test_recovery_request_fields() {
  start_server
  t_ok "$DKVM" fetch recovery --macos tahoe --server "$URL" --trust-key "$FT/pub.pem" -o out
  t_contains "$(grep RecoveryImage log)" '"bid": "Mac-CFF7D910A743CAAF", "sn": "00000000000000000", "os": "latest"'
  rm -rf out; : > log
  t_ok "$DKVM" fetch recovery --board-id Mac-7BA5B2DFE22DDD8C --mlb 00000000000KXPG00 --os default \
    --server "$URL" --trust-key "$FT/pub.pem" -o out --connections 1
  t_contains "$(grep RecoveryImage log)" '"bid": "Mac-7BA5B2DFE22DDD8C", "sn": "00000000000KXPG00", "os": "default"'
  cmp $OUTD/BaseSystem.dmg "$IMG"
  rm -rf out; : > log
  t_ok "$DKVM" fetch recovery --board-id Mac-7BA5B2D9E42DDD94 --diag --server "$URL" --trust-key "$FT/pub.pem" -o out
  t_contains "$(grep Diagnostics log)" '"bid": "Mac-7BA5B2D9E42DDD94", "sn": "00000000000000000", "os": null'
  t_exit 2 "$DKVM" fetch recovery
  t_exit 2 "$DKVM" fetch recovery --macos nosuchos
  t_exit 2 "$DKVM" fetch recovery --macos sonoma --connections 0
  t_exit 1 "$DKVM" fetch recovery --board-id 'Mac-1;x' --server "$URL"
  one_line
  t_exit 1 "$DKVM" fetch recovery --board-id Mac-7BA5B2DFE22DDD8C --mlb SHORT --server "$URL"
  t_contains "$ERR" "17"
}

# Balanced ranges: one connection is 4x slower; when the others run out of
# work they take over the second half of the largest range still in flight,
# so no connection idles while a range of more than 2 chunks is left.
test_recovery_idle_connections_split_the_largest_range() {
  local c=131072 n=24
  python3 "$SRV" mkasset --out srv2/assets --key "$FT/key.pem" --size $((n * c)) --chunk $c
  rm -f port
  python3 "$SRV" serve --dir srv2 --port-file port --log log --timeout 90 --throttle 600000 --slow-first 4 --watch &
  SPID=$!
  trap 'kill $SPID 2>/dev/null || true' EXIT
  local i; for i in $(seq 100); do [ -s port ] && break; sleep 0.05; done
  URL="http://127.0.0.1:$(cat port)"
  recovery 0 --connections 4 --json
  cmp $OUTD/BaseSystem.dmg srv2/assets/BaseSystem.dmg || t_fail "image differs"
  t_eq "$(t_jget "$OUT" 'd["chunks_refetched"]')" 0
  python3 - log $c 4 <<'PY' || t_fail "a connection sat idle while a range of more than 2 chunks was left"
import json, sys
chunk, conns = int(sys.argv[2]), int(sys.argv[3])
recs = [json.loads(l) for l in open(sys.argv[1])]
samples = sorted((r for r in recs if "sample" in r), key=lambda r: r["sample"])
imgs = [r for r in recs if r.get("path", "").endswith(".dmg")]
assert samples, "no samples"
# an idle connection means every range left is in the answers in progress:
# the bytes nobody has sent yet must then fit in 2 chunks per answer.
# Longest stretch where they do not:
worst, since = 0.0, None
for r in samples:
    if r["active"] < conns and r["left"] > 2 * chunk * r["active"]:
        since = r["sample"] if since is None else since
        worst = max(worst, r["sample"] - since)
    else:
        since = None
if worst > 0.4 or len(imgs) <= conns:
    sys.exit("longest idle stretch %.2f s, %d image requests" % (worst, len(imgs)))
PY
}

test_recovery_corrupt_byte_refetches_only_that_chunk() {
  start_server --corrupt-at $((3 * CHUNK + 1000))
  recovery 0 --connections 4 --json
  cmp $OUTD/BaseSystem.dmg "$IMG" || t_fail "image differs"
  t_eq "$(t_jget "$OUT" 'd["chunks_refetched"]')" 1
  t_contains "$ERR" '{"progress":"BaseSystem.dmg","done":'"$SIZE"',"total":'"$SIZE"
  t_eq "$(counts)" '{"full": [1, 1, 1, 2, 1, 1, 1, 1, 1], "touched": [1, 1, 1, 2, 1, 1, 1, 1, 1]}'
  # the re-fetch asks for exactly chunk 3's bytes
  t_contains "$(tail -n1 log)" "\"range\": \"bytes=$((3 * CHUNK))-$((4 * CHUNK - 1))\""
}

test_recovery_dropped_connection_keeps_the_rest() {
  # 4 connections: ranges of 2 chunks, never split (a split hands over the
  # tail of a range in flight, whose bytes may already be on the way, which
  # would blur the per-chunk counts below; splitting has its own test)
  start_server --drop-at $((5 * CHUNK + 4321))
  recovery 0 --connections 4
  cmp $OUTD/BaseSystem.dmg "$IMG" || t_fail "image differs"
  t_contains "$(cat log)" '"dropped": true'
  # no chunk that had fully arrived is downloaded again
  t_eq "$(counts | python3 -c 'import json,sys; print(json.load(sys.stdin)["full"])')" "[1, 1, 1, 1, 1, 1, 1, 1, 1]"
  grep -q "\"range\": \"bytes=$((5 * CHUNK))-$((6 * CHUNK - 1))\"" log || t_fail "chunk 5 not re-fetched by range"
}

test_recovery_retries_are_bounded() {
  start_server --corrupt-always --corrupt-at $((6 * CHUNK + 5))
  recovery 1 --connections 4   # ranges of 2 chunks: no split blurs the counts
  one_line
  t_contains "$ERR" "chunk 6"
  t_contains "$ERR" "SHA-256 mismatch, 6 attempts"
  no_final
  # 1 first try + 5 retries of chunk 6, every other chunk once
  t_eq "$(counts | python3 -c 'import json,sys; print(json.load(sys.stdin)["full"])')" "[1, 1, 1, 1, 1, 1, 6, 1, 1]"
  # the verified chunks are kept for a later resume
  [ -e $OUTD/.BaseSystem.dmg.dkvm-state ] || t_fail "state file not kept"
}

test_recovery_server_errors_are_retried() {
  start_server --fail-first 3
  recovery 0 --connections 2 --json
  cmp $OUTD/BaseSystem.dmg "$IMG" || t_fail "image differs"
  t_eq "$(grep -c '"status": 503' log)" 3
}

test_recovery_server_without_range_support() {
  start_server --no-range --corrupt-at $((2 * CHUNK + 9))
  recovery 0 --connections 4 --json
  cmp $OUTD/BaseSystem.dmg "$IMG" || t_fail "image differs"
  # only whole-file answers; the parallel attempts stop, one stream (plus one
  # more if the corrupted chunk landed in it) completes; bounded either way
  t_eq "$(grep 'BaseSystem.dmg' log | grep -vc '"status": 200')" 0
  local n; n=$(grep -c 'BaseSystem.dmg' log)
  [ "$n" -ge 1 ] && [ "$n" -le 6 ] || t_fail "$n image requests"
}

# Broken HTTP framing is named as such, not as libcurl's "Received HTTP/0.9".
test_recovery_malformed_http_answers() {
  start_server --bad-http excess
  recovery 1
  one_line
  t_contains "$ERR" "dkvm: $URL/assets/BaseSystem.dmg: malformed HTTP response: Content-Length "
  t_contains "$ERR" "(the server sends more data than its Content-Length)"
  t_not_contains "$ERR" "HTTP/0.9"
  no_final
  [ -z "$(ls -A $OUTD 2>/dev/null)" ] || t_fail "leftovers: $(ls -A $OUTD)"
  stop_server
  start_server --bad-http status --bad-http-on session
  recovery 1
  one_line
  t_eq "$ERR" "dkvm: osrecovery session: $URL/: malformed HTTP response (no valid HTTP status line)"
  stop_server
  start_server --bad-http code
  recovery 1 --connections 1
  one_line
  t_contains "$ERR" "dkvm: $URL/assets/BaseSystem.dmg: chunk 0 (bytes 0-$((CHUNK - 1))): malformed HTTP response (no valid HTTP status line), 6 attempts"
  no_final
  stop_server
  # stray bytes after a well-framed answer poison the next request on that
  # connection: the cause is named, and a fresh connection gets the chunk
  start_server --bad-http trailing
  recovery 0 --connections 2 -v
  cmp $OUTD/BaseSystem.dmg "$IMG" || t_fail "image differs"
  t_contains "$ERR" "malformed HTTP response (the previous response on this connection sent more data than its Content-Length)"
  t_not_contains "$ERR" "HTTP/0.9"
}

test_recovery_throttled_with_latency() {
  start_server --throttle 4000000 --latency 30
  recovery 0 --connections 4 -q
  t_eq "$OUT$ERR" ""
  cmp $OUTD/BaseSystem.dmg "$IMG" || t_fail "image differs"
}

test_recovery_wrong_token() {
  start_server --wrong-token
  recovery 1
  one_line
  t_contains "$ERR" "HTTP 403"
  no_final
  [ -z "$(ls -A $OUTD 2>/dev/null)" ] || t_fail "leftovers: $(ls -A $OUTD)"
}

test_recovery_bad_signature() {
  start_server --bad-sig
  recovery 1
  one_line
  t_contains "$ERR" "signature does not verify"
  no_final
  # the image is never requested when the chunklist is not trusted
  t_eq "$(grep -c 'BaseSystem.dmg' log)" 0
  # Apple's key does not trust the test chunklist either
  t_exit 1 "$DKVM" fetch recovery --macos sonoma --server "$URL" -o out
  t_contains "$ERR" "Apple's key"
}

test_recovery_short_file() {
  start_server --short 1000
  recovery 1
  one_line
  t_contains "$ERR" "short"
  no_final
}

test_recovery_resume_after_kill9() {
  LOG=log1 start_server --throttle 350000
  "$DKVM" fetch recovery --macos sonoma --server "$URL" --trust-key "$FT/pub.pem" -o out --connections 2 -q &
  local pid=$! i done=0
  for i in $(seq 200); do
    if [ -f $OUTD/.BaseSystem.dmg.dkvm-state ]; then
      done=$(sed -n 's/^done //p' $OUTD/.BaseSystem.dmg.dkvm-state | tr -cd 1 | wc -c)
      [ "$done" -ge 3 ] && break
    fi
    sleep 0.05
  done
  kill -9 $pid; wait $pid 2>/dev/null || true
  [ "$done" -ge 3 ] || t_fail "download did not progress (done=$done)"
  local bits; bits=$(sed -n 's/^done //p' $OUTD/.BaseSystem.dmg.dkvm-state)
  [ "$bits" != 111111111 ] || t_fail "download finished before the kill"
  stop_server
  [ ! -e $OUTD/BaseSystem.dmg ] || t_fail "final image after kill -9"
  LOG=log2 start_server
  t_ok "$DKVM" --json fetch recovery --macos sonoma --server "$URL" --trust-key "$FT/pub.pem" -o out --resume
  cmp $OUTD/BaseSystem.dmg "$IMG" || t_fail "image differs"
  local ndone; ndone=$(printf '%s' "$bits" | tr -cd 1 | wc -c)
  t_eq "$(t_jget "$OUT" 'd["chunks_resumed"]')" "$ndone"
  # chunks verified before the kill were not requested again
  counts log2 | python3 -c '
import json, sys
bits = sys.argv[1]; t = json.load(sys.stdin)["touched"]
bad = [i for i, b in enumerate(bits) if b == "1" and t[i] != 0]
miss = [i for i, b in enumerate(bits) if b == "0" and t[i] == 0]
sys.exit("re-downloaded %s, never fetched %s" % (bad, miss) if bad or miss else 0)' "$bits" || t_fail "resume re-fetched verified chunks"
}

# small_fs SIZE: mount a tmpfs of SIZE on ./mnt (root only; skip otherwise);
# it is unmounted (with the server stopped) when the test exits, also after
# a later start_server
small_fs() {
  [ "$(id -u)" = 0 ] || t_skip "needs root to mount a small tmpfs"
  mkdir -p mnt
  mount -t tmpfs -o "size=$1" tmpfs mnt 2>/dev/null || t_skip "cannot mount a tmpfs here"
  MNT=$T/mnt
  trap 'kill ${SPID:-0} 2>/dev/null || true; umount -l "$MNT" 2>/dev/null || true' EXIT
}
# wait_done N: until the state file records >= N verified chunks (or timeout)
wait_done() {
  local i n=0 st=mnt/$OUTD/.BaseSystem.dmg.dkvm-state
  for i in $(seq 300); do
    if [ -f $st ]; then n=$(sed -n 's/^done //p' $st | tr -cd 1 | wc -c); [ "$n" -ge "$1" ] && return 0; fi
    sleep 0.05
  done
  t_fail "download did not reach $1 verified chunks (done=$n)"
}

test_recovery_no_space_up_front() {
  start_server
  small_fs 2M
  recovery 1 -o mnt/out
  one_line
  t_contains "$ERR" "dkvm: mnt/out/com.apple.recovery.boot/BaseSystem.dmg: no space left on device (need 4.0 MiB, 2.0 MiB free)"
  # checked before a byte of the image is asked for; nothing left behind
  t_eq "$(grep -c 'BaseSystem.dmg' log)" 0
  t_eq "$(ls -A mnt/out/com.apple.recovery.boot)" ""
}

test_recovery_disk_fills_during_download() {
  # the disk fills after some chunks are verified: one clear line, the
  # verified chunks kept, and the same command resumes once space is freed
  LOG=log1 start_server --throttle 300000
  small_fs 6M
  "$DKVM" fetch recovery --macos sonoma --server "$URL" --trust-key "$FT/pub.pem" -o mnt/out --connections 2 -q \
    >out1 2>err1 &
  local pid=$!
  wait_done 3
  dd if=/dev/zero of=mnt/filler bs=64k 2>/dev/null || true
  local rc=0; wait $pid || rc=$?
  t_eq "$rc" 1 "exit status"
  ERR=$(cat err1); one_line
  t_contains "$ERR" "dkvm: mnt/out/com.apple.recovery.boot/BaseSystem.dmg: no space left on device (need "
  t_contains "$ERR" " chunks kept: free some space, then run the same command again to resume"
  t_not_contains "$ERR" "write: write"
  [ ! -e mnt/$OUTD/BaseSystem.dmg ] || t_fail "final image after ENOSPC"
  [ -e mnt/$OUTD/.BaseSystem.dmg.dkvm-part ] || t_fail "verified chunks not kept"
  rm mnt/filler
  stop_server; LOG=log2 start_server
  t_ok "$DKVM" --json fetch recovery --macos sonoma --server "$URL" --trust-key "$FT/pub.pem" -o mnt/out
  cmp mnt/$OUTD/BaseSystem.dmg "$IMG" || t_fail "image differs"
  [ "$(t_jget "$OUT" 'd["chunks_resumed"]')" -ge 3 ] || t_fail "nothing resumed: $OUT"
}

test_recovery_disk_full_before_any_chunk_removes_partial() {
  # nothing verified yet: nothing worth keeping, so no partial file stays
  start_server --throttle 60000
  small_fs 6M
  "$DKVM" fetch recovery --macos sonoma --server "$URL" --trust-key "$FT/pub.pem" -o mnt/out --connections 2 -q \
    >out1 2>err1 &
  local pid=$! i
  for i in $(seq 200); do [ -e mnt/$OUTD/.BaseSystem.dmg.dkvm-part ] && break; sleep 0.05; done
  dd if=/dev/zero of=mnt/filler bs=64k 2>/dev/null || true
  local rc=0; wait $pid || rc=$?
  t_eq "$rc" 1 "exit status"
  ERR=$(cat err1); one_line
  t_contains "$ERR" "BaseSystem.dmg: no space left on device (need 4.0 MiB, "
  t_not_contains "$ERR" "resume"
  t_eq "$(ls -A mnt/$OUTD)" ""
}

test_recovery_resume_flag_needs_state() {
  start_server
  recovery 1 --resume
  t_contains "$ERR" "nothing to resume"
  no_final
}

test_list_offline() {
  t_ok "$DKVM" fetch list --offline
  t_contains "$OUT" "Mac-827FAC58A8FDFA22"
  t_contains "$OUT" "00000000000F25Y00"
  t_ok "$DKVM" --json fetch list --offline
  t_json "$OUT"
  t_eq "$(t_jget "$OUT" 'len(d["recovery"]), d["recovery"][0]["name"], d["recovery"][-1]["name"], d["recovery"][-1]["os"]')" \
    "(15, 'lion', 'tahoe', 'latest')"
}

test_list_unreachable_catalog_warns() {
  t_ok "$DKVM" fetch list --catalog http://127.0.0.1:1/none.sucatalog --timeout 3
  t_contains "$ERR" "warning"
  t_contains "$OUT" "Mac-CFF7D910A743CAAF"
}

test_list_catalog() {
  start_server
  local f
  for f in catalog.sucatalog catalog.sucatalog.gz; do
    t_ok "$DKVM" --json fetch list --catalog "$URL/files/$f"
    t_json "$OUT"
    t_eq "$(t_jget "$OUT" '[(p["version"], p["build"], p["beta"]) for p in d["catalog"]["installers"]]')" \
      "[('15.2', '24C5057p', True), ('15.1', '24B83', False), ('14.6.1', '23G93', False), ('13.7.1', '22H221', False)]"
    t_eq "$(t_jget "$OUT" '[(p["title"], p["size"], p["post_date"]) for p in d["catalog"]["installers"]][2]')" \
      "('macOS Sonoma', 3146992, '2024-08-07T17:02:00Z')"
  done
  t_ok "$DKVM" fetch list --catalog "$URL/files/catalog.sucatalog"
  t_contains "$OUT" "24C5057p"
  t_contains "$OUT" "(beta)"
}

test_installer_with_integrity_data() {
  start_server --corrupt-at 1500000
  t_ok "$DKVM" --json fetch installer --version 14 --catalog "$URL/files/catalog.sucatalog" -o out
  t_eq "$(t_jget "$OUT" 'd["version"], d["build"], d["packages"][0]["verification"], d["packages"][1]["verification"]')" \
    "('14.6.1', '23G93', 'chunklist (unsigned)', 'size only (no integrity data published)')"
  cmp out/14.6.1_23G93/InstallAssistant.pkg "$FT/srv/files/001-00001/InstallAssistant.pkg" || t_fail "pkg differs"
  cmp out/14.6.1_23G93/Info.plist "$FT/srv/files/001-00001/Info.plist"
  # the corrupted chunk (1 MiB chunks: chunk 1) was fetched again
  python3 "$SRV" checklog --log log --size 3146962 --chunk 1048576 --suffix 001-00001/InstallAssistant.pkg | grep -q '"full": \[1, 2, 1, 1\]' \
    || t_fail "corrupted package chunk not re-fetched exactly once: $(python3 "$SRV" checklog --log log --size 3146962 --chunk 1048576 --suffix 001-00001/InstallAssistant.pkg)"
}

test_installer_choice() {
  start_server
  t_ok "$DKVM" fetch installer --version 15 --catalog "$URL/files/catalog.sucatalog" -o out
  t_contains "$OUT" "15.1 (24B83)"
  cmp out/15.1_24B83/InstallAssistant.pkg "$FT/srv/files/001-00002/InstallAssistant.pkg"
  t_ok "$DKVM" fetch installer --version 15.2 --catalog "$URL/files/catalog.sucatalog" -o out
  t_contains "$OUT" "size only"
  t_exit 1 "$DKVM" fetch installer --version 99 --catalog "$URL/files/catalog.sucatalog" -o out
  one_line
  t_exit 2 "$DKVM" fetch installer
  t_exit 2 "$DKVM" fetch installer --version abc
}

t_main
