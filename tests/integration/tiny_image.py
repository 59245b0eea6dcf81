"""The tests' stand-in for the Asterisk Dockerfile: the same stages (`runtime`,
`runtime-opus`), arguments and `sources` build context, built in seconds, so publishing
code is exercised with real multi-platform images without compiling Asterisk. Used by the
publishing tests and by benchmarks/bench_publish.py."""

from __future__ import annotations

import hashlib
import shutil
import tarfile
from pathlib import Path

from pipeline.core import Release
from pipeline.image import DOCKERFILES
from pipeline.matrix import Sources
from pipeline.sources import Verified, record, upstream_url

TINY_DOCKERFILE = """\
ARG BASE_IMAGE=debian:trixie-slim
ARG VARIANT_STAGE=runtime
FROM ${BASE_IMAGE} AS runtime
ARG ASTERISK_VERSION
RUN --mount=type=bind,from=sources,source=asterisk.tar.gz,target=/tmp/asterisk.tar.gz \\
    sha256sum /tmp/asterisk.tar.gz > /sources.sha256 && echo "$ASTERISK_VERSION" > /version
CMD ["cat", "/version"]

FROM runtime AS runtime-opus
RUN echo opus > /variant
"""
SBOM_SECTION = "# --- the SBOM"


def sbom_stages() -> str:
    """The real Dockerfile's SBOM stages (from its SBOM section to the end), so the tiny
    image gets its SBOM exactly as the real one does."""
    text = (DOCKERFILES / "Dockerfile").read_text()
    return text[text.index(SBOM_SECTION):]


def tiny_sources(directory: Path) -> tuple[Path, Path, str]:
    """(dockerfiles dir, sources context, sha256 of the context's 'release tarball')."""
    dockerfiles, context = directory / "dockerfiles", directory / "sources"
    dockerfiles.mkdir(parents=True)
    context.mkdir()
    (dockerfiles / "Dockerfile").write_text(TINY_DOCKERFILE + "\n\n" + sbom_stages())
    marker = directory / "README"
    marker.write_text("a stand-in for an Asterisk release tarball\n")
    with tarfile.open(context / "asterisk.tar.gz", "w:gz") as tar:
        tar.add(marker, arcname="asterisk/README")
    digest = hashlib.sha256((context / "asterisk.tar.gz").read_bytes()).hexdigest()
    return dockerfiles, context, digest


def tiny_prepare(context: Path, digest: str):
    """A Maker `prepare` for the tiny sources: per release, the tiny context and the record
    sources.prepare writes (verified.json: what the SBOM lists), naming that release."""
    def prepare(release: Release, sources: Sources, dest: Path) -> Path:
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(context / "asterisk.tar.gz", dest / "asterisk.tar.gz")
        record(dest, [Verified(part="asterisk", name="asterisk", version=str(release.version),
                               path="asterisk.tar.gz", url=upstream_url(sources, release.tarball_url),
                               algorithm="sha256", digest=digest,
                               checked_against="the sha256 file published beside it")])
        return dest
    return prepare


def push_tiny_base(docker, ref: str, marker: str, *, base: str, platforms, directory: Path) -> None:
    """A tiny base image (base plus a marker file) for platforms, pushed to a local registry
    as ref (HOST:PORT/NAME:TAG), and only there: the engine keeps no copy (a CI runner has
    none either). Pushing another marker under the same ref is what a new base image (a
    distribution's security update) looks like to the pipeline."""
    context = directory / f"base-{marker}"
    context.mkdir(parents=True)
    (context / "Dockerfile").write_text(f"FROM {base}\nRUN echo {marker} > /base-marker\n")
    docker.buildx.build(context, platforms=list(platforms), tags=[ref],
                        output={"type": "image", "push": "true"}, provenance=False)
    if docker.image.exists(ref):
        docker.image.remove(ref, force=True)


def remove_images(docker, name: str) -> None:
    """Every local image of the repository `name` (what a test module tagged), gone."""
    mine = docker.image.list(name)
    if mine:
        docker.image.remove(mine, force=True)
