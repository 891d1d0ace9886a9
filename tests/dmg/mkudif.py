#!/usr/bin/env python3
"""Test-only UDIF (.dmg) writer: builds images with known content so the dmg
engine can be exercised on codecs, layouts and damage the fixtures lack.

  mkudif.py [options] INPUT.raw OUT.dmg         image of a raw file
  mkudif.py [options] --generate SIZE OUT.dmg   BaseSystem-like content (zero
                                                runs, compressible, random)
Options:
  --codec raw|zlib|bz2|lzma|adc|lzvn  chunk codec (default zlib, like UDZO;
                              adc and lzvn (LZFSE bvxn blocks) are slow test encoders)
  --level N                   compression level (default 1, hdiutil's UDZO default)
  --chunk-sectors N           sectors per chunk (default 2048 = 1 MiB)
  --partitions K              split the disk into K blkx tables (default 1)
  --zero ignore|zero|store    all-zero chunks as type 2, type 0 or data (default ignore)
  --no-checksums              write checksum type 0 (none)
  --mutate WHAT               damage the tables: chunk-count, chunk-length,
                              overlap, sector-overflow, bad-type, table-trunc,
                              data-outside
  --raw-out FILE              with --generate: also write the raw content
  --name TEXT                 Name and CFName of every blkx table (default
                              "disk image (Apple_HFS : N)"; %d is N; Python
                              string escapes such as \\n, \\x9b, \\\\ apply)
Checksums: data fork CRC32, per-table CRC32 over the decoded sectors of all
non-ignore runs (zero-fill runs count as zeros), master CRC32 over the
tables' CRC32 values.
"""
import argparse, bz2, lzma, os, plistlib, random, struct, sys, zlib

SECTOR = 512
TYPES = {'raw': 1, 'zlib': 0x80000005, 'bz2': 0x80000006, 'lzma': 0x80000008,
         'adc': 0x80000004, 'lzvn': 0x80000007}


def lz_matches(data, maxdist, maxlen):
    """Greedy LZ77 parse: yields ('lit', bytes) and ('match', dist, length)."""
    table = {}
    i, n, lit = 0, len(data), 0
    while i < n:
        key = data[i:i + 4]
        j = table.get(key)
        table[key] = i
        if j is not None and len(key) == 4 and 0 < i - j <= maxdist:
            k = 4
            while i + k < n and k < maxlen and data[j + k] == data[i + k]:
                k += 1
            if lit < i:
                yield ('lit', data[lit:i])
            yield ('match', i - j, k)
            for p in range(i + 1, min(i + k, n - 3), 2):
                table[data[p:p + 4]] = p
            i += k
            lit = i
        else:
            i += 1
    if lit < n:
        yield ('lit', data[lit:n])


def adc_encode(data):
    out = bytearray()
    for t in lz_matches(data, 65536, 67):
        if t[0] == 'lit':
            b = t[1]
            for o in range(0, len(b), 128):
                part = b[o:o + 128]
                out.append(0x80 | (len(part) - 1))
                out += part
        else:
            _, d, m = t
            if m <= 18 and d <= 1024:
                out += bytes([((m - 3) << 2) | ((d - 1) >> 8), (d - 1) & 0xff])
            else:
                out += bytes([0x40 | (m - 4), (d - 1) >> 8, (d - 1) & 0xff])
    return bytes(out)


def lzvn_payload(data):
    out = bytearray()
    for t in lz_matches(data, 65535, 1 << 16):
        if t[0] == 'lit':
            b = t[1]
            o = 0
            while o < len(b):
                k = min(len(b) - o, 271)
                out += bytes([0xe0 | k]) if k < 16 else bytes([0xe0, k - 16])
                out += b[o:o + k]
                o += k
        else:
            _, d, m = t
            first = min(m, 10)
            out += bytes([((first - 3) << 3) | 7, d & 0xff, d >> 8])
            m -= first
            while m > 0:
                if m < 16:
                    out.append(0xf0 | m)
                    m = 0
                else:
                    k = min(m, 271)
                    out += bytes([0xf0, k - 16])
                    m -= k
    return bytes(out) + b'\x06' + bytes(7)


def lzfse_lzvn_encode(data):
    p = lzvn_payload(data)
    return b'bvxn' + struct.pack('<II', len(data), len(p)) + p + b'bvx$'


def compress(codec, data, level):
    if codec == 'zlib':
        return zlib.compress(data, level)
    if codec == 'bz2':
        return bz2.compress(data, max(1, min(9, level)))
    if codec == 'lzma':
        return lzma.compress(data, format=lzma.FORMAT_XZ, preset=min(9, level))
    if codec == 'adc':
        return adc_encode(data)
    if codec == 'lzvn':
        return lzfse_lzvn_encode(data)
    raise ValueError(codec)


def generator(size, seed=1):
    """BaseSystem-like: ~30% zero runs, ~45% compressible, ~25% random, in 1 MiB pieces."""
    rnd = random.Random(seed)
    words = [bytes(rnd.choice(b'abcdefghijklmnopqrstuvwxyz') for _ in range(rnd.randint(2, 9)))
             for _ in range(300)]
    piece = 1 << 20 if size >= (64 << 20) else 64 << 10
    pool = []
    for _ in range(8):
        buf = bytearray()
        while len(buf) < (1 << 20):
            buf += rnd.choice(words) + (b'\n' if rnd.random() < 0.1 else b' ')
        pool.append(bytes(buf[:1 << 20]))
    done = 0
    while done < size:
        n = min(piece, size - done)
        r = rnd.random()
        if r < 0.30:
            yield bytes(n)
        elif r < 0.75:
            off = rnd.randrange(0, (1 << 20) - n + 1)
            b = bytearray(rnd.choice(pool)[off:off + n])
            b[0:8] = struct.pack('<Q', done)
            yield bytes(b)
        else:
            yield os.urandom(n)
        done += n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('input', nargs='?')
    ap.add_argument('output')
    ap.add_argument('--generate')
    ap.add_argument('--raw-out')
    ap.add_argument('--codec', default='zlib', choices=list(TYPES))
    ap.add_argument('--level', type=int, default=1)
    ap.add_argument('--chunk-sectors', type=int, default=2048)
    ap.add_argument('--partitions', type=int, default=1)
    ap.add_argument('--zero', default='ignore', choices=['ignore', 'zero', 'store'])
    ap.add_argument('--no-checksums', action='store_true')
    ap.add_argument('--mutate')
    ap.add_argument('--name', default='disk image (Apple_HFS : %d)')
    a = ap.parse_args()

    if a.generate:
        units = {'K': 1 << 10, 'M': 1 << 20, 'G': 1 << 30}
        s = a.generate.upper().rstrip('IB')
        size = int(s[:-1]) * units[s[-1]] if s[-1] in units else int(s)
        pieces = generator(size)
    else:
        size = os.path.getsize(a.input)
        def rd():
            with open(a.input, 'rb') as f:
                while True:
                    b = f.read(1 << 20)
                    if not b:
                        return
                    yield b
        pieces = rd()
    if size % SECTOR:
        sys.exit('mkudif: size must be a multiple of 512')
    nsect = size // SECTOR
    csz = a.chunk_sectors * SECTOR
    rawf = open(a.raw_out, 'wb') if a.raw_out else None

    # re-chunk the piece stream into chunk-sized buffers
    def chunks():
        buf = bytearray()
        for p in pieces:
            if rawf:
                rawf.write(p)
            buf += p
            while len(buf) >= csz:
                yield bytes(buf[:csz])
                del buf[:csz]
        if buf:
            yield bytes(buf)

    nparts = max(1, a.partitions)
    bounds = [nsect * i // nparts for i in range(nparts + 1)]
    tables = [dict(first=bounds[i], n=bounds[i + 1] - bounds[i], runs=[], crc=0) for i in range(nparts)]
    out = open(a.output, 'wb')
    dcrc = 0
    pos = 0
    sector = 0
    ti = 0
    pending = b''
    gen = chunks()
    # walk sectors; a chunk never crosses a table boundary
    while sector < nsect:
        while tables[ti]['first'] + tables[ti]['n'] <= sector:
            ti += 1
        t = tables[ti]
        tend = t['first'] + t['n']
        if len(pending) == 0:
            pending = next(gen)
        take = min(len(pending) // SECTOR, tend - sector)
        data, pending = pending[:take * SECTOR], pending[take * SECTOR:]
        rel = sector - t['first']
        if a.zero != 'store' and data.count(0) == len(data):
            ty = 2 if a.zero == 'ignore' else 0
            t['runs'].append((ty, rel, take, pos, 0))
            if ty == 0:
                t['crc'] = zlib.crc32(data, t['crc'])
        else:
            t['crc'] = zlib.crc32(data, t['crc'])
            if a.codec == 'raw':
                stored, ty = data, 1
            else:
                # like hdiutil, store what does not compress (and skip slow
                # pure-python encoders on it)
                if len(zlib.compress(data, 1)) > len(data) * 0.95:
                    stored, ty = data, 1
                else:
                    stored, ty = compress(a.codec, data, a.level), TYPES[a.codec]
                if len(stored) >= len(data):
                    stored, ty = data, 1
            out.write(stored)
            dcrc = zlib.crc32(stored, dcrc)
            t['runs'].append((ty, rel, take, pos, len(stored)))
            pos += len(stored)
        sector += take
    data_len = pos

    def mish(t, idx):
        runs = list(t['runs'])
        m = a.mutate
        if m == 'overlap' and idx == 0 and len(runs) >= 2:
            ty, rel, n, off, ln = runs[1]
            runs[1] = (ty, rel - 1, n, off, ln)
        if m == 'chunk-length' and idx == 0:
            for i, r in enumerate(runs):
                if r[0] not in (0, 2):
                    runs[i] = (r[0], r[1], r[2], r[3], 0x7fffffffffff0000)
                    break
        if m == 'data-outside' and idx == 0:
            for i, r in enumerate(runs):
                if r[0] not in (0, 2):
                    runs[i] = (r[0], r[1], r[2], data_len + 4096, r[4])
                    break
        if m == 'bad-type' and idx == 0:
            r = runs[0]
            runs[0] = (0x80000042,) + r[1:]
        runs.append((0xffffffff, t['n'], 0, pos, 0))
        count = len(runs)
        nsec = t['n']
        if m == 'chunk-count' and idx == 0:
            count = 0xfffffff0
        if m == 'sector-overflow' and idx == 0:
            nsec = 0xffffffffffffff00
        ck = (0, 0, b'') if a.no_checksums else (2, 32, struct.pack('>I', t['crc']))
        h = b'mish' + struct.pack('>IQQQII', 1, t['first'], nsec, 0, 2056, idx) + bytes(24)
        h += struct.pack('>II', ck[0], ck[1]) + ck[2].ljust(128, b'\0')
        h += struct.pack('>I', count)
        for ty, rel, n, off, ln in runs:
            h += struct.pack('>IIQQQQ', ty, 0, rel, n, off, ln)
        if m == 'table-trunc' and idx == 0:
            h = h[:0xcc + 20]
        return h

    blkx = []
    for i, t in enumerate(tables):
        name = a.name.encode('ascii', 'backslashreplace').decode('unicode_escape').replace('%d', str(i))
        blkx.append({'Attributes': '0x0050', 'CFName': name,
                     'Data': mish(t, i), 'ID': str(i), 'Name': name})
    xml = plistlib.dumps({'resource-fork': {'blkx': blkx}}, fmt=plistlib.FMT_XML)
    xml_off = pos
    out.write(xml)
    master = 0
    for t in tables:
        master = zlib.crc32(struct.pack('>I', t['crc']), master)
    k = bytearray(512)
    struct.pack_into('>4sIIIQQQQQII', k, 0, b'koly', 4, 512, 1, 0, 0, data_len, 0, 0, 1, 1)
    k[0x40:0x50] = os.urandom(16)
    if not a.no_checksums:
        struct.pack_into('>III', k, 0x50, 2, 32, dcrc)
        struct.pack_into('>III', k, 0x160, 2, 32, master)
    struct.pack_into('>QQ', k, 0xd8, xml_off, len(xml))
    struct.pack_into('>IQ', k, 0x1e8, 1, nsect)
    out.write(k)
    out.close()
    if rawf:
        rawf.close()


if __name__ == '__main__':
    main()
