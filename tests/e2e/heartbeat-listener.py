#!/usr/bin/env python3
"""A dead man's switch for tests/e2e/53: answers every GET with 200 and
prints "ping PATH UNIX_TIME" for each (flushed at once).

usage: heartbeat-listener.py PORT
"""
import http.server
import sys
import time


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        print("ping %s %.3f" % (self.path, time.time()), flush=True)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
