"""Registries: logging in, reading what a tag points at, pushing, and moving tags.

The one I/O layer of publishing. Every command goes through the injected python-on-whales
client: `docker login` gets the password on stdin, never on a command line. Registry
operations are retried with backoff on transient failures (timeouts, refused connections,
5xx, 429), and every error names the registry and the step, never a secret.

Credentials:
* `dockerhub` and `oci`: the environment variables named by `username_env` and
  `password_env` (CI secrets); without them, whatever login the Docker config already has.
* `ecr`: the standard AWS credential chain (boto3: environment, profile, instance or OIDC
  role), exchanged for a registry token; the repository is created when missing.
  boto3 honours AWS_ENDPOINT_URL(_ECR), which is how the tests reach a local stand-in.

A private CA (`ca_cert`) is needed by two programs: dockerd (pushes), which reads
/etc/docker/certs.d/HOST/ca.crt, and the client-side `docker buildx imagetools` (reads and
tag moves), which gets a bundle of the system CAs plus this one through SSL_CERT_FILE.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TypeVar

from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException
from python_on_whales.utils import run as _run

from . import log
from .errors import BuildError, PublishError
from .matrix import Registry
from .versions import Version

CERTS_D = Path("/etc/docker/certs.d")
RETRY_ATTEMPTS = 4          # attempts per registry operation
RETRY_DELAY = 2.0           # seconds before the first retry; doubled each time
VERSION_LABEL = "org.asterisk.version"
INPUTS_LABEL = "org.asterisk-pipeline.inputs"

_TRANSIENT = re.compile(
    r"connection refused|connection reset|broken pipe|i/o timeout|timed? ?out|deadline exceeded"
    r"|unexpected EOF|: EOF|use of closed network connection|no route to host|too many requests|\b429\b|\b50[0234]\b"
    r"|internal server error|bad gateway|service unavailable|gateway timeout", re.IGNORECASE)
_AUTH = re.compile(r"unauthori[sz]ed|authentication required|access denied|denied:|\b401\b|\b403\b"
                   r"|incorrect username or password", re.IGNORECASE)
_NOT_FOUND = re.compile(r"not found|manifest unknown|name unknown", re.IGNORECASE)

# Secrets seen during this process (passwords, tokens): scrubbed from every error message.
_SECRETS: set[str] = set()


def redact(text: str) -> str:
    for secret in _SECRETS:
        text = text.replace(secret, "***")
    return text


def classify(output: str) -> str:
    """What a failed registry command's output means: auth, transient, not-found or other."""
    if _AUTH.search(output):
        return "auth"
    if _TRANSIENT.search(output):
        return "transient"
    if _NOT_FOUND.search(output):
        return "not-found"
    return "other"


def reason(output: str) -> str:
    """The line of a command's output that says what went wrong."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if re.match(r"(ERROR|Error|error|failed|unauthorized)", line):
            return redact(re.sub(r"^ERROR:\s*", "", line))
    return redact(lines[-1]) if lines else "no output"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Remote:
    """What one tag points at in a registry, from `imagetools inspect`."""

    digest: str
    platforms: tuple[str, ...]
    version: Version | None      # the org.asterisk.version label (None: missing or unreadable)
    inputs: str                  # the org.asterisk-pipeline.inputs label ("" when missing)

    @classmethod
    def from_inspect(cls, data: Mapping) -> Remote:
        """From `imagetools inspect --format` output {"manifest": .Manifest, "image": .Image}."""
        manifest, image = data["manifest"], data.get("image") or {}
        if manifest.get("manifests"):   # an index: one config per platform
            configs = {key: value for key, value in image.items()
                       if isinstance(value, dict) and not key.startswith("unknown/")}  # attestations
        else:
            configs = {f"{image.get('os', '?')}/{image.get('architecture', '?')}": image}
        platforms = sorted({"/".join(key.split("/")[:2]) for key in configs})
        labels = [(config.get("config") or {}).get("Labels") or {} for config in configs.values()]
        return cls(digest=manifest["digest"], platforms=tuple(platforms),
                   version=_parse_version(_common(labels, VERSION_LABEL)),
                   inputs=_common(labels, INPUTS_LABEL))


def _common(labels: list[dict], key: str) -> str:
    """A label's value when every platform has the same one, else ""."""
    values = {label.get(key, "") for label in labels}
    return values.pop() if len(values) == 1 else ""


def _parse_version(text: str) -> Version | None:
    try:
        return Version.parse(text) if text else None
    except ValueError:
        return None


T = TypeVar("T")


def retrying(what: str, call: Callable[[], T]) -> T:
    """call(), retried with backoff while it fails transiently; PublishError naming `what`."""
    for attempt in range(1, RETRY_ATTEMPTS + 1):
        try:
            return call()
        except (DockerException, BuildError) as error:   # BuildError: a build that pushes
            output = (f"{error.stderr or ''}\n{error.stdout or ''}"
                      if isinstance(error, DockerException) else str(error))
            kind = classify(output)
            if kind == "transient" and attempt < RETRY_ATTEMPTS:
                delay = RETRY_DELAY * 2 ** (attempt - 1)
                log.warning(f"{what}: {reason(output)}; retrying in {delay:g}s "
                            f"(attempt {attempt + 1} of {RETRY_ATTEMPTS})")
                time.sleep(delay)
                continue
            tries = f" after {attempt} attempts" if attempt > 1 else ""
            hint = {"auth": " (check the registry's credentials and permissions)",
                    "transient": " (the registry is unreachable or failing)"}.get(kind, "")
            raise PublishError(f"{what} failed{tries}: {reason(output)}{hint}") from None
    raise AssertionError("unreachable")


class Session:
    """One registry during one run: the client, the environment its commands need, and
    the operations publishing uses. Made by `connect`."""

    def __init__(self, docker: DockerClient, registry: Registry, env: dict[str, str]) -> None:
        self.docker = docker
        self.registry = registry
        self.env = env

    @property
    def name(self) -> str:
        return self.registry.name

    def ref(self, tag: str) -> str:
        return f"{self.registry.image}:{tag}"

    def at(self, digest: str) -> str:
        return f"{self.registry.image}@{digest}"

    def _docker(self, args: list[str], *, env: Mapping[str, str] | None = None) -> str:
        command = [*self.docker.client_config.docker_cmd, *args]
        log.debug(" ".join(map(str, command)))
        return _run(command, env={**self.env, **(env or {})})

    def inspect(self, tag: str, what: str = "") -> Remote | None:
        """What tag points at, or None when the tag does not exist."""
        ref = self.ref(tag)

        def call() -> Remote | None:
            try:
                text = self._docker(["buildx", "imagetools", "inspect", ref, "--format",
                                     '{"manifest":{{json .Manifest}},"image":{{json .Image}}}'])
            except DockerException as error:
                if classify(f"{error.stderr or ''}") == "not-found":
                    return None
                raise
            return Remote.from_inspect(json.loads(text))

        return retrying(what or f"{self.name}: read {ref}", call)

    def push_local(self, local_image: str, tag: str, what: str) -> None:
        """Push a local (multi-platform) image under tag. The registry accepts the index
        only once every platform's manifest and layers are in, so the tag never points at
        an incomplete image."""
        ref = self.ref(tag)
        retrying(what, lambda: self._docker(["tag", local_image, ref]))
        try:
            retrying(what, lambda: self._docker(["push", "--quiet", ref]))
        finally:
            try:
                self._docker(["image", "rm", ref])   # the local alias only; the image stays
            except DockerException as error:
                log.debug(f"could not remove the local tag {ref}: {reason(error.stderr or '')}")

    def create_tags(self, tags: Iterable[str], sources: Iterable[str], what: str) -> None:
        """Point every tag at the image made of sources (digests already in the registry):
        one source index is copied as is; several per-platform manifests become a list."""
        args = ["buildx", "imagetools", "create", "--progress", "plain"]
        for tag in tags:
            args += ["--tag", self.ref(tag)]
        retrying(what, lambda: self._docker([*args, *sources]))


# ----------------------------------------------------------------------------- connect

def connect(docker: DockerClient, registry: Registry, *, base_dir: Path, scratch: Path,
            environ: Mapping[str, str], read_only: bool = False) -> Session:
    """Log in (credentials from the environment or AWS) and prepare the CA, if any.

    read_only (dry runs): nothing outside the run changes: no certs.d file is written and
    no ECR repository is created.
    """
    env = {}
    if registry.ca_cert:
        env["SSL_CERT_FILE"] = str(_trust(registry, base_dir, scratch, install=not read_only))
    session = Session(docker, registry, env)
    if registry.type == "ecr":
        _login_ecr(session, create_repository=not read_only)
    else:
        _login_from_env(session, environ)
    return session


def registry_host(registry: Registry) -> str:
    return registry.image.split("/", 1)[0]


def _trust(registry: Registry, base_dir: Path, scratch: Path, *, install: bool) -> Path:
    ca = Path(registry.ca_cert)
    ca = ca if ca.is_absolute() else base_dir / ca
    try:
        pem = ca.read_text()
    except OSError as error:
        raise PublishError(f"{registry.name}: cannot read ca_cert {ca} ({error.strerror}); "
                           "give the path of the registry CA's PEM certificate") from None
    if install:
        dest = CERTS_D / registry_host(registry) / "ca.crt"
        if not dest.exists() or dest.read_text() != pem:
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_text(pem)
            except OSError as error:
                raise PublishError(f"{registry.name}: cannot install the CA for dockerd at {dest} "
                                   f"({error.strerror}); run as root or copy {ca} there") from None
            log.info(f"  {registry.name}: installed {ca} as {dest} (for dockerd)")
    bundle = scratch / f"ca-{registry.name}.pem"
    system = ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt"
    system_pem = Path(system).read_text() if Path(system).is_file() else ""
    bundle.write_text(system_pem + "\n" + pem)
    return bundle


def _login(session: Session, server: str | None, username: str, password: str, source: str) -> None:
    _SECRETS.add(password)
    command = [*session.docker.client_config.docker_cmd, "login", "--username", username,
               "--password-stdin", *([server] if server else [])]
    shown = server or "Docker Hub"
    with log.step(f"login {session.name} ({shown}) as {username}"):
        def call() -> str:
            return _run(command, input=password.encode(), env=session.env)
        try:
            retrying(f"{session.name}: login to {shown}", call)
        except PublishError as error:
            raise PublishError(f"{error} — credentials from {source}") from None


def _login_from_env(session: Session, environ: Mapping[str, str]) -> None:
    registry = session.registry
    if not (registry.username_env or registry.password_env):
        log.debug(f"{registry.name}: no credentials configured; using the Docker config's login")
        return
    missing = [name for name in (registry.username_env, registry.password_env)
               if not name or not environ.get(name)]
    if missing:
        raise PublishError(f"{registry.name}: {' and '.join(m or '(unnamed)' for m in missing)} "
                           "not set; export the registry's username and token (e.g. as CI "
                           "secrets) or remove username_env/password_env to use an existing login")
    server = registry.host or (None if registry.type == "dockerhub" else registry_host(registry))
    _login(session, server, environ[registry.username_env], environ[registry.password_env],
           f"${registry.username_env} / ${registry.password_env}")


def _login_ecr(session: Session, *, create_repository: bool) -> None:
    registry = session.registry
    try:
        import boto3
        import botocore.exceptions
    except ImportError:
        raise PublishError(f"{registry.name}: ECR needs boto3: pip install boto3") from None
    ecr = boto3.client("ecr", region_name=registry.region)
    try:
        with log.step(f"ECR token for {registry.account} in {registry.region}"):
            data = ecr.get_authorization_token(registryIds=[registry.account])["authorizationData"][0]
        username, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
        server = registry.host or re.sub(r"^https?://", "", data["proxyEndpoint"])
        if create_repository:
            _ensure_repository(ecr, registry)
    except botocore.exceptions.NoCredentialsError:
        raise PublishError(f"{registry.name}: no AWS credentials found; set AWS_ACCESS_KEY_ID/"
                           "AWS_SECRET_ACCESS_KEY, AWS_PROFILE or a role (the standard AWS "
                           "credential chain)") from None
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        raise PublishError(f"{registry.name}: ECR API call failed: {redact(str(error))}") from None
    _login(session, server, username, password, "the ECR authorization token")


def _ensure_repository(ecr, registry: Registry) -> None:
    try:
        ecr.describe_repositories(registryId=registry.account, repositoryNames=[registry.repository])
    except ecr.exceptions.RepositoryNotFoundException:
        with log.step(f"create ECR repository {registry.repository}"):
            ecr.create_repository(registryId=registry.account, repositoryName=registry.repository)
