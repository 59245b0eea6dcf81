"""The summaries at the end of a run: one table row per target (and registry), then the full
reason of every failure below the table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import log

if TYPE_CHECKING:
    from .build import Built
    from .publish import Outcome

CELL = 80


def cut(text: str, width: int = CELL) -> str:
    """The first line of text, cut at a word boundary to fit a table cell (pure)."""
    line = " ".join((text.strip().splitlines() or [""])[0].split())
    if len(line) <= width:
        return line
    head = line[:width - 1]
    space = head.rfind(" ")
    return (head[:space] if space > width // 2 else head).rstrip(" ,;:") + "…"


def _reasons(rows: Sequence[tuple[str, str]]) -> None:
    """Every failure's whole reason, after the table (a cell holds only its start)."""
    failed = [(name, reason.strip()) for name, reason in rows if reason.strip()]
    if failed:
        log.info("\n".join(["", "reasons:", *(f"- {name}: {reason}" for name, reason in failed)]))


def builds(results: Sequence[Built]) -> None:
    rows = [[r.target.id, r.status, r.image, f"{r.size / 1e6:.0f} MB" if r.size else "-",
             " ".join(f"{k} {v:.0f}s" for k, v in r.steps.items()) or "-", cut(r.reason)]
            for r in results]
    log.summary("build summary", ["target", "status", "image", "size", "time", "reason"], rows)
    _reasons([(r.target.id, r.reason) for r in results if not r.ok])


def publications(outcomes: Sequence[Outcome]) -> None:
    rows = []
    for o in outcomes:
        changed = [a.tag for a in o.actions if a.changes and o.status in ("published", "would publish")]
        kept = [a.tag for a in o.actions if a.action == "keep"]
        tags = ", ".join(changed) or "-"
        if kept:
            tags += f" (kept: {', '.join(kept)})"
        rows.append([o.target.id, o.registry.name, o.status, tags, o.digest[:19] or "-",
                     f"{o.seconds:.0f}s", cut(o.reason)])
    log.summary("publish summary", ["target", "registry", "status", "tags changed", "digest",
                                    "time", "reason"], rows)
    _reasons([(f"{o.target.id} → {o.registry.name}", o.reason) for o in outcomes if not o.ok])
