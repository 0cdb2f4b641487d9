#!/usr/bin/env python3
"""Hostile applications for the client's tests (tests/integration/client-hostile.sh).

  hostile_app.py hello-endless IP PORT SECONDS
      a TLS handshake record that never ends: its 5-byte header, then bytes as fast as the
      connection takes them, for at most SECONDS; prints "sent N closed-by-peer|open MS"
  hello-trickle IP PORT SECONDS
      0x16 (a ClientHello's first byte), then one byte a second; the same report
  idle N IP PORT
      N connections that never send: prints "open N MS" once all are connected (MS the wall
      clock), then holds them until stdin ends, and prints "still-open K" (K of them the peer
      had not closed)

Connections go to IP:PORT as the application would (the datapath steers them). The soft
RLIMIT_NOFILE is raised to the hard limit first.
"""
import os
import resource
import select
import socket
import sys
import time


def now_ms():
    return int(time.time() * 1000)


def pump(s, first, more, seconds, interval):
    """Send first, then more every interval (0: as fast as it goes) for seconds."""
    t0 = time.monotonic()
    sent = 0
    closed = False
    s.setblocking(False)
    buf = first
    while time.monotonic() - t0 < seconds:
        r, w, _ = select.select([s], [s] if buf else [], [], 0.2)
        if r:
            try:
                if not s.recv(65536):
                    closed = True
                    break
            except BlockingIOError:
                pass
            except OSError:
                closed = True
                break
        if w and buf:
            try:
                n = s.send(buf)
                sent += n
                buf = buf[n:]
            except BlockingIOError:
                pass
            except OSError:
                closed = True
                break
        if not buf:
            if interval:
                time.sleep(interval)
            buf = more
    print("sent %d %s %d" % (sent, "closed-by-peer" if closed else "open",
                             (time.monotonic() - t0) * 1000), flush=True)


def idle(n, ip, port):
    socks = []
    for _ in range(n):
        s = socket.create_connection((ip, port), timeout=30)
        socks.append(s)
    print("open %d %d" % (len(socks), now_ms()), flush=True)
    sys.stdin.read()
    still = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                continue
            still += 1
        except BlockingIOError:
            still += 1
        except OSError:
            pass
    print("still-open %d" % still, flush=True)


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    what = sys.argv[1]
    if what == "idle":
        idle(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
        return
    ip, port, seconds = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    s = socket.create_connection((ip, port), timeout=10)
    if what == "hello-endless":
        pump(s, b"\x16\x03\x01\xff\xff", b"A" * 65536, seconds, 0)
    elif what == "hello-trickle":
        pump(s, b"\x16", b"\x03", seconds, 1.0)
    else:
        sys.exit("unknown mode " + what)
    os._exit(0)


if __name__ == "__main__":
    main()
