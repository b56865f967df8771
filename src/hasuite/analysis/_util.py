"""Small helpers shared by the analysis modules (pure)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from hasuite.model import Sample


def sorted_samples(samples: Iterable[Sample]) -> list[Sample]:
    """Samples ordered by monotonic time (stable for ties: input order kept)."""
    return sorted(samples, key=lambda s: s.at)


def error_kinds(failed: Iterable[Sample], top: int = 3) -> str:
    """The most frequent error kinds of failed samples: ``"http 502 x40, timeout x28"``."""
    counts: dict[str, int] = {}
    for s in failed:
        counts[s.error or "unknown"] = counts.get(s.error or "unknown", 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:top]
    return ", ".join(f"{kind} x{n}" for kind, n in ranked)


def fmt(value: float) -> str:
    """A number as people read it: ``30``, ``34.2``, ``0.0123``."""
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


#: Keys named in a measurement's detail; the rest are counted.
SHOWN_KEYS = 5


def key_list(keys: Sequence[str]) -> str:
    """The first keys and how many more: ``"a, b, c, d, e, ... (3 more)"``."""
    shown = ", ".join(keys[:SHOWN_KEYS])
    more = len(keys) - SHOWN_KEYS
    return shown + (f", ... ({more} more)" if more > 0 else "")
