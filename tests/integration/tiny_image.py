"""The tests' stand-in for the Asterisk Dockerfile: the same stages (`runtime`,
`runtime-opus`), arguments and `sources` build context, built in seconds, so publishing
code is exercised with real multi-platform images without compiling Asterisk. Used by the
publishing tests and by benchmarks/bench_publish.py."""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path

TINY_DOCKERFILE = """\
ARG BASE_IMAGE=debian:trixie-slim
FROM ${BASE_IMAGE} AS runtime
ARG ASTERISK_VERSION
RUN --mount=type=bind,from=sources,source=asterisk.tar.gz,target=/tmp/asterisk.tar.gz \\
    sha256sum /tmp/asterisk.tar.gz > /sources.sha256 && echo "$ASTERISK_VERSION" > /version
CMD ["cat", "/version"]

FROM runtime AS runtime-opus
RUN echo opus > /variant
"""


def tiny_sources(directory: Path) -> tuple[Path, Path, str]:
    """(dockerfiles dir, sources context, sha256 of the context's 'release tarball')."""
    dockerfiles, context = directory / "dockerfiles", directory / "sources"
    dockerfiles.mkdir(parents=True)
    context.mkdir()
    (dockerfiles / "Dockerfile").write_text(TINY_DOCKERFILE)
    marker = directory / "README"
    marker.write_text("a stand-in for an Asterisk release tarball\n")
    with tarfile.open(context / "asterisk.tar.gz", "w:gz") as tar:
        tar.add(marker, arcname="asterisk/README")
    digest = hashlib.sha256((context / "asterisk.tar.gz").read_bytes()).hexdigest()
    return dockerfiles, context, digest
