#!/usr/bin/env python3
"""Answer every TCP connection with one line "DIRECT addr:port" naming the local address it
reached, then close. Test instrument: proves a connection was NOT steered.
Usage: direct_server.py ADDR:PORT... (IPv6 as [addr]:port). Exits on SIGTERM."""
import selectors
import socket
import sys


def listener(spec):
    host, _, port = spec.rpartition(":")
    fam = socket.AF_INET6 if host.startswith("[") else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host.strip("[]"), int(port)))
    s.listen(64)
    return s


def main():
    sel = selectors.DefaultSelector()
    for spec in sys.argv[1:]:
        sel.register(listener(spec), selectors.EVENT_READ, spec)
    print("READY", flush=True)
    while True:
        for key, _ in sel.select():
            conn, _ = key.fileobj.accept()
            try:
                conn.sendall(("DIRECT %s\n" % key.data).encode())
            finally:
                conn.close()


if __name__ == "__main__":
    main()
