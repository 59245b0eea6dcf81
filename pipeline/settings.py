"""The stand-ins' settings file: what `scripts/setup.sh --stand-ins` writes next to
matrix.yaml (STAND_INS_FILE), so that `pipeline ...` finds the offline stand-ins by itself
on a machine without internet (this project's development and CI machines).

It holds PIPELINE_* variables in .env form (python-dotenv): the local mirror
(PIPELINE_MIRROR), its test signing key (PIPELINE_SIGNATURE_KEY/_FINGERPRINT) and
PIPELINE_OFFLINE=1 (base images from the local image store; bases.py). A variable already
set in the environment wins over the file. No such file (a host with internet, GitHub's
runners): nothing changes, the real upstream is used. Delete the file to stop using the
stand-ins.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from dotenv import dotenv_values

from . import log
from .errors import ConfigurationError

STAND_INS_FILE = "stand-ins.env"
PREFIX = "PIPELINE_"


def read(path: Path) -> dict[str, str]:
    """The file's variables; ConfigurationError for anything but PIPELINE_* assignments."""
    values = dotenv_values(path)
    for key, value in values.items():
        if not key.startswith(PREFIX) or value is None:
            raise ConfigurationError(
                f"{path}: {key!r} is not a PIPELINE_* variable assignment; this file holds only "
                "the stand-ins' PIPELINE_* settings (rerun scripts/setup.sh --stand-ins to rewrite "
                "it, or delete it to use the real upstream)")
    return {key: value for key, value in values.items() if value is not None}


@contextlib.contextmanager
def stand_ins(directory: Path | None) -> Iterator[dict[str, str]]:
    """For the duration of one command: the stand-ins file's variables (in directory, when
    present) that the environment does not set, in os.environ; yields what was applied.
    The environment is restored afterwards (the CLI also runs in-process, in tests)."""
    path = directory / STAND_INS_FILE if directory else None
    if path is None or not path.is_file():
        yield {}
        return
    applied = {key: value for key, value in read(path).items() if key not in os.environ}
    if applied:
        log.info(f"stand-ins: {', '.join(sorted(applied))} from {path} (delete it to use the real "
                 "upstream)")
    os.environ.update(applied)
    try:
        yield applied
    finally:
        for key in applied:
            os.environ.pop(key, None)
