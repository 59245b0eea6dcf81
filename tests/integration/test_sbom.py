"""The SBOM inside built images (issue 12.7), read back from the images themselves.

- The tiny image (tests/integration/tiny_image.py: the real Dockerfile's SBOM stages on a
  small image), built by build.Maker like every target, for both platforms: the SBOM is at
  image.SBOM_PATH in the image that was smoke-tested, is valid CycloneDX 1.6, names the
  Asterisk release and the sha256 it was verified against, and lists exactly the Debian
  packages `dpkg-query` reports inside that platform's image.
- The real image of `pipeline build lts` (slow: the session build): the same, plus every
  bundled source with the checksum it was verified against, each read independently from
  the local mirror, the Asterisk tree and matrix.yaml.
"""

from __future__ import annotations

import json
import re

import pytest
import requests
import yaml
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from pipeline import image, sources
from pipeline.build import Maker
from pipeline.core import VARIANTS, Release, Target
from pipeline.matrix import Sources
from pipeline.versions import Version
from tests.integration.conftest import BASE_IMAGE, REPO_MATRIX, TEST_IMAGE
from tests.integration.test_publish import version_smoke
from tests.integration.tiny_image import remove_images, tiny_prepare, tiny_sources

PLATFORMS = ("linux/amd64", "linux/arm64")
IMAGE_NAME = f"{TEST_IMAGE}-sbom"
UPSTREAM = "https://downloads.asterisk.org/pub/telephony/asterisk/releases"


def read_sbom(docker, ref: str, platform: str = "linux/amd64") -> dict:
    text = docker.run(ref, [image.SBOM_PATH], entrypoint="cat", remove=True, platform=platform)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    return json.loads(text)


def installed(docker, ref: str, platform: str = "linux/amd64") -> set[str]:
    """Package URLs of what dpkg says is installed in the image, as the SBOM writes them."""
    out = docker.run(ref, ["-W", "-f", "${db:Status-Status} ${Package} ${Version} ${Architecture}\n"],
                     entrypoint="dpkg-query", remove=True, platform=platform)
    return {f"{name}@{version}?arch={arch}" for status, name, version, arch
            in (line.split() for line in out.splitlines()) if status == "installed"}


def sbom_packages(document: dict) -> set[str]:
    """Of the SBOM's Debian packages: NAME@VERSION?arch=ARCH (purl-decoded)."""
    found = set()
    for component in document["components"]:
        purl = component.get("purl", "")
        if purl.startswith("pkg:deb/"):
            arch = re.search(r"[?&]arch=([^&]+)", purl)[1]
            found.add(f"{component['name']}@{component['version']}?arch={arch}")
    return found


def by_name(document: dict) -> dict[str, dict]:
    return {c["name"]: c for c in document["components"]}


@pytest.fixture(scope="module", autouse=True)
def remove_local_images(docker):
    yield
    remove_images(docker, IMAGE_NAME)


def test_the_tiny_image_carries_its_sbom_on_every_platform(docker, tmp_path):
    dockerfiles, context, digest = tiny_sources(tmp_path / "tiny")
    release = Release(version=Version.parse("22.10.1"), tarball_url=f"{UPSTREAM}/asterisk-22.10.1.tar.gz",
                      checksum_urls=())
    target = Target(series="22.x", release=release, variant=VARIANTS["plain"], platforms=PLATFORMS,
                    base_image=BASE_IMAGE, tags=("22.10.1",))
    maker = Maker(sources=Sources(), out=tmp_path / "out", image_name=IMAGE_NAME, smoke=version_smoke,
                  dockerfiles=dockerfiles, prepare=tiny_prepare(context, digest),
                  checksum=lambda release: digest)
    built = maker.make(docker, target, PLATFORMS)
    assert built.status == "tested", built.reason
    for platform in PLATFORMS:
        document = read_sbom(docker, built.image, platform)
        asterisk = by_name(document)["asterisk"]
        assert asterisk["version"] == "22.10.1"
        assert asterisk["hashes"] == [{"alg": "SHA-256", "content": digest}]
        assert asterisk["externalReferences"][0]["url"] == f"{UPSTREAM}/asterisk-22.10.1.tar.gz"
        properties = {p["name"]: p["value"] for p in document["metadata"]["component"]["properties"]}
        assert properties["asterisk-pipeline:platform"] == platform
        packages = sbom_packages(document)
        assert packages == installed(docker, built.image, platform)
        arch = platform.split("/")[1]
        assert any(p.startswith("libc6@") and p.endswith(f"arch={arch}") for p in packages)
        assert "ex_opus.h" not in by_name(document)


# ----------------------------------------------------------------------------- the real image

def published_digest(mirror: str, url: str) -> str:
    """The checksum published beside a file on the mirror (what upstream publishes)."""
    for kind in ("sha256", "sha1", "md5"):
        response = requests.get(f"{mirror}/{url.split('://', 1)[1]}.{kind}", timeout=10)
        if response.ok:
            return response.text.split()[0]
    raise AssertionError(f"no checksum published for {url}")


@pytest.mark.parametrize("variant", ["plain", "opus"])
def test_the_real_image_lists_every_source_with_its_checksum(docker, images, mirror, tmp_path, variant):
    document = read_sbom(docker, images[variant])
    found = by_name(document)
    asterisk = found["asterisk"]
    assert asterisk["version"] == "22.10.1"
    assert asterisk["hashes"] == [{"alg": "SHA-256",
                                   "content": published_digest(mirror, asterisk["externalReferences"][0]["url"])}]
    # pjproject: the md5 the Asterisk tree names
    tarball = tmp_path / "asterisk.tar.gz"
    tarball.write_bytes(requests.get(f"{mirror}/{asterisk['externalReferences'][0]['url'].split('://')[1]}",
                                     timeout=60).content)
    version = sources.pjproject_version(tarball)
    md5 = sources.read_member(tarball, f"third-party/pjproject/pjproject-{version}.tar.bz2.md5").split()[0]
    assert found["pjproject"]["version"] == version
    assert found["pjproject"]["hashes"] == [{"alg": "MD5", "content": md5}]
    # the sounds: the checksums published beside them
    matrix = yaml.safe_load((REPO_MATRIX).read_text())["sources"]
    for name in (matrix["core_sounds"], matrix["moh"]):
        package, _, sound_version = name.rpartition("-")
        component = found[package]
        assert component["version"] == sound_version
        assert component["hashes"][0]["content"] == published_digest(
            mirror, component["externalReferences"][0]["url"])
    # the Opus codec files: the sha256 pinned in matrix.yaml, only in the opus image
    for name, pinned in matrix["opus_codec_sha256"].items():
        if variant == "opus":
            assert found[name]["hashes"] == [{"alg": "SHA-256", "content": pinned}]
        else:
            assert name not in found
    assert sbom_packages(document) == installed(docker, images[variant])
