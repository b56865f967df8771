"""Health and role checks of the lab's components, each bounded by a short timeout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
import redis
import requests

from hasuite.drivers.local.layout import (
    DB_NAME,
    DB_USER,
    POSTGRES_MEMBERS,
    REDIS_INSTANCES,
    SENTINELS,
    LabLayout,
    LabSecrets,
)
from hasuite.target import patroni_role

HTTP_TIMEOUT = 2.0


@dataclass(frozen=True)
class Health:
    healthy: bool
    answer: str
    role: str | None = None


def http_get(url: str, **kw: Any) -> requests.Response:
    return requests.get(url, timeout=kw.pop("timeout", HTTP_TIMEOUT), **kw)


def patroni_cluster(layout: LabLayout) -> list[dict[str, Any]] | None:
    """Members as Patroni reports them (name, role, state, lag), from any member that answers."""
    for i in range(POSTGRES_MEMBERS):
        try:
            r = http_get(f"{layout.patroni_url(i)}/cluster", timeout=1.5)
            if r.ok:
                members: list[dict[str, Any]] = r.json().get("members", [])
                return members
        except (requests.RequestException, ValueError):
            continue
    return None


def patroni_own_view(layout: LabLayout, index: int) -> dict[str, Any] | None:
    """What one member says of itself (GET /patroni on its own REST port): its role and state,
    also when it is cut off from the DCS and its peers; None when it does not answer."""
    try:
        r = http_get(f"{layout.patroni_url(index)}/patroni", timeout=1.0)
        data = r.json()
    except (requests.RequestException, ValueError):
        return None
    return data if isinstance(data, dict) else None


def merge_member_views(
    names: list[str],
    cluster: list[dict[str, Any]] | None,
    own: dict[str, dict[str, Any] | None],
) -> list[dict[str, Any]]:
    """One row per member (name, role, state, lag): role and state from the member's own view
    (two members that each call themselves leader are both seen), the lag from the cluster's
    view; a member that does not answer keeps no role ("no answer")."""
    by_name = {m.get("name"): m for m in cluster or []}
    rows = []
    for n in names:
        view = own.get(n)
        lag = by_name.get(n, {}).get("lag")
        if view is None:
            rows.append({"name": n, "role": None, "state": "no answer", "lag": None})
            continue
        role = patroni_role(view.get("role"))
        rows.append({"name": n, "role": role, "state": view.get("state"), "lag": lag})
    return rows


def check_etcd(layout: LabLayout) -> Health:
    try:
        r = http_get(f"http://127.0.0.1:{layout.port('etcd')}/health")
        return Health(r.ok and r.json().get("health") == "true", r.text.strip()[:200])
    except (requests.RequestException, ValueError) as exc:
        return Health(False, str(exc))


def check_postgres_cluster(layout: LabLayout) -> Health:
    """One running leader whose pg_stat_replication shows every other member streaming.

    The leader's own view (Patroni's /patroni on the leader) is read rather than the replicas'
    DCS state, which Patroni refreshes only every loop_wait.
    """
    members = patroni_cluster(layout)
    if members is None:
        return Health(False, "no Patroni member answers /cluster")
    summary = ", ".join(f"{m['name']} {m.get('role')} {m.get('state')}" for m in members)
    leaders = [m for m in members if patroni_role(m.get("role")) == "leader"]
    if len(leaders) != 1 or leaders[0].get("state") != "running":
        return Health(False, f"no running leader: {summary or 'no members'}")
    try:
        r = http_get(str(leaders[0]["api_url"]), timeout=1.5)
        replication = r.json().get("replication") or []
    except (requests.RequestException, ValueError, KeyError) as exc:
        return Health(False, f"leader {leaders[0]['name']} REST: {exc}")
    streaming = sorted(
        str(x.get("application_name")) for x in replication if x.get("state") == "streaming"
    )
    ok = len(streaming) == POSTGRES_MEMBERS - 1
    return Health(ok, f"leader {leaders[0]['name']}, streaming: {', '.join(streaming) or 'none'}")


def check_patroni_member(layout: LabLayout, index: int) -> Health:
    try:
        r = http_get(f"{layout.patroni_url(index)}/patroni", timeout=1.5)
        data = r.json()
    except (requests.RequestException, ValueError) as exc:
        return Health(False, f"Patroni REST: {exc}")
    role = patroni_role(data.get("role"))
    state = data.get("state")
    return Health(state in ("running", "streaming"), f"{role} {state}", role=role)


def pg_connect(layout: LabLayout, port: int, *, user: str, password: str, db: str) -> Any:
    return psycopg.connect(
        host="127.0.0.1",
        port=port,
        user=user,
        password=password,
        dbname=db,
        connect_timeout=2,
        prepare_threshold=None,
        autocommit=True,
    )


def check_primary_service(layout: LabLayout, secrets: LabSecrets) -> Health:
    try:
        with pg_connect(
            layout,
            layout.port("haproxy-primary"),
            user="postgres",
            password=secrets.superuser_password,
            db="postgres",
        ) as conn:
            row = conn.execute("SELECT pg_is_in_recovery(), inet_server_port()").fetchone()
    except psycopg.Error as exc:
        return Health(False, f"primary service: {exc}".strip())
    assert row is not None
    return Health(row[0] is False, f"serves port {row[1]}, in recovery: {row[0]}")


def check_pooler(layout: LabLayout, secrets: LabSecrets, index: int | None) -> Health:
    port = layout.port("haproxy-pooler") if index is None else layout.port("pooler", index)
    try:
        with pg_connect(
            layout, port, user=DB_USER, password=secrets.app_password, db=DB_NAME
        ) as conn:
            row = conn.execute("SELECT 1").fetchone()
    except psycopg.Error as exc:
        return Health(False, f"{exc}".strip()[:300])
    return Health(row == (1,), "SELECT 1 ok")


def check_redis(layout: LabLayout, index: int) -> Health:
    client = redis.Redis(
        host="127.0.0.1",
        port=layout.port("redis", index),
        socket_timeout=1,
        socket_connect_timeout=1,
    )
    try:
        info = client.info("replication")
    except redis.RedisError as exc:
        return Health(False, str(exc))
    finally:
        client.close()
    role = str(info.get("role"))
    if role == "master":
        return Health(True, f"master, {info.get('connected_slaves')} replicas", role="master")
    link = info.get("master_link_status")
    return Health(link == "up", f"replica, link {link}", role="replica")


def sentinel_view(layout: LabLayout, index: int) -> tuple[str | None, int, str]:
    """(master address, healthy replicas, answer) as one Sentinel sees them."""
    client = redis.Redis(
        host="127.0.0.1",
        port=layout.port("sentinel", index),
        socket_timeout=1,
        socket_connect_timeout=1,
        decode_responses=True,
    )
    name = layout.stack.redis.master_name
    try:
        addr = client.execute_command(  # type: ignore[no-untyped-call]
            "SENTINEL", "get-master-addr-by-name", name
        )
        replicas = client.execute_command("SENTINEL", "replicas", name)  # type: ignore[no-untyped-call]
    except redis.RedisError as exc:
        return None, 0, str(exc)
    finally:
        client.close()
    master = f"{addr[0]}:{addr[1]}" if addr else None

    def flags(rep: Any) -> str:
        if isinstance(rep, dict):
            return str(rep.get("flags", ""))
        items = list(rep)
        return str(dict(zip(items[::2], items[1::2], strict=False)).get("flags", ""))

    good = sum(1 for r in replicas if "s_down" not in flags(r) and "o_down" not in flags(r))
    return master, good, f"master {master}, {good} healthy replicas"


def check_sentinels(layout: LabLayout) -> Health:
    views = [sentinel_view(layout, i) for i in range(SENTINELS)]
    masters = {v[0] for v in views}
    want = REDIS_INSTANCES - 1
    ok = len(masters) == 1 and None not in masters and all(v[1] == want for v in views)
    return Health(ok, "; ".join(f"sentinel-{i + 1}: {v[2]}" for i, v in enumerate(views)))


def check_http(url: str, *, headers: dict[str, str] | None = None) -> Health:
    try:
        r = http_get(url, headers=headers or {})
    except requests.RequestException as exc:
        return Health(False, str(exc))
    if r.status_code == 200:
        return Health(True, "HTTP 200")
    return Health(False, f"HTTP {r.status_code} {r.text.strip()[:200]}")


def check_prometheus_targets(layout: LabLayout) -> Health:
    try:
        r = http_get(f"{layout.prometheus_url}/api/v1/targets?state=active")
        targets = r.json()["data"]["activeTargets"]
    except (requests.RequestException, ValueError, KeyError) as exc:
        return Health(False, f"Prometheus API: {exc}")
    down = [
        f"{t['labels'].get('job')}/{t['labels'].get('instance')}"
        for t in targets
        if t.get("health") != "up"
    ]
    if not targets:
        return Health(False, "no active targets yet")
    return Health(
        not down,
        f"{len(targets) - len(down)}/{len(targets)} targets up"
        + (f"; down: {', '.join(down)}" if down else ""),
    )


def check_beat(layout: LabLayout, secrets: LabSecrets, now_wall: float) -> Health:
    """Beat is ticking: a tick within the last two intervals, read through the app."""
    interval = layout.stack.celery.beat_interval
    since = int(now_wall - 2 * interval - 1)
    try:
        r = http_get(
            f"{layout.app_url}/probe/beat?since={since}",
            headers={"X-Probe-Token": secrets.probe_token},
        )
        data = r.json()
    except (requests.RequestException, ValueError) as exc:
        return Health(False, f"/probe/beat: {exc}")
    slots = data.get("slots", [])
    return Health(r.ok and bool(slots), f"{len(slots)} tick slot(s) since {since}")


def celery_ping(layout: LabLayout, timeout_s: float = 2.0, expect: int | None = None) -> list[str]:
    """Names of the Celery workers that answer a broadcast ping through the broker.

    The broadcast collects answers for ``timeout_s``; with ``expect``, it stops as soon as that
    many workers answered (a healthy lab's check then takes milliseconds, not the timeout)."""
    from celery import Celery  # imported here: only the lab needs Celery in the suite

    sentinels = ";".join(
        f"sentinel://127.0.0.1:{layout.port('sentinel', i)}" for i in range(SENTINELS)
    )
    app = Celery("hasuite-ping", broker=sentinels)
    app.conf.broker_transport_options = {
        "master_name": layout.stack.redis.master_name,
        "socket_timeout": 1,
        "socket_connect_timeout": 1,
    }
    app.conf.broker_connection_retry_on_startup = False
    app.conf.broker_connection_max_retries = 1
    try:
        replies = app.control.ping(timeout=timeout_s, limit=expect)
    except Exception:
        return []
    finally:
        app.close()
    return sorted(name for reply in replies for name in reply)


def check_redis_topology(layout: LabLayout) -> Health:
    """Exactly one Redis master, every other instance a replica with its link up."""
    views = [check_redis(layout, i) for i in range(REDIS_INSTANCES)]
    masters = [i + 1 for i, v in enumerate(views) if v.role == "master"]
    linked = [v for v in views if v.role == "replica" and v.healthy]
    ok = len(masters) == 1 and len(linked) == REDIS_INSTANCES - 1
    return Health(ok, "; ".join(f"redis-{i + 1}: {v.answer}" for i, v in enumerate(views)))
