"""The code's own checks, as CI's lint job runs them (pyproject.toml configures them):
ruff with bugbear, pyupgrade, simplify and import order; mypy, strict on the pure
modules; import-linter, the layers of pipeline/ and no import circles (TYPE_CHECKING
imports included)."""

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


def test_the_layers_hold():
    result = subprocess.run([str(BIN / "lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout, result.stdout
