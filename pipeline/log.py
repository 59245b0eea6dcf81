"""Output a person can follow: one line per step with its duration, groups per target,
a summary table, and GitHub Actions' ::group:: / step summary when running there."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator

VERBOSE = False


def _in_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def info(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def debug(message: str) -> None:
    if VERBOSE:
        print(f"  · {message}", file=sys.stderr, flush=True)


def warning(message: str) -> None:
    prefix = "::warning::" if _in_actions() else "warning: "
    print(f"{prefix}{message}", file=sys.stderr, flush=True)


def error(message: str) -> None:
    prefix = "::error::" if _in_actions() else "error: "
    print(f"{prefix}{message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def group(title: str) -> Iterator[None]:
    """A block of steps for one target (collapsible in GitHub Actions)."""
    info(f"::group::{title}" if _in_actions() else f"== {title}")
    try:
        yield
    finally:
        if _in_actions():
            info("::endgroup::")


@contextlib.contextmanager
def step(title: str) -> Iterator[None]:
    """One line per step: '  title ... ok (12.3s)' or '... FAILED (1.0s)'."""
    start = time.monotonic()
    debug(f"{title} ...")
    try:
        yield
    except BaseException:
        info(f"  {title} ... FAILED ({time.monotonic() - start:.1f}s)")
        raise
    info(f"  {title} ... ok ({time.monotonic() - start:.1f}s)")


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain-text table (also valid Markdown)."""
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def summary(title: str, headers: list[str], rows: list[list[str]]) -> None:
    """Print a summary table; in Actions, also append it to the job's step summary."""
    text = table(headers, rows)
    info(f"\n{title}\n{text}")
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a") as out:
            out.write(f"### {title}\n\n{text}\n\n")
