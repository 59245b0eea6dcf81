"""The code's own checks, as CI's lint job runs them (pyproject.toml configures both):
ruff with bugbear, pyupgrade, simplify and import order; mypy, strict on the pure
modules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

BIN = Path(sys.executable).parent


def test_ruff_is_clean():
    result = subprocess.run([str(BIN / "ruff"), "check", "--output-format", "concise", "."],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean():
    result = subprocess.run([str(BIN / "mypy")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
