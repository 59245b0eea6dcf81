"""Base images: the digest a target is built FROM, resolved before anything is built, and
how the build gets exactly that image.

The digest goes into the inputs digest (a new Debian image makes every target on it out
of date, so its security fixes reach our images without waiting for an Asterisk release)
and into the build: the build uses exactly the image that was decided on.

Where the digest comes from:
* the base image's registry (one HEAD request, which Docker Hub does not count); the build
  then says FROM NAME@DIGEST and BuildKit pulls exactly that;
* the local image store, for a base that was built locally and never pulled (an offline
  mirror, an organisation's own hardened base, this project's stand-in). BuildKit cannot be
  given such an image by digest: on Docker 26 with the containerd image store it looks
  NAME@DIGEST up in the registry (moby/moby#46584, moby/buildkit#1142) and fails, unless
  something built FROM NAME on that engine before. So the image is exported by its digest
  to an OCI layout directory and passed as a named build context (`oci-layout://DIR@DIGEST`)
  that replaces NAME in the Dockerfile's FROM: no registry round trip, and the exact image.

When the local store may stand in for the registry (Policy):
* `build` (a laptop, a test): when the registry cannot be read, with a warning;
* `publish`: never by accident. An unreadable registry (429, 5xx, timeout, 401) means the
  target cannot be decided this run: an old local copy would roll the published image back
  to an older base. Only a run configured as offline (PIPELINE_OFFLINE=1: the stand-ins)
  reads the local store, and then only it, without asking any registry.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from . import distribution, log
from .distribution import DOCKER_HUB
from .errors import ConfigurationError, SourceError

if TYPE_CHECKING:
    from python_on_whales import DockerClient

OFFLINE_VARIABLE = "PIPELINE_OFFLINE"


def split(reference: str) -> tuple[str, str, str]:
    """(API host, repository, tag or digest) of an image reference (pure), Docker's rules:
    a first component with a dot or a colon, or `localhost`, is a registry host."""
    name, digest = reference.split("@", 1) if "@" in reference else (reference, "")
    head, _, rest = name.partition("/")
    if rest and (("." in head or ":" in head) or head == "localhost"):
        host, path = head, rest
    else:
        host, path = DOCKER_HUB, name
        if "/" not in path:
            path = f"library/{path}"
    if host == "docker.io":
        host = DOCKER_HUB
    match = re.fullmatch(r"(.+?)(?::([\w][\w.-]*))?", path)
    assert match
    repository, tag = match[1], match[2] or "latest"
    return host, repository, digest or tag


@dataclasses.dataclass(frozen=True, kw_only=True)
class Policy:
    """Where a run may read base image digests from."""

    offline: bool = False        # the local image store only, never a registry
    local_fallback: bool = True  # the local store when the registry cannot be read

    @classmethod
    def for_run(cls, environ: Mapping[str, str], *, publishing: bool) -> Policy:
        """`build`: the registry, else the local store; `publish`: the registry only;
        either, when PIPELINE_OFFLINE=1: the local store only."""
        value = environ.get(OFFLINE_VARIABLE, "")
        if value not in ("", "0", "1"):
            raise ConfigurationError(f"{OFFLINE_VARIABLE}={value!r}: use 1 (offline: base images "
                                     "come from the local image store only) or 0")
        offline = value == "1"
        return cls(offline=offline, local_fallback=offline or not publishing)


class Resolver:
    """base image name → digest, once per name and run; also says which digests came from
    the local image store (is_local), whose builds need the image as an OCI layout."""

    def __init__(self, docker: DockerClient, policy: Policy | None = None) -> None:
        self.docker = docker
        self.policy = policy or Policy()
        self._found: dict[str, str] = {}
        self._local: set[str] = set()

    def __call__(self, name: str) -> str:
        if name not in self._found:
            self._found[name] = self._resolve(name)
        return self._found[name]

    def is_local(self, name: str) -> bool:
        """Whether name's digest (resolved first) came from the local image store."""
        self(name)
        return name in self._local

    def _resolve(self, name: str) -> str:
        host, repository, reference = split(name)
        if reference.startswith("sha256:"):
            return reference
        if self.policy.offline:
            return self._from_store(name, why=f"{OFFLINE_VARIABLE}=1: base images come from the "
                                    "local image store")
        try:
            digest = distribution.Client(host, attempts=2, backoff=1.0).head_manifest(repository, reference)
        except distribution.RegistryError as error:
            cause = f"cannot read its digest from {host} ({error})"
            if not self.policy.local_fallback:
                raise SourceError(
                    f"base image {name}: {cause}; not decided this run, nothing built or pushed "
                    "for it (publishing never falls back to the local image store, whose copy "
                    f"may be older; set {OFFLINE_VARIABLE}=1 only for a run that is offline by "
                    "design)") from None
            found = self._from_store(name, why=cause)
            log.warning(f"base image {name}: {host} unreachable ({error.status or 'no connection'}); "
                        f"using the local image store's {found[:19]}")
            return found
        if digest is None:
            raise SourceError(f"base image {name}: no such image in {host}; check the name "
                              "(defaults.base_image or a series' base_image in matrix.yaml)")
        return digest

    def _from_store(self, name: str, *, why: str) -> str:
        if not self.docker.image.exists(name):
            raise SourceError(f"base image {name}: {why}, and the local image store has no copy; "
                              "check the name, or pull or load it") from None
        digest = str(self.docker.image.inspect(name).id)
        self._local.add(name)
        return digest


def layout(docker: DockerClient, digest: str, directory: Path) -> Path:
    """The local image digest as an OCI image layout (index.json, blobs/) under directory,
    exported once (`docker save` by digest: every platform the store holds) and reused.
    Other digests' layouts there are removed: only the current base is kept."""
    directory.mkdir(parents=True, exist_ok=True)
    found = directory / digest.replace(":", "-")
    if (found / "index.json").is_file():
        return found
    for old in directory.iterdir():
        shutil.rmtree(old, ignore_errors=True)
    scratch = Path(tempfile.mkdtemp(prefix="base-", dir=directory))
    try:
        archive = scratch / "image.tar"
        with log.step(f"export the local base image {digest[:19]} as an OCI layout"):
            docker.image.save(digest, output=archive)
            unpack(archive, scratch / "layout")
        (scratch / "layout").rename(found)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return found


def unpack(archive: Path, directory: Path) -> None:
    """`docker save`'s archive of an image (an OCI layout: directories and regular files)
    into directory. Any other member (a link, a device, a path out of directory) is refused,
    as tarfile's "data" filter refuses it: checked here too, because Python before 3.11.4
    has no filter (Debian 12's python3 is 3.11.2, and extractall(filter=...) a TypeError)."""
    root = directory.resolve()
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        for member in members:
            if not (member.isfile() or member.isdir()) or not (root / member.name).resolve().is_relative_to(root):
                raise SourceError(f"{archive}: {member.name!r} is not a file or directory inside the "
                                  "archive; `docker save` writes no such member (not the local base image?)")
        if hasattr(tarfile, "data_filter"):
            tar.extractall(directory, members, filter="data")
        else:
            tar.extractall(directory, members)


def build_context(name: str, digest: str, layout_dir: Path) -> dict[str, str]:
    """The named build context that makes the Dockerfile's FROM name (build argument
    BASE_IMAGE=name) exactly the layout's image digest."""
    return {name.split("@")[0]: f"oci-layout://{layout_dir}@{digest}"}
