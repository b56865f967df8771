"""The lab's exact command line: gunicorn -c env/app/gunicorn.conf.py --chdir env/app ..."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from .conftest import APP_DIR, TOKEN
from .servers import free_port, wait_until

REPO = APP_DIR.parents[1]


def fetch(url: str, method: str = "GET", headers: dict[str, str] | None = None):
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_gunicorn_serves_the_app_and_stops_gracefully(servers, tmp_path: Path) -> None:
    port = free_port()
    home = tmp_path / "home"
    home.mkdir()
    env = {
        **os.environ,
        "SHOP_BIND": f"127.0.0.1:{port}",
        "SHOP_GUNICORN_WORKERS": "1",
        "SHOP_DB_PORT": str(servers.pgbouncer_port),  # the lab's path: through PgBouncer
        "SHOP_GUNICORN_GRACEFUL_TIMEOUT": "5",
        "HOME": str(home),  # the default control socket would land in $HOME/.gunicorn
        "XDG_RUNTIME_DIR": str(home),
    }
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    cmd = [gunicorn, "-c", "env/app/gunicorn.conf.py", "--chdir", "env/app"]
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*cmd, "shop.wsgi:application"], cwd=REPO, env=env, stdout=out, stderr=out
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: fetch(f"{base}/healthz")[0] == 200, "gunicorn", proc)
        status, body = fetch(f"{base}/readyz")
        assert status == 200, body
        status, body = fetch(f"{base}/probe/db?seq=31337", "POST", {"X-Probe-Token": TOKEN})
        assert status == 200, body
        # Attributed to the Postgres server behind PgBouncer, not to PgBouncer itself.
        assert json.loads(body)["backend"]["address"] == f"127.0.0.1:{servers.pg_port}"
        for seq in range(20):  # many transactions through one pooled server connection
            status, body = fetch(f"{base}/probe/db?seq={seq}", "POST", {"X-Probe-Token": TOKEN})
            assert status == 200, body
        status, body = fetch(f"{base}/metrics")
        assert status == 200
        assert b"shop_celery_queue_length" in body
        assert not list(home.rglob("*.ctl")), "control socket should be disabled by default"
    finally:
        proc.send_signal(signal.SIGTERM)
        start = time.monotonic()
        code = proc.wait(timeout=15)
    assert code == 0, log.read_text()[-3000:]
    assert time.monotonic() - start < 5
    assert b"GET /readyz" in log.read_bytes()  # access log goes to stdout
