"""The CLI as a newcomer meets it: one-line errors with documented exit codes, no
traceback, nothing pulled or built."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline.errors import ConfigurationError


@pytest.mark.parametrize("extra", [[], ["--variant", "plain"]])
def test_smoke_of_an_image_that_does_not_exist(docker, tmp_path, extra):
    result = subprocess.run([sys.executable, "-m", "pipeline", "smoke", "nosuch:image", *extra,
                             "--logs", str(tmp_path)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == ConfigurationError.exit_code, result.stderr
    assert result.stderr.strip() == ("error: no image nosuch:image in the local Docker engine: "
                                     "build it (`pipeline build`) or pull it first")
    assert not docker.image.exists("nosuch:image")      # nothing was pulled


def test_plan_finds_the_matrix_from_a_subdirectory(tmp_path):
    from tests.conftest import ROOT

    result = subprocess.run([sys.executable, "-m", "pipeline", "plan", "22.x", "--json"],
                            capture_output=True, text=True, cwd=ROOT / "docs",
                            env={"PIPELINE_RELEASES": f"file:{ROOT / 'tests/fixtures/asterisk-releases.txt'}",
                                 "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert '"version": "22.10.1"' in result.stdout
    elsewhere = subprocess.run([sys.executable, "-m", "pipeline", "plan"], capture_output=True,
                               text=True, cwd=tmp_path)
    assert elsewhere.returncode == 2
    assert "no matrix.yaml in" in elsewhere.stderr and "--matrix FILE" in elsewhere.stderr
