#!/usr/bin/env python3
"""Connections of a hostile local user to another user's relay, and one application's
keep-alive exchange (tests/integration/security-adversary-relay.sh).

    rider.py hold MARK SECONDS TARGET...
        Two connections to each TARGET (ADDR:PORT, IPv6 as [addr]:port), each sending an HTTP
        request that names MARK in its Host field and path; prints "SENT n" once all are
        sent, then reads for SECONDS and prints "HOLD sent=n answered=a closed=c".
    rider.py spin MARK SECONDS TARGETFILE STOPFILE
        Until SECONDS pass or STOPFILE exists: connect to every target listed in TARGETFILE
        (one per line, reread every 0.2 s), send the request, close. Prints
        "SPIN attempts=n connected=c answered=a" (answered: some byte came back).
    rider.py keepalive IP GOFILE SECONDS
        One connection to IP:80: GET / (printed as "FIRST <status>"), then, once GOFILE
        exists (SECONDS at most), GET /second on the same connection: "SECOND <status>" or
        "SECOND closed" when the connection is gone.

Every loop is bounded in time; connections are made with short timeouts.
"""

import os
import select
import socket
import sys
import time

SPIN_MAX = 1000000


def target(spec):
    host, _, port = spec.rpartition(":")
    fam = socket.AF_INET6 if host.startswith("[") else socket.AF_INET
    return fam, (host.strip("[]"), int(port))


def request(mark):
    return (b"GET http://%s.test/%s HTTP/1.1\r\nHost: %s.test\r\n\r\n"
            % (mark.encode(), mark.encode(), mark.encode()))


def dial(spec, timeout):
    fam, addr = target(spec)
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(addr)
    except OSError:
        s.close()
        return None
    return s


def hold(mark, seconds, specs):
    socks = []
    for spec in specs:
        for _ in range(2):
            s = dial(spec, 2)
            if s:
                try:
                    s.sendall(request(mark))
                    socks.append(s)
                except OSError:
                    s.close()
    print("SENT %d" % len(socks), flush=True)
    answered = closed = 0
    open_socks = list(socks)
    end = time.monotonic() + seconds
    while open_socks and time.monotonic() < end:
        ready, _, _ = select.select(open_socks, [], [], max(0.0, end - time.monotonic()))
        for s in ready:
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if data:
                answered += 1
            else:
                closed += 1
            open_socks.remove(s)
    for s in socks:
        s.close()
    print("HOLD sent=%d answered=%d closed=%d" % (len(socks), answered, closed), flush=True)


def read_targets(path):
    try:
        with open(path) as f:
            return [l.strip() for l in f if l.strip()]
    except OSError:
        return []


def spin(mark, seconds, target_file, stop_file):
    attempts = connected = answered = 0
    end = time.monotonic() + seconds
    specs, next_read = [], 0.0
    req = request(mark)
    while attempts < SPIN_MAX and time.monotonic() < end and not os.path.exists(stop_file):
        now = time.monotonic()
        if now >= next_read:
            specs, next_read = read_targets(target_file), now + 0.2
        if not specs:
            time.sleep(0.05)
            continue
        for spec in specs:
            attempts += 1
            s = dial(spec, 0.3)
            if not s:
                time.sleep(0.001)
                continue
            connected += 1
            try:
                s.sendall(req)
                s.settimeout(0.02)
                if s.recv(1):
                    answered += 1
            except OSError:
                pass
            s.close()
    print("SPIN attempts=%d connected=%d answered=%d" % (attempts, connected, answered),
          flush=True)


def read_status(s):
    """The status of one response (its body is read by Content-Length), or None."""
    data = b""
    while b"\r\n\r\n" not in data:
        b = s.recv(4096)
        if not b:
            return None
        data += b
    head, body = data.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    while len(body) < length:
        b = s.recv(4096)
        if not b:
            return None
        body += b
    return head.split(b" ", 2)[1].decode()


def keepalive(ip, go_file, seconds):
    s = socket.create_connection((ip, 80), timeout=10)
    s.sendall(b"GET / HTTP/1.1\r\nHost: origin.test\r\n\r\n")
    print("FIRST %s" % read_status(s), flush=True)
    end = time.monotonic() + seconds
    while not os.path.exists(go_file) and time.monotonic() < end:
        time.sleep(0.05)
    try:
        s.sendall(b"GET /second HTTP/1.1\r\nHost: origin.test\r\n\r\n")
        status = read_status(s)
    except OSError:
        status = None
    print("SECOND %s" % (status or "closed"), flush=True)


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "hold":
        hold(args[0], float(args[1]), args[2:])
    elif mode == "spin":
        spin(args[0], float(args[1]), args[2], args[3])
    elif mode == "keepalive":
        keepalive(args[0], args[1], float(args[2]))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
