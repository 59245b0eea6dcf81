"""Fetch-and-verify against the local mirror (a real HTTP server laid out like upstream)
and against a loopback server that serves a tampered tarball."""

import hashlib
import textwrap

import pytest
import requests

from pipeline import sources
from pipeline.cli import main
from pipeline.errors import SourceError
from pipeline.matrix import load
from pipeline.releases import ReleaseIndex
from pipeline.versions import resolve
from tests.conftest import ROOT

RELEASES = "downloads.asterisk.org/pub/telephony/asterisk/releases"


def test_mirror_serves_22_10_1_with_matching_checksum(mirror):
    tarball = requests.get(f"{mirror}/{RELEASES}/asterisk-22.10.1.tar.gz", timeout=30)
    published = requests.get(f"{mirror}/{RELEASES}/asterisk-22.10.1.tar.gz.sha256", timeout=30)
    assert tarball.status_code == published.status_code == 200
    assert published.text.split() == [hashlib.sha256(tarball.content).hexdigest(), "asterisk-22.10.1.tar.gz"]


def test_plan_against_the_mirror_resolves_22_10_1(mirror, monkeypatch, capsys):
    monkeypatch.setenv("PIPELINE_MIRROR", mirror)
    monkeypatch.delenv("PIPELINE_RELEASES", raising=False)
    assert main(["plan", "22.x", "--json", "--matrix", str(ROOT / "matrix.yaml")]) == 0
    out = capsys.readouterr().out
    assert '"version": "22.10.1"' in out
    assert f'"tarball_url": "{mirror}/{RELEASES}/asterisk-22.10.1.tar.gz"' in out


def test_prepare_verifies_every_input(mirror, tmp_path):
    matrix = load(ROOT / "matrix.yaml", environ={"PIPELINE_MIRROR": mirror})
    index = ReleaseIndex(matrix.releases, matrix.sources)
    release = index.get(resolve("22.x", index.versions()))
    context = sources.prepare(release, matrix.sources, tmp_path / "ctx")
    names = sorted(str(p.relative_to(context)) for p in context.rglob("*") if p.is_file())
    assert names == ["asterisk.tar.gz", "externals/pjproject-2.17.tar.bz2",
                     "opus/codec_opus_open_source.c", "opus/ex_opus.h",
                     f"sounds/{matrix.sources.core_sounds}.tar.gz", f"sounds/{matrix.sources.moh}.tar.gz",
                     "verified.json"]
    assert sources.pjproject_version(context / "asterisk.tar.gz") == "2.17"
    # what each file was verified against, for the image's SBOM: every file, upstream URLs
    verified = {v.path: v for v in sources.recorded(context)}
    assert sorted(verified) == names[:-1]
    published = requests.get(f"{mirror}/{RELEASES}/asterisk-22.10.1.tar.gz.sha256", timeout=30).text
    assert verified["asterisk.tar.gz"].digest == published.split()[0]
    assert verified["asterisk.tar.gz"].url == f"https://{RELEASES}/asterisk-22.10.1.tar.gz"
    assert verified["externals/pjproject-2.17.tar.bz2"].algorithm == "md5"
    assert verified["opus/ex_opus.h"].digest == dict(matrix.sources.opus_codec_sha256)["ex_opus.h"]
    before = {p: p.stat().st_mtime_ns for p in context.rglob("*") if p.is_file()}
    sources.prepare(release, matrix.sources, context)  # already verified: nothing downloaded again
    assert before == {p: p.stat().st_mtime_ns for p in context.rglob("*") if p.is_file()}


@pytest.fixture
def tampered_upstream(httpserver, mirror, tmp_path):
    """A loopback 'upstream' whose tarball does not match its published .sha256."""
    good = requests.get(f"{mirror}/{RELEASES}/asterisk-22.10.1.tar.gz.sha256", timeout=30).text
    path = "/pub/telephony/asterisk/releases"
    httpserver.expect_request(f"{path}/").respond_with_data(
        '<a href="asterisk-22.10.1.tar.gz">x</a> <a href="asterisk-22.10.1.tar.gz.sha256">y</a>')
    httpserver.expect_request(f"{path}/asterisk-22.10.1.tar.gz.sha256").respond_with_data(good)
    httpserver.expect_request(f"{path}/asterisk-22.10.1.tar.gz").respond_with_data(b"not the release" * 1000)
    matrix = tmp_path / "matrix.yaml"
    matrix.write_text(textwrap.dedent(f"""
        sources:
          asterisk: {httpserver.url_for(path)}
        series:
          - spec: "22.x"
            platforms: [linux/amd64]
    """))
    return matrix


def test_a_tampered_tarball_is_refused_before_any_build(tampered_upstream, docker, monkeypatch,
                                                        tmp_path, capsys):
    monkeypatch.delenv("PIPELINE_MIRROR", raising=False)
    monkeypatch.delenv("PIPELINE_RELEASES", raising=False)
    monkeypatch.setenv("PIPELINE_OUT", str(tmp_path / "out"))
    code = main(["build", "22.x", "--matrix", str(tampered_upstream), "--image", "tamper-test"])
    err = capsys.readouterr().err
    assert code == 7
    assert "sha256 checksum mismatch" in err and "nothing was built from it" in err
    assert not (tmp_path / "out" / "sources" / "22.10.1" / "asterisk.tar.gz").exists()
    assert not (tmp_path / "out" / "logs").exists()  # no build step started
    assert docker.image.list("tamper-test") == []


def test_prepare_raises_on_mismatch(tampered_upstream, tmp_path):
    matrix = load(tampered_upstream, environ={})
    index = ReleaseIndex(matrix.releases, matrix.sources)
    with pytest.raises(SourceError, match="checksum mismatch"):
        sources.prepare(index.get(index.versions()[0]), matrix.sources, tmp_path / "ctx")


def test_an_unknown_version_is_a_clear_error(mirror, monkeypatch, capsys):
    monkeypatch.setenv("PIPELINE_MIRROR", mirror)
    monkeypatch.delenv("PIPELINE_RELEASES", raising=False)
    assert main(["build", "22.10.9", "--matrix", str(ROOT / "matrix.yaml")]) == 4
    assert "no release matches '22.10.9'; newest 22 release is 22.10.1" in capsys.readouterr().err
