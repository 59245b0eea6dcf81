"""Fetch-and-verify against the local mirror (a real HTTP server laid out like upstream,
serving the releases pinned in scripts/make-local-mirror.sh) and against a loopback
server that serves a tampered tarball."""

import hashlib
import json
import textwrap

import pytest
import requests

from pipeline import sources
from pipeline.cli import main
from pipeline.core import OPUS_CODEC
from pipeline.errors import SourceError
from pipeline.matrix import load
from pipeline.releases import ReleaseIndex, release_in
from pipeline.versions import Version
from tests.integration.conftest import PINNED, PJPROJECT, REPO_MATRIX, STAND_IN_KEY

RELEASES = "downloads.asterisk.org/pub/telephony/asterisk/releases"
CERTIFIED = "downloads.asterisk.org/pub/telephony/certified-asterisk/releases"
PJPROJECT_DIR = "raw.githubusercontent.com/asterisk/third-party/master/pjproject"


def tarball_url(mirror, version):
    name = release_in("x", Version.parse(version)).tarball_url.rsplit("/", 1)[-1]
    directory = CERTIFIED if "cert" in version else RELEASES
    return f"{mirror}/{directory}/{name}"


@pytest.mark.parametrize("version", PINNED.values())
def test_mirror_serves_each_pinned_release_with_matching_checksums(mirror, version, tmp_path):
    """The release's published sha256, and the bundled pjproject's md5 inside its tree,
    both match what the mirror serves (the stand-in's md5 line rewrite)."""
    url = tarball_url(mirror, version)
    tarball = requests.get(url, timeout=30)
    published = requests.get(url + ".sha256", timeout=30)
    assert tarball.status_code == published.status_code == 200
    assert published.text.split() == [hashlib.sha256(tarball.content).hexdigest(), url.rsplit("/", 1)[1]]
    (tmp_path / "a.tar.gz").write_bytes(tarball.content)
    pjproject = sources.pjproject_version(tmp_path / "a.tar.gz")
    assert pjproject == PJPROJECT[version]
    name = f"pjproject-{pjproject}.tar.bz2"
    in_tree = sources.read_member(tmp_path / "a.tar.gz", f"third-party/pjproject/{name}.md5")
    served = requests.get(f"{mirror}/{PJPROJECT_DIR}/{pjproject}/{name}", timeout=30)
    assert served.status_code == 200
    assert in_tree.split() == [hashlib.md5(served.content).hexdigest(), name]


def test_plan_against_the_mirror_resolves_every_pinned_release(mirror, monkeypatch, capsys):
    monkeypatch.setenv("PIPELINE_MIRROR", mirror)
    monkeypatch.delenv("PIPELINE_RELEASES", raising=False)
    assert main(["plan", *PINNED, "--variant", "plain", "--json", "--matrix", str(REPO_MATRIX)]) == 0
    entries = json.loads(capsys.readouterr().out)["include"]
    assert {e["series"]: e["version"] for e in entries} == PINNED
    assert {e["version"]: e["tarball_url"] for e in entries} == {v: tarball_url(mirror, v) for v in PINNED.values()}
    certified = next(e for e in entries if e["series"] == "22.8-cert")
    assert certified["tags"] == ["22.8-cert3", "22.8-cert", "22-cert"]


@pytest.mark.parametrize("version", PINNED.values())
def test_prepare_verifies_every_input(mirror, tmp_path, version):
    matrix = load(REPO_MATRIX, environ={"PIPELINE_MIRROR": mirror, **STAND_IN_KEY})
    index = ReleaseIndex(matrix.releases, matrix.sources)
    release = index.get(Version.parse(version))
    context = sources.prepare(release, matrix.sources, tmp_path / "ctx")
    names = sorted(str(p.relative_to(context)) for p in context.rglob("*") if p.is_file())
    assert names == ["asterisk.tar.gz", f"externals/pjproject-{PJPROJECT[version]}.tar.bz2",
                     "opus/codec_opus_open_source.c", "opus/ex_opus.h",
                     f"sounds/{matrix.sources.core_sounds}.tar.gz", f"sounds/{matrix.sources.moh}.tar.gz",
                     "verified.json"]
    assert sources.pjproject_version(context / "asterisk.tar.gz") == PJPROJECT[version]
    # what each file was verified against, for the image's SBOM: every file, upstream URLs
    verified = {v.path: v for v in sources.recorded(context)}
    assert sorted(verified) == names[:-1]
    url = tarball_url(mirror, version)
    published = requests.get(f"{url}.sha256", timeout=30).text
    assert verified["asterisk.tar.gz"].digest == published.split()[0]
    # the upstream URL, not the mirror's: the SBOM names where the release really comes from
    assert verified["asterisk.tar.gz"].url == "https://" + url.removeprefix(f"{mirror}/")
    assert verified[f"externals/pjproject-{PJPROJECT[version]}.tar.bz2"].algorithm == "md5"
    assert verified["opus/ex_opus.h"].digest == dict(matrix.sources.extra(OPUS_CODEC).sha256)["ex_opus.h"]
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
    assert main(["build", "22.10.9", "--matrix", str(REPO_MATRIX)]) == 4
    assert "no release matches '22.10.9'; newest 22 release is 22.10.1" in capsys.readouterr().err
