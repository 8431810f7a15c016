#!/usr/bin/env python3
"""SimpleWebappPython: answers with its service name and instance id, so a
client can see which instance HAProxy balanced a request to.

GET /        -> "Hello from python1 (instance 3f2a9c0d1e2b)"  (+ X-Paasbox-* headers)
GET /health  -> "ok"
Env: SERVICE_NAME (as Registrator reads it), PORT (default 8080),
STOP_DRAIN_SECONDS (keep answering this long after SIGTERM, default 1, so
the instance leaves routing before it stops answering).
"""
import json
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SERVICE = os.environ.get("SERVICE_NAME", "simplewebapp")
INSTANCE = socket.gethostname()
PORT = int(os.environ.get("PORT", "8080"))
DRAIN = float(os.environ.get("STOP_DRAIN_SECONDS", "1"))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SimpleWebappPython/1"
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle
    # plus delayed ACKs stall every keep-alive response by ~40 ms.
    disable_nagle_algorithm = True

    def do_GET(self):
        if self.path == "/health":
            self.reply(200, "ok\n", "text/plain")
        elif self.path.startswith("/json"):
            body = json.dumps({"service": SERVICE, "instance": INSTANCE, "path": self.path}) + "\n"
            self.reply(200, body, "application/json")
        else:
            self.reply(200, f"Hello from {SERVICE} (instance {INSTANCE})\n", "text/plain")

    def reply(self, status, body, ctype):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Paasbox-Service", SERVICE)
        self.send_header("X-Paasbox-Instance", INSTANCE)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):  # keep benchmarks quiet
        pass


def main():
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    server.daemon_threads = True

    # PID 1 ignores SIGTERM unless it handles it: stop after the drain period.
    def on_term(signum, _frame):
        def stop():
            time.sleep(DRAIN)
            server.shutdown()
        threading.Thread(target=stop, daemon=True).start()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    print(f"{SERVICE} instance {INSTANCE} listening on :{PORT}", flush=True)
    server.serve_forever()
    sys.exit(0)


if __name__ == "__main__":
    main()
