"""The locks are up to date with requirements/*.in (and so with pyproject.toml, which
tests/unit/test_lock.py holds them to): compiling each again with the command in its header,
the committed lock as the preferred versions (uv keeps a pin the .in still allows), gives
the committed file byte for byte. uv asks PyPI for the versions and hashes it has not
cached. To update a lock: docs/ci.md, "The lock"."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.unit.test_lock import COMPILE


def uv() -> str:
    beside = Path(sys.executable).parent / "uv"
    found = str(beside) if beside.is_file() else shutil.which("uv")
    assert found, "uv is not installed: it is in requirements/test.txt (scripts/setup.sh installs it)"
    return found


def compile_again(work: Path, name: str, *, drop: str = "") -> str:
    """requirements/NAME.txt compiled again in a copy of requirements/ under `work` (the
    line `drop` taken out of NAME.in first)."""
    shutil.copytree(ROOT / "requirements", work / "requirements")
    source = work / "requirements" / f"{name}.in"
    if drop:
        assert f"\n{drop}\n" in source.read_text()
        source.write_text(source.read_text().replace(f"\n{drop}\n", "\n"))
    command = COMPILE.format(name=name).split()
    assert command[:3] == ["uv", "pip", "compile"]
    result = subprocess.run([uv(), *command[1:], "--quiet"], cwd=work, capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return (work / "requirements" / f"{name}.txt").read_text()


@pytest.mark.parametrize("name", ["publish", "test"])
def test_the_lock_is_up_to_date(tmp_path, name):
    assert compile_again(tmp_path, name) == (ROOT / "requirements" / f"{name}.txt").read_text(), \
        f"requirements/{name}.txt is not what requirements/{name}.in gives: recompile it (docs/ci.md)"


def test_a_changed_requirement_changes_the_lock(tmp_path):
    """The comparison above can fail: a dependency taken out of publish.in (as if removed
    from pyproject.toml) is gone from the lock compiled again."""
    assert "\nsemver==" in (ROOT / "requirements" / "publish.txt").read_text()
    assert "\nsemver==" not in compile_again(tmp_path, "publish", drop="semver>=3")
