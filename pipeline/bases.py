"""Base images: the digest a target is built FROM, resolved before anything is built.

The digest goes into the inputs digest (a new Debian image makes every target on it out
of date, so its security fixes reach our images without waiting for an Asterisk release)
and into the build (FROM NAME@DIGEST: the build uses exactly the image that was decided
on). It comes from the base image's registry (one HEAD request, which Docker Hub does not
count), or, when that registry cannot be reached, from the local image store (the offline
stand-in made by scripts/make-base-images.sh).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from . import distribution, log
from .errors import SourceError

if TYPE_CHECKING:
    from python_on_whales import DockerClient

DOCKER_HUB_API = "registry-1.docker.io"


def split(reference: str) -> tuple[str, str, str]:
    """(API host, repository, tag or digest) of an image reference (pure), Docker's rules:
    a first component with a dot or a colon, or `localhost`, is a registry host."""
    name, digest = reference.split("@", 1) if "@" in reference else (reference, "")
    head, _, rest = name.partition("/")
    if rest and (("." in head or ":" in head) or head == "localhost"):
        host, path = head, rest
    else:
        host, path = DOCKER_HUB_API, name
        if "/" not in path:
            path = f"library/{path}"
    if host == "docker.io":
        host = DOCKER_HUB_API
    match = re.fullmatch(r"(.+?)(?::([\w][\w.-]*))?", path)
    assert match
    repository, tag = match[1], match[2] or "latest"
    return host, repository, digest or tag


class Resolver:
    """base image name → digest, once per name and run."""

    def __init__(self, docker: DockerClient) -> None:
        self.docker = docker
        self._found: dict[str, str] = {}

    def __call__(self, name: str) -> str:
        if name not in self._found:
            self._found[name] = self._resolve(name)
        return self._found[name]

    def _resolve(self, name: str) -> str:
        host, repository, reference = split(name)
        if reference.startswith("sha256:"):
            return reference
        try:
            digest = distribution.Registry(host, attempts=2, backoff=1.0).head_manifest(repository, reference)
        except distribution.RegistryError as error:
            local = self._local(name)
            if not local:
                raise SourceError(f"base image {name}: cannot read its digest from {host} ({error}) "
                                  "and the local image store has no copy; check the name, or "
                                  "pull it") from None
            log.info(f"  base image {name}: {host} unreachable ({error.status or 'no connection'}); "
                     f"using the local image store's {local[:19]}")
            return local
        if digest is None:
            raise SourceError(f"base image {name}: no such image in {host}; check the name "
                              "(defaults.base_image or a series' base_image in matrix.yaml)")
        return digest

    def _local(self, name: str) -> str:
        if not self.docker.image.exists(name):
            return ""
        return str(self.docker.image.inspect(name).id)
