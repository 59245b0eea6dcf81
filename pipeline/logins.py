"""Who we are to a registry that takes a username and password (Docker Hub, any OCI
registry): the environment variables its matrix entry names (`username_env`, `password_env`:
CI secrets), else the login `docker login` stored for its host (config.json `auths`, or its
credential helper), else anonymous. Never on a command line, in a log or on disk."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import log
from .distribution import DOCKER_HUB
from .errors import PublishError


def credentials(name: str, username_env: str, password_env: str, host: str,
                environ: Mapping[str, str], *, read_only: bool) -> tuple[str, str]:
    """(username, password) of the registry entry name: its variables username_env and
    password_env, else the Docker config's login for host, else anonymous ("", "")."""
    if username_env or password_env:
        missing = [n or "(unnamed)" for n in (username_env, password_env) if not n or not environ.get(n)]
        if not missing:
            return environ[username_env], environ[password_env]
        what = f"{' and '.join('$' + m for m in missing)} not set"
        if read_only:
            log.warning(f"{name}: {what}: reading anonymously (a real run needs them)")
            return "", ""
        raise PublishError(f"{name}: {what}; export the registry's username and token "
                           "(e.g. as CI secrets) or remove username_env/password_env to use the "
                           "Docker config's login")
    return docker_config_login(host, environ)


def docker_config_login(host: str, environ: Mapping[str, str]) -> tuple[str, str]:
    """The login `docker login` stored for host: config.json `auths`, or its credential
    helper (`credHelpers`, `credsStore`). ("", "") when there is none; PublishError when
    the helper's answer or the stored login cannot be read (never showing either: they may
    hold the secret)."""
    path = Path(environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json"
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError):
        return "", ""
    if not isinstance(config, dict):
        return "", ""
    names = [host, f"https://{host}", f"http://{host}"]
    if host == DOCKER_HUB:
        names = ["https://index.docker.io/v1/", "index.docker.io", "docker.io", *names]
    helpers = _table(config, "credHelpers")
    helper = next((helpers[n] for n in names if n in helpers), config.get("credsStore", ""))
    if helper:
        for name in names:
            try:
                done = subprocess.run([f"docker-credential-{helper}", "get"], input=name, text=True,
                                      capture_output=True, timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                break
            if done.returncode == 0:
                return _helper_login(done.stdout, helper, name, path)
    auths = _table(config, "auths")
    for name in names:
        entry = auths.get(name)
        auth = entry.get("auth", "") if isinstance(entry, dict) else ""
        if auth:
            try:
                username, _, password = base64.b64decode(str(auth), validate=True).decode().partition(":")
            except ValueError:
                raise PublishError(f"{host}: the login stored for {name} in {path} (auths.*.auth) "
                                   "is not base64 of USER:PASSWORD; run `docker login "
                                   f"{host}` again, or set the registry's username_env/"
                                   "password_env") from None
            return username, password
    return "", ""


def _table(config: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = config.get(key)
    return value if isinstance(value, dict) else {}


def _helper_login(output: str, helper: str, name: str, config: Path) -> tuple[str, str]:
    """(Username, Secret) of a credential helper's `get` answer (docker-credential-helpers:
    a JSON object with ServerURL, Username, Secret)."""
    try:
        data = json.loads(output)
        if not isinstance(data, dict):
            raise ValueError(type(data).__name__)
        username, secret = data.get("Username", ""), data.get("Secret", "")
        if not isinstance(username, str) or not isinstance(secret, str):
            raise ValueError("Username or Secret is not a string")
    except ValueError:
        raise PublishError(f"{name}: the credential helper docker-credential-{helper} (named in "
                           f"{config}) answered `get` with something that is not its JSON login "
                           "({\"Username\": …, \"Secret\": …}); check it with `echo "
                           f"{name} | docker-credential-{helper} get`, or set the registry's "
                           "username_env/password_env") from None
    return username, secret
