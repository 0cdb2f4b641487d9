#!/usr/bin/env python3
"""A stand-in for systemd's notification socket: records every sd_notify datagram (one line
per message, fields joined by '|') and, when READY=1 first arrives, runs a command at once and
records its output, so a test can see what was true at the moment of readiness.
Usage: notify_listener.py SOCKET LOG [COMMAND...]"""
import os
import socket
import subprocess
import sys


def main():
    path, log = sys.argv[1], sys.argv[2]
    cmd = sys.argv[3:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    os.chmod(path, 0o666)
    ready_seen = False
    with open(log, "a", buffering=1) as out:
        out.write("LISTENING\n")
        while True:
            data = s.recv(65536).decode(errors="replace")
            fields = data.strip().split("\n")
            out.write("MSG " + "|".join(fields) + "\n")
            if "READY=1" in fields and not ready_seen and cmd:
                ready_seen = True
                res = subprocess.run(cmd, capture_output=True, text=True)
                out.write("AT_READY " + res.stdout.replace("\n", " ") + "\n")


if __name__ == "__main__":
    main()
