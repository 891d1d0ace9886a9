#!/usr/bin/env bash
# Run every libFuzzer target (BUILD_DIR/tests/fuzz/fuzz-*) briefly, each with
# a corpus seeded from the fixtures in a temporary directory. Prints one
# "ok fuzz-<name>" / "not ok fuzz-<name>" line per target and a last line
# "N passed, N failed".
#   tests/fuzz.sh BUILD_DIR [SECONDS_PER_TARGET]
set -u
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?usage: tests/fuzz.sh BUILD_DIR [SECONDS]}" && pwd)
secs=${2:-${DKVM_FUZZ_SECONDS:-20}}
shared=${DKVM_SHARED:-$(cd "$src/.." && pwd)/shared}
work=$(mktemp -d "${TMPDIR:-/tmp}/dkvm-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
pass=0; fail=0

# Seeds: whole fixture images, their plists and mish tables, and their stored
# chunks framed the way each target reads its input.
python3 - "$shared/fixtures/dmg" "$work/seeds" <<'PY'
import os, plistlib, struct, sys
fx, out = sys.argv[1], sys.argv[2]
types = [0, 1, 2, 0x80000004, 0x80000005, 0x80000006, 0x80000007, 0x80000008]
for d in ('udif', 'adc', 'lzfse', 'chunk', 'fetch', 'ocvalidate'):
    os.makedirs(os.path.join(out, d), exist_ok=True)
def put(d, name, data):
    open(os.path.join(out, d, name), 'wb').write(data)
# other areas' targets: the chunklist (first byte even: chunklist parser) and
# OpenCore Sample.plist files
shared = os.path.dirname(os.path.dirname(fx))
cl = os.path.join(shared, 'fixtures', 'chunklist', 'BaseSystem.chunklist')
if os.path.exists(cl):
    put('fetch', 'chunklist', b'\0' + open(cl, 'rb').read())
ocd = os.path.join(shared, 'fixtures', 'opencore')
for fn in sorted(os.listdir(ocd)) if os.path.isdir(ocd) else []:
    if fn.endswith('.plist'):
        put('ocvalidate', fn, open(os.path.join(ocd, fn), 'rb').read())
for fn in sorted(os.listdir(fx)) if os.path.isdir(fx) else []:
    if not fn.endswith('.dmg'):
        continue
    b = open(os.path.join(fx, fn), 'rb').read()
    put('udif', fn, b)
    k = b[-512:]
    xo, xl = struct.unpack('>QQ', k[0xd8:0xe8])
    xml = b[xo:xo + xl]
    put('udif', fn + '.plist', xml)
    for i, e in enumerate(plistlib.loads(xml)['resource-fork']['blkx']):
        m = e['Data']
        put('udif', '%s.mish%d' % (fn, i), m)
        n = struct.unpack('>I', m[0xc8:0xcc])[0]
        for j in range(n):
            ty, _, sec, cnt, off, ln = struct.unpack('>IIQQQQ', m[0xcc + 40 * j:0xcc + 40 * j + 40])
            if ln == 0 or ty not in types:
                continue
            data = b[off:off + ln]
            size = struct.pack('>I', cnt * 512)[1:]
            put('chunk', '%s.%d.%d' % (fn, i, j), bytes([types.index(ty)]) + size + data)
            if ty == 0x80000004:
                put('adc', '%s.%d.%d' % (fn, i, j), size + data)
            if ty == 0x80000007:
                put('lzfse', '%s.%d.%d' % (fn, i, j), b'\0' + size + data)
                if data[:4] == b'bvxn':
                    put('lzfse', '%s.%d.%d.lzvn' % (fn, i, j), b'\1' + size + data[12:])
PY

targets=$(find "$build/tests/fuzz" -maxdepth 1 -type f -name 'fuzz-*' -perm -u+x 2>/dev/null | sort)
for t in $targets; do
  name=$(basename "$t")
  short=${name#fuzz-}
  corpus="$work/corpus-$short"
  mkdir -p "$corpus"
  [ -d "$work/seeds/$short" ] && cp "$work/seeds/$short/"* "$corpus/" 2>/dev/null
  log="$work/$name.log"
  mkdir -p "$build/fuzz-artifacts"
  if (cd "$work" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
      timeout --kill-after=10 $((secs + 60)) "$t" -max_total_time="$secs" -rss_limit_mb=2048 \
      -max_len=262144 -timeout=10 -print_final_stats=0 -artifact_prefix="$build/fuzz-artifacts/$short-" \
      "$corpus" >"$log" 2>&1); then
    echo "ok $name"
    pass=$((pass + 1))
  else
    echo "not ok $name"
    grep -E 'ERROR|SUMMARY|runtime error|==[0-9]+==' "$log" | head -20 | sed 's/^/    /' >&2
    ls "$build/fuzz-artifacts/$short-"* 2>/dev/null | sed 's/^/    artifact: /' >&2
    fail=$((fail + 1))
  fi
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
