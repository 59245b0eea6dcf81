"""The files CI build jobs leave for the merge job: one per target, registry and platform,
holding the descriptors of what the job pushed by digest (JSON): the platform's manifest
and the attestation manifests that refer to it, at DIR/<target>/<registry>/<os>-<arch>."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from .distribution import Descriptor, PlatformPush
from .errors import PublishError

if TYPE_CHECKING:
    from .matrix import Registry
    from .plan import Target


def path(directory: Path, target: Target, registry: Registry, platform: str) -> Path:
    return directory / target.id / registry.name / platform.replace("/", "-")


def write(directory: Path, target: Target, registry: Registry, pushed: PlatformPush) -> Path:
    manifest = pushed.manifest
    if not manifest.platform:
        raise PublishError(f"{registry.name}: {target.id}: pushed {manifest.digest} without a platform")
    file = path(directory, target, registry, manifest.platform)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps({"mediaType": manifest.media_type, "digest": manifest.digest,
                                "size": manifest.size, "platform": manifest.platform,
                                "attestations": [a.to_json() for a in pushed.attestations]}) + "\n")
    return file


def read(directory: Path, target: Target, registry: Registry) -> dict[str, PlatformPush]:
    """What build jobs pushed for target's platforms, {platform: PlatformPush}."""
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
        except (ValueError, KeyError, TypeError) as error:
            raise PublishError(f"{file}: not a digest file written by `pipeline publish --by-digest` "
                               f"({error})") from None
        if manifest.platform != platform:
            raise PublishError(f"{file}: holds a {manifest.platform} manifest, not {platform}")
        found[platform] = PlatformPush(manifest, attestations)
    return found
