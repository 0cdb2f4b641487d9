#!/usr/bin/env python3
"""Idle tunnels for the relay memory benchmark (tests/bench/client-bench.sh).

    client-idle-tunnels.py --ip IP --host NAME --cafile CA --count N [--inflight K]
                           [--setup-timeout S] [--hold-timeout S]

Opens N connections to IP:443 as an ordinary application would (no proxy settings; the
datapath steers them to the user's relay) and completes a real TLS handshake with NAME on each,
verified against CA. A finished handshake proves the tunnel is open end to end: relay, CONNECT
with Negotiate, the proxy, the origin. The sockets are then left idle, like a browser's
keep-alive connections, and held until stdin reaches EOF (or --hold-timeout), so the caller can
read the relay's memory while they exist.

Output, one line each:  "established N failed M seconds S" once set-up is over,
                        "released" when the sockets are closed.
Exit status: 0 when at least one tunnel was established, 1 otherwise, 2 on usage errors.
"""

import argparse
import select
import socket
import ssl
import sys
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ip", required=True)
    p.add_argument("--host", required=True)
    p.add_argument("--cafile", required=True)
    p.add_argument("--port", type=int, default=443)
    p.add_argument("--count", type=int, required=True)
    # Each new tunnel costs the proxy one Negotiate validation; Squid's helper queue is short
    # (children x 2), so a bounded number of set-ups in flight keeps it from overloading.
    p.add_argument("--inflight", type=int, default=8)
    p.add_argument("--setup-timeout", type=float, default=120.0)
    p.add_argument("--hold-timeout", type=float, default=120.0)
    return p.parse_args()


class Tunnel:
    __slots__ = ("sock", "tls", "started")

    def __init__(self, sock, tls, started):
        self.sock = sock
        self.tls = tls
        self.started = started


def open_one(args, ctx, ep, pending):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Blocking connect: it lands on the relay's loopback listener at once (the kernel answers
    # for the backlog), and an SSLSocket needs a connected socket to start its handshake.
    sock.settimeout(5)
    try:
        sock.connect((args.ip, args.port))
    except OSError as e:
        print("# connect failed: %s" % e, file=sys.stderr)
        sock.close()
        return False
    sock.setblocking(False)
    tls = ctx.wrap_socket(sock, server_hostname=args.host, do_handshake_on_connect=False)
    pending[tls.fileno()] = Tunnel(sock, tls, time.monotonic())
    ep.register(tls.fileno(), select.EPOLLOUT | select.EPOLLIN | select.EPOLLET)
    return True


def step(t):
    """Advance one handshake: True done, False waiting, raises on failure."""
    try:
        t.tls.do_handshake()
        return True
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
        return False


def setup(args, ctx, ep):
    pending, done = {}, []
    opened = failed = 0
    deadline = time.monotonic() + args.setup_timeout
    while (opened < args.count or pending) and time.monotonic() < deadline:
        while opened < args.count and len(pending) < args.inflight:
            opened += 1
            if not open_one(args, ctx, ep, pending):
                failed += 1
        for fd, _ in ep.poll(0.5):
            t = pending.get(fd)
            if t is None:
                continue
            try:
                finished = step(t)
            except (ssl.SSLError, OSError) as e:
                if failed < 5:
                    print("# tunnel failed: %s" % e, file=sys.stderr)
                failed += 1
                ep.unregister(fd)
                del pending[fd]
                t.tls.close()
                continue
            if finished:
                ep.unregister(fd)
                del pending[fd]
                done.append(t)
        # A handshake stuck longer than the set-up budget allows counts as failed.
        now = time.monotonic()
        for fd in [fd for fd, t in pending.items() if now - t.started > 30]:
            failed += 1
            ep.unregister(fd)
            pending.pop(fd).tls.close()
    failed += len(pending) + (args.count - opened)
    for fd, t in pending.items():
        ep.unregister(fd)
        t.tls.close()
    return done, failed


def main():
    args = parse_args()
    if args.count < 1 or args.inflight < 1:
        print("--count and --inflight must be positive", file=sys.stderr)
        return 2
    ctx = ssl.create_default_context(cafile=args.cafile)
    ep = select.epoll()
    t0 = time.monotonic()
    done, failed = setup(args, ctx, ep)
    print("established %d failed %d seconds %.1f" % (len(done), failed, time.monotonic() - t0),
          flush=True)
    # Hold: the caller closes our stdin when it has measured.
    ready, _, _ = select.select([sys.stdin], [], [], args.hold_timeout)
    if ready:
        sys.stdin.read()
    for t in done:
        t.tls.close()
    print("released", flush=True)
    return 0 if done else 1


if __name__ == "__main__":
    sys.exit(main())
