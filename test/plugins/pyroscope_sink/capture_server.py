#!/usr/bin/env python3
"""A Pyroscope stand-in that records raw requests and answers a scripted sequence of statuses.

usage: capture_server.py PORT_FILE OUT_JSONL STATUSES [PORT]
STATUSES: comma list, e.g. "503,503,200"; the last one repeats. Non-200 answers carry a
Connect error body. Each request is appended to OUT_JSONL as
{"path", "status", "headers": {lower-case name: value}, "body_b64"}.
The port (PORT, or one the kernel picks) is written to PORT_FILE once bound on 127.0.0.1.
"""
import base64
import http.server
import json
import sys
import threading

port_file, out_path, statuses = sys.argv[1], sys.argv[2], [int(s) for s in sys.argv[3].split(",")]
lock = threading.Lock()
count = 0
CODES = {400: "invalid_argument", 401: "unauthenticated", 429: "resource_exhausted", 503: "unavailable"}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        global count
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with lock:
            status = statuses[min(count, len(statuses) - 1)]
            count += 1
            with open(out_path, "a") as f:
                f.write(json.dumps({"path": self.path, "status": status,
                                    "headers": {k.lower(): v for k, v in self.headers.items()},
                                    "body_b64": base64.b64encode(body).decode()}) + "\n")
        answer = b"" if status == 200 else json.dumps(
            {"code": CODES.get(status, "unknown"), "message": "scripted answer"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/proto" if status == 200 else "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[4]) if len(sys.argv) > 4 else 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
