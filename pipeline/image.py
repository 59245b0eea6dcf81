"""What an image is: its variants, the labels it carries, the digest of its inputs, and the
Docker client that makes and runs it. Every other module asks here.

The variants are core.py's table.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from python_on_whales import DockerClient

    from .core import Target
    from .matrix import Sources

DOCKERFILES = Path(__file__).resolve().parent.parent / "dockerfiles" / "asterisk"
IGNORE_FILE = ".dockerignore"    # what of DOCKERFILES is not the build context

# Labels every image carries (and the registries' copies are read back by).
VERSION_LABEL = "org.asterisk.version"          # the Asterisk release, e.g. 22.10.1 (GIT-master-1a2b3c4)
GIT_COMMIT_LABEL = "org.asterisk.git.commit"     # a development snapshot's commit (only those)
GIT_REPOSITORY_LABEL = "org.asterisk.git.repository"   # ... and the repository it came from
VARIANT_LABEL = "org.asterisk.variant"          # a core.VARIANTS name
INPUTS_LABEL = "org.asterisk-pipeline.inputs"   # inputs_digest(): what it was built from
BASE_LABEL = "org.asterisk-pipeline.base"       # the base image, NAME@DIGEST when known
CREATED_LABEL = "org.opencontainers.image.created"   # when it was built: created_text()

# The SBOM (sbom.py) in every image the pipeline makes, and how the Dockerfile adds it: the
# first build exports the variant's dpkg database (PACKAGES_STAGE), the second adds the
# SBOMs of the build context SBOM_CONTEXT as the last layer (IMAGE_STAGE). VARIANT_ARG names
# the variant's stage.
SBOM_PATH = "/usr/share/sbom/asterisk.cdx.json"
PACKAGES_STAGE = "packages"
IMAGE_STAGE = "image"
SBOM_CONTEXT = "sbom"
VARIANT_ARG = "VARIANT_STAGE"

# BuildKit's provenance attestation of every image the pipeline makes (SLSA provenance, one
# attestation manifest per platform in the image index; `docker save` keeps them and
# publishing pushes them). mode=max also records the build arguments, labels and Dockerfile
# steps: the builds receive no secrets, so there is none to leak.
PROVENANCE: Mapping[str, str] = {"mode": "max"}


def local_name(image_name: str, target: Target) -> str:
    """Where a target's image is kept in the local engine: NAME:<target id>."""
    return f"{image_name}:{target.id}"


def inputs_digest(target: Target, sources: Sources, tarball_sha256: str, *,
                  base_digest: str = "", dockerfiles: Path = DOCKERFILES) -> str:
    """A digest of everything that goes into an image, known before building it: the
    Dockerfile and its build context as the build sees it (context_files), the release and
    the other sources, the base image's digest and the platforms.

    Stored as a label; publishing compares it with the registry's copy to skip targets that
    are up to date without rebuilding them. The release tarball's sha256 (a snapshot's
    commit id, passed in its place) stands for the whole source tree (it names the bundled
    pjproject's md5); base_digest is the base image's digest, so a new Debian image makes
    the target out of date. A snapshot's branch is not an input: one commit is one image,
    whichever branch (or none) it was built as.
    """
    digest = hashlib.sha256()
    for name in ["Dockerfile", IGNORE_FILE, *context_files(dockerfiles)]:
        if not (dockerfiles / name).is_file():
            continue
        digest.update(name.encode())
        digest.update(hashlib.sha256((dockerfiles / name).read_bytes()).digest())
    digest.update(json.dumps({
        "target": target.id, "tarball": tarball_sha256, "base": target.base_image,
        "base_digest": base_digest, "platforms": sorted(target.platforms),
        "sounds": [sources.core_sounds, sources.moh], "pjproject": sources.pjproject,
        # the variant's extra files, by their pins (the plain variant has none)
        **{extra.part: list(sources.extra(extra).sha256) for extra in target.variant.extras},
    }, sort_keys=True).encode())
    return digest.hexdigest()


def context_files(dockerfiles: Path) -> list[str]:
    """The regular files of the build context dockerfiles that a COPY can see: less what its
    .dockerignore excludes, by Docker's rules (docker-py's exclude_paths, the rules of
    moby/patternmatcher that BuildKit applies; test_image_context compares the two), and
    less the Dockerfile and the .dockerignore themselves, which inputs_digest hashes anyway
    (docker-py keeps them always, as the classic builder did). Paths relative to
    dockerfiles, sorted."""
    from docker.utils.build import exclude_paths

    ignore = dockerfiles / IGNORE_FILE
    patterns = [line.strip() for line in ignore.read_text().splitlines()
                if line.strip() and not line.strip().startswith("#")] if ignore.is_file() else []
    return sorted(name for name in exclude_paths(str(dockerfiles), patterns)
                  if name not in ("Dockerfile", IGNORE_FILE) and (dockerfiles / name).is_file()
                  and not (dockerfiles / name).is_symlink())


@dataclasses.dataclass(frozen=True, kw_only=True)
class Provenance:
    """Where a build comes from: written into the OCI labels."""

    revision: str = "unknown"
    source: str = "https://github.com/asterisk-pipeline/asterisk-pipeline"
    created: datetime.datetime = dataclasses.field(
        default_factory=lambda: datetime.datetime.now(datetime.UTC).replace(microsecond=0))

    @classmethod
    def from_environment(cls, environ: Mapping[str, str], revision: str) -> Provenance:
        """In GitHub Actions the repository's URL; elsewhere the project's."""
        if environ.get("GITHUB_REPOSITORY"):
            server = environ.get("GITHUB_SERVER_URL", "https://github.com")
            return cls(revision=revision, source=f"{server}/{environ['GITHUB_REPOSITORY']}")
        return cls(revision=revision)

    @property
    def epoch(self) -> int:
        """SOURCE_DATE_EPOCH: BuildKit stamps the image config with it, so that two builds of
        one target in one run are the same image."""
        return int(self.created.timestamp())


def created_text(when: datetime.datetime) -> str:
    """The `created` label's form (OCI annotations: RFC 3339), in UTC to the second:
    2026-12-07T10:17:00Z."""
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_created(text: str) -> datetime.datetime:
    """created_text() read back; ValueError for anything else (another form, a time zone
    other than Z, an impossible date)."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", text):
        raise ValueError(f"{text!r} is not YYYY-MM-DDTHH:MM:SSZ")
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)


def labels(target: Target, inputs: str, provenance: Provenance, *, base: str = "") -> dict[str, str]:
    snapshot = target.snapshot
    git = {GIT_COMMIT_LABEL: snapshot.version.commit, GIT_REPOSITORY_LABEL: snapshot.url} \
        if snapshot else {}
    return {
        "org.opencontainers.image.title": "asterisk",
        "org.opencontainers.image.description":
            f"Asterisk {target.version} ({target.variant}), built from source and smoke-tested "
            "with real calls",
        "org.opencontainers.image.version": target.id,
        "org.opencontainers.image.revision": provenance.revision,
        "org.opencontainers.image.source": provenance.source,
        CREATED_LABEL: created_text(provenance.created),
        VERSION_LABEL: str(target.version),
        VARIANT_LABEL: target.variant.name,
        INPUTS_LABEL: inputs,
        BASE_LABEL: base or target.base_image,
        **git,
    }


def native_platform() -> str:
    machine = os.uname().machine
    return {"x86_64": "linux/amd64", "aarch64": "linux/arm64", "arm64": "linux/arm64"}.get(
        machine, f"linux/{machine}")


def emulated(platform: str | None) -> bool:
    """Whether containers of this platform run under emulation (QEMU) on this machine."""
    return bool(platform) and platform != native_platform()


def client(config: str | Path | None = None) -> DockerClient:
    """The Docker client every command uses (python-on-whales, the `docker` CLI underneath)."""
    from python_on_whales import DockerClient

    return DockerClient(config=str(config) if config else None)
