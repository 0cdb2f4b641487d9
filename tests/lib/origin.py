#!/usr/bin/env python3
"""Origin server of the test rig: known content over HTTP and HTTPS, bulk bytes, upload digests.

    origin.py serve --bind IP [--http-port 80] [--https-port 443 --cert C --key K] [--ready FILE]
    origin.py pattern N     write the first N bytes of the /bytes pattern to stdout
    origin.py digest N      print the sha256 of the first N bytes of the pattern

Endpoints (the same on both ports):
    GET  /            the known page (INDEX below)
    GET  /bytes/N     N bytes of a deterministic pattern, streamed (1 GiB is fine)
    GET  /peer        the peer address as the origin sees it (the proxy, through the rig)
    GET  /upgrade     with "Connection: Upgrade" and "Upgrade: websocket": 101 Switching
                      Protocols, then every byte received is echoed back until the peer's FIN;
                      without the offer (a proxy that drops it): 426 Upgrade Required
    POST or PUT /sha256   sha256 hex of the body (Content-Length or chunked) + "\\n",
                          the byte count in the X-Received-Bytes header
    GET  /browser/page?static=HOST   an HTML page for a real browser (issue 18): a style
                      sheet, a script and an image from https://HOST/browser/..., an image
                      from its own origin (asked for once the page's "Alt-Svc: h3" offer is
                      known: a browser that takes it tries QUIC for that one); every answer
                      offers HTTP/3; the script from HOST writes the marker
                      "kg-static-ran" into the DOM and the page's own script, at its load
                      event, the load time in ms (performance.now()) as "kg-load-ms=N"
    GET  /browser/static.js, /browser/static.css, /browser/static.svg   those sub-resources

A request that carries Proxy-Authorization (a proxy credential, which must never reach an
origin) is logged on stderr as "PROXY-AUTHORIZATION from ADDR: METHOD TARGET".

The pattern is a 65521-byte pseudo-random block (a prime length, so a lost or duplicated
chunk of any power-of-two size changes the digest) repeated: byte i = BLOCK[i % 65521].
"""

import argparse
import hashlib
import http.server
import os
import socket
import socketserver
import ssl
import sys
import threading

INDEX = b"kgtest origin: hello\n"
PERIOD = 65521
MAX_BYTES = 1 << 40  # cap on /bytes/N
MAX_UPLOAD = 1 << 40
CHUNK = 1 << 16

# The real-browser page (GET /browser/page?static=HOST): every sub-resource comes from HOST.
BROWSER_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>kgtest browser page</title>
<link rel="stylesheet" href="https://STATIC/browser/static.css">
<script src="https://STATIC/browser/static.js"></script>
<script>
window.addEventListener("load", function () {
  var p = document.createElement("p");
  p.id = "kg-load";
  p.textContent = "kg-load-ms=" + Math.round(performance.now());
  document.body.appendChild(p);
});
</script></head>
<body><h1>kgtest origin: browser page</h1>
<img id="kg-img" src="https://STATIC/browser/static.svg" alt="static image">
<img id="kg-img-same" src="/browser/static.svg?same" alt="same-origin image">
</body></html>
"""
BROWSER_FILES = {
    "/browser/static.js": ("text/javascript", b"""document.addEventListener("DOMContentLoaded",
  function () {
    var p = document.createElement("p");
    p.id = "kg-static";
    p.textContent = "kg-static-ran";
    document.body.appendChild(p);
  });
window.addEventListener("load", function () {
  var img = document.getElementById("kg-img");
  var p = document.createElement("p");
  p.id = "kg-img-state";
  var same = document.getElementById("kg-img-same");
  p.textContent = "kg-img-loaded=" + (img && img.complete && img.naturalWidth > 0 &&
    same && same.complete && same.naturalWidth > 0);
  document.body.appendChild(p);
});
"""),
    "/browser/static.css": ("text/css", b"h1 { color: rgb(1, 2, 3); }\n"),
    "/browser/static.svg": ("image/svg+xml",
                            b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4">'
                            b'<rect width="4" height="4" fill="#08f"/></svg>\n'),
}


def make_block():
    out = bytearray()
    seed = b"kernelgatekeeper test pattern"
    counter = 0
    while len(out) < PERIOD:
        out += hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:PERIOD])


BLOCK = make_block()
# Twice the block plus a chunk, so any window [offset, offset + CHUNK) is one slice.
RING = BLOCK * (2 + CHUNK // PERIOD + 1)


def pattern_chunks(n):
    sent = 0
    while sent < n:
        off = sent % PERIOD
        size = min(CHUNK, n - sent)
        yield memoryview(RING)[off:off + size]
        sent += size


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kgtest-origin/1"

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    def parse_request(self):
        ok = super().parse_request()
        if ok and "Proxy-Authorization" in self.headers:
            sys.stderr.write("PROXY-AUTHORIZATION from %s: %s %s\n"
                             % (self.address_string(), self.command, self.path))
            sys.stderr.flush()
        return ok

    def reply(self, code, body, extra=None):
        self.send_response(code)
        if "Content-Type" not in (extra or {}):
            self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        path = self.path
        if path.startswith("http://") or path.startswith("https://"):
            path = "/" + path.split("/", 3)[-1] if path.count("/") >= 3 else "/"
        if path == "/":
            return self.reply(200, INDEX)
        if path == "/peer":
            return self.reply(200, (self.client_address[0] + "\n").encode())
        if path == "/upgrade":
            return self.upgrade()
        if path.startswith("/browser/"):
            return self.browser(path)
        if path.startswith("/bytes/"):
            try:
                n = int(path[len("/bytes/"):])
            except ValueError:
                n = -1
            if n < 0 or n > MAX_BYTES:
                return self.reply(400, b"bad length\n")
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            if self.command != "HEAD":
                for chunk in pattern_chunks(n):
                    self.wfile.write(chunk)
            return None
        return self.reply(404, b"not found\n")

    do_HEAD = do_GET

    def browser(self, path):
        path, _, query = path.partition("?")
        args = dict(kv.partition("=")[::2] for kv in query.split("&") if kv)
        static = args.get("static", "")
        if path == "/browser/page" and static.replace(".", "").replace("-", "").isalnum():
            body = BROWSER_PAGE.replace("STATIC", static).encode()
            return self.reply(200, body, {"Content-Type": "text/html; charset=utf-8",
                                          "Alt-Svc": 'h3=":443"; ma=86400',
                                          "Cache-Control": "no-store"})
        if path in BROWSER_FILES:
            ctype, body = BROWSER_FILES[path]
            return self.reply(200, body, {"Content-Type": ctype, "Cache-Control": "no-store",
                                          "Access-Control-Allow-Origin": "*",
                                          "Alt-Svc": 'h3=":443"; ma=86400'})
        return self.reply(404, b"not found\n")

    def upgrade(self):
        conn = [t.strip().lower() for t in self.headers.get("Connection", "").split(",")]
        offer = [t.strip().lower() for t in self.headers.get("Upgrade", "").split(",")]
        if "upgrade" not in conn or "websocket" not in offer:
            return self.reply(426, b"no websocket upgrade offered\n", {"Upgrade": "websocket"})
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.end_headers()
        self.wfile.flush()
        # Raw echo, not WebSocket framing: what is tested is the byte stream after the 101.
        while True:
            data = self.rfile.read1(65536)
            if not data:
                break
            self.wfile.write(data)
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_WR)
        self.close_connection = True
        return None

    def read_body(self, digest):
        total = 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return total
                total += size
                if total > MAX_UPLOAD:
                    raise ValueError("upload too large")
                while size:
                    data = self.rfile.read(min(size, CHUNK))
                    if not data:
                        raise ValueError("short chunk")
                    digest.update(data)
                    size -= len(data)
                self.rfile.readline(16)
        length = int(self.headers.get("Content-Length", "0"))
        if length < 0 or length > MAX_UPLOAD:
            raise ValueError("bad Content-Length")
        while total < length:
            data = self.rfile.read(min(length - total, CHUNK))
            if not data:
                raise ValueError("short body")
            digest.update(data)
            total += len(data)
        return total

    def do_POST(self):
        if self.path.split("?")[0].rsplit("/", 1)[-1] != "sha256":
            return self.reply(404, b"not found\n")
        digest = hashlib.sha256()
        try:
            total = self.read_body(digest)
        except ValueError as e:
            self.close_connection = True
            return self.reply(400, ("%s\n" % e).encode())
        return self.reply(200, (digest.hexdigest() + "\n").encode(),
                          {"X-Received-Bytes": str(total)})

    do_PUT = do_POST


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 overflows under parallel tests and benchmarks; each
    # dropped SYN costs a 1 s retransmit that has nothing to do with what is measured.
    request_queue_size = 512


class TLSServer(Server):
    def __init__(self, addr, handler, context):
        self.context = context
        super().__init__(addr, handler)

    def get_request(self):
        sock, addr = super().get_request()
        sock.settimeout(30)  # the handshake runs in the worker thread, bounded
        return self.context.wrap_socket(sock, server_side=True,
                                        do_handshake_on_connect=False), addr

    def finish_request(self, request, client_address):
        try:
            request.do_handshake()
            request.settimeout(None)
        except (ssl.SSLError, OSError):
            return
        super().finish_request(request, client_address)


def serve(args):
    servers = [Server((args.bind, args.http_port), Handler)]
    if args.https_port:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(args.cert, args.key)
        servers.append(TLSServer((args.bind, args.https_port), Handler, ctx))
    if args.ready:
        with open(args.ready + ".tmp", "w") as f:
            f.write("%d\n" % os.getpid())
        os.rename(args.ready + ".tmp", args.ready)
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    servers[0].serve_forever()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--bind", required=True)
    s.add_argument("--http-port", type=int, default=80)
    s.add_argument("--https-port", type=int, default=0)
    s.add_argument("--cert")
    s.add_argument("--key")
    s.add_argument("--ready", help="file written once every port is bound")
    for name in ("pattern", "digest"):
        sub.add_parser(name).add_argument("n", type=int)
    args = p.parse_args()
    if args.cmd == "serve":
        serve(args)
    elif args.cmd == "pattern":
        out = sys.stdout.buffer
        for chunk in pattern_chunks(args.n):
            out.write(chunk)
    else:
        d = hashlib.sha256()
        for chunk in pattern_chunks(args.n):
            d.update(chunk)
        print(d.hexdigest())


if __name__ == "__main__":
    main()
