"""What the pipeline makes: a target is one variant of one source (a release tarball or a
commit of the git repository), for some platforms, under some tags. Every other module asks
here; this one imports nothing above versions and snapshots.

The variants are one table (VARIANTS). Adding a variant is a row there, its stage in
dockerfiles/asterisk/Dockerfile and the pins of its files in matrix.yaml (docs/build.md,
"Adding a variant").
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
class Extra:
    """Files a variant compiles in beyond the release, pinned in matrix.yaml: fetched from the
    directory URL `sources.<key>`, each checked against its sha256 in `sources.<key>_sha256`
    (sources.py), kept in the sources context's `<part>/` directory (where the variant's
    Dockerfile stage reads them), counted in the variant's inputs digest (inputs.py) and
    listed in its SBOM (sbom.py, as the part `<part>`)."""

    part: str               # the context directory and the SBOM part: opus
    key: str                # the matrix.yaml keys: sources.opus_codec, sources.opus_codec_sha256
    files: tuple[str, ...]
    summary: str            # what they are, for messages

    @property
    def sha256_key(self) -> str:
        return f"{self.key}_sha256"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Variant:
    """One kind of image built from each release: one row of VARIANTS says everything that
    differs between them."""

    name: str
    suffix: str                         # appended to every tag: 22.10.1-opus, lts-opus
    stage: str                          # the Dockerfile target that makes it
    summary: str
    extras: tuple[Extra, ...] = ()      # its sources beyond the release (and so its inputs, its SBOM)
    transcodes: tuple[str, ...] = ()    # smoke: codecs it must transcode to (else refuse); checks.py

    def __str__(self) -> str:
        return self.name


OPUS_CODEC = Extra(part="opus", key="opus_codec", files=("codec_opus_open_source.c", "ex_opus.h"),
                   summary="the Opus codec files (traud/asterisk-opus)")

VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant(name="plain", suffix="", stage="runtime",
            summary="PJSIP, Lua dialplan, PostgreSQL/ODBC realtime"),
    Variant(name="opus", suffix="-opus", stage="runtime-opus", extras=(OPUS_CODEC,), transcodes=("opus",),
            summary="the plain image plus the Opus transcoder (one more layer)"),
)}
VARIANT_NAMES = tuple(VARIANTS)
# Every variant's extra files, each once: a release's sources context holds them all.
EXTRAS = tuple({extra.key: extra for v in VARIANTS.values() for extra in v.extras}.values())


def variant(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise ConfigurationError(f"unknown variant {name!r}; use one of "
                                 f"{', '.join(VARIANT_NAMES)}") from None


def needing(extra: Extra) -> list[str]:
    """The names of the variants that compile extra in."""
    return [v.name for v in VARIANTS.values() if extra in v.extras]


# ----------------------------------------------------------------------------- the target

def snapshot_tag(version: GitVersion) -> str:
    """The tag only this commit ever gets: git-1a2b3c4 (tags.py has the other tag rules)."""
    return f"git-{version.short}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Target:
    series: str
    release: Release | Snapshot     # a release tarball, or a commit of the git repository
    variant: Variant
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
        return f"{self.source_id}{self.variant.suffix}"

    @property
    def origin(self) -> str:
        """Where its source comes from, for people: a tarball URL, or repository and commit."""
        if isinstance(self.release, Snapshot):
            return f"{self.release.url} at {self.release.version.commit}"
        return self.release.tarball_url
