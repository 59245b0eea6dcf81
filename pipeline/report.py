"""The summaries at the end of a run: one table row per target (and registry), then the full
reason of every failure below the table. Formatting only: build.py and outcomes.py make the
rows."""

from __future__ import annotations

from collections.abc import Sequence

from . import log

CELL = 80


def cut(text: str, width: int = CELL) -> str:
    """The first line of text, cut at a word boundary to fit a table cell (pure)."""
    line = " ".join((text.strip().splitlines() or [""])[0].split())
    if len(line) <= width:
        return line
    head = line[:width - 1]
    space = head.rfind(" ")
    return (head[:space] if space > width // 2 else head).rstrip(" ,;:") + "…"


def summary(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]],
            reasons: Sequence[tuple[str, str]]) -> None:
    """The table, then every failure's whole reason (a cell holds only its start)."""
    log.summary(title, list(headers), [list(row) for row in rows])
    failed = [(name, reason.strip()) for name, reason in reasons if reason.strip()]
    if failed:
        log.info("\n".join(["", "reasons:", *(f"- {name}: {reason}" for name, reason in failed)]))
