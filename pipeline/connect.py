"""Connecting to the registries of a run: the ones the command chose (select), each logged in
as its type does (registry_types.TYPES) with its credentials proved at once (connect), and
the run's sessions beside the registries that could not be reached (connected)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from . import distribution, log
from .errors import ConfigurationError, CredentialsError, PipelineError, PublishError
from .redaction import keep_secret
from .registries import ManifestCache, Session
from .registry_types import Registry, api_location

BACKOFF = 2.0      # seconds before the first retry of a transient failure; doubled each time


@contextlib.contextmanager
def connected(chosen: Sequence[Registry], *, base_dir: Path, environ: Mapping[str, str],
              cache: ManifestCache, dry_run: bool = False
              ) -> Iterator[tuple[list[Session], dict[str, PipelineError]]]:
    """A session per registry that could be reached; yields (sessions, {unreachable: error}).
    A dry run goes on without a registry it has no credentials for (a warning, and that
    registry's outcome says so), so that it shows everything else and what is missing.
    The manifest cache is saved when the run ends, whatever happened."""
    sessions: list[Session] = []
    unreachable: dict[str, PipelineError] = {}
    for registry in chosen:
        try:
            sessions.append(connect(registry, base_dir=base_dir, environ=environ,
                                               cache=cache, read_only=dry_run))
        except PipelineError as error:
            if dry_run and isinstance(error, CredentialsError):
                log.warning(f"{error} (this dry run cannot read {registry.image}; a real run would fail)")
            else:
                log.error(str(error))
            unreachable[registry.name] = error
    try:
        yield sessions, unreachable
    finally:
        cache.save()


def select(all_registries: Sequence[Registry], names: Sequence[str]) -> list[Registry]:
    """The registries of the matrix a run publishes to: those named (--registry), else all."""
    known = {r.name: r for r in all_registries}
    for name in names:
        if name not in known:
            raise ConfigurationError(f"--registry {name!r} is not in the matrix; "
                                     f"known: {', '.join(known) or 'none'}")
    return [r for r in all_registries if not names or r.name in names]


def connect(registry: Registry, *, base_dir: Path, environ: Mapping[str, str], cache: ManifestCache,
            read_only: bool = False) -> Session:
    """Log in as the registry's type does (registry_types.TYPES), and prove the credentials
    at once.

    read_only (dry runs): nothing outside the run changes (no ECR repository is created),
    and missing credentials are only reported.
    """
    ca_cert = None
    if registry.ca_cert:
        ca_cert = Path(registry.ca_cert) if Path(registry.ca_cert).is_absolute() else base_dir / registry.ca_cert
        if not ca_cert.is_file():
            raise PublishError(f"{registry.name}: ca_cert {ca_cert} is not a file; give the path of "
                               "the registry CA's PEM certificate (relative to matrix.yaml)")
    login = registry.kind.login(registry, environ, read_only)
    registry = login.registry
    host, repository = api_location(registry)
    keep_secret(login.password)
    api = distribution.Client(host, username=login.username, password=login.password, ca_cert=ca_cert,
                                backoff=BACKOFF, docker_hub=registry.kind.docker_hub)
    if login.username:
        with log.step(f"login {registry.name} ({host}) as {login.username}"):
            api.check_login(repository, push=not read_only)
    return Session(registry, api, repository, cache, immutable=login.immutable, ca_cert=ca_cert)
