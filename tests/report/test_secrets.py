"""No secret in any file a run and its report write.

A run goes through chaoslib on the fake target and fake app of tests/chaos (real HTTP on
127.0.0.1) with canary secrets planted where the lab keeps real ones: the probe token (sent with
every probe request) and the database password (echoed by the app in its error answers, as a
driver error message might). Every file under the reports folder is then searched.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from chaos import fakes  # tests/chaos (pytest puts tests/ on sys.path)

from hasuite.report import render_run
from hasuite.session.config import RunConfig
from hasuite.session.runner import run_experiments

ROOT = Path(__file__).resolve().parents[2]
NAME = "postgres-leader-kill"
TOKEN_CANARY = "canary-probe-token-7f3a9c41d2"
DB_CANARY = "canary-db-password-b81e05aa"


def _leaky_app() -> fakes.FakeApp:
    """The fake app, answering failed writes with an error that carries the DB password."""
    app = fakes.FakeApp()
    original = app.handle

    def handle(method: str, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        status, body = original(method, path, query)
        if status == 503 and isinstance(body, dict):
            body["error"] = (
                f"OperationalError: connection to postgresql://shop:{DB_CANARY}@127.0.0.1:25032"
                f"/shop failed (password={DB_CANARY})"
            )
        return status, body

    app.handle = handle  # type: ignore[method-assign]
    return app


def _files_with(folder: Path, needles: tuple[str, ...]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        hits = [n for n in needles if n.encode() in data]
        if hits:
            found[str(path.relative_to(folder))] = hits
    return found


def test_canary_secrets_appear_in_no_output_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fakes, "TOKEN", TOKEN_CANARY)
    reports = tmp_path / "reports"
    app = _leaky_app()
    with fakes.serve(app) as url:
        target = fakes.FakeTarget(app=app, app_url=url, outage_s=1.0)
        result = run_experiments(
            RunConfig(
                target=target.name,
                experiments=(NAME,),
                reports_dir=reports,
                experiments_dir=fakes.fast_experiments(tmp_path, NAME),
                promises_path=ROOT / "suites" / "promises.yaml",
                probe_hz=20,
                run_id="canary-run",
            ),
            target,
        )
    # the canaries were really in play: the token authorised every probe, the app echoed the
    # password in the failed writes the probes saw
    samples = [
        json.loads(line)
        for line in (result.run_dir / NAME / "samples.jsonl").read_text().splitlines()
    ]
    assert any(s["ok"] for s in samples), "probes never passed the token check"
    assert any(not s["ok"] for s in samples), "no failed write: the DB canary never travelled"
    rendered = render_run(result.run_dir, secrets=[TOKEN_CANARY, DB_CANARY])
    for written in (rendered.html, rendered.junit, rendered.history):
        assert written is not None and written.stat().st_size > 0
    files = [p for p in reports.rglob("*") if p.is_file()]
    assert len(files) >= 10, [str(p) for p in files]
    assert _files_with(reports, (TOKEN_CANARY, DB_CANARY)) == {}


def test_report_masks_a_secret_that_reached_the_run_folder(tmp_path: Path) -> None:
    """Defence in depth: a secret already in a saved file (an older run, a driver's error text)
    is masked in every file the report writes, by value and by shape."""
    run = tmp_path / "reports" / "r1"
    run.mkdir(parents=True)
    summary = {
        "schema_version": 1,
        "run_id": "r1",
        "target": "local",
        "started": "2026-11-28T00:00:00+00:00",
        "finished": "2026-11-28T00:01:00+00:00",
        "status": "ERROR",
        "experiments": [
            {
                "name": "pooler-kill",
                "status": "ERROR",
                "reason": f"stack unhealthy: app said password={DB_CANARY}",
                "dir": str(run / "pooler-kill"),
                "promises": [
                    {
                        "id": "POOLER",
                        "verdict": "ERROR",
                        "measured": None,
                        "threshold": None,
                        "unit": "s",
                        "reason": f"token {TOKEN_CANARY} refused",
                        "checks": [],
                    }
                ],
            }
        ],
    }
    (run / "summary.json").write_text(json.dumps(summary))
    exp = run / "pooler-kill"
    exp.mkdir()
    (exp / "samples.jsonl").write_text(
        json.dumps(
            {
                "at": 1.0,
                "wall": 1.0,
                "probe": "order-write",
                "ok": False,
                "error": f"postgresql://shop:{DB_CANARY}@h/db",
            }
        )
        + "\n"
    )
    (exp / "roles.jsonl").write_text("")
    (exp / "events.json").write_text("[]")
    (exp / "measurements.json").write_text("[]")
    (exp / "result.json").write_text(json.dumps({"errors": [f"X-Probe-Token: {TOKEN_CANARY}"]}))
    rendered = render_run(run, secrets=[TOKEN_CANARY])  # DB canary unknown: masked by shape
    for path in (rendered.html, rendered.junit, rendered.history):
        assert path is not None
        text = path.read_text()
        assert TOKEN_CANARY not in text and DB_CANARY not in text, path
    assert "[redacted]" in rendered.html.read_text()


def test_unhealthy_answer_body_does_not_reach_the_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fakes, "TOKEN", TOKEN_CANARY)
    app = fakes.FakeApp()
    original = app.handle

    def handle(method: str, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        if path == "/readyz":
            return 503, {"ready": False, "checks": {"database": f"password={DB_CANARY}"}}
        return original(method, path, query)

    app.handle = handle  # type: ignore[method-assign]
    with fakes.serve(app) as url:
        target = fakes.FakeTarget(app=app, app_url=url)
        result = run_experiments(
            RunConfig(
                target=target.name,
                experiments=(NAME,),
                reports_dir=tmp_path / "reports",
                experiments_dir=fakes.fast_experiments(tmp_path, NAME),
                promises_path=ROOT / "suites" / "promises.yaml",
                probe_hz=20,
                run_id="unhealthy",
            ),
            target,
        )
    assert _files_with(result.run_dir, (DB_CANARY,)) == {}
