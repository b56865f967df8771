"""How fast can one Locust process go on this machine? (not a test: run it by hand)

    .venv/bin/python -m tests.load.bench_load [--server tiny|nginx] [--users 30] [--seconds 10]

Runs the shop workload with no think time (closed loop: each user sends its next request as soon
as the previous one answered) against the tiny stdlib server of the tests, or against nginx
answering every path from memory (so the server is not the limit), and prints the achieved
request rate and the CPU of the Locust process.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from hasuite.drivers.load import parse_profile, start_load

from .shopserver import ShopServer

NGINX_CONF = """
daemon off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off; client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d};
  uwsgi_temp_path {d}; scgi_temp_path {d};
  server {{
    listen 127.0.0.1:{port};
    location = /api/orders {{ default_type application/json;
      if ($request_method = POST) {{ return 201 '{{"id": "$request_id"}}'; }}
      return 200 '{{"orders": [], "missing": []}}'; }}
    location = /api/products {{ default_type application/json;
      return 200 '{{"products": [{{"id": 1}}, {{"id": 2}}, {{"id": 3}}]}}'; }}
    location / {{ default_type application/json; return 200 '{{"id": 1}}'; }}
  }}
}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", choices=["tiny", "nginx"], default="tiny")
    ap.add_argument("--users", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--fixed-rate", type=float, default=0.0)
    args = ap.parse_args()
    profile = parse_profile(
        "bench",
        {
            "users": args.users,
            "spawn_rate": args.users,
            "duration_s": args.seconds,
            "think_min_s": 0,
            "think_max_s": 0,
            "fixed_rate": args.fixed_rate,
        },
    )
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        nginx = None
        tiny = None
        if args.server == "nginx":
            port = _free_port()
            (d / "nginx.conf").write_text(NGINX_CONF.format(d=d, port=port))
            exe = shutil.which("nginx") or "/usr/sbin/nginx"
            nginx = subprocess.Popen([exe, "-c", str(d / "nginx.conf"), "-p", str(d)])
            time.sleep(0.5)
            host = f"http://127.0.0.1:{port}"
        else:
            tiny = ShopServer().start()
            host = tiny.url
        try:
            result = start_load(host, profile, run_dir=d / "run").wait()
        finally:
            if nginx is not None:
                nginx.terminate()
                nginx.wait(5)
            if tiny is not None:
                tiny.stop()
    start, end = result.load_window()
    n = sum(1 for s in result.samples if start <= s.at <= end)
    failed = sum(1 for s in result.samples if not s.ok)
    lat = sorted(s.latency_s or 0 for s in result.samples)
    print(
        f"server={args.server} users={args.users} fixed_rate={args.fixed_rate}: "
        f"{n / (end - start):.0f} req/s over {end - start:.1f} s, {failed} failed, "
        f"p50 {lat[len(lat) // 2] * 1000:.1f} ms, p99 {lat[int(len(lat) * 0.99)] * 1000:.1f} ms; "
        f"locust CPU {result.cpu_s:.1f} s = {result.cpu_percent:.0f} % of one core"
    )


if __name__ == "__main__":
    main()
