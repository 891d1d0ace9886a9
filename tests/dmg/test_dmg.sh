#!/usr/bin/env bash
# dkvm dmg info|verify|convert against the hdiutil fixtures, peer tools
# (qemu-img, dmg2img), images from our test writer, and damaged images.
. "$(dirname "$0")/../lib.sh"
FX="$SHARED/fixtures/dmg"
MK="$DKVM_SRCDIR/tests/dmg/mkudif.py"
CODECS="raw zlib bz2 adc lzfse"
# md5 of the 5 MiB disk all five fixtures hold
DISK_MD5=2e126e3716d656287eb9e754270095d6

flip() { # flip FILE OFFSET OUT
  python3 -c 'import sys; d=bytearray(open(sys.argv[1],"rb").read()); d[int(sys.argv[2])]^=1; open(sys.argv[3],"wb").write(d)' "$@"
}

test_fixtures_convert_identical() {
  for c in $CODECS; do
    t_ok "$DKVM" dmg convert "$FX/compression-$c.dmg" -o "$c.img"
    t_eq "$(stat -c %s "$c.img")" 5242880 "$c size"
    t_eq "$(md5sum < "$c.img" | cut -d' ' -f1)" "$DISK_MD5" "$c content"
  done
  for c in zlib bz2 adc lzfse; do cmp raw.img "$c.img" || t_fail "$c differs from raw"; done
  # zero runs are holes
  [ "$(stat -c %b raw.img)" -lt 2048 ] || t_fail "output is not sparse ($(stat -c %b raw.img) blocks)"
}

test_fixtures_verify() {
  for c in $CODECS; do
    t_ok "$DKVM" dmg verify "$FX/compression-$c.dmg"
    t_contains "$OUT" "ok      data fork"
    t_contains "$OUT" "ok      master: CRC32 0x2b76e491"
    t_not_contains "$OUT" "FAILED"
  done
}

test_cross_qemu_img() {
  command -v qemu-img >/dev/null || t_skip "qemu-img not installed"
  for c in raw zlib; do
    qemu-img convert -f dmg -O raw "$FX/compression-$c.dmg" "q-$c.img" 2>/dev/null
    t_ok "$DKVM" dmg convert "$FX/compression-$c.dmg" -o "k-$c.img"
    cmp "q-$c.img" "k-$c.img" || t_fail "qemu-img and dkvm differ on $c"
  done
  python3 "$MK" --generate 6M --raw-out gen.raw --chunk-sectors 512 --partitions 2 gen.dmg
  qemu-img convert -f dmg -O raw gen.dmg q-gen.img 2>/dev/null
  t_ok "$DKVM" dmg convert gen.dmg -o k-gen.img
  cmp q-gen.img k-gen.img || t_fail "qemu-img and dkvm differ on a generated UDZO"
  cmp gen.raw k-gen.img || t_fail "dkvm output differs from the generated content"
}

test_cross_dmg2img() {
  command -v dmg2img >/dev/null || t_skip "dmg2img not installed"
  for c in raw zlib bz2 adc; do
    dmg2img -s "$FX/compression-$c.dmg" "d-$c.img" >/dev/null 2>&1
    t_ok "$DKVM" dmg convert "$FX/compression-$c.dmg" -o "k-$c.img"
    cmp "d-$c.img" "k-$c.img" || t_fail "dmg2img and dkvm differ on $c"
  done
}

test_writer_codecs_threads_partitions() {
  python3 "$MK" --generate 5M --raw-out src.raw --codec zlib x.dmg
  for codec in raw zlib bz2 lzma; do
    for zero in ignore zero; do
      python3 "$MK" --codec "$codec" --zero "$zero" --chunk-sectors 300 --partitions 3 src.raw "w.dmg"
      for th in 1 3; do
        t_ok "$DKVM" dmg convert w.dmg -o "w.img" --threads "$th" --force
        cmp src.raw w.img || t_fail "$codec/$zero/$th threads: output differs"
      done
      t_ok "$DKVM" dmg verify w.dmg
      t_not_contains "$OUT" "FAILED"
    done
  done
  # our own decoders on many chunks, in parallel: ADC and LZFSE (LZVN blocks)
  head -c 2097152 src.raw > small.raw
  for codec in adc lzvn; do
    python3 "$MK" --codec "$codec" --chunk-sectors 256 --partitions 2 small.raw "$codec.dmg"
    for th in 1 4; do
      t_ok "$DKVM" dmg convert "$codec.dmg" -o "$codec.img" --threads "$th" --force
      cmp small.raw "$codec.img" || t_fail "$codec/$th threads: output differs"
    done
  done
  t_ok "$DKVM" --json dmg info lzvn.dmg
  t_eq "$(t_jget "$OUT" '"lzfse" in d["chunk_types"]')" True "lzfse chunks"
  python3 "$MK" --codec lzma src.raw l.dmg
  t_ok "$DKVM" --json dmg info l.dmg
  t_eq "$(t_jget "$OUT" 'd["chunk_types"]["lzma"]["chunks"] > 0')" True "lzma chunks"
}

test_partition() {
  t_ok "$DKVM" dmg convert "$FX/compression-raw.dmg" -o all.img
  t_ok "$DKVM" dmg convert "$FX/compression-lzfse.dmg" -o p2.img --partition 2
  t_eq "$(stat -c %s p2.img)" $((2048 * 512)) "partition size"
  dd if=all.img of=slice.img bs=512 skip=128 count=2048 status=none
  cmp slice.img p2.img || t_fail "partition 2 differs from sectors 128..2175"
  t_exit 1 "$DKVM" dmg convert "$FX/compression-raw.dmg" -o p9.img --partition 9
  t_contains "$ERR" "no partition 9"
  [ ! -e p9.img ] || t_fail "output left behind"
}

test_damage_flipped_byte() {
  for c in $CODECS; do
    flip "$FX/compression-$c.dmg" 20 bad.dmg
    t_exit 1 "$DKVM" dmg convert bad.dmg -o bad.img
    t_contains "$ERR" "dkvm: bad.dmg: "
    [ "$(wc -l <<<"$ERR")" = 1 ] || t_fail "$c: error is not one line: $ERR"
    [ ! -e bad.img ] || t_fail "$c: output left behind"
    ls -A | grep -q '^\.bad\.img' && t_fail "$c: temporary file left behind"
    case $c in raw|adc|lzfse) t_contains "$ERR" "checksum mismatch";; esac
    t_exit 1 "$DKVM" dmg verify bad.dmg
  done
  # verify names the table that failed and keeps going
  flip "$FX/compression-raw.dmg" 600 bad.dmg
  t_exit 1 "$DKVM" dmg verify bad.dmg
  t_contains "$OUT" "FAILED  blkx 2"
  t_contains "$OUT" "ok      blkx 3"
  t_contains "$ERR" "checksum mismatch: data fork, blkx 2"
  # --no-verify converts it anyway
  t_ok "$DKVM" dmg convert bad.dmg -o nv.img --no-verify
}

test_damage_tables() {
  python3 "$MK" --generate 3M --chunk-sectors 300 --partitions 2 --raw-out g.raw good.dmg
  for m in chunk-count chunk-length overlap sector-overflow bad-type table-trunc data-outside; do
    python3 "$MK" --chunk-sectors 300 --partitions 2 --mutate "$m" g.raw m.dmg
    t_exit 1 "$DKVM" dmg convert m.dmg -o m.img
    t_contains "$ERR" "dkvm: m.dmg: "
    [ "$(wc -l <<<"$ERR")" = 1 ] || t_fail "$m: error is not one line"
    [ ! -e m.img ] || t_fail "$m: output left behind"
    t_exit 1 "$DKVM" dmg info m.dmg
  done
  # truncations: at every tenth of the file, and inside the trailer
  local size; size=$(stat -c %s good.dmg)
  for cut in $((size / 10)) $((size / 2)) $((size - 600)) $((size - 100)) 300 0; do
    head -c "$cut" good.dmg > t.dmg
    t_exit 1 "$DKVM" dmg convert t.dmg -o t.img
    [ ! -e t.img ] || t_fail "truncated at $cut: output left behind"
  done
  # data fork truncated but trailer kept
  head -c 100000 good.dmg > t.dmg; tail -c 512 good.dmg >> t.dmg
  t_exit 1 "$DKVM" dmg verify t.dmg
  t_contains "$ERR" "lies outside the file"
  # a corrupt compressed chunk in the middle
  flip good.dmg 50000 c.dmg
  t_exit 1 "$DKVM" dmg convert c.dmg -o c.img --threads 2
  [ ! -e c.img ] || t_fail "corrupt chunk: output left behind"
}

test_memory_bounded() {
  [ -x /usr/bin/time ] || t_skip "GNU time not installed (package time)"
  [ -z "${ASAN_OPTIONS:-}" ] || t_skip "RSS is not meaningful under ASan"
  # 48 MiB disk in 1 MiB chunks: peak RSS must stay well under 64 MiB and
  # not depend on the image size (the bench checks 1 and 8 GiB)
  python3 "$MK" --generate 48M --raw-out m.raw m.dmg
  /usr/bin/time -f %M -o rss.txt "$DKVM" -q dmg convert m.dmg -o m.img --threads 4
  cmp m.raw m.img || t_fail "output differs"
  local rss; rss=$(tail -n1 rss.txt)
  [ "$rss" -lt $((64 * 1024)) ] || t_fail "peak RSS ${rss} KiB"
}

test_refused_kinds() {
  { printf encrcdsa; head -c 4096 /dev/zero; } > enc.dmg
  t_exit 1 "$DKVM" dmg info enc.dmg
  t_contains "$ERR" "encrypted disk image (encrcdsa"
  { head -c 4096 /dev/zero; printf cdsaencr; } > enc1.dmg
  t_exit 1 "$DKVM" dmg convert enc1.dmg -o x.img
  t_contains "$ERR" "encrypted disk image (cdsaencr"
  { printf sprs; head -c 4096 /dev/zero; } > s.sparseimage
  t_exit 1 "$DKVM" dmg verify s.sparseimage
  t_contains "$ERR" "sparse disk image"
  mkdir -p b.sparsebundle/bands
  t_exit 1 "$DKVM" dmg info b.sparsebundle
  t_contains "$ERR" "sparse bundle"
  head -c 8192 /dev/urandom > junk.dmg
  t_exit 1 "$DKVM" dmg info junk.dmg
  t_contains "$ERR" "not a UDIF image"
  [ ! -e x.img ] || t_fail "output left behind"
}

test_force_and_usage() {
  echo keep > out.img
  t_exit 1 "$DKVM" dmg convert "$FX/compression-zlib.dmg" -o out.img
  t_contains "$ERR" "already exists"
  t_eq "$(cat out.img)" keep "existing output untouched"
  t_ok "$DKVM" dmg convert "$FX/compression-zlib.dmg" -o out.img --force
  t_eq "$(stat -c %s out.img)" 5242880 "replaced"
  # --force never replaces the image being converted (directly or through a link)
  cp "$FX/compression-zlib.dmg" in.dmg
  ln -s in.dmg link.dmg
  t_exit 1 "$DKVM" dmg convert in.dmg -o in.dmg --force
  t_contains "$ERR" "in.dmg: is the image being converted"
  t_exit 1 "$DKVM" dmg convert in.dmg -o link.dmg --force
  cmp in.dmg "$FX/compression-zlib.dmg" || t_fail "the input was replaced"
  t_eq "$(ls -A | grep -c '^\.in\.dmg' || true)" "0" "temp files left"
  # a FIFO is neither waited on as input nor replaced as output, even with --force
  mkfifo fifo
  t_exit 1 timeout 20 "$DKVM" dmg info fifo
  t_contains "$ERR" "fifo: not a regular file"
  t_exit 1 "$DKVM" dmg convert in.dmg -o fifo --force
  t_contains "$ERR" "fifo: not a regular file (a device, FIFO or socket); refusing to replace it"
  [ -p fifo ] || t_fail "the FIFO was replaced"
  t_exit 2 "$DKVM" dmg convert "$FX/compression-zlib.dmg"
  t_contains "$ERR" "missing -o"
  t_exit 2 "$DKVM" dmg convert "$FX/compression-zlib.dmg" -o y.img --threads 0
  t_exit 2 "$DKVM" dmg info
  t_exit 2 "$DKVM" dmg verify --bogus x
  for v in info verify convert; do
    t_ok "$DKVM" dmg "$v" --help
    t_contains "$OUT" "usage: dkvm dmg $v"
    t_contains "$OUT" "Exit status"
  done
}

test_json() {
  t_ok "$DKVM" --json dmg info "$FX/compression-lzfse.dmg"
  t_json "$OUT"
  t_eq "$(t_jget "$OUT" 'd["sector_count"]')" 10240
  t_eq "$(t_jget "$OUT" 'd["checksums"]["master"]["value"]')" 0x2b76e491
  t_eq "$(t_jget "$OUT" 'd["chunk_types"]["lzfse"]["chunks"]')" 3
  t_eq "$(t_jget "$OUT" 'len(d["partitions"])')" 5
  t_eq "$(t_jget "$OUT" 'd["partitions"][2]["checksum"]["value"]')" 0xc31c2437
  t_ok "$DKVM" --json dmg verify "$FX/compression-adc.dmg"
  t_json "$OUT"
  t_eq "$(t_jget "$OUT" 'd["ok"]')" True
  t_eq "$(t_jget "$OUT" '[c["state"] for c in d["checks"]].count("ok")')" 7
  t_ok "$DKVM" --json dmg convert "$FX/compression-bz2.dmg" -o j.img
  t_json "$OUT"
  t_eq "$(t_jget "$OUT" 'd["bytes"]')" 5242880
  t_ok "$DKVM" dmg info "$FX/compression-zlib.dmg"
  t_contains "$OUT" "Windows_FAT_16 : 2"
  t_contains "$OUT" "zlib"
}

test_interrupt_removes_temp() {
  source "$DKVM_SRCDIR/tests/image/interrupt.sh"
  # bzip2 in one thread: slow enough to be caught while writing
  python3 "$MK" --generate 48M --codec bz2 big.dmg
  local sig want
  for sig in INT TERM; do
    want=$((128 + $(kill -l "$sig")))
    interrupt_caught "$sig" "$DKVM" dmg convert big.dmg -o out.img --threads 1
    t_eq "$IRC" "$want" "exit status after SIG$sig"
    [ ! -e out.img ] || t_fail "SIG$sig: output left at out.img"
    no_temp_left
  done
}

test_hostile_partition_name_escaped() {
  # a C1 CSI (U+009B, "ESC [" to a terminal), a newline, a tab, a backslash and
  # a bidi override in the partition name: printed escaped, on one line
  python3 "$MK" --generate 1M --codec raw --name '\x9b2J\nEVIL\tx\\y\u202e%d' n.dmg
  t_ok "$DKVM" dmg info n.dmg
  t_contains "$OUT" '\xc2\x9b2J\x0aEVIL\x09x\\y\xe2\x80\xae0'
  [ "$(grep -c '^EVIL' <<<"$OUT")" = 0 ] || t_fail "the name broke the line: $OUT"
  LC_ALL=C grep -q $'\302\233\|\t\|\342\200\256' <<<"$OUT" && t_fail "raw control characters in: $OUT"
  t_ok "$DKVM" dmg verify n.dmg
  t_contains "$OUT" 'ok      blkx 0 (\xc2\x9b2J\x0aEVIL'
  LC_ALL=C grep -q $'\302\233\|\t' <<<"$OUT" && t_fail "raw control characters in: $OUT"
  # JSON keeps the real name (json-c escapes it)
  t_ok "$DKVM" --json dmg info n.dmg
  t_eq "$(t_jget "$OUT" 'd["partitions"][0]["name"] == "\x9b2J\nEVIL\tx\\y\u202e0"')" True "JSON name"
  # ESC itself cannot be in an XML plist: a one-line error, no raw ESC
  python3 - n.dmg e.dmg <<'PY'
import struct, sys
d = open(sys.argv[1], 'rb').read(); k = bytearray(d[-512:])
xo, xl = struct.unpack_from('>QQ', k, 0xd8)
x = d[xo:xo + xl].replace(b'EVIL', b'\x1b[2J', 1)
struct.pack_into('>QQ', k, 0xd8, xo, len(x))
open(sys.argv[2], 'wb').write(d[:xo] + x + bytes(k))
PY
  t_exit 1 "$DKVM" dmg info e.dmg
  t_contains "$ERR" "dkvm: e.dmg: XML property list"
  [ "$(wc -l <<<"$ERR")" = 1 ] || t_fail "error is not one line: $ERR"
  LC_ALL=C grep -q $'\033' <<<"$ERR" && t_fail "raw ESC in: $ERR" || true
}

test_sigkill_temp_removed_by_next_run() {
  # SIGKILL cannot be caught: the temp stays, and the next run of the same
  # output removes it (its writer is gone and holds no lock)
  python3 "$MK" --generate 32M --codec bz2 --raw-out big.raw big.dmg
  "$DKVM" -q dmg convert big.dmg -o out.img --threads 1 >/dev/null 2>&1 &
  local pid=$! i tmp=""
  for ((i = 0; i < 3000; i++)); do
    tmp=$(compgen -G ".out.img.dkvm-tmp.$pid.??????" || true)
    [ -n "$tmp" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
  done
  [ -n "$tmp" ] || t_fail "no temporary file .out.img.dkvm-tmp.$pid.XXXXXX seen"
  kill -STOP "$pid" 2>/dev/null || t_fail "convert finished before it could be stopped"
  [ -f "$tmp" ] || t_fail "$tmp: gone before the kill"
  kill -KILL "$pid"
  { wait "$pid"; } 2>/dev/null || true
  [ -f "$tmp" ] || t_fail "the temp vanished after SIGKILL"
  [ ! -e out.img ] || t_fail "output left at out.img"
  # a temp of another output, and one of a live process, are not touched
  sleep 120 & local live=$!
  echo x > ".out.img.dkvm-tmp.$live.AbCdEf"
  echo y > ".other.img.dkvm-tmp.$pid.AbCdEf"
  t_ok "$DKVM" -q dmg convert big.dmg -o out.img
  kill "$live"; { wait "$live"; } 2>/dev/null || true
  [ ! -e "$tmp" ] || t_fail "stale temp $tmp not removed"
  [ -e ".out.img.dkvm-tmp.$live.AbCdEf" ] || t_fail "a live process's temp was removed"
  [ -e ".other.img.dkvm-tmp.$pid.AbCdEf" ] || t_fail "another output's temp was removed"
  cmp big.raw out.img || t_fail "output differs"
  t_eq "$(compgen -G '.out.img.dkvm-tmp.*' | grep -vc "\.$live\." || true)" 0 "temps left"
}

t_main
