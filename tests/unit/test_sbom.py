"""The SBOM document (pipeline/sbom.py) from a dpkg database and the record of verified
sources: valid CycloneDX 1.6 (checked against the schema the library ships), the exact
checksums sources.py verified, the Opus files only in the opus variant, the same bytes for
the same inputs; and the Dockerfile's SBOM stages as image.py names them. Files only."""

import gzip
import io
import json
import re
import tarfile
import textwrap

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from pipeline import image, sbom, sources
from pipeline.core import VARIANTS, Release, Target
from pipeline.errors import BuildError, SourceError
from pipeline.labels import BASE_LABEL, CREATED_LABEL, INPUTS_LABEL
from pipeline.matrix import Sources
from pipeline.versions import Version

STATUS = textwrap.dedent("""\
    Package: libc6
    Status: install ok installed
    Architecture: arm64
    Multi-Arch: same
    Source: glibc
    Version: 2.36-9+deb12u10
    Description: GNU C Library: Shared libraries

    Package: base-files
    Status: install ok installed
    Architecture: arm64
    Version: 12.4+deb12u11
    Description: Debian base system miscellaneous files

    Package: removed-one
    Status: deinstall ok config-files
    Architecture: arm64
    Version: 1.0-1

    Package: perl-base
    Status: install ok installed
    Architecture: arm64
    Source: perl
    Version: 1:5.36.0-7+deb12u2
    """)
OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n' \
             'VERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian\n'
ASTERISK_SHA256 = "ab" * 32
VERIFIED = [
    sources.Verified(part="asterisk", name="asterisk", version="22.10.1", path="asterisk.tar.gz",
                     url="https://downloads.asterisk.org/pub/telephony/asterisk/releases/asterisk-22.10.1.tar.gz",
                     algorithm="sha256", digest=ASTERISK_SHA256,
                     checked_against="the sha256 file published beside it"),
    sources.Verified(part="pjproject", name="pjproject", version="2.17",
                     path="externals/pjproject-2.17.tar.bz2",
                     url="https://raw.githubusercontent.com/asterisk/third-party/master/pjproject/2.17/pjproject-2.17.tar.bz2",
                     algorithm="md5", digest="cd" * 16,
                     checked_against="third-party/pjproject/pjproject-2.17.tar.bz2.md5 in the verified Asterisk tree"),
    sources.Verified(part="opus", name="ex_opus.h", version="", path="opus/ex_opus.h",
                     url="https://raw.githubusercontent.com/traud/asterisk-opus/a959f072d3f364be983dd27e6e250b038aaef747/codecs/ex_opus.h",
                     algorithm="sha256", digest="ef" * 32,
                     checked_against="sources.opus_codec_sha256 in matrix.yaml"),
    sources.Verified(part="sounds", name="asterisk-core-sounds-en-ulaw", version="1.6.1",
                     path="sounds/asterisk-core-sounds-en-ulaw-1.6.1.tar.gz",
                     url="https://downloads.asterisk.org/pub/telephony/sounds/releases/asterisk-core-sounds-en-ulaw-1.6.1.tar.gz",
                     algorithm="sha1", digest="12" * 20,
                     checked_against="the sha1 file published beside it"),
]
LABELS = {CREATED_LABEL: "2026-08-01T12:00:00Z", INPUTS_LABEL: "9" * 64,
          BASE_LABEL: "debian:bookworm-slim@sha256:" + "3" * 64}


def target(variant="plain"):
    release = Release(version=Version.parse("22.10.1"), tarball_url="https://x/a.tar.gz", checksum_urls=())
    return Target(series="22.x", release=release, variant=VARIANTS[variant],
                  platforms=("linux/amd64", "linux/arm64"), base_image="debian:bookworm-slim",
                  tags=("22.10.1",))


@pytest.fixture
def database(tmp_path):
    (tmp_path / "status").write_text(STATUS)
    (tmp_path / "os-release").write_text(OS_RELEASE)
    return tmp_path


def make(database, variant="plain", verified=VERIFIED, labels=LABELS) -> str:
    return sbom.make(target(variant), "linux/arm64", status=database / "status",
                     release_file=database / "os-release", verified=verified, labels=labels,
                     tool_version="0.1.0")


def components(text: str) -> dict[str, dict]:
    return {c["name"]: c for c in json.loads(text)["components"]}


def test_valid_cyclonedx_with_the_verified_checksums(database):
    text = make(database, "opus")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    found = components(text)
    asterisk = found["asterisk"]
    assert asterisk["version"] == "22.10.1"
    assert asterisk["hashes"] == [{"alg": "SHA-256", "content": ASTERISK_SHA256}]
    assert asterisk["licenses"] == [{"license": {"id": "GPL-2.0-only"}}]
    assert asterisk["purl"].startswith("pkg:generic/asterisk@22.10.1?")
    assert found["pjproject"]["hashes"] == [{"alg": "MD5", "content": "cd" * 16}]
    assert "md5 in the verified Asterisk tree" in found["pjproject"]["properties"][0]["value"]
    assert found["ex_opus.h"]["version"] == "a959f072d3f364be983dd27e6e250b038aaef747"
    assert found["asterisk-core-sounds-en-ulaw"]["hashes"] == [{"alg": "SHA-1", "content": "12" * 20}]
    metadata = json.loads(text)["metadata"]
    assert metadata["component"]["version"] == "22.10.1-opus"
    assert metadata["timestamp"].startswith("2026-08-01T12:00:00")
    properties = {p["name"]: p["value"] for p in metadata["component"]["properties"]}
    assert properties["asterisk-pipeline:platform"] == "linux/arm64"
    assert properties["asterisk-pipeline:base-image"] == LABELS[BASE_LABEL]


def test_the_installed_debian_packages_as_package_urls(database):
    found = components(make(database))
    assert found["libc6"]["purl"] == \
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u10?arch=arm64&distro=debian-12&upstream=glibc"
    assert found["perl-base"]["version"] == "1:5.36.0-7+deb12u2"      # epoch kept
    assert found["base-files"]["purl"] == "pkg:deb/debian/base-files@12.4%2Bdeb12u11?arch=arm64&distro=debian-12"
    assert "removed-one" not in found                                   # only what is installed
    assert found["debian"]["type"] == "operating-system" and found["debian"]["version"] == "12"


def test_the_opus_files_only_in_the_opus_variant(database):
    assert "ex_opus.h" in components(make(database, "opus"))
    assert "ex_opus.h" not in components(make(database, "plain"))


def test_same_inputs_same_bytes(database):
    """The SBOM is a layer of the image: with the same inputs it must not change the image."""
    assert make(database) == make(database)
    other = make(database, labels={**LABELS, INPUTS_LABEL: "8" * 64})
    assert json.loads(other)["serialNumber"] != json.loads(make(database))["serialNumber"]


def test_refused_without_packages_or_without_the_asterisk_tarball(database):
    (database / "status").write_text("")
    with pytest.raises(BuildError, match="no installed package"):
        make(database)
    (database / "status").write_text(STATUS)
    with pytest.raises(BuildError, match="0 Asterisk tarballs"):
        make(database, verified=VERIFIED[1:])


def test_the_verified_record_round_trips_and_names_upstream(tmp_path):
    sources.record(tmp_path, VERIFIED)
    assert sources.recorded(tmp_path) == VERIFIED
    with pytest.raises(SourceError, match="no readable record"):
        sources.recorded(tmp_path / "elsewhere")
    mirrored = Sources(mirror="http://127.0.0.1:8088")
    assert sources.upstream_url(mirrored, "http://127.0.0.1:8088/downloads.asterisk.org/a/b.tar.gz") == \
        "https://downloads.asterisk.org/a/b.tar.gz"
    assert sources.upstream_url(Sources(), "https://x/y") == "https://x/y"


def test_read_back_from_an_image_layer():
    payload = b'{"bomFormat": "CycloneDX"}'
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(image.SBOM_PATH.lstrip("/"))
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    layer = buffer.getvalue()
    assert sbom.from_layer(gzip.compress(layer), "application/vnd.oci.image.layer.v1.tar+gzip") == payload
    assert sbom.from_layer(layer, "application/vnd.oci.image.layer.v1.tar") == payload
    empty = io.BytesIO()
    tarfile.open(fileobj=empty, mode="w").close()
    assert sbom.from_layer(empty.getvalue(), "application/vnd.oci.image.layer.v1.tar") is None


def test_the_dockerfile_adds_it_where_image_py_says():
    text = (image.DOCKERFILES / "Dockerfile").read_text()
    stages = re.findall(r"^FROM \S+ AS (\S+)$", text, re.MULTILINE)
    assert stages[-3:] == ["variant", image.PACKAGES_STAGE, image.IMAGE_STAGE]
    assert f"ARG {image.VARIANT_ARG}=runtime" in text
    assert re.search(rf"^COPY --from={image.SBOM_CONTEXT} .*\$\{{TARGETOS\}}-\$\{{TARGETARCH\}}"
                     rf"\.cdx\.json {re.escape(image.SBOM_PATH)}$", text, re.MULTILINE)
    assert sbom.file_name("linux/arm64") == "linux-arm64.cdx.json"
