"""What the pipeline makes: a target is one variant of one source (a release tarball or a
commit of the git repository), for some platforms, under some tags. Every other module asks
here; this one imports nothing above versions and snapshots.

The variants are one table (VARIANTS). Adding a variant is a row there plus its stage in
dockerfiles/asterisk/Dockerfile (docs/build.md, "Adding a variant").
"""

from __future__ import annotations

import dataclasses
import datetime

from .errors import ConfigurationError
from .snapshots import GitVersion, Snapshot
from .versions import Version


@dataclasses.dataclass(frozen=True)
class Release:
    """A release tarball, where it is published and where its checksum may be."""

    version: Version
    tarball_url: str
    # Where the .sha256 may be: upstream has used both asterisk-V.sha256 and
    # asterisk-V.tar.gz.sha256; a listing or GitHub tells which, a plain file cannot.
    checksum_urls: tuple[str, ...]


# ----------------------------------------------------------------------------- the variants

@dataclasses.dataclass(frozen=True, kw_only=True)
class Variant:
    """One kind of image built from each release."""

    name: str
    suffix: str             # appended to every tag: 22.10.1-opus, lts-opus
    stage: str              # the Dockerfile target that makes it
    transcodes_opus: bool   # smoke: an Opus-only call to Milliwatt() is transcoded (else refused)
    summary: str


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant(name="plain", suffix="", stage="runtime", transcodes_opus=False,
            summary="PJSIP, Lua dialplan, PostgreSQL/ODBC realtime"),
    Variant(name="opus", suffix="-opus", stage="runtime-opus", transcodes_opus=True,
            summary="the plain image plus the Opus transcoder (one more layer)"),
)}
VARIANT_NAMES = tuple(VARIANTS)


def variant(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise ConfigurationError(f"unknown variant {name!r}; use one of "
                                 f"{', '.join(VARIANT_NAMES)}") from None


# ----------------------------------------------------------------------------- the target

def snapshot_tag(version: GitVersion) -> str:
    """The tag only this commit ever gets: git-1a2b3c4 (tags.py has the other tag rules)."""
    return f"git-{version.short}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Target:
    series: str
    release: Release | Snapshot     # a release tarball, or a commit of the git repository
    variant: str
    platforms: tuple[str, ...]
    base_image: str
    tags: tuple[str, ...]
    max_age: datetime.timedelta | None = None   # an image older than this is rebuilt

    @property
    def version(self) -> Version | GitVersion:
        return self.release.version

    @property
    def snapshot(self) -> Snapshot | None:
        return self.release if isinstance(self.release, Snapshot) else None

    @property
    def source_id(self) -> str:
        """What the variants of one source share: 22.10.1, or git-1a2b3c4 for a snapshot."""
        if isinstance(self.version, GitVersion):
            return snapshot_tag(self.version)
        return str(self.version)

    @property
    def id(self) -> str:
        return f"{self.source_id}{variant(self.variant).suffix}"

    @property
    def origin(self) -> str:
        """Where its source comes from, for people: a tarball URL, or repository and commit."""
        if isinstance(self.release, Snapshot):
            return f"{self.release.url} at {self.release.version.commit}"
        return self.release.tarball_url
