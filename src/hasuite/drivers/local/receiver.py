"""Alertmanager webhook receiver for the lab: records every notification it gets.

Each POST body (Alertmanager's webhook JSON) is appended, with the receive time, as one line of
a JSON-lines file; GET /notifications returns them all. The standard library's HTTP server is
enough for a loopback sink that gets a handful of requests a minute.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_lock = threading.Lock()


def make_handler(out: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            try:
                payload = json.loads(raw)
            except ValueError:
                self._send(400, b'{"error": "body is not JSON"}')
                return
            record = {"received": time.time(), "payload": payload}
            with _lock, out.open("a") as fh:
                fh.write(json.dumps(record) + "\n")
            self._send(200, b'{"ok": true}')

        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._send(200, b'{"ok": true}')
            elif self.path == "/notifications":
                with _lock:
                    lines = out.read_text().splitlines() if out.exists() else []
                body = json.dumps([json.loads(line) for line in lines if line]).encode()
                self._send(200, body)
            else:
                self._send(404, b'{"error": "not found"}')

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args.out))
    server.serve_forever()


if __name__ == "__main__":
    main()
