"""gunicorn settings for the shop, from SHOP_* environment variables.

Run (cwd = repository root):
    gunicorn -c env/app/gunicorn.conf.py --chdir env/app shop.wsgi:application
"""

import os

_env = os.environ.get


def _int(name: str, default: int) -> int:
    raw = _env(name) or str(default)
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from None


bind = [_env("SHOP_BIND") or "127.0.0.1:8000"]
workers = _int("SHOP_GUNICORN_WORKERS", 2)
# Threads per worker: a request stuck on a failing backend (bounded by the app's 1-2 s
# timeouts) must not block the probes and health checks queued behind it.
worker_class = "gthread"
threads = _int("SHOP_GUNICORN_THREADS", 4)
# A worker silent for this long is killed and replaced; above every backend timeout in the app.
timeout = _int("SHOP_GUNICORN_TIMEOUT", 30)
# On SIGTERM/SIGHUP, in-flight requests get this long to finish (rolling restarts lose nothing
# if it exceeds the slowest request; Kubernetes' terminationGracePeriodSeconds must exceed it).
graceful_timeout = _int("SHOP_GUNICORN_GRACEFUL_TIMEOUT", 30)
# Idle keep-alive (s) of nginx's pooled upstream connections. Behind a proxy it must exceed the
# proxy's idle timeout (nginx upstream keepalive_timeout, 60 s), so that nginx closes an idle
# connection first: gunicorn closing one as nginx reuses it fails that request.
keepalive = _int("SHOP_GUNICORN_KEEPALIVE", 75)

# gunicorn 27 opens a control socket per master, by default in ~/.gunicorn: several instances
# on one host would fight over it. Give each instance its own path, or none (the default).
_control_socket = _env("SHOP_GUNICORN_CONTROL_SOCKET")
if _control_socket:
    control_socket = _control_socket
else:
    control_socket_disable = True

# Logs to stdout/stderr; the supervisor / container runtime keeps them.
accesslog = "-"
errorlog = "-"
loglevel = (_env("SHOP_LOG_LEVEL") or "info").lower()
capture_output = True
proc_name = _env("SHOP_GUNICORN_NAME") or "shop"

# Worker heartbeat files on tmpfs when available (a slow overlay disk can stall heartbeats).
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"
