"""Docker Hub's own API (hub.docker.com, not the registry): the repository description,
which `pipeline publish` keeps equal to the supported-tags page (tagspage.py).

The calls, as Docker documents them and as peter-evans/dockerhub-description (the usual
GitHub action for this, src/dockerhub-helper.ts) makes them:

* `POST {api}/v2/auth/token` with `{"identifier": USERNAME, "secret": PASSWORD_OR_PAT}`
  answers `{"access_token": JWT}`, a token that lives 10 minutes (Docker's Hub API
  reference, "Create access token": docs.docker.com/reference/api/hub/latest/, which
  also says that with SSO enforced only a personal access token works);
* `GET {api}/v2/repositories/NAMESPACE/NAME/` with `Authorization: Bearer JWT` answers the
  repository, its `full_description` among its fields;
* `PATCH` of the same URL with `{"full_description": TEXT}` replaces the description.

The description is read first, and written only when it differs: publishing twice
changes nothing the second time. Updating it is a courtesy to users, not part of what a
publication is: any failure here is a warning, and the images stay published.
The login is the registry's own (its type's login, registry_types.py: the variables
`username_env` / `password_env`, else the Docker config's login); the token, like the
password, is scrubbed from every message. `registries[].hub_api` points at another API
(the tests' stand-in); the default is the type's (registry_types.HUB_API).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import requests

from . import http, log
from .errors import PublishError
from .redaction import keep_secret, redact
from .registry_types import Registry, api_location

UPDATED, CURRENT, WOULD_UPDATE, FAILED = "updated", "up to date", "would update", "not updated"


def describe(registries: Sequence[Registry], text: str, *, environ: Mapping[str, str],
             dry_run: bool) -> None:
    """The supported-tags page as the description of each repository whose registry type has
    Docker Hub's API (registry_types.TYPES: hub_api); the others are left alone."""
    hubs = [registry for registry in registries if registry.kind.hub_api]
    if hubs:
        with log.group("Docker Hub description"):
            for registry in hubs:
                update_description(registry, text, environ=environ, dry_run=dry_run)


def api_url(registry: Registry) -> str:
    return (registry.hub_api or registry.kind.hub_api).rstrip("/")


def repository_url(registry: Registry) -> str:
    """{api}/v2/repositories/NAMESPACE/NAME/ of a `dockerhub` entry."""
    _, repository = api_location(registry)
    return f"{api_url(registry)}/v2/repositories/{repository}/"


def update_description(registry: Registry, text: str, *, environ: Mapping[str, str],
                       dry_run: bool = False, session: requests.Session | None = None) -> str:
    """Make the repository's description text; what happened (UPDATED, CURRENT, WOULD_UPDATE
    or FAILED). Never raises for the API's answers: they become a warning."""
    where = f"{registry.name}: description of {registry.image}"
    try:
        login = registry.kind.login(registry, environ, dry_run)
        username, password = login.username, login.password
        if not (username and password):
            if dry_run:
                log.info(f"  {where}: would update (no credentials to read it now)")
                return WOULD_UPDATE
            raise PublishError("no login for Docker Hub's API; set the registry's username_env and "
                               "password_env variables (a personal access token works)")
        api = session or http.session()
        token = _token(api, registry, username, password)
        url = repository_url(registry)
        if _request(api, "GET", url, token).get("full_description") == text:
            log.info(f"  {where}: up to date")
            return CURRENT
        if dry_run:
            log.info(f"  {where}: would update ({len(text)} characters)")
            return WOULD_UPDATE
        _request(api, "PATCH", url, token, {"full_description": text})
        log.info(f"  {where}: updated ({len(text)} characters)")
        return UPDATED
    except PublishError as error:
        log.warning(redact(f"{where} not updated (the images are published): {error}"))
        return FAILED


def _token(api: requests.Session, registry: Registry, username: str, password: str) -> str:
    keep_secret(password)
    url = f"{api_url(registry)}/v2/auth/token"
    answer = _request(api, "POST", url, "", {"identifier": username, "secret": password})
    token = answer.get("access_token")
    if not isinstance(token, str) or not token:
        raise PublishError(f"POST {url}: no access_token in the answer")
    keep_secret(token)
    return token


def _request(api: requests.Session, method: str, url: str, token: str,
             body: Mapping[str, Any] | None = None) -> dict[str, Any]:
    log.debug(f"{method} {url}")
    headers = {"Accept": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    try:
        response = api.request(method, url, json=body, headers=headers, timeout=http.TIMEOUT)
    except requests.RequestException as error:
        raise PublishError(f"{method} {url}: no answer ({type(error).__name__})") from None
    if response.status_code in (401, 403):
        raise PublishError(f"{method} {url}: HTTP {response.status_code}: the login was refused or "
                           "may not change this repository (the user needs admin rights on it; "
                           "with 2FA or SSO, use a personal access token with Read, Write, Delete scope)")
    if not response.ok:
        raise PublishError(f"{method} {url}: HTTP {response.status_code} {response.reason}")
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
