"""What a target is made from, known before building it: its inputs digest, which the image
carries as a label and publishing compares with the registries' copies to skip what is up
to date without rebuilding it, and the base image it is built FROM, pinned to its digest.
`Inputs` computes both once per target and run, for the build (build.Maker) and the
decisions (decide.py, outdated.py) alike.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from .core import Release, Target
from .image import DOCKERFILES
from .matrix import Sources
from .snapshots import Snapshot
from .sources import identity

IGNORE_FILE = ".dockerignore"    # what of DOCKERFILES is not the build context


@dataclasses.dataclass(kw_only=True)
class Inputs:
    """Each target's inputs digest and base image, computed once per target and run.

    checksum: a release's published sha256, or a snapshot's commit id (no download); base_digest:
    the base image's digest by name ("" when unknown: bases.Resolver)."""

    sources: Sources
    dockerfiles: Path = DOCKERFILES
    checksum: Callable[[Release | Snapshot], str] = identity
    base_digest: Callable[[str], str] = lambda name: ""
    _checksums: dict[str, str] = dataclasses.field(default_factory=dict)
    _digests: dict[str, str] = dataclasses.field(default_factory=dict)

    def digest(self, target: Target) -> str:
        """The inputs digest (inputs_digest) of target."""
        if target.id not in self._digests:
            version = target.source_id
            if version not in self._checksums:
                self._checksums[version] = self.checksum(target.release)
            self._digests[target.id] = inputs_digest(
                target, self.sources, self._checksums[version],
                base_digest=self.base_digest(target.base_image), dockerfiles=self.dockerfiles)
        return self._digests[target.id]

    def base(self, target: Target) -> str:
        """What to build FROM: the base image pinned to its digest (NAME@DIGEST), when known."""
        digest = self.base_digest(target.base_image)
        return f"{target.base_image.split('@')[0]}@{digest}" if digest else target.base_image


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
