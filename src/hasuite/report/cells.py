"""The HTML pieces every section of ``report.html`` is built from: escaped text, numbers with
their units, verdict badges, tables. Every value goes through :func:`esc`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

__all__ = ["esc", "num", "table", "td", "verdict"]


def esc(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def num(value: Any, unit: str = "", at_least: bool = False) -> str:
    """A number as people read it (28.0 s, 0.125, 68), with its unit; ``not measured`` for None."""
    if value is None:
        return "not measured"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return esc(value)
    text = f"{value:.3f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:.0f}"
    if unit == "s" and abs(value) >= 1:
        text = f"{value:.1f}"
    return f"{'&ge; ' if at_least else ''}{esc(text)}{' ' + esc(unit) if unit else ''}"


def verdict(v: str) -> str:
    return f'<span class="v v-{esc(v)}">{esc(v)}</span>'


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], cls: str = "") -> str:
    """A table of ``rows`` (each a sequence of :func:`td` cells) under escaped ``headers``."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(cells) + "</tr>" for cells in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def td(html: str, num: bool = False) -> str:
    return f'<td class="num">{html}</td>' if num else f"<td>{html}</td>"
