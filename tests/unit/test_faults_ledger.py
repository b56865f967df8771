"""The lab's fault ledger: written before a fault, repaired by the next command (files only)."""

from __future__ import annotations

from pathlib import Path

from hasuite.drivers.local.faults import FaultLedger, repair


def test_a_fault_left_behind_is_repaired_once_and_named(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from hasuite.drivers.local import faults

    sent: list[tuple[list[int], int]] = []
    monkeypatch.setattr(faults.procs, "kill_all", lambda pids, sig: sent.append((pids, sig)))
    ledger = FaultLedger(tmp_path)
    ledger.add("pause", pids=[101, 102], component="nginx")
    ledger.add("upstream", removed=[1])
    relisted: list[bool] = []
    done = repair(ledger, relist_upstream=lambda: relisted.append(True), alive=lambda p: p == 101)
    assert any("resumed 1 paused process(es) of nginx (left by pid" in d for d in done)
    assert any("listed app instance(s) [1] in nginx's upstream again" in d for d in done)
    assert sent and sent[0][0] == [101] and relisted == [True]
    assert ledger.entries() == {} and not ledger.path.exists()
    assert repair(ledger, relist_upstream=lambda: relisted.append(True)) == []


def test_a_fault_undone_in_time_leaves_no_entry(tmp_path: Path) -> None:
    ledger = FaultLedger(tmp_path)
    ledger.add("pause", pids=[1], component="redis")
    ledger.clear("pause")
    ledger.clear("upstream")  # clearing what is not there is fine
    assert ledger.entries() == {}
    ledger.path.write_text("not json")
    assert ledger.entries() == {}  # a torn file is no fault to repair
