#!/usr/bin/env python3
"""An HTTPS server for upstream TLS tests: answers every POST with 200 and appends one JSON
line per request (method, path, query, headers, body length, whether the client showed a
certificate) to --out. With --client-ca, clients must present a certificate signed by it."""
import argparse
import http.server
import json
import ssl
import urllib.parse

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--cert", required=True)
ap.add_argument("--key", required=True)
ap.add_argument("--client-ca")
ap.add_argument("--out", required=True)
args = ap.parse_args()


class Capture(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        url = urllib.parse.urlsplit(self.path)
        record = {
            "method": self.command,
            "path": url.path,
            "query": url.query,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body_len": len(body),
            "client_cert": bool(self.connection.getpeercert()),
        }
        with open(args.out, "a") as f:
            f.write(json.dumps(record) + "\n")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *a):
        pass


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(args.cert, args.key)
if args.client_ca:
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(args.client_ca)
server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Capture)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
print("listening", flush=True)
server.serve_forever()
