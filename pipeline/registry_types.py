"""The `registries:` entries of matrix.yaml, and the registry types: one row of TYPES says
everything that differs between Docker Hub, Amazon ECR and any other OCI registry.

A row names
* the entry keys only that type takes (ECR's account and region, Docker Hub's hub_api);
* the image name of an entry that gives no `host`;
* how a run logs in (`login`): where the credentials come from, any token exchange, and
  what the login learns of the repository's rules: ECR's IMMUTABLE tags can be created,
  never moved (publishing refuses such a move before anything is pushed);
* the API a repository description is written to (`hub_api`: Docker Hub's, hub.py);
* whether Docker Hub's registry quirks apply (distribution.py).

Adding a registry type is a row here (and its login, when it has its own): docs/build.md,
"Adding a registry type".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

from . import ecr, logins
from .distribution import DOCKER_HUB

HUB_API = "https://hub.docker.com"      # Docker Hub's API (not its registry)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Registry:
    """One `registries:` entry of matrix.yaml."""

    name: str
    type: str
    repository: str
    region: str = ""
    account: str = ""
    username_env: str = ""
    password_env: str = ""
    ca_cert: str = ""
    host: str = ""   # overrides the registry host images go to (e.g. a stand-in for ECR)
    hub_api: str = ""   # dockerhub: Docker Hub's API for the description (default hub.docker.com)

    @property
    def kind(self) -> RegistryType:
        return TYPES[self.type]

    @property
    def image(self) -> str:
        """The image name without tag, e.g. docker.io/org/asterisk."""
        if self.host:
            return f"{self.host}/{self.repository}"
        return self.kind.image(self)


def api_location(registry: Registry) -> tuple[str, str]:
    """(API host, repository) of a registry entry: docker.io/org/x → registry-1.docker.io, org/x."""
    host, _, repository = registry.image.partition("/")
    if host == "docker.io":
        host = DOCKER_HUB
        if "/" not in repository:
            repository = f"library/{repository}"
    return host, repository


@dataclasses.dataclass(frozen=True, kw_only=True)
class Login:
    """Who a run is to one registry."""

    registry: Registry        # the entry as the login completed it (ECR: account, region, host)
    username: str             # "" and "": anonymous
    password: str
    immutable: bool = False   # the repository's tags can be created, never moved


@dataclasses.dataclass(frozen=True, kw_only=True)
class RegistryType:
    name: str
    summary: str
    keys: tuple[str, ...]                   # the entry keys only this type takes
    image: Callable[[Registry], str]        # the image name of an entry without `host`
    # (entry, environment, read only: a dry run, which changes nothing and only reports
    # missing credentials) -> the login; secrets are not yet proven (connect.connect does)
    login: Callable[[Registry, Mapping[str, str], bool], Login]
    hub_api: str = ""                       # Docker Hub's API for the repository description
    docker_hub: bool = False                # Docker Hub's registry quirks (distribution.py)


def _password_login(registry: Registry, environ: Mapping[str, str], read_only: bool) -> Login:
    """The entry's variables (username_env, password_env), else the Docker config's login."""
    host, _ = api_location(registry)
    username, password = logins.credentials(registry.name, registry.username_env, registry.password_env,
                                            host, environ, read_only=read_only)
    return Login(registry=registry, username=username, password=password)


def _ecr_login(registry: Registry, environ: Mapping[str, str], read_only: bool) -> Login:
    """The AWS credential chain, exchanged for a registry token (ecr.py)."""
    access = ecr.login(name=registry.name, repository=registry.repository, account=registry.account,
                       region=registry.region, environ=environ, create=not read_only)
    filled = dataclasses.replace(registry, account=access.account, region=access.region,
                                 host=registry.host or access.endpoint)
    return Login(registry=filled, username=access.username, password=access.token,
                 immutable=access.immutable)


def _docker_hub_image(registry: Registry) -> str:
    """org/asterisk → docker.io/org/asterisk (a repository naming its host is kept)."""
    return f"docker.io/{registry.repository}" if registry.repository.count("/") < 2 else registry.repository


TYPES: dict[str, RegistryType] = {t.name: t for t in (
    RegistryType(name="dockerhub", summary="Docker Hub", keys=("hub_api",), image=_docker_hub_image,
                 login=_password_login, hub_api=HUB_API, docker_hub=True),
    RegistryType(name="ecr", summary="Amazon ECR", keys=("account", "region"),
                 image=lambda r: f"{r.account}.dkr.ecr.{r.region}.amazonaws.com/{r.repository}",
                 login=_ecr_login),
    RegistryType(name="oci", summary="any OCI registry (GHCR, Harbor, a registry of your own)", keys=(),
                 image=lambda r: r.repository, login=_password_login),
)}
