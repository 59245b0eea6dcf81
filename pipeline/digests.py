"""The files CI build jobs leave for the merge job: one per target, registry and platform,
holding the descriptors of what the job pushed by digest (JSON): the platform's manifest
and the attestation manifests that refer to it, at DIR/<target>/<registry>/<os>-<arch>,
with the labels of that manifest's config as the registry holds them (read back after the
push): what the job built, which is what the merge tags."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .distribution import Descriptor, PlatformPush
from .errors import PublishError

if TYPE_CHECKING:
    from .core import Target
    from .registry_types import Registry


@dataclasses.dataclass(frozen=True)
class Pushed:
    """One platform a build job pushed: its descriptors and its config's labels."""

    push: PlatformPush
    labels: Mapping[str, str]


def path(directory: Path, target: Target, registry: Registry, platform: str) -> Path:
    return directory / target.id / registry.name / platform.replace("/", "-")


def write(directory: Path, target: Target, registry: Registry, pushed: Pushed) -> Path:
    manifest = pushed.push.manifest
    if not manifest.platform:
        raise PublishError(f"{registry.name}: {target.id}: pushed {manifest.digest} without a platform")
    file = path(directory, target, registry, manifest.platform)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps({"mediaType": manifest.media_type, "digest": manifest.digest,
                                "size": manifest.size, "platform": manifest.platform,
                                "attestations": [a.to_json() for a in pushed.push.attestations],
                                "labels": dict(sorted(pushed.labels.items()))}) + "\n")
    return file


def read(directory: Path, target: Target, registry: Registry) -> dict[str, Pushed]:
    """What build jobs pushed for target's platforms, {platform: Pushed}."""
    found = {}
    for platform in target.platforms:
        file = path(directory, target, registry, platform)
        if not file.is_file():
            continue
        try:
            data = json.loads(file.read_text())
            manifest = Descriptor(media_type=data["mediaType"], digest=data["digest"],
                                  size=int(data["size"]), platform=data["platform"])
            attestations = tuple(Descriptor.from_json(a) for a in data.get("attestations") or [])
            labels = {str(key): str(value) for key, value in data["labels"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise PublishError(f"{file}: not a digest file written by `pipeline publish --by-digest` "
                               f"({error})") from None
        if manifest.platform != platform:
            raise PublishError(f"{file}: holds a {manifest.platform} manifest, not {platform}")
        found[platform] = Pushed(PlatformPush(manifest, attestations), labels)
    return found
