"""Hand-built timelines for the pure analysis tests (no I/O, no clock)."""

from __future__ import annotations

from pathlib import Path

from hasuite.model import RoleObservation, Sample

PROMISES_FILE = Path(__file__).resolve().parents[2] / "suites" / "promises.yaml"
WALL0 = 1_800_000_000.0


def series(
    pattern: str, *, start: float = 0.0, step: float = 0.1, probe: str = "order-write"
) -> tuple[Sample, ...]:
    """Samples from a pattern: ``.`` success, ``x`` failure, ``_`` silence (no sample).

    Character i is at ``start + i * step``.
    """
    out = []
    for i, ch in enumerate(pattern):
        if ch == "_":
            continue
        if ch not in ".x":
            raise ValueError(f"bad pattern char {ch!r}")
        at = round(start + i * step, 9)
        out.append(
            Sample(
                at=at,
                wall=WALL0 + at,
                probe=probe,
                ok=ch == ".",
                latency_s=0.01,
                error=None if ch == "." else "HTTP 503",
            )
        )
    return tuple(out)


def roles(component: str, *rows: tuple[float, str, str, bool]) -> tuple[RoleObservation, ...]:
    """Role observations from ``(at, instance, role, ready)`` rows."""
    return tuple(
        RoleObservation(
            at=at, wall=WALL0 + at, component=component, instance=inst, role=role, ready=ready
        )
        for at, inst, role, ready in rows
    )
