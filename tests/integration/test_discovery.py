"""Release discovery against a real HTTP server on loopback (pytest-httpserver, serving
upstream's Apache-style listing) and against the stand-in mirror."""

import socket

import pytest
from werkzeug import Response

from pipeline.cli import main
from pipeline.errors import ResolutionError
from pipeline.matrix import Releases, Sources, load
from pipeline.releases import ReleaseIndex
from pipeline.versions import Version, resolve
from tests.conftest import RELEASES_FILE
from tests.integration.conftest import PINNED, REPO_MATRIX

PATH = "/pub/telephony/asterisk/releases/"


def apache_index(versions):
    rows = "\n".join(
        f'<img src="/icons/compressed.gif" alt="[   ]"> <a href="asterisk-{v}.tar.gz">asterisk-{v}.tar.gz</a>'
        f'    2026-04-10 14:02   26M\n<a href="asterisk-{v}.sha256">asterisk-{v}.sha256</a>'
        for v in versions)
    return (f"<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\">\n<html><head><title>Index of "
            f"{PATH}</title></head><body><h1>Index of {PATH}</h1><pre>"
            f'<a href="?C=N;O=D">Name</a><hr><a href="/pub/telephony/asterisk/">Parent Directory</a>\n'
            f'<a href="asterisk-22-current.tar.gz">asterisk-22-current.tar.gz</a>\n{rows}</pre></body></html>')


def index_for(base, source="listing"):
    return ReleaseIndex(Releases(source=source), Sources(asterisk=base + PATH.rstrip("/")))


def test_listing_in_the_upstream_format(httpserver):
    versions = RELEASES_FILE.read_text().split()
    httpserver.expect_request(PATH).respond_with_data(apache_index(versions), content_type="text/html")
    index = index_for(httpserver.url_for("").rstrip("/"))
    assert str(resolve("22.x", index.versions())) == "22.10.1"
    assert str(resolve("lts", index.versions())) == "22.10.1"
    assert len(index.versions()) == len(versions)
    release = index.get(resolve("20.x", index.versions()))
    assert release.checksum_urls == (httpserver.url_for(PATH + "asterisk-20.20.1.sha256"),)
    assert len(httpserver.log) == 1  # one listing fetch per run, however often it is asked


def test_server_errors_are_retried(httpserver):
    httpserver.expect_ordered_request(PATH).respond_with_response(Response("busy", status=503))
    httpserver.expect_ordered_request(PATH).respond_with_data(apache_index(["22.10.1"]))
    index = index_for(httpserver.url_for("").rstrip("/"))
    assert [str(v) for v in index.versions()] == ["22.10.1"]
    assert len(httpserver.log) == 2


def test_a_page_that_is_not_a_listing(httpserver):
    httpserver.expect_request(PATH).respond_with_data("<html><body>Maintenance</body></html>")
    with pytest.raises(ResolutionError, match="is not a directory listing"):
        index_for(httpserver.url_for("").rstrip("/")).versions()


def test_missing_directory(httpserver):
    httpserver.expect_request(PATH).respond_with_data("no", status=404)
    with pytest.raises(ResolutionError, match="HTTP 404"):
        index_for(httpserver.url_for("").rstrip("/")).versions()


def test_unreachable_host():
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ResolutionError, match="host unreachable"):
        index_for(f"http://127.0.0.1:{port}").versions()


def test_the_mirror_lists_exactly_the_pinned_releases(mirror):
    """The stand-in mirror's listings (python's http.server, not Apache) show the pinned
    releases and nothing else, so every run resolves the same versions."""
    matrix = load(REPO_MATRIX, environ={"PIPELINE_MIRROR": mirror})
    index = ReleaseIndex(matrix.releases, matrix.sources)
    pinned = sorted(Version.parse(v) for v in PINNED.values())
    assert sorted(index.versions() + index.versions(certified=True)) == pinned
    for spec, version in PINNED.items():
        certified = spec.endswith("-cert")
        assert str(resolve(spec, index.versions(certified=certified))) == version


def test_plan_against_the_mirror_shows_18_as_end_of_life(mirror, monkeypatch, capsys):
    monkeypatch.setenv("PIPELINE_MIRROR", mirror)
    monkeypatch.delenv("PIPELINE_RELEASES", raising=False)
    assert main(["plan", "--variant", "plain", "--matrix", str(REPO_MATRIX)]) == 0
    rows = [line.split("|") for line in capsys.readouterr().out.splitlines()
            if line.startswith("| ") and not line.startswith("| --")]
    support = {row[1].strip(): row[-2].strip() for row in rows}
    assert support["18.26.4"] == "end of life since 2025-10-20"
    assert set(support) == {"target", *PINNED.values()}   # every series of the matrix
