#!/usr/bin/env python3
"""A minimal DNS A-record query for the test rig (no resolver library, no system files).

    dnsq.py SERVER PORT NAME

Sends one UDP query (recursion desired) for NAME's A records to SERVER:PORT, waits 2 s at most,
and prints one "ADDRESS TTL" line per A record of the answer. Exit status: 0 with at least one
A record, 1 for NXDOMAIN or no A record (printed: "NXDOMAIN" or "NODATA"), 2 on a timeout or a
reply that does not parse (printed on stderr). Reads at most one 512-byte datagram, and checks
every offset against its length.
"""

import os
import socket
import struct
import sys


def skip_name(msg, off):
    """Offset after the (possibly compressed) name at off."""
    while True:
        if off >= len(msg):
            raise ValueError("name runs past the end")
        n = msg[off]
        if n == 0:
            return off + 1
        if n & 0xC0 == 0xC0:
            return off + 2
        if n & 0xC0:
            raise ValueError("bad label type")
        off += 1 + n


def query(server, port, name):
    qid = int.from_bytes(os.urandom(2), "big")
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        raw = label.encode("ascii")
        if not 0 < len(raw) < 64:
            raise ValueError("bad label in %r" % name)
        q += bytes([len(raw)]) + raw
    q += b"\0" + struct.pack(">HH", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2.0)
    s.sendto(q, (server, port))
    while True:
        msg, _ = s.recvfrom(512)
        if len(msg) >= 12 and struct.unpack(">H", msg[:2])[0] == qid:
            return msg


def parse(msg):
    _, flags, qd, an, _, _ = struct.unpack(">HHHHHH", msg[:12])
    rcode = flags & 0xF
    if rcode == 3:
        return "NXDOMAIN", []
    if rcode != 0:
        raise ValueError("rcode %d" % rcode)
    off = 12
    for _ in range(qd):
        off = skip_name(msg, off) + 4
    out = []
    for _ in range(an):
        off = skip_name(msg, off)
        if off + 10 > len(msg):
            raise ValueError("record header runs past the end")
        rtype, rclass, ttl, rdlen = struct.unpack(">HHIH", msg[off:off + 10])
        off += 10
        if off + rdlen > len(msg):
            raise ValueError("record data runs past the end")
        if rtype == 1 and rclass == 1 and rdlen == 4:
            out.append((socket.inet_ntoa(msg[off:off + 4]), ttl))
        off += rdlen
    return ("OK" if out else "NODATA"), out


def main():
    if len(sys.argv) != 4:
        sys.stderr.write("usage: dnsq.py SERVER PORT NAME\n")
        return 2
    try:
        status, records = parse(query(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
    except (OSError, ValueError, struct.error) as e:
        sys.stderr.write("dnsq: %s\n" % e)
        return 2
    if not records:
        print(status)
        return 1
    for addr, ttl in records:
        print(addr, ttl)
    return 0


if __name__ == "__main__":
    sys.exit(main())
