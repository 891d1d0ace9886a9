#!/usr/bin/env python3
"""Loopback test server for dkvm fetch (python3 stdlib only; 127.0.0.1 only).

  osrserver.py mkasset --out DIR --key KEY.pem [--size N] [--chunk N] [--name BaseSystem]
                       [--sig-method 1|2|0]
      Write DIR/NAME.dmg (deterministic bytes) and DIR/NAME.chunklist, signed
      with KEY.pem (PKCS#1 v1.5 over SHA-256, via `openssl dgst`, stored
      little-endian as Apple does).
  osrserver.py mkcatalog --out DIR --key KEY.pem
      Write a small software-update catalog (DIR/catalog.sucatalog, with
      @BASE@ for the server URL) and the packages/distributions it lists.
  osrserver.py serve --dir DIR --port-file F --log F [--timeout S] [faults]
      Speak the osrecovery protocol (GET / -> session cookie; POST
      /InstallationPayload/RecoveryImage -> AP/AU/AH/AT/CU/CH/CT; GET of the
      assets with Cookie: AssetToken=...), serve DIR/files/* statically, all
      with Range support. Every request is logged as one JSON line.
      Faults: --throttle BYTES_PER_S (per connection), --latency MS,
      --drop-at OFFSET (cut the first image response crossing OFFSET, once),
      --corrupt-at OFFSET (flip that image byte once; every time with
      --corrupt-always), --fail-first N (answer 503 to the first N image
      requests), --wrong-token (answer
      an AssetToken the server then rejects), --short N (image N bytes short),
      --bad-sig (flip a byte of the chunklist signature),
      --hostile-names same|dotdot|slash|encoded|recovery (the answer's AU/CU
      URLs end in server-chosen names: the same name for both, "../x", "a/b",
      "..%2Fx"; "recovery": RecoveryImage.dmg/.chunklist; each is served
      by its "?img"/"?cl" query, whatever the path),
      --bad-http excess|status|code [--bad-http-on image|session] (image
      answers, or the session answer: "excess" sends 100 bytes more than its
      Content-Length; "status" a status line that is not HTTP; "code" one
      with a malformed status code; "trailing" 100 stray bytes after a
      correctly framed body).
      --slow-first F: the first connection that asks for the image gets
      --throttle / F. --watch: every 20 ms while image answers are being sent,
      log {"sample": T, "active": N, "left": BYTES}: answers in progress, and
      the image bytes no answer has sent yet.
      The server exits by itself after --timeout seconds (default 120).
"""
import argparse, gzip, hashlib, http.server, json, os, random, secrets, socket, struct
import subprocess, sys, tempfile, threading, time


def gen_bytes(size, seed):
    return random.Random(seed).randbytes(size)


def make_chunklist(data, chunk, key, sig_method):
    sizes = []
    off = 0
    while off < len(data):
        n = min(chunk, len(data) - off)
        sizes.append((off, n))
        off += n
    count = len(sizes)
    hdr = b"CNKL" + struct.pack("<IBBBBQQQ", 0x24, 1, 1, sig_method, 0, count, 0x24, 0x24 + 36 * count)
    body = hdr + b"".join(struct.pack("<I", n) + hashlib.sha256(data[o:o + n]).digest() for o, n in sizes)
    if sig_method == 0:
        return body
    if sig_method == 2:
        return body + hashlib.sha256(body).digest()
    with tempfile.TemporaryDirectory() as td:
        m = os.path.join(td, "m")
        s = os.path.join(td, "s")
        with open(m, "wb") as f:
            f.write(body)
        subprocess.run(["openssl", "dgst", "-sha256", "-sign", key, "-out", s, m], check=True)
        sig = open(s, "rb").read()
    return body + sig[::-1]  # little-endian, as Apple stores it


def cmd_mkasset(a):
    os.makedirs(a.out, exist_ok=True)
    data = gen_bytes(a.size, a.seed)
    open(os.path.join(a.out, a.name + ".dmg"), "wb").write(data)
    open(os.path.join(a.out, a.name + ".chunklist"), "wb").write(make_chunklist(data, a.chunk, a.key, a.sig_method))


def cmd_mkcatalog(a):
    files = os.path.join(a.out, "files")
    os.makedirs(files, exist_ok=True)
    products = [
        # id, version, build, title, date, pkg size, integrity sig method (None: no integrity data)
        ("001-00001", "14.6.1", "23G93", "macOS Sonoma", "2024-08-07T17:02:00Z", 3 * 1048576 + 1234, 2),
        ("001-00002", "15.1", "24B83", "macOS Sequoia", "2024-10-28T17:00:00Z", 2 * 1048576 + 17, 0),
        ("001-00003", "15.2", "24C5057p", "macOS Sequoia beta", "2024-11-12T17:00:00Z", 1048576, None),
        ("001-00004", "13.7.1", "22H221", "macOS Ventura", "2024-10-28T17:00:00Z", 1500000, None),
    ]
    prods = []
    for i, (pid, ver, build, title, date, size, meth) in enumerate(products):
        d = os.path.join(files, pid)
        os.makedirs(d, exist_ok=True)
        data = gen_bytes(size, 1000 + i)
        open(os.path.join(d, "InstallAssistant.pkg"), "wb").write(data)
        small = b"<plist>info %s</plist>\n" % pid.encode()
        open(os.path.join(d, "Info.plist"), "wb").write(small)
        pk = ["<dict><key>Size</key><integer>%d</integer><key>URL</key><string>@BASE@/files/%s/InstallAssistant.pkg</string>"
              % (size, pid)]
        if meth is not None:
            cl = make_chunklist(data, 1048576, a.key, meth)
            open(os.path.join(d, "InstallAssistant.pkg.integrityDataV1"), "wb").write(cl)
            pk.append("<key>IntegrityDataURL</key><string>@BASE@/files/%s/InstallAssistant.pkg.integrityDataV1</string>"
                      "<key>IntegrityDataSize</key><integer>%d</integer>" % (pid, len(cl)))
        pk.append("</dict>")
        pk.append("<dict><key>Size</key><integer>%d</integer><key>URL</key><string>@BASE@/files/%s/Info.plist</string></dict>"
                  % (len(small), pid))
        dist = ('<?xml version="1.0" encoding="utf-8"?>\n<installer-gui-script minSpecVersion="2">\n'
                '<title>SU_TITLE</title>\n<options hostArchitectures="x86_64,arm64"/>\n'
                '<choice id="x" suDisabledGroupID="Install %s"/>\n'
                '<auxinfo>\n<dict>\n<key>BUILD</key>\n<string>%s</string>\n<key>VERSION</key>\n<string>%s</string>\n'
                '</dict>\n</auxinfo>\n</installer-gui-script>\n' % (title, build, ver))
        open(os.path.join(d, pid + ".English.dist"), "w").write(dist)
        prods.append("<key>%s</key><dict><key>PostDate</key><date>%s</date>"
                     "<key>ExtendedMetaInfo</key><dict><key>InstallAssistantPackageIdentifiers</key><dict>"
                     "<key>SharedSupport</key><string>com.apple.pkg.InstallAssistant.macOSSonoma</string></dict></dict>"
                     "<key>Distributions</key><dict><key>English</key><string>@BASE@/files/%s/%s.English.dist</string></dict>"
                     "<key>Packages</key><array>%s</array></dict>" % (pid, date, pid, pid, "".join(pk)))
    # a non-installer product that must be ignored
    prods.append("<key>041-99999</key><dict><key>PostDate</key><date>2024-01-01T00:00:00Z</date>"
                 "<key>Packages</key><array><dict><key>Size</key><integer>10</integer>"
                 "<key>URL</key><string>@BASE@/files/x.pkg</string></dict></array></dict>")
    cat = ('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" '
           '"http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n<plist version="1.0"><dict>'
           '<key>CatalogVersion</key><integer>2</integer><key>Products</key><dict>%s</dict></dict></plist>\n'
           % "".join(prods))
    open(os.path.join(files, "catalog.sucatalog"), "w").write(cat)


# --hostile-names: the (image, chunklist) names at the end of AU / CU
HOSTILE_NAMES = {
    "same": ("BaseSystem.dmg", "BaseSystem.dmg"),
    "dotdot": ("../x", "../x"),
    "slash": ("a/b", "a/b"),
    "encoded": ("..%2F..%2Fescape.dmg", "..%2F..%2Fescape.dmg"),
    "recovery": ("RecoveryImage.dmg", "RecoveryImage.chunklist"),
}


class State:
    lock = threading.Lock()
    sessions = set()
    tokens = {}  # token -> asset name
    dropped = False
    corrupted = False
    active = set()  # image answers in progress
    spans = {}  # every image answer: id -> [first byte, next byte to send]
    image_size = 0
    slow_port = None


def parse_range(h, size):
    if not h or not h.startswith("bytes="):
        return None
    spec = h[6:].split(",")[0].strip()
    a, _, b = spec.partition("-")
    if a == "":
        n = int(b)
        return max(0, size - n), size - 1
    a = int(a)
    b = int(b) if b else size - 1
    return a, min(b, size - 1)


_file_cache = {}  # path -> ((size, mtime_ns), bytes)
_file_cache_lock = threading.Lock()


def read_cached(path):
    """The bytes of path, read once per (size, mtime) rather than on every
    request: a 160 MiB image read per ranged answer costs each connection
    0.2 s or more of server CPU before its first byte, which a benchmark
    would charge to the client. None when it cannot be read."""
    try:
        st = os.stat(path)
        key = (st.st_size, st.st_mtime_ns)
        with _file_cache_lock:
            hit = _file_cache.get(path)
            if hit and hit[0] == key:
                return hit[1]
            data = open(path, "rb").read()
            _file_cache[path] = (key, data)
            return data
    except OSError:
        return None


def make_handler(a, state, logf):
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def log_req(self, status, sent, extra=None):
            rec = {"method": self.command, "path": self.path, "range": self.headers.get("Range"),
                   "status": status, "sent": sent, "t0": getattr(self, "t0", 0), "t": round(time.time(), 6)}
            if extra:
                rec.update(extra)
            with state.lock:
                logf.write(json.dumps(rec) + "\n")
                logf.flush()

        def base(self):
            return "http://127.0.0.1:%d" % self.server.server_address[1]

        def bad(self, where):
            return a.bad_http and a.bad_http_on == where

        def send_response_only(self, code, message=None):
            if getattr(self, "bad_status", False):
                self._headers_buffer = getattr(self, "_headers_buffer", [])
                self._headers_buffer.append(b"HTTP/1.1 2OO Okay-ish\r\n" if a.bad_http == "code" else
                                            b"HTPT/1.1 200 OK\r\n")
                return
            super().send_response_only(code, message)

        def simple(self, status, body=b"", headers=(), extra=None):
            if a.latency:
                time.sleep(a.latency / 1000.0)
            bad = self.path == "/" and self.bad("session")
            self.bad_status = bad and a.bad_http in ("status", "code")
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if bad and a.bad_http == "excess":
                body += b"x" * 100
            if self.command != "HEAD":
                self.wfile.write(body)
            self.log_req(status, len(body), extra)

        def cookies(self):
            out = {}
            for part in (self.headers.get("Cookie") or "").split(";"):
                k, _, v = part.strip().partition("=")
                if k:
                    out[k] = v
            return out

        def parse_request(self):
            self.t0 = round(time.time(), 6)  # arrival: the log's order key
            return super().parse_request()

        def do_GET(self):
            if self.path == "/":
                sid = secrets.token_hex(16)
                with state.lock:
                    state.sessions.add(sid)
                return self.simple(200, b"", [("Set-Cookie", "session=%s; Path=/; HttpOnly" % sid)])
            if a.hostile_names and self.path.endswith(("?img", "?cl")):
                name = a.name + (".dmg" if self.path.endswith("?img") else ".chunklist")
                tok = self.cookies().get("AssetToken")
                with state.lock:
                    ok = state.tokens.get(tok) == name
                if not ok:
                    return self.simple(403, b"bad token\n")
                return self.serve_file(os.path.join(a.dir, "assets", name), image=name.endswith(".dmg"))
            if self.path.startswith("/assets/"):
                name = self.path[len("/assets/"):]
                tok = self.cookies().get("AssetToken")
                with state.lock:
                    ok = state.tokens.get(tok) == name
                if not ok:
                    return self.simple(403, b"bad token\n")
                return self.serve_file(os.path.join(a.dir, "assets", name), image=name.endswith(".dmg"))
            if self.path.startswith("/files/"):
                rel = self.path[len("/files/"):].split("?")[0]
                if ".." in rel:
                    return self.simple(404)
                return self.serve_file(os.path.join(a.dir, "files", rel), image=rel.endswith(".pkg"))
            return self.simple(404, b"not found\n")

        def do_HEAD(self):
            self.do_GET()

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n).decode("utf-8", "replace") if n else ""
            kind = self.path.rsplit("/", 1)[-1]
            if self.path not in ("/InstallationPayload/RecoveryImage", "/InstallationPayload/Diagnostics"):
                return self.simple(404)
            sid = self.cookies().get("session")
            with state.lock:
                known = sid in state.sessions
            if not known:
                return self.simple(403, b"no session\n")
            kv = dict(l.split("=", 1) for l in body.split("\n") if "=" in l)
            need = ["cid", "sn", "bid", "k", "fg"] + (["os"] if kind == "RecoveryImage" else [])
            order = [l.split("=", 1)[0] for l in body.split("\n")]
            bad = (order != need or len(kv["cid"]) != 16 or len(kv["k"]) != 64 or len(kv["fg"]) != 64
                   or len(kv["sn"]) != 17 or body.endswith("\n")
                   or self.headers.get("Content-Type") != "text/plain")
            if bad:
                return self.simple(400, b"bad request\n", extra={"body": body})
            name = a.name
            at, ct = secrets.token_hex(24), secrets.token_hex(24)
            with state.lock:
                state.tokens[at] = name + ".dmg"
                state.tokens[ct] = name + ".chunklist"
            if a.wrong_token:
                at = "0" * 48
            b = self.base()
            au, cu = "%s/assets/%s.dmg" % (b, name), "%s/assets/%s.chunklist" % (b, name)
            if a.hostile_names:
                img, cl = HOSTILE_NAMES[a.hostile_names]
                au, cu = "%s/h/%s?img" % (b, img), "%s/h/%s?cl" % (b, cl)
            ans = "AP: 041-00000\nAU: %s\nAH: 00\nAT: %s\nCU: %s\nCH: 00\nCT: %s\n" % (au, at, cu, ct)
            self.simple(200, ans.encode(), [("Content-Type", "text/plain")],
                        extra={"bid": kv["bid"], "sn": kv["sn"], "os": kv.get("os")})

        def serve_file(self, path, image=False):
            gz = path.endswith(".gz") and not os.path.exists(path)
            data = read_cached(path[:-3] if gz else path)
            if data is None:
                return self.simple(404, b"not found\n")
            if ".sucatalog" in path or path.endswith(".dist"):
                data = data.replace(b"@BASE@", self.base().encode())
            if gz:
                data = gzip.compress(data)
            if image and a.short:
                data = data[:-a.short]
            if path.endswith(".chunklist") and a.bad_sig:
                data = data[:-1] + bytes([data[-1] ^ 1])
            if image and a.fail_first:
                with state.lock:
                    state.failed = getattr(state, "failed", 0) + 1
                    fail = state.failed <= a.fail_first
                if fail:
                    return self.simple(503, b"busy\n")
            size = len(data)
            rng = None if a.no_range else parse_range(self.headers.get("Range"), size)
            if rng and (rng[0] >= size or rng[0] > rng[1]):
                return self.simple(416, b"", [("Content-Range", "bytes */%d" % size)])
            start, end = rng if rng else (0, size - 1)
            if a.latency:
                time.sleep(a.latency / 1000.0)
            bad = image and self.bad("image")
            self.bad_status = bad and a.bad_http in ("status", "code")
            self.send_response(206 if rng else 200)
            if rng:
                self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, size))
            self.send_header("Accept-Ranges", "bytes")
            short = 100 if bad and a.bad_http == "excess" and end - start + 1 > 100 else 0
            self.send_header("Content-Length", str(end - start + 1 - short))
            self.end_headers()
            if self.command == "HEAD":
                return self.log_req(200, 0)
            if bad and a.bad_http == "trailing":
                data = data[:end + 1] + b"x" * 100 + data[end + 1:]
                end += 100
            sent, pos, t0 = 0, start, time.time()
            step = 16384
            rate = a.throttle
            if image and a.slow_first:
                with state.lock:
                    if state.slow_port is None:
                        state.slow_port = self.client_address[1]
                    if state.slow_port == self.client_address[1]:
                        rate = a.throttle / a.slow_first
            key = object()
            try:
                while pos <= end:
                    if image:
                        with state.lock:
                            state.active.add(key)
                            state.spans[key] = [start, pos]
                            state.image_size = size
                    n = min(step, end + 1 - pos)
                    piece = bytearray(data[pos:pos + n])
                    if image and a.corrupt_at is not None and pos <= a.corrupt_at < pos + n:
                        with state.lock:
                            do = a.corrupt_always or not state.corrupted
                            state.corrupted = True
                        if do:
                            piece[a.corrupt_at - pos] ^= 0xFF
                    if image and a.drop_at is not None and pos <= a.drop_at < pos + n:
                        with state.lock:
                            do = not state.dropped
                            state.dropped = True
                        if do:
                            cut = a.drop_at - pos
                            self.wfile.write(bytes(piece[:cut]))
                            self.wfile.flush()
                            sent += cut
                            self.log_req(206 if rng else 200, sent, {"dropped": True})
                            self.close_connection = True
                            self.connection.shutdown(socket.SHUT_RDWR)
                            return
                    self.wfile.write(bytes(piece))
                    sent += n
                    pos += n
                    if rate:
                        ahead = sent / rate - (time.time() - t0)
                        if ahead > 0:
                            time.sleep(ahead)
            except (BrokenPipeError, ConnectionResetError, OSError):
                self.close_connection = True
                return self.log_req(206 if rng else 200, sent, {"aborted": True})
            finally:
                with state.lock:
                    state.active.discard(key)
                    if key in state.spans:
                        state.spans[key][1] = start + sent
            self.log_req(206 if rng else 200, sent)

    return H


def cmd_checklog(a):
    """Print, as JSON, how many times each chunk was delivered in full by a
    successful or cut image response, and how many requests touched it."""
    sizes = []
    off = 0
    while off < a.size:
        n = min(a.chunk, a.size - off)
        sizes.append((off, n))
        off += n
    full = [0] * len(sizes)
    touched = [0] * len(sizes)
    for line in open(a.log):
        r = json.loads(line)
        if r["method"] != "GET" or not r["path"].endswith(a.suffix) or r["status"] not in (200, 206):
            continue
        start = 0
        if r["range"]:
            start = int(r["range"][6:].split("-")[0])
        end = start + r["sent"]
        for i, (o, n) in enumerate(sizes):
            if o >= start and o + n <= end:
                full[i] += 1
            if o < end and o + n > start:
                touched[i] += 1
    print(json.dumps({"full": full, "touched": touched}))


def cmd_serve(a):
    logf = open(a.log, "a")
    state = State()
    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            pass  # clients that hang up (kill -9, dropped runs) are expected

    # images are read before the port is published, so no answer waits for it
    adir = os.path.join(a.dir, "assets")
    for n in sorted(os.listdir(adir)) if os.path.isdir(adir) else []:
        if n.endswith(".dmg"):
            read_cached(os.path.join(adir, n))
    srv = Server(("127.0.0.1", 0), make_handler(a, state, logf))
    srv.daemon_threads = True
    port = srv.server_address[1]
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, a.port_file)

    def stop():
        time.sleep(a.timeout)
        os._exit(0)

    threading.Thread(target=stop, daemon=True).start()

    def watch():
        while True:
            time.sleep(0.02)
            with state.lock:
                if state.active:
                    done, reach = 0, 0
                    for a0, a1 in sorted(state.spans.values()):
                        a0 = max(a0, reach)
                        if a1 > a0:
                            done += a1 - a0
                            reach = a1
                    logf.write(json.dumps({"sample": round(time.time(), 6), "active": len(state.active),
                                           "left": state.image_size - done}) + "\n")
                    logf.flush()

    if a.watch:
        threading.Thread(target=watch, daemon=True).start()
    srv.serve_forever()


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("mkasset")
    m.add_argument("--out", required=True)
    m.add_argument("--key", required=True)
    m.add_argument("--size", type=int, default=8 * 524288 + 12345)
    m.add_argument("--chunk", type=int, default=524288)
    m.add_argument("--name", default="BaseSystem")
    m.add_argument("--seed", type=int, default=7)
    m.add_argument("--sig-method", type=int, default=1)
    c = sub.add_parser("mkcatalog")
    c.add_argument("--out", required=True)
    c.add_argument("--key", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--dir", required=True)
    s.add_argument("--port-file", required=True)
    s.add_argument("--log", required=True)
    s.add_argument("--name", default="BaseSystem")
    s.add_argument("--timeout", type=float, default=120)
    s.add_argument("--throttle", type=float, default=0)
    s.add_argument("--latency", type=float, default=0)
    s.add_argument("--drop-at", type=int)
    s.add_argument("--corrupt-at", type=int)
    s.add_argument("--corrupt-always", action="store_true")
    s.add_argument("--fail-first", type=int, default=0)
    s.add_argument("--wrong-token", action="store_true")
    s.add_argument("--short", type=int, default=0)
    s.add_argument("--bad-sig", action="store_true")
    s.add_argument("--no-range", action="store_true")
    s.add_argument("--hostile-names", choices=sorted(HOSTILE_NAMES))
    s.add_argument("--slow-first", type=float, default=0)
    s.add_argument("--watch", action="store_true")
    s.add_argument("--bad-http", choices=["excess", "status", "code", "trailing"])
    s.add_argument("--bad-http-on", choices=["image", "session"], default="image")
    k = sub.add_parser("checklog")
    k.add_argument("--log", required=True)
    k.add_argument("--size", type=int, required=True)
    k.add_argument("--chunk", type=int, default=524288)
    k.add_argument("--suffix", default=".dmg")
    a = p.parse_args()
    {"mkasset": cmd_mkasset, "mkcatalog": cmd_mkcatalog, "serve": cmd_serve, "checklog": cmd_checklog}[a.cmd](a)


if __name__ == "__main__":
    main()
