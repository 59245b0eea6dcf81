"""Where a build comes from and when it was made: written into the image's OCI labels
(labels.py)."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from pathlib import Path

from . import git
from .errors import PipelineError

CHECKOUT = Path(__file__).resolve().parent.parent     # this repository


@dataclasses.dataclass(frozen=True, kw_only=True)
class Provenance:
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


def revision(root: Path = CHECKOUT) -> str:
    """The commit this checkout is at ("unknown" outside a git checkout, or without git)."""
    try:
        return git.run(["-C", str(root), "rev-parse", "HEAD"], error=PipelineError, timeout=30).strip()
    except PipelineError:
        return "unknown"
