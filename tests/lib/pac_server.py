#!/usr/bin/env python3
"""PAC server of the test rig (issue 13): serves the PAC files a test writes, and hostile ones.

    pac_server.py --bind IP [--port 80] [--https-port 443 --cert C --key K] --dir DIR
                  [--ready FILE]

GET or HEAD /NAME answers the file DIR/NAME (NAME: letters, digits, '.', '_', '-'; no
directories) as application/x-ns-proxy-autoconfig with a Content-Length, unless DIR/NAME.mode
exists; its first line then selects a misbehaviour:

    status CODE      answer CODE with a short body instead of the file (404, 500, ...)
    redirect TARGET  302 to TARGET (a path such as /other.pac, or a full URL)
    stall            headers with the file's full Content-Length, half of the body, then
                     nothing more until the client gives up (a transfer that never finishes)
    hang             read the request, then send nothing at all until the client gives up
    trickle          headers, then one byte of the body per second

The same answers over HTTPS when --https-port is given. A missing NAME is 404. Every request
is logged on stderr as "GET /NAME -> CODE MODE" so a test can count the fetches of a name (and
see that a client gave up: "... closed after N bytes").
A stalled or hung answer ends when the client closes, or after 10 minutes.
"""

import argparse
import http.server
import os
import re
import ssl
import sys
import threading
import time

NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
HOLD_SECONDS = 600
PAC_TYPE = "application/x-ns-proxy-autoconfig"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kgtest-pac/1"

    def log_message(self, fmt, *args):
        pass  # one line per request of our own below

    def note(self, code, mode, extra=""):
        sys.stderr.write("%s %s -> %s %s%s\n" % (self.command, self.path, code, mode, extra))
        sys.stderr.flush()

    def plain(self, code, body):
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def hold(self):
        """Wait, sending nothing, until the client closes (or HOLD_SECONDS)."""
        self.connection.settimeout(1.0)
        end = time.monotonic() + HOLD_SECONDS
        while time.monotonic() < end:
            try:
                if not self.connection.recv(4096):
                    return
            except TimeoutError:
                continue
            except OSError:
                return

    def do_GET(self):
        name = self.path.split("?", 1)[0].lstrip("/")
        if not NAME_RE.match(name) or name.startswith("."):
            self.note(404, "badname")
            return self.plain(404, b"no such PAC\n")
        path = os.path.join(self.server.pac_dir, name)
        mode = ["plain"]
        try:
            with open(path + ".mode") as f:
                mode = (f.readline().split() or ["plain"])
        except OSError:
            pass
        if mode[0] == "hang":
            self.note("-", "hang")
            self.close_connection = True
            return self.hold()
        if mode[0] == "status" and len(mode) > 1:
            self.note(mode[1], "status")
            return self.plain(int(mode[1]), b"kgtest PAC server: status by request\n")
        if mode[0] == "redirect" and len(mode) > 1:
            self.note(302, "redirect")
            self.send_response(302)
            self.send_header("Location", mode[1])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        try:
            with open(path, "rb") as f:
                body = f.read()
        except OSError:
            self.note(404, "missing")
            return self.plain(404, b"no such PAC\n")
        self.send_response(200)
        self.send_header("Content-Type", PAC_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "HEAD":
            self.note(200, mode[0])
            return None
        if mode[0] == "stall":
            self.note(200, "stall")
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return self.hold()
        if mode[0] == "trickle":
            self.note(200, "trickle")
            self.close_connection = True
            sent = 0
            try:
                for i in range(len(body)):
                    self.wfile.write(body[i:i + 1])
                    self.wfile.flush()
                    sent += 1
                    time.sleep(1)
            except OSError:
                sys.stderr.write("GET %s closed after %d bytes\n" % (self.path, sent))
            return None
        self.note(200, mode[0])
        try:
            self.wfile.write(body)
        except OSError:
            sys.stderr.write("GET %s closed early\n" % self.path)
        return None

    do_HEAD = do_GET


# The threaded HTTP and TLS servers are the origin's (origin.py, beside this file).
from origin import Server, TLSServer  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bind", required=True)
    p.add_argument("--port", type=int, default=80)
    p.add_argument("--https-port", type=int, default=0)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--dir", required=True)
    p.add_argument("--ready", help="file written once the port is bound")
    args = p.parse_args()
    servers = [Server((args.bind, args.port), Handler)]
    if args.https_port:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(args.cert, args.key)
        servers.append(TLSServer((args.bind, args.https_port), Handler, ctx))
    for srv in servers:
        srv.pac_dir = args.dir
    if args.ready:
        with open(args.ready + ".tmp", "w") as f:
            f.write("%d\n" % os.getpid())
        os.rename(args.ready + ".tmp", args.ready)
    for srv in servers[1:]:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
