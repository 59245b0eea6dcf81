"""The labels every image carries, and how the registries' copies are read back: what it is
(version, variant, a snapshot's commit), what it was made from (its inputs digest and base
image), where it comes from and when it was made (provenance.py).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping

from .core import Target
from .provenance import Provenance

VERSION_LABEL = "org.asterisk.version"          # the Asterisk release, e.g. 22.10.1 (GIT-master-1a2b3c4)
GIT_COMMIT_LABEL = "org.asterisk.git.commit"     # a development snapshot's commit (only those)
GIT_REPOSITORY_LABEL = "org.asterisk.git.repository"   # ... and the repository it came from
VARIANT_LABEL = "org.asterisk.variant"          # a core.VARIANTS name
INPUTS_LABEL = "org.asterisk-pipeline.inputs"   # inputs.inputs_digest(): what it was built from
BASE_LABEL = "org.asterisk-pipeline.base"       # the base image, NAME@DIGEST when known
CREATED_LABEL = "org.opencontainers.image.created"   # when it was built: created_text()


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


def source_date_epoch(labels: Mapping[str, str]) -> str:
    """SOURCE_DATE_EPOCH for a build with these labels: the created label, in seconds ("" when
    there is none). BuildKit stamps the image config with it, so two builds of one target
    with the same labels are the same image."""
    created = labels.get(CREATED_LABEL, "")
    return str(int(parse_created(created).timestamp())) if created else ""


def image_labels(target: Target, inputs: str, provenance: Provenance, *, base: str = "") -> dict[str, str]:
    """The labels of target's image: inputs is its inputs digest, base the image it is built
    FROM (NAME@DIGEST when known)."""
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
