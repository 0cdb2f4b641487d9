#!/usr/bin/env python3
"""Send malformed IPC datagrams to the service, one connection each, and report per case
whether the service answered with an error or disconnected (both acceptable) or answered as
if the message were valid (a failure). Usage: ipc_garbage.py SOCKET"""
import os
import socket
import struct
import sys

MAGIC = 0x4B474B31
HDR = struct.Struct("=IHHII")


def msg(mtype, payload=b"", version=1, magic=MAGIC, length=None):
    if length is None:
        length = len(payload)
    return HDR.pack(magic, version, mtype, 7, length) + payload


CASES = {
    "empty datagram": b"",
    "truncated header": b"\x31\x4b\x47",
    "garbage": os.urandom(64),
    "wrong magic": msg(8, magic=0xDEADBEEF),
    "wrong version": msg(8, version=99),
    "length field lies": msg(8, length=100),
    "register with short payload": msg(3, b"\x00\x00"),
    "register with flags set": msg(3, struct.pack("=II", 1, 0)),
    "status request with payload": msg(8, b"x" * 16),
    "unknown type": msg(999),
    "oversized datagram": msg(8, b"A" * 20000),
    "reply type sent as request": msg(9, b"\x00" * 8),
    "route state with direct 2": msg(19, struct.pack("=II", 2, 0) + b"\0" * 64),
    "route state with pad set": msg(19, struct.pack("=II", 1, 1) + b"\0" * 64),
    "route state with unterminated reason": msg(19, struct.pack("=II", 1, 0) + b"x" * 64),
    "route state with short payload": msg(19, struct.pack("=II", 1, 0) + b"\0" * 8),
}


def run(path, name, data):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(3)
    s.connect(path)
    try:
        s.send(data)
    except OSError as e:
        return "disconnect (%s)" % e.strerror
    try:
        r = s.recv(65536)
    except socket.timeout:
        return "no answer"
    except OSError as e:
        return "disconnect (%s)" % e.strerror
    finally:
        pass
    if not r:
        return "disconnect"
    if len(r) >= HDR.size:
        magic, ver, mtype, seq, ln = HDR.unpack_from(r)
        if mtype == 1:
            return "error reply"
        return "ANSWERED type %d" % mtype
    return "bad reply"


def main():
    path = sys.argv[1]
    bad = 0
    for name, data in CASES.items():
        res = run(path, name, data)
        ok = res.startswith("error") or res.startswith("disconnect")
        # An empty datagram on SEQPACKET reads as EOF: the service just closes.
        if name == "empty datagram" and res == "no answer":
            ok = True
        print("%s %s: %s" % ("ok" if ok else "BAD", name, res))
        bad += not ok
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
