"""A tiny stand-in for the shop: the endpoints the locustfile uses, on 127.0.0.1, in a thread.

``fail_for(seconds)`` makes every request answer 503 for a while (the seeded failure window);
``orders`` holds every order id the server acknowledged with a 201, so a test can compare the
load's ledger with what the "database" really has.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PRODUCTS = [{"id": i, "name": f"ring {i}", "price": "100.00"} for i in range(1, 21)]


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default 5 drops SYNs when 20 users connect at once
    daemon_threads = True


class ShopServer:
    """Start with ``start()``, stop with ``stop()`` (or use it as a context manager)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.orders: dict[int, dict[str, Any]] = {}
        self.requests = 0
        self.failing_until = 0.0  # monotonic
        self.fail_windows: list[tuple[float, float]] = []
        self.httpd = _Server(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ShopServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> ShopServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def fail_for(self, seconds: float) -> tuple[float, float]:
        """Answer 503 to everything for ``seconds`` from now; returns the monotonic window."""
        start = time.monotonic()
        with self.lock:
            self.failing_until = start + seconds
            self.fail_windows.append((start, start + seconds))
        return start, start + seconds

    def failing(self) -> bool:
        return time.monotonic() < self.failing_until

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        shop = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like gunicorn behind nginx

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def _send(self, status: int, body: Any, ctype: str = "application/json") -> None:
                data = (json.dumps(body) if ctype == "application/json" else body).encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _gate(self) -> bool:
                with shop.lock:
                    shop.requests += 1
                if shop.failing():
                    self._send(503, {"ok": False, "error": "seeded failure"})
                    return False
                return True

            def do_GET(self) -> None:
                if not self._gate():
                    return
                url = urlsplit(self.path)
                parts = [p for p in url.path.split("/") if p]
                if not parts:
                    self._send(200, "<html>catalogue</html>", "text/html")
                elif parts == ["api", "products"]:
                    self._send(200, {"products": PRODUCTS, "cached": True})
                elif parts[:2] == ["api", "products"] and len(parts) == 3:
                    pid = int(parts[2]) if parts[2].isdigit() else 0
                    if 1 <= pid <= len(PRODUCTS):
                        self._send(200, PRODUCTS[pid - 1])
                    else:
                        self._send(404, {"error": "no such product"})
                elif parts[0] == "products" and len(parts) == 2:
                    self._send(200, f"<html>product {parts[1]}</html>", "text/html")
                elif parts == ["api", "orders"]:
                    raw = parse_qs(url.query).get("ids", [""])[0]
                    ids = [int(i) for i in raw.split(",") if i.isdigit()]
                    with shop.lock:
                        found = [shop.orders[i] for i in ids if i in shop.orders]
                    missing = [i for i in ids if i not in shop.orders]
                    self._send(200, {"orders": found, "missing": missing})
                elif parts[:2] == ["api", "orders"] and len(parts) == 3 and parts[2].isdigit():
                    order = shop.orders.get(int(parts[2]))
                    if order is None:
                        self._send(404, {"error": "no such order"})
                    else:
                        self._send(200, order)
                else:
                    self._send(404, {"error": "not found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if not self._gate():
                    return
                if urlsplit(self.path).path.rstrip("/") != "/api/orders":
                    self._send(404, {"error": "not found"})
                    return
                try:
                    items = json.loads(raw)["items"]
                    assert isinstance(items, list) and items
                except (ValueError, KeyError, TypeError, AssertionError):
                    self._send(400, {"error": "bad order"})
                    return
                with shop.lock:
                    oid = len(shop.orders) + 1
                    shop.orders[oid] = {"id": oid, "status": "pending", "items": items}
                self._send(201, {"id": oid, "status": "pending", "enqueued": True})

        return Handler
