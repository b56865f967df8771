"""Probe endpoints: token gate, answers, backend attribution."""

from __future__ import annotations

import dataclasses
import time

import pytest

PROBES = [
    ("post", "/probe/db?seq=1"),
    ("get", "/probe/db?seqs=1"),
    ("post", "/probe/cache?key=k&value=v"),
    ("post", "/probe/task?seq=1"),
    ("get", "/probe/tasks?seqs=1"),
    ("get", "/probe/beat?since=0"),
    ("get", "/probe/burn?ms=5"),
]


@pytest.mark.parametrize(("method", "url"), PROBES)
def test_probes_are_404_when_no_token_is_configured(client, probe_headers, method, url) -> None:
    from django.conf import settings
    from django.test import override_settings

    with override_settings(SHOP=dataclasses.replace(settings.SHOP, probe_token=None)):
        response = getattr(client, method)(url, **probe_headers)
    assert response.status_code == 404
    assert "SHOP_PROBE_TOKEN" in response.json()["error"]


@pytest.mark.parametrize(("method", "url"), PROBES)
def test_probes_are_403_with_a_wrong_or_missing_token(client, method, url) -> None:
    from store.models import ProbeWrite

    before = ProbeWrite.objects.count()
    assert getattr(client, method)(url).status_code == 403
    wrong = getattr(client, method)(url, HTTP_X_PROBE_TOKEN="nope")
    assert wrong.status_code == 403
    assert "X-Probe-Token" in wrong.json()["error"]
    assert ProbeWrite.objects.count() == before


def test_db_probe_writes_reads_back_and_names_the_postgres_server(
    client, probe_headers, servers
) -> None:
    response = client.post("/probe/db?seq=101", **probe_headers)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ok"] is True
    assert body["seq"] == 101
    assert isinstance(body["id"], int)
    assert body["backend"] == {
        "kind": "postgres",
        "address": f"127.0.0.1:{servers.pg_port}",
        "in_recovery": False,
    }
    client.post("/probe/db?seq=102", **probe_headers)
    client.post("/probe/db?seq=102", **probe_headers)
    read = client.get("/probe/db?seqs=101,102,103", **probe_headers).json()
    assert read["present"] == [101, 102]
    assert read["missing"] == [103]
    assert read["counts"] == {"101": 1, "102": 2}
    assert read["backend"]["address"] == f"127.0.0.1:{servers.pg_port}"


def test_cache_probe_names_the_master_given_by_sentinel(client, probe_headers, servers) -> None:
    response = client.post("/probe/cache?key=k1&value=v1", **probe_headers)
    assert response.status_code == 200, response.content
    assert response.json() == {
        "ok": True,
        "key": "k1",
        "value": "v1",
        "backend": {
            "kind": "redis",
            "address": f"127.0.0.1:{servers.redis_port}",
            "role": "master",
        },
    }
    from django.core.cache import cache

    assert cache.get("probe:k1") == "v1"


def test_task_probe_enqueues_on_the_broker(client, probe_headers, servers) -> None:
    from store.backends import redis_master
    from store.metrics import QUEUE

    before = redis_master().llen(QUEUE)
    response = client.post("/probe/task?seq=5001", **probe_headers)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["seq"] == 5001
    assert len(body["task_id"]) == 36
    assert body["backend"]["address"] == f"127.0.0.1:{servers.redis_port}"
    assert redis_master().llen(QUEUE) == before + 1


def test_tasks_probe_counts_executions_per_seq(client, probe_headers) -> None:
    from store.models import TaskExecution

    for seq in (7001, 7002, 7002, 7010):
        TaskExecution.objects.create(
            task_name="probe_task", task_id="t", key=str(seq), hostname="h"
        )
    TaskExecution.objects.create(task_name="confirm_order", task_id="t", key="7003", hostname="h")
    by_seqs = client.get("/probe/tasks?seqs=7001,7002,7003", **probe_headers).json()
    assert by_seqs["counts"] == {"7001": 1, "7002": 2, "7003": 0}
    assert by_seqs["backend"]["kind"] == "postgres"
    since = client.get("/probe/tasks?since_seq=7002", **probe_headers).json()
    assert since["counts"] == {"7002": 2, "7010": 1}


def test_beat_probe_counts_ticks_per_slot(client, probe_headers) -> None:
    from django.conf import settings
    from store.models import BeatTick

    interval = settings.SHOP_BEAT_INTERVAL
    base = 10**8  # far from the real beat's slots (now / interval)
    for slot in (base, base + 1, base + 1, base + 3):
        BeatTick.objects.create(slot=slot, hostname="h")
    since = base * interval
    body = client.get(f"/probe/beat?since={since}", **probe_headers).json()
    mine = [s for s in body["slots"] if s["slot"] < base + 10]
    assert mine == [
        {"slot": base, "start": float(base * interval), "ticks": 1},
        {"slot": base + 1, "start": float((base + 1) * interval), "ticks": 2},
        {"slot": base + 3, "start": float((base + 3) * interval), "ticks": 1},
    ]
    assert body["interval"] == interval
    assert body["since_slot"] == base
    assert body["current_slot"] == int(time.time() // interval)


@pytest.mark.parametrize(
    ("method", "url", "message"),
    [
        ("post", "/probe/db", "seq"),
        ("post", "/probe/db?seq=x", "seq must be an integer"),
        ("get", "/probe/db", "seqs"),
        ("post", "/probe/cache?key=k", "value"),
        ("post", "/probe/task", "seq"),
        ("get", "/probe/tasks?seqs=a", "seqs"),
        ("get", "/probe/beat?since=yesterday", "since"),
    ],
)
def test_probe_bad_parameters_are_400(client, probe_headers, method, url, message) -> None:
    response = getattr(client, method)(url, **probe_headers)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_cache_probe_reads_acknowledged_keys_back(client, probe_headers) -> None:
    client.post("/probe/cache?key=rb1&value=1", **probe_headers)
    client.post("/probe/cache?key=rb2&value=2", **probe_headers)
    from django.core.cache import cache

    cache.delete("probe:rb2")  # lost with a master that died before replicating it
    read = client.get("/probe/cache?keys=rb1,rb2,rb3", **probe_headers).json()
    assert read["ok"] is True
    assert read["present"] == ["rb1"] and read["missing"] == ["rb2", "rb3"]
    assert client.get("/probe/cache", **probe_headers).status_code == 400


def test_burn_spends_the_cpu_time_it_is_asked_for(client, probe_headers) -> None:
    before = time.thread_time()
    response = client.get("/probe/burn?ms=40", **probe_headers)
    spent_ms = (time.thread_time() - before) * 1000
    assert response.status_code == 200
    body = response.json()
    # CPU time, not wall time: the test client runs the view in this thread
    assert 40 <= body["burned_ms"] <= spent_ms
    assert body["spins"] > 0


@pytest.mark.parametrize("ms", ["0", "501", "-3", "x"])
def test_burn_refuses_a_length_out_of_bounds(client, probe_headers, ms) -> None:
    response = client.get(f"/probe/burn?ms={ms}", **probe_headers)
    assert response.status_code == 400
    assert "ms" in response.json()["error"]
