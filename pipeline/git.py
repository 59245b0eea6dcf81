"""The one place git runs: every command logged (credentials in URLs hidden), never
prompting, bounded in time, and a failure raised as the error type the caller names."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Sequence
from pathlib import Path

from . import log
from .errors import PipelineError

TIMEOUT = 600.0   # seconds: a shallow fetch of Asterisk is ~40 MB
_USERINFO_RE = re.compile(r"(?<=://)[^/@\s]+@")


def redact(text: str) -> str:
    """A URL (or a command line holding one) without its user and password."""
    return _USERINFO_RE.sub("", text)


def run(args: Sequence[str], *, error: type[PipelineError], cwd: Path | None = None,
        timeout: float = TIMEOUT) -> str:
    """`git ARGS` (in cwd); its standard output. A failure raises `error` with git's message."""
    command = ["git", *args]
    shown = redact(shlex.join(command))
    log.debug(f"$ {shown}")
    # Never ask for a password: a URL that needs one fails instead of hanging.
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "LC_ALL": "C"}
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              env=env, check=False)
    except FileNotFoundError:
        raise error("git is not installed; install it (Debian: apt-get install git)") from None
    except subprocess.TimeoutExpired:
        raise error(f"{shown}: no answer within {timeout:.0f}s") from None
    if done.returncode != 0:
        message = redact(" ".join(done.stderr.split())) or f"exit {done.returncode}"
        raise error(f"{shown} failed: {message}")
    return done.stdout
