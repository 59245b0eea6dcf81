"""The files CI build jobs leave for the merge job: one per target, registry and platform,
holding the descriptor of the platform's manifest the job pushed by digest (JSON), at
DIR/<target>/<registry>/<os>-<arch>."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from .distribution import Descriptor
from .errors import PublishError

if TYPE_CHECKING:
    from .matrix import Registry
    from .plan import Target


def path(directory: Path, target: Target, registry: Registry, platform: str) -> Path:
    return directory / target.id / registry.name / platform.replace("/", "-")


def write(directory: Path, target: Target, registry: Registry, pushed: Descriptor) -> Path:
    if not pushed.platform:
        raise PublishError(f"{registry.name}: {target.id}: pushed {pushed.digest} without a platform")
    file = path(directory, target, registry, pushed.platform)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps({"mediaType": pushed.media_type, "digest": pushed.digest,
                                "size": pushed.size, "platform": pushed.platform}) + "\n")
    return file


def read(directory: Path, target: Target, registry: Registry) -> dict[str, Descriptor]:
    """The descriptors build jobs wrote for target's platforms, {platform: descriptor}."""
    found = {}
    for platform in target.platforms:
        file = path(directory, target, registry, platform)
        if not file.is_file():
            continue
        try:
            data = json.loads(file.read_text())
            found[platform] = Descriptor(media_type=data["mediaType"], digest=data["digest"],
                                         size=int(data["size"]), platform=data["platform"])
        except (ValueError, KeyError, TypeError) as error:
            raise PublishError(f"{file}: not a digest file written by `pipeline publish --by-digest` "
                               f"({error})") from None
        if found[platform].platform != platform:
            raise PublishError(f"{file}: holds a {found[platform].platform} manifest, not {platform}")
    return found
