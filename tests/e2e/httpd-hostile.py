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

churn: open about 200 new silent connections a second (the oldest
closed past 300 held), and meanwhile GET /metrics 20 times: every one
must be answered 200 (the server drops the oldest silent connection for
a new one, however young, and never one whose request is there to be
read); prints "churn ok".  The flood and the requests share one process,
so a loaded machine slows both alike.

conform: HEAD /healthz and HEAD /metrics get GET's status and headers
(Content-Length of the body) and no body; HEAD of an unknown path 404
without a body; OPTIONS 405 naming GET and HEAD; a head whose lines end
with a bare LF (as a hand-typed request sends) is answered like one
with CRLF; prints "conform ok".
"""
import collections
import re
import socket
import sys
import threading
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


def finish(ok):
    """Print the unexpected answers and exit 1, or print ok and exit 0."""
    for line in bad:
        print(line)
    if bad:
        sys.exit(1)
    print(ok)
    sys.exit(0)


def exchange(data):
    """Send data, read until the server closes: the answer's bytes."""
    s = conn()
    try:
        s.sendall(data)
        out = b""
        while True:
            b = s.recv(65536)
            if not b:
                return out
            out += b
    finally:
        s.close()


if sys.argv[2] == "churn":
    stop = threading.Event()

    def flood():
        held = collections.deque()
        due = time.time()
        while not stop.is_set():
            try:
                held.append(conn())
            except OSError:
                pass
            while len(held) > 300:
                held.popleft().close()
            due = max(due + 0.005, time.time() - 0.05)
            time.sleep(max(0.0, due - time.time()))
        for s in held:
            s.close()

    t = threading.Thread(target=flood)
    t.start()
    time.sleep(1.0)  # the server's slots fill with silent connections
    for i in range(20):
        try:
            out = exchange(b"GET /metrics HTTP/1.1\r\n\r\n")
        except OSError as e:
            out = str(e).encode()
        if not out.startswith(b"HTTP/1.1 200 "):
            bad.append("GET /metrics %d amid new silent connections: %r" %
                       (i + 1, out[:60]))
        time.sleep(0.1)
    stop.set()
    t.join()
    finish("churn ok")

if sys.argv[2] == "conform":
    def parts(out):
        head, _, body = out.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            hdrs[k.strip().lower()] = v.strip()
        return lines[0], hdrs, body

    def want(req, status, body=None, empty=False, allow=None):
        try:
            out = exchange(req)
        except OSError as e:
            bad.append("%r: %s" % (req, e))
            return None
        line, hdrs, got = parts(out)
        if not line.startswith(b"HTTP/1.1 %d " % status):
            bad.append("%r: got %r, want %d" % (req, out[:60], status))
            return None
        if empty and got != b"":
            bad.append("%r: a body after HEAD's answer: %r" % (req, got[:60]))
        if body is not None and got != body:
            bad.append("%r: body %r, want %r" % (req, got[:60], body))
        if allow is not None and hdrs.get(b"allow") != allow:
            bad.append("%r: Allow %r, want %r" % (req, hdrs.get(b"allow"),
                                                  allow))
        return hdrs

    h = want(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 200, empty=True)
    if h is not None and h.get(b"content-length") != b"3":
        bad.append("HEAD /healthz: Content-Length %r, want 3 (GET's \"ok\\n\")"
                   % h.get(b"content-length"))
    h = want(b"HEAD /metrics HTTP/1.0\r\n\r\n", 200, empty=True)
    if h is not None and (
            not h.get(b"content-type", b"").startswith(b"text/plain; version=0.0.4")
            or not re.fullmatch(rb"[1-9][0-9]*", h.get(b"content-length", b""))):
        bad.append("HEAD /metrics: headers %r" % h)
    want(b"HEAD /nothing HTTP/1.1\r\n\r\n", 404, empty=True)
    want(b"OPTIONS /metrics HTTP/1.1\r\n\r\n", 405, allow=b"GET, HEAD")
    want(b"GET /healthz HTTP/1.1\n\n", 200, body=b"ok\n")
    want(b"GET /healthz HTTP/1.1\nHost: x\r\nUser-Agent: nc\n\r\n", 200,
         body=b"ok\n")
    want(b"GET /healthz HTTP/1.1\nHost: x\ry\n\n", 400)
    want(b"GET /healthz HTTP/1.1\n\nGET /metrics HTTP/1.1\n\n", 400)
    finish("conform ok")

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

finish("hostile ok %d" % rounds)
