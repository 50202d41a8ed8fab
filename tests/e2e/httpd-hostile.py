#!/usr/bin/env python3
"""Hostile clients against walship's metrics server, for tests/e2e/51.

usage: httpd-hostile.py PORT SECONDS
       httpd-hostile.py PORT flood

For SECONDS, in a loop: hold 40 connections that send nothing, one that
sends a byte a second, a 100 KiB header (want 431), garbage (want 400),
a pipelined pair of requests (want 400), a NUL byte, a POST (want 405),
and one that sends half a request and closes.  Prints one line per
unexpected answer and exits 1 if there was any, else prints "hostile ok
N" (N rounds) and exits 0.

flood: open 150 silent connections (more than the server's 64 slots),
wait 1.5 s, then GET /healthz must still be answered (the server drops
the oldest silent one for it); prints "flood ok".
"""
import socket
import sys
import time

port = int(sys.argv[1])
bad = []


def conn():
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    return s


def ask(data, want):
    s = None
    try:
        s = conn()
        s.sendall(data)
        out = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except (ConnectionResetError, BrokenPipeError):
        # A server that closes while data is still unread may reset;
        # accepted only for the oversized header, which it stops reading.
        if want != 431:
            bad.append("reset, want %d for %r" % (want, data[:40]))
        return
    except OSError as e:
        bad.append("error %s, want %d for %r" % (e, want, data[:40]))
        return
    finally:
        if s is not None:
            s.close()
    line = out.split(b"\r\n", 1)[0]
    if not line.startswith(b"HTTP/1.1 %d " % want):
        bad.append("got %r, want %d for %r" % (line, want, data[:40]))


if sys.argv[2] == "flood":
    flood = []
    for i in range(150):
        try:
            flood.append(conn())
        except OSError:
            pass
    time.sleep(1.5)
    s = conn()
    s.sendall(b"GET /healthz HTTP/1.1\r\n\r\n")
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except OSError as e:
        print("GET /healthz behind %d silent connections: %s" % (len(flood), e))
        sys.exit(1)
    if not out.startswith(b"HTTP/1.1 200 "):
        print("GET /healthz behind %d silent connections: %r" % (len(flood), out[:60]))
        sys.exit(1)
    print("flood ok")
    sys.exit(0)

end = time.time() + float(sys.argv[2])
rounds = 0
silent = []
trickle = None
while time.time() < end:
    rounds += 1
    while len(silent) < 40:
        try:
            silent.append(conn())
        except OSError:
            break
    if trickle is None:
        trickle = conn()
        trickle_n = 0
    try:
        trickle.send(b"GET /metrics HTTP/1.1\r\nX: "[trickle_n:trickle_n + 1]
                     or b"a")
        trickle_n += 1
    except OSError:
        trickle = None  # closed by the server's deadline: as it should be
    ask(b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 102400 + b"\r\n\r\n", 431)
    ask(b"\x16\x03\x01garbage garbage\r\n\r\n", 400)
    ask(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n",
        400)
    ask(b"GET /healthz\x00 HTTP/1.1\r\n\r\n", 400)
    ask(b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405)
    ask(b"GET /nothing HTTP/1.1\r\n\r\n", 404)
    try:
        s = conn()
        s.sendall(b"GET /met")
        s.close()
    except OSError as e:
        bad.append("half request: %s" % e)
    # Some of the silent ones are evicted by the server as new clients
    # come: drop the ones it closed.
    keep = []
    for s in silent:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                s.close()
                continue
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            continue
        s.setblocking(True)
        keep.append(s)
    silent = keep
    time.sleep(0.05)

for line in bad:
    print(line)
if bad:
    sys.exit(1)
print("hostile ok %d" % rounds)
