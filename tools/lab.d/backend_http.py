#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The lab's backend: a tiny HTTP/1.1 server that says who answered.

tools/lab starts one per backend namespace. It listens on [::]:PORT
(IPv4 too, through v4-mapped addresses), so it answers on the backend's own
addresses and, with direct server return, on the VIP that sits on `lo`.

  GET  any path  -> 200, body "backend=NAME version=VERSION\\n"
  HEAD any path  -> the same headers, no body
  POST /echo     -> 200, the request body echoed back
Every response carries X-Backend: NAME and X-Version: VERSION, and
connections are kept alive (HTTP/1.1) so long-lived connection tests can
send many requests over one TCP connection.

--lab PREFIX is not used by the server itself: it marks the command line so
that `tools/lab down` can tell its own servers from an unrelated process
that reuses the recorded PID.
"""

import argparse
import http.server
import os
import signal
import socket
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless the client says close
    server_version = "sluice-lab-backend"

    def version_string(self):
        return self.server_version

    def _identity_headers(self, length, content_type="text/plain"):
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        self.send_header("X-Backend", self.server.backend_name)
        self.send_header("X-Version", self.server.backend_version)
        self.end_headers()

    def _body(self):
        return ("backend=%s version=%s\n" % (self.server.backend_name,
                                             self.server.backend_version)).encode()

    def do_GET(self):
        body = self._body()
        self.send_response(200)
        self._identity_headers(len(body))
        self.wfile.write(body)

    def do_HEAD(self):
        self.send_response(200)
        self._identity_headers(len(self._body()))

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length > 0 else b""
        if self.path.split("?", 1)[0] != "/echo":
            body = b"POST only on /echo\n"
            self.send_response(404)
            self._identity_headers(len(body))
            self.wfile.write(body)
            return
        self.send_response(200)
        self._identity_headers(len(data), "application/octet-stream")
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))


class Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # accept bursts of new connections

    def server_bind(self):
        # One dual-stack socket: IPv4 clients arrive as ::ffff:a.b.c.d.
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="backend name, e.g. stable1")
    parser.add_argument("--version", required=True, help="pool/version, e.g. stable")
    parser.add_argument("--port", type=int, default=80)
    parser.add_argument("--lab", default="", help="lab prefix (marks the process)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args()

    # Leave the lab script's session and ignore its hangup: the server must
    # outlive the terminal that ran `tools/lab up`.
    try:
        os.setsid()
    except OSError:
        pass  # already a session leader
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    server = Server(("::", args.port), Handler)
    server.backend_name = args.name
    server.backend_version = args.version
    server.verbose = args.verbose
    print("listening on [::]:%d as %s (%s)" % (args.port, args.name, args.version), flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
