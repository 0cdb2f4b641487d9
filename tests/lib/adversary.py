#!/usr/bin/env python3
"""The hostile local user of tests/integration/security-adversary.sh: each subcommand is one
move against the service, run as whatever uid started it (or, for fill, as uids it switches
to). Every loop is bounded by a deadline. Output is one line per fact the test reads.

  client SOCKET [PRINCIPAL_HEX]  register; print "REGISTERED port4 port6" (and the answer to a
                                 client report with that principal); SIGUSR1 closes the
                                 listeners and keeps the IPC connection, SIGTERM closes the
                                 listeners, then the IPC connection one second later (the order
                                 a client shutting down follows)
  squat PORT SECS                spin bind(127.0.0.1:PORT); print "ACCEPTED ..." for every
                                 connection that lands, then "SQUAT binds=N accepted=M"
  dial HOST PORT SECS [COMM_HEX] connect and send a request again and again ("DIAL n")
  fill SOCKET UID0 NUIDS PER SECS as root: uids UID0.. each open PER idle connections and hold
                                 them SECS; print "FILLED held=N refused=M"
  idle SOCKET SECS               one idle connection: "CLOSED after S" or "OPEN"
  flood SOCKET SECS              connections beyond the per-uid limit, then malformed
                                 datagrams, for SECS in all: "FLOOD n"
"""
import os
import select
import signal
import socket
import struct
import sys
import time

MAGIC = 0x4B474B31
HDR = struct.Struct("=IHHII")
MSG_ERROR, MSG_REGISTER, MSG_REGISTERED, MSG_STATUS_GET, MSG_STATUS = 1, 3, 4, 8, 9
MSG_CLIENT_INFO = 18
TEXT_MAX = 256


def msg(mtype, payload=b"", seq=1):
    return HDR.pack(MAGIC, 1, mtype, seq, len(payload)) + payload


def ipc_connect(path, patience=10):
    """Connect; a full listen backlog (EAGAIN: the service is busy accepting) is retried."""
    deadline = time.monotonic() + patience
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.settimeout(5)
        try:
            s.connect(path)
            return s
        except BlockingIOError:
            s.close()
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def answer(s):
    data = s.recv(65536)
    if len(data) < HDR.size:
        return "CLOSED", data
    mtype = HDR.unpack_from(data)[2]
    if mtype == MSG_ERROR:
        text = data[HDR.size + 4:].split(b"\0")[0].decode(errors="replace")
        return "ERROR " + text, data
    return "OK", data


def cmd_client(path, principal_hex=None):
    s = ipc_connect(path)
    s.send(msg(MSG_REGISTER, struct.pack("=II", 0, 0)))
    data, fds, _, _ = socket.recv_fds(s, 65536, 4)
    mtype = HDR.unpack_from(data)[2]
    if mtype != MSG_REGISTERED:
        print("ERROR " + answer_text(data), flush=True)
        return 1
    port4, port6 = struct.unpack_from("=HH", data, HDR.size)
    listeners = [socket.socket(fileno=fd) for fd in fds]
    print("REGISTERED %d %d" % (port4, port6), flush=True)
    if principal_hex is not None:
        principal = bytes.fromhex(principal_hex)[:TEXT_MAX - 1]
        report = principal.ljust(TEXT_MAX, b"\0") + struct.pack("=qQQQ", 0, 0, 0, 0)
        s.send(msg(MSG_CLIENT_INFO, report, 2))
        print("REPORT " + answer(s)[0], flush=True)

    def drop_listeners(*_):
        while listeners:
            listeners.pop().close()

    def stop(*_):
        drop_listeners()
        time.sleep(1)
        s.close()
        sys.exit(0)

    signal.signal(signal.SIGUSR1, drop_listeners)
    signal.signal(signal.SIGTERM, stop)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if listeners:
            accept_and_close(listeners)
        else:
            time.sleep(0.5)
    return 0


def answer_text(data):
    return data[HDR.size + 4:].split(b"\0")[0].decode(errors="replace")


def accept_and_close(listeners):
    try:
        ready, _, _ = select.select(listeners, [], [], 0.5)
    except (OSError, ValueError):
        return
    for ls in ready:
        try:
            ls.accept()[0].close()
        except OSError:
            pass


def cmd_squat(port, secs):
    deadline = time.monotonic() + float(secs)
    binds = accepted = 0
    while time.monotonic() < deadline:
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            ls.bind(("127.0.0.1", int(port)))
            ls.listen(64)
        except OSError:
            ls.close()
            time.sleep(0.002)
            continue
        binds += 1
        ls.settimeout(0.05)
        try:
            while True:
                conn, peer = ls.accept()
                conn.settimeout(0.2)
                try:
                    first = conn.recv(64)
                except OSError:
                    first = b""
                accepted += 1
                print("ACCEPTED from %s:%d %r" % (peer[0], peer[1], first), flush=True)
                conn.close()
        except OSError:
            pass
        ls.close()
    print("SQUAT binds=%d accepted=%d" % (binds, accepted), flush=True)
    return 0


def set_comm(comm_hex):
    with open("/proc/self/comm", "wb") as f:
        f.write(bytes.fromhex(comm_hex)[:15])


def cmd_dial(host, port, secs, comm_hex=None):
    if comm_hex:
        set_comm(comm_hex)
    deadline = time.monotonic() + float(secs)
    n = 0
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, int(port)), timeout=0.5) as c:
                c.sendall(b"GET /secret HTTP/1.1\r\nHost: u.example\r\nCookie: session=u\r\n\r\n")
                n += 1
        except OSError:
            time.sleep(0.01)
    print("DIAL %d" % n, flush=True)
    return 0


def hold_as(uid, path, per, secs, out):
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    conns = []
    for _ in range(per):
        try:
            conns.append(ipc_connect(path))
        except OSError:
            pass
    # A status request on each: a connection the service kept answers it, a refused one got an
    # error and was closed. However slow the service, every connection is answered either way.
    held = 0
    for c in conns:
        c.settimeout(20)
        try:
            c.send(msg(MSG_STATUS_GET))
            data = c.recv(65536)
        except OSError:
            continue
        held += len(data) >= HDR.size and HDR.unpack_from(data)[2] == MSG_STATUS
    os.write(out, b"%d %d\n" % (held, per - held))
    time.sleep(float(secs))
    os._exit(0)


def cmd_fill(path, uid0, nuids, per, secs):
    rfd, wfd = os.pipe()
    kids = []
    for uid in range(int(uid0), int(uid0) + int(nuids)):
        pid = os.fork()
        if pid == 0:
            os.close(rfd)
            hold_as(uid, path, int(per), secs, wfd)
        kids.append(pid)
    os.close(wfd)
    held = refused = 0
    with os.fdopen(rfd) as r:
        for _ in kids:
            line = r.readline().split()
            if len(line) == 2:
                held += int(line[0])
                refused += int(line[1])
            if len(line) < 2:
                break
        print("FILLED held=%d refused=%d" % (held, refused), flush=True)
    for pid in kids:
        os.waitpid(pid, 0)
    return 0


def cmd_idle(path, secs):
    s = ipc_connect(path)
    print("CONNECTED", flush=True)
    start = time.monotonic()
    ready, _, _ = select.select([s], [], [], float(secs))
    if ready and s.recv(65536) == b"":
        print("CLOSED after %.1f" % (time.monotonic() - start), flush=True)
    else:
        print("OPEN", flush=True)
    return 0


def cmd_flood(path, secs):
    deadline = time.monotonic() + float(secs)
    half = time.monotonic() + float(secs) / 2
    held, n = [], 0
    while time.monotonic() < deadline:
        try:
            s = ipc_connect(path)
        except OSError:
            continue
        n += 1
        if time.monotonic() < half and len(held) < 32:
            held.append(s)  # fills this uid's share, so the next ones are refused
            continue
        if time.monotonic() >= half and held:
            for h in held:
                h.close()
            held = []
        try:
            s.send(b"\x01\x02garbage" if time.monotonic() >= half else b"")
        except OSError:
            pass
        s.close()
    print("FLOOD %d" % n, flush=True)
    return 0


COMMANDS = {"client": cmd_client, "squat": cmd_squat, "dial": cmd_dial, "fill": cmd_fill,
            "idle": cmd_idle, "flood": cmd_flood}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.stderr.write(__doc__)
        sys.exit(2)
    sys.exit(COMMANDS[sys.argv[1]](*sys.argv[2:]))
