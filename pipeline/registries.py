"""One registry during a run (Session): the operations publishing needs, through the OCI
distribution API's client (distribution.Client): what a tag points at, pushing the
smoke-tested image itself (the bytes `docker save` gives, so the digest is the tested
image's), and pointing tags at it. Retries and errors are distribution.py's: by HTTP status,
never by text. A session is made by connect.py, logged in as its registry type does
(registry_types.py).

What a tag points at is read with HEAD requests (Docker Hub does not count them against
its pull limit); the labels of a digest are read once and kept in a ManifestCache file
(content-addressed, so never stale), which CI keeps between runs: an up-to-date run sends
no counted request. What a run pushes enters the cache read back from the registry, so
the cache never holds what the run only believed it pushed.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from . import distribution, image, log, sbom
from .distribution import Descriptor, ImageInfo, Manifest, PlatformPush
from .errors import PublishError
from .labels import (
    BASE_LABEL,
    CREATED_LABEL,
    GIT_COMMIT_LABEL,
    INPUTS_LABEL,
    VARIANT_LABEL,
    VERSION_LABEL,
    parse_created,
)
from .registry_types import Registry
from .tags import Current
from .versions import Version

KEPT_LABELS = (VERSION_LABEL, VARIANT_LABEL, INPUTS_LABEL, BASE_LABEL,
               CREATED_LABEL, GIT_COMMIT_LABEL)

# ----------------------------------------------------------------------------- what tags point at

class ManifestCache:
    """Platforms and labels of images by digest, kept in a JSON file between runs."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._infos: dict[str, ImageInfo] = {}
        if path and path.is_file():
            try:
                for digest, data in json.loads(path.read_text()).items():
                    self._infos[digest] = ImageInfo(digest=digest, platforms=tuple(data["platforms"]),
                                                    labels=data["labels"])
            except (ValueError, KeyError, TypeError) as error:
                log.warning(f"{path}: unreadable manifest cache ({error}); starting afresh")
                self._infos.clear()

    def get(self, digest: str) -> ImageInfo | None:
        return self._infos.get(digest)

    def put(self, info: ImageInfo) -> None:
        labels = {platform: {k: v for k, v in values.items() if k in KEPT_LABELS}
                  for platform, values in info.labels.items()}
        self._infos[info.digest] = dataclasses.replace(info, labels=labels)

    def save(self) -> None:
        if not self.path:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {d: {"platforms": list(i.platforms), "labels": i.labels} for d, i in sorted(self._infos.items())}
        self.path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def current_from(info: ImageInfo) -> Current:
    """What the tag decisions need of an image: a label counts when every platform agrees."""
    def common(key: str) -> str:
        values = {labels.get(key, "") for labels in info.labels.values()}
        return values.pop() if len(values) == 1 else ""

    try:
        version = Version.parse(common(VERSION_LABEL)) if common(VERSION_LABEL) else None
    except ValueError:
        version = None
    try:
        created: datetime.datetime | None = parse_created(common(CREATED_LABEL))
    except ValueError:
        created = None
    return Current(digest=info.digest, platforms=info.platforms, version=version,
                   inputs=common(INPUTS_LABEL), base=common(BASE_LABEL), created=created,
                   commit=common(GIT_COMMIT_LABEL))


# ----------------------------------------------------------------------------- one registry

@dataclasses.dataclass
class Session:
    """One registry during one run."""

    registry: Registry
    api: distribution.Client
    repository: str
    cache: ManifestCache
    immutable: bool = False           # ECR with IMMUTABLE tags: a tag can be created, never moved
    ca_cert: Path | None = None       # the registry's private CA, when it has one
    _manifests: dict[str, Manifest] = dataclasses.field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.registry.name

    def ref(self, tag: str) -> str:
        return f"{self.registry.image}:{tag}"

    def current(self, tag: str) -> Current | None:
        """What tag points at (None: no such tag). A HEAD request, plus one read of the
        image's manifests and configs the first time its digest is seen."""
        digest = self.api.head_manifest(self.repository, tag)
        if digest is None:
            return None
        info = self.cache.get(digest)
        if info is None:
            info = self.api.image_info(self.repository, digest)
            if info is None:
                return None       # deleted between the two requests
            self.cache.put(info)
        return current_from(info)

    def push_image(self, archive: Path) -> Descriptor:
        """The image `docker save` wrote to archive (every platform), by digest: no tag yet
        (point() puts them once the image is signed)."""
        pushed = distribution.push_saved_image(self.api, self.repository, archive)
        self._manifests[pushed.digest] = distribution.saved_manifest(archive)
        self.read_back(pushed.digest)
        return pushed

    def push_platform(self, archive: Path, platform: str) -> tuple[PlatformPush, ImageInfo]:
        """One platform of the saved image and its attestations, by digest (no tag): for the
        CI merge job. With what the registry now holds under its digest (read_back)."""
        pushed = distribution.push_saved_platform(self.api, self.repository, archive, platform)
        return pushed, self.read_back(pushed.manifest.digest)

    def put_index(self, children: Sequence[Descriptor]) -> str:
        """An index over per-platform manifests already pushed, by digest (no tag yet)."""
        index = distribution.make_index(children)
        self.api.put_manifest(self.repository, index.digest, index)
        self._manifests[index.digest] = index
        self.read_back(index.digest)
        return index.digest

    def read_back(self, digest: str) -> ImageInfo:
        """What the registry holds under digest (each platform's config labels, read from
        it), kept in the manifest cache: the cache records what was pushed, never what this
        run believes it built (a merge job's own labels could name a base image newer than
        the one its build jobs used, and every later plan would trust them)."""
        info = self.api.image_info(self.repository, digest, manifests=self._manifests)
        if info is None:
            raise PublishError(f"{self.name}: {digest} is not in {self.registry.image} right "
                               "after it was pushed")
        self.cache.put(info)
        return info

    def sboms(self, digest: str) -> list[tuple[str, bytes]]:
        """(platform, SBOM) of each platform of the image digest, read from the last layer
        of each platform's manifest (where the Dockerfile's `image` stage puts it)."""
        top = self._manifests.get(digest) or self.api.get_manifest(self.repository, digest)
        if top is None:
            raise PublishError(f"{self.name}: {digest} is not in {self.registry.image}")
        children = [c for c in top.children if not c.is_attestation] if top.is_index else [None]
        found = []
        for child in children:
            manifest = top if child is None else (self._manifests.get(child.digest)
                                                  or self.api.get_manifest(self.repository, child.digest))
            if manifest is None or not manifest.blobs[1:]:
                raise PublishError(f"{self.name}: {digest}: a platform manifest is missing or has no layer")
            platform = (child.platform or "") if child else ""
            last = manifest.blobs[-1]
            document = sbom.from_layer(self.api.get_blob(self.repository, last.digest), last.media_type)
            if document is None:
                raise PublishError(f"{self.name}: {digest} ({platform or 'its platform'}): no "
                                   f"{image.SBOM_PATH} in the image's last layer; was it built by "
                                   "`pipeline build`?")
            found.append((platform, document))
        return found

    def point(self, tags: Iterable[str], digest: str) -> None:
        """Point each tag at the image digest (already in this registry)."""
        manifest = self._manifests.get(digest) or self.api.get_manifest(self.repository, digest)
        if manifest is None:
            raise PublishError(f"{self.name}: {digest} is not in {self.registry.image}; cannot tag it")
        for tag in tags:
            self.api.put_manifest(self.repository, tag, manifest)
