"""The stand-ins' settings file (pipeline/settings.py): read by every command, the
environment winning, restored afterwards; anything but PIPELINE_* refused by name."""

import os

import pytest

from pipeline import cli, settings
from pipeline.errors import ConfigurationError


def write(directory, text):
    (directory / settings.STAND_INS_FILE).write_text(text)


def test_applied_for_the_command_then_restored(tmp_path, monkeypatch):
    monkeypatch.delenv("PIPELINE_MIRROR", raising=False)
    monkeypatch.setenv("PIPELINE_OFFLINE", "0")
    write(tmp_path, "# comment\nPIPELINE_MIRROR=http://127.0.0.1:8088\nPIPELINE_OFFLINE=1\n")
    with settings.stand_ins(tmp_path) as applied:
        assert applied == {"PIPELINE_MIRROR": "http://127.0.0.1:8088"}   # the environment wins
        assert os.environ["PIPELINE_MIRROR"] == "http://127.0.0.1:8088"
        assert os.environ["PIPELINE_OFFLINE"] == "0"
    assert "PIPELINE_MIRROR" not in os.environ and os.environ["PIPELINE_OFFLINE"] == "0"


def test_no_file_no_change(tmp_path):
    before = dict(os.environ)
    with settings.stand_ins(tmp_path) as applied:
        assert applied == {} and dict(os.environ) == before
    with settings.stand_ins(None) as applied:
        assert applied == {}


@pytest.mark.parametrize("text, key", [("PATH=/tmp/evil\n", "PATH"), ("LD_PRELOAD=x.so\n", "LD_PRELOAD"),
                                       ("PIPELINE_MIRROR\n", "PIPELINE_MIRROR")])
def test_refuses_anything_else(tmp_path, text, key):
    write(tmp_path, text)
    with pytest.raises(ConfigurationError, match=rf"stand-ins.env: '{key}' is not a PIPELINE_\* variable"):
        settings.read(tmp_path / settings.STAND_INS_FILE)


def test_every_command_reads_the_file_beside_its_matrix(tmp_path, monkeypatch, capsys):
    """`pipeline plan` with a matrix whose directory holds the file: the release list it
    names is used, as if exported."""
    monkeypatch.delenv("PIPELINE_RELEASES", raising=False)
    (tmp_path / "releases.txt").write_text("22.10.1\n22.10.0\n")
    (tmp_path / "matrix.yaml").write_text("series: [{spec: 22.x}]\nregistries: []\n")
    write(tmp_path, f"PIPELINE_RELEASES=file:{tmp_path / 'releases.txt'}\n")
    assert cli.main(["plan", "--json", "--matrix", str(tmp_path / "matrix.yaml")]) == 0
    out, err = capsys.readouterr()
    assert '"version": "22.10.1"' in out and "stand-ins: PIPELINE_RELEASES from" in err
    assert "PIPELINE_RELEASES" not in os.environ
