"""A small web app that rolls out without losing requests (stdlib only).

    python3 app.py HOST PORT

Readiness: GET /healthz answers 200 while serving. On SIGTERM (sent after the preStop sleep,
when every proxy has dropped the pod) it stops accepting, lets in-flight requests finish and
exits 0. HOST is the pod IP on probelab's local engine ($(POD_IP) in probelab.yaml) and
0.0.0.0 in a container image.
"""

import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    # HTTP/1.0 (the default): one request per connection, so a thread ends with its request
    # and server_close() below waits for in-flight requests only, never for idle clients.

    def do_GET(self) -> None:
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = False  # server_close() then waits for in-flight requests
    signal.signal(signal.SIGTERM,
                  lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
