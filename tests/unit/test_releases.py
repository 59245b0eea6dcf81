import pytest

from pipeline.errors import SourceError
from pipeline.matrix import Sources
from pipeline.releases import parse_listing, release_in
from pipeline.versions import Version

DIR = "https://downloads.asterisk.org/pub/telephony/asterisk/releases"

# The shape of upstream's Apache index (trimmed).
APACHE_INDEX = """<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">
<html><head><title>Index of /pub/telephony/asterisk/releases</title></head><body>
<h1>Index of /pub/telephony/asterisk/releases</h1><pre>
<a href="?C=N;O=D">Name</a> <a href="?C=M;O=A">Last modified</a>
<a href="/pub/telephony/asterisk/">Parent Directory</a>
<a href="ChangeLog-22.10.1.md">ChangeLog-22.10.1.md</a>  2026-04-10 14:02  120K
<a href="asterisk-22.10.0-rc1.tar.gz">asterisk-22.10.0-rc1.tar.gz</a>
<a href="asterisk-22.10.0-rc1.sha256">asterisk-22.10.0-rc1.sha256</a>
<a href="asterisk-22.10.1.tar.gz">asterisk-22.10.1.tar.gz</a>  2026-04-10 14:02   26M
<a href="asterisk-22.10.1.tar.gz.asc">asterisk-22.10.1.tar.gz.asc</a>
<a href="asterisk-22.10.1.sha256">asterisk-22.10.1.sha256</a>
<a href="asterisk-22-current.tar.gz">asterisk-22-current.tar.gz</a>
<a href="asterisk-1.8.32.3.tar.gz">asterisk-1.8.32.3.tar.gz</a>
<a href='asterisk-20.20.1.tar.gz'>asterisk-20.20.1.tar.gz</a>
<a href="asterisk-20.20.1.tar.gz.sha256">asterisk-20.20.1.tar.gz.sha256</a>
</pre></body></html>"""


def test_parse_upstream_listing():
    found = parse_listing(APACHE_INDEX, DIR)
    assert sorted(map(str, found)) == ["1.8.32.3", "20.20.1", "22.10.0-rc1", "22.10.1"]
    release = found[Version.parse("22.10.1")]
    assert release.tarball_url == f"{DIR}/asterisk-22.10.1.tar.gz"
    assert release.checksum_urls == (f"{DIR}/asterisk-22.10.1.sha256",)
    assert found[Version.parse("20.20.1")].checksum_urls == (f"{DIR}/asterisk-20.20.1.tar.gz.sha256",)
    assert found[Version.parse("1.8.32.3")].checksum_urls == ()


def test_parse_python_http_server_listing():
    page = ('<ul><li><a href="asterisk-22.10.1.tar.gz">asterisk-22.10.1.tar.gz</a></li>'
            '<li><a href="asterisk-22.10.1.tar.gz.sha256">x</a></li></ul>')
    assert list(map(str, parse_listing(page, DIR))) == ["22.10.1"]


def test_parse_certified_listing():
    page = '<a href="asterisk-certified-22.8-cert3.tar.gz">x</a><a href="asterisk-certified-22.8-cert3.sha256">'
    release = parse_listing(page, "https://x/certified")[Version.parse("22.8-cert3")]
    assert release.tarball_url == "https://x/certified/asterisk-certified-22.8-cert3.tar.gz"


def test_a_page_that_is_not_a_listing():
    with pytest.raises(SourceError, match="is not a directory listing"):
        parse_listing("<html><body>Service Unavailable</body></html>", DIR)


def test_release_without_listing_tries_both_checksum_names():
    release = release_in(DIR, Version.parse("22.10.1"))
    assert release.checksum_urls == (f"{DIR}/asterisk-22.10.1.sha256",
                                     f"{DIR}/asterisk-22.10.1.tar.gz.sha256")


def test_mirror_rewrites_every_upstream_url():
    sources = Sources(mirror="http://127.0.0.1:8088/")
    assert sources.url(sources.pjproject + "/2.17/pjproject-2.17.tar.bz2") == (
        "http://127.0.0.1:8088/raw.githubusercontent.com/asterisk/third-party/master/"
        "pjproject/2.17/pjproject-2.17.tar.bz2")
