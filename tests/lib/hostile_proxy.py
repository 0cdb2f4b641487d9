#!/usr/bin/env python3
"""A hostile HTTP proxy for the client's tests (tests/integration/client-hostile.sh).

It sits in front of the rig's Squid: a request (CONNECT or a proxied GET) for a host whose first
label names a mode gets that misbehaviour; any other request is passed byte for byte to the real
proxy (--upstream), so the same proxy.url serves the good connections of the same test.

  trickle.*   the answer head one byte per --trickle-interval seconds (default 1), never ending
  endless.*   "HTTP/1.1 200 OK" then header lines forever, as fast as the peer reads them
  garbage.*   a valid "200 Connection established" (CONNECT) then --garbage-bytes random bytes,
              then it waits for the peer to close
  silent.*    reads the request and everything after it, never answers

Each request is a line on stdout ("MS open MODE METHOD TARGET", MODE "pass" for the others), each
ended hostile connection one more ("MS closed MODE after N ms", N from its request), MS the wall
clock in ms, flushed, so the test can tell the relay let go of the proxy side. Bounded: a
connection lives at most --max-life seconds (default 120); a request head over 64 KiB is
dropped.
"""
import argparse
import asyncio
import os
import sys
import time

MODES = ("trickle", "endless", "garbage", "silent")
HEAD_MAX = 64 * 1024


def say(line):
    sys.stdout.write("%d %s\n" % (time.time() * 1000, line))
    sys.stdout.flush()


def mode_of(head):
    """(mode named by the request's host or None (pass through), method, target)."""
    try:
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        method, target, _ = line.split(" ", 2)
    except ValueError:
        return None, None, None
    if method == "CONNECT":
        host = target.rsplit(":", 1)[0]
    else:
        rest = target.split("://", 1)[-1]
        host = rest.split("/", 1)[0].rsplit(":", 1)[0]
    label = host.split(".", 1)[0].lower()
    return (label if label in MODES else None), method, target


async def drain_forever(reader):
    while await reader.read(65536):
        pass


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.write_eof()
        except (OSError, RuntimeError):
            pass


async def hostile(mode, method, reader, writer, args):
    if mode == "trickle":
        head = b"HTTP/1.1 200 Connection established\r\nX-Trickle: " + b"t" * 4096 + b"\r\n\r\n"
        for i in range(len(head)):
            writer.write(head[i : i + 1])
            await writer.drain()
            await asyncio.sleep(args.trickle_interval)
    elif mode == "endless":
        writer.write(b"HTTP/1.1 200 OK\r\n")
        n = 0
        # 16 KiB of header lines a write: small segments would each take a socket buffer's
        # overhead at the receiver, and the head could not reach the peer's cap.
        while not writer.is_closing():  # (drain() may not raise once the peer left)
            chunk = b"".join(b"X-Endless-%d: %s\r\n" % (n + i, b"e" * 100) for i in range(140))
            n += 140
            writer.write(chunk)
            await writer.drain()
    elif mode == "garbage":
        if method == "CONNECT":
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % args.garbage_bytes)
        writer.write(os.urandom(args.garbage_bytes))
        await writer.drain()
        await drain_forever(reader)
    else:  # silent
        await drain_forever(reader)


async def serve(reader, writer, args):
    t0 = time.monotonic()
    mode = "pass"
    up_writer = None
    try:
        head = b""
        while b"\r\n\r\n" not in head:
            data = await reader.read(65536)
            if not data or len(head) > HEAD_MAX:
                return
            head += data
        mode, method, target = mode_of(head)
        mode = mode or "pass"
        t0 = time.monotonic()  # from the request: a warm connection waited before it
        say("open %s %s %s" % (mode, method, target))
        if mode != "pass":
            await asyncio.wait_for(hostile(mode, method, reader, writer, args), args.max_life)
            return
        host, port = args.upstream.rsplit(":", 1)
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        up_writer.write(head)
        await asyncio.wait_for(
            asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer)), args.max_life
        )
    except (ConnectionError, OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
        pass
    finally:
        for w in (writer, up_writer):
            if w is not None:
                w.close()
        if mode != "pass":
            say("closed %s after %d ms" % (mode, (time.monotonic() - t0) * 1000))


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True, help="ADDR:PORT")
    p.add_argument("--upstream", required=True, help="ADDR:PORT of the real proxy")
    p.add_argument("--trickle-interval", type=float, default=1.0)
    p.add_argument("--garbage-bytes", type=int, default=65536)
    p.add_argument("--max-life", type=float, default=120.0)
    args = p.parse_args()
    addr, port = args.listen.rsplit(":", 1)
    server = await asyncio.start_server(
        lambda r, w: serve(r, w, args), addr, int(port), reuse_address=True
    )
    say("listening on %s" % args.listen)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
