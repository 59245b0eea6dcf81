"""The software bill of materials of every image: CycloneDX 1.6 JSON, one per platform,
made with cyclonedx-python-lib (OWASP's library; no JSON written by hand).

It lists
* the image itself (metadata.component): target, platform, base image, inputs digest;
* the operating system and every Debian package installed in the image, read from the
  image's own dpkg database (/var/lib/dpkg/status, /etc/os-release), as package URLs
  `pkg:deb/debian/NAME@VERSION?arch=ARCH&distro=debian-12`;
* the sources the build used, with the checksums sources.py verified them against (the
  context's verified.json): the Asterisk release tarball (sha256 published beside it), the
  bundled pjproject (md5 named in the Asterisk tree), the Opus codec files (opus variant
  only; sha256 pinned in matrix.yaml), the sound tarballs (the checksum published beside
  each).

build.Maker.make makes it between two builds of the Dockerfile: the first exports each
platform's dpkg database (stage `packages`), the second adds the SBOM as the image's last
layer (stage `image`) at image.SBOM_PATH, before the smoke test: the tested image is the
published one. The same inputs give the same bytes (the serial number comes from the
inputs digest, the timestamp is the image's created label), so the layer is reproducible.
Publishing reads it back from the pushed image's last layer (from_layer) to attach it as a
signed attestation (signing.py).
"""

from __future__ import annotations

import gzip
import io
import re
import tarfile
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cyclonedx.model import (
    ExternalReference,
    ExternalReferenceType,
    HashAlgorithm,
    HashType,
    Property,
    XsUri,
)
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.license import DisjunctiveLicense
from cyclonedx.model.tool import ToolRepository
from cyclonedx.output.json import JsonV1Dot6
from debian.deb822 import Deb822
from packageurl import PackageURL

from . import core, image
from .errors import BuildError
from .labels import BASE_LABEL, CREATED_LABEL, INPUTS_LABEL, parse_created
from .sources import Verified

if TYPE_CHECKING:
    from .core import Target

MEDIA_TYPE = "application/vnd.cyclonedx+json"
PROPERTY = "asterisk-pipeline"          # the namespace of our CycloneDX properties
_HASHES = {"sha256": HashAlgorithm.SHA_256, "sha1": HashAlgorithm.SHA_1, "md5": HashAlgorithm.MD5}


def file_name(platform: str) -> str:
    """The SBOM of a platform in the `sbom` build context: linux/arm64 → linux-arm64.cdx.json
    (the Dockerfile's COPY names it ${TARGETOS}-${TARGETARCH}.cdx.json)."""
    return platform.replace("/", "-") + ".cdx.json"


# ----------------------------------------------------------------------------- the image's packages

def os_release(path: Path) -> dict[str, str]:
    """/etc/os-release (os-release(5)): KEY=value lines, values optionally quoted."""
    values = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and re.fullmatch(r"[A-Z_][A-Z0-9_]*", key.strip()):
            values[key.strip()] = value.strip().strip("\"'")
    return values


def debian_packages(status: Path, release: Mapping[str, str]) -> list[Component]:
    """The installed packages of a dpkg database (status "install ok installed"), sorted."""
    distro = release.get("ID", "debian")
    qualifier = f"{distro}-{release['VERSION_ID']}" if release.get("VERSION_ID") else \
        release.get("VERSION_CODENAME", "")
    found = []
    with status.open(encoding="utf-8") as stream:
        for paragraph in Deb822.iter_paragraphs(stream):
            if paragraph.get("Status", "").split()[-1:] != ["installed"]:
                continue
            name, version = paragraph["Package"], paragraph["Version"]
            qualifiers = {"arch": paragraph.get("Architecture", "")}
            if qualifier:
                qualifiers["distro"] = qualifier
            source = paragraph.get("Source", "").split(" ")[0]
            if source and source != name:
                qualifiers["upstream"] = source
            purl = PackageURL(type="deb", namespace=distro, name=name, version=version,
                              qualifiers={k: v for k, v in qualifiers.items() if v})
            found.append(Component(type=ComponentType.LIBRARY, name=name, version=version,
                                   purl=purl, bom_ref=purl.to_string()))
    if not found:
        raise BuildError(f"{status}: no installed package in the image's dpkg database")
    return sorted(found, key=lambda c: (c.name, c.version or ""))


def operating_system(release: Mapping[str, str]) -> Component:
    name = release.get("ID", "linux")
    return Component(type=ComponentType.OPERATING_SYSTEM, name=name,
                     version=release.get("VERSION_ID", ""),
                     description=release.get("PRETTY_NAME", ""), bom_ref=f"os:{name}")


# ----------------------------------------------------------------------------- the sources

def _hash(item: Verified) -> HashType:
    return HashType(alg=_HASHES[item.algorithm], content=item.digest)


def source_component(item: Verified) -> Component:
    """One verified input of the build, with its checksum and where it comes from."""
    version = item.version or next(iter(re.findall(r"\b[0-9a-f]{40}\b", item.url)), "")
    kind = {"asterisk": ComponentType.APPLICATION, "pjproject": ComponentType.LIBRARY}.get(
        item.part, ComponentType.FILE)
    purl = PackageURL(type="generic", name=item.name, version=version or None,
                      qualifiers={"download_url": item.url,
                                  "checksum": f"{item.algorithm}:{item.digest}"})
    return Component(
        type=kind, name=item.name, version=version or None, purl=purl, bom_ref=f"source:{item.path}",
        hashes=[_hash(item)],
        licenses=[DisjunctiveLicense(id="GPL-2.0-only")] if item.part == "asterisk" else None,
        external_references=[ExternalReference(type=ExternalReferenceType.DISTRIBUTION,
                                               url=XsUri(item.url))],
        properties=[Property(name=f"{PROPERTY}:checked-against", value=item.checked_against)])


def sources_in(target: Target, verified: Iterable[Verified]) -> list[Verified]:
    """The verified inputs that end up in target's image: a variant's extra files (core.Extra,
    such as the Opus codec's) only in the variants that compile them in."""
    extras = {extra.part for extra in core.EXTRAS}
    mine = {extra.part for extra in target.variant.extras}
    return [item for item in verified if item.part not in extras or item.part in mine]


# ----------------------------------------------------------------------------- the document

def make(target: Target, platform: str, *, status: Path, release_file: Path,
         verified: Sequence[Verified], labels: Mapping[str, str], tool_version: str) -> str:
    """The CycloneDX JSON of target's image for one platform."""
    release = os_release(release_file)
    created = parse_created(labels[CREATED_LABEL])
    asterisk = [item for item in verified if item.part == "asterisk"]
    if len(asterisk) != 1:
        raise BuildError(f"{target.id}: the verified sources name {len(asterisk)} Asterisk tarballs")
    root = Component(
        type=ComponentType.CONTAINER, name="asterisk", version=target.id, bom_ref="image",
        description=labels.get("org.opencontainers.image.description"),
        properties=[Property(name=f"{PROPERTY}:{key}", value=value) for key, value in (
            ("platform", platform), ("variant", target.variant.name), ("asterisk-version", str(target.version)),
            ("base-image", labels.get(BASE_LABEL, target.base_image)),
            ("inputs", labels.get(INPUTS_LABEL, "")),
            ("revision", labels.get("org.opencontainers.image.revision", "")),
            ("sbom-path", image.SBOM_PATH)) if value])
    tool = Component(type=ComponentType.APPLICATION, name="asterisk-pipeline", version=tool_version,
                     bom_ref="tool:asterisk-pipeline")
    sources = [source_component(item) for item in sources_in(target, verified)]
    system = operating_system(release)
    packages = debian_packages(status, release)
    bom = Bom(serial_number=uuid.uuid5(uuid.NAMESPACE_URL,
                                       f"urn:asterisk-pipeline:{labels.get(INPUTS_LABEL)}:{platform}"),
              metadata=BomMetaData(component=root, timestamp=created,
                                   tools=ToolRepository(components=[tool])),
              components=[*sources, system, *packages])
    bom.register_dependency(root, [*sources, system])
    bom.register_dependency(system, packages)
    return JsonV1Dot6(bom).output_as_string(indent=1) + "\n"


# ----------------------------------------------------------------------------- reading it back

def from_layer(blob: bytes, media_type: str) -> bytes | None:
    """The SBOM file in an image layer (a tar, gzip-compressed or not); None if absent."""
    data = gzip.decompress(blob) if media_type.endswith("gzip") or blob[:2] == b"\x1f\x8b" else blob
    wanted = image.SBOM_PATH.lstrip("/")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar:
            if member.isfile() and member.name.lstrip("./") == wanted:
                stream = tar.extractfile(member)
                return stream.read() if stream else None
    return None
