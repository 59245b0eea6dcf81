"""Writing benchmark figures into docs/benchmarks.md, one section per benchmark script.

Each section is replaced as a whole between its markers, so a rerun updates its figures
and leaves the other sections alone.
"""

from __future__ import annotations

import datetime
import os
import platform
import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = """# Benchmarks

Figures measured by the scripts in `benchmarks/`, each section with the command that
reproduces it. Tests check behaviour; speed and size targets are tracked here.
"""


def target(value: float, limit: float, text: str) -> str:
    """A target cell that says whether the figure met it: `≤ 210 s (met)`, `≤ 210 s (MISSED)`."""
    return f"≤ {text} ({'met' if value <= limit else 'MISSED'})"


def machine() -> str:
    return f"{os.cpu_count()} cores, {platform.machine()}, {platform.system()} {platform.release()}"


def write_section(name: str, command: str, body: str) -> None:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = (f"{start}\n## {name}\n\nMeasured {stamp} on {machine()} with:\n\n"
               f"```sh\n{command}\n```\n\n{body.strip()}\n{end}")
    text = DOC.read_text() if DOC.exists() else HEADER
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.DOTALL)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else f"{text.rstrip()}\n\n{section}\n"
    DOC.write_text(text)
