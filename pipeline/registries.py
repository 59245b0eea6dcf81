"""Registries: who we are to each one, and the operations publishing needs, over the OCI
distribution API (distribution.py): what a tag points at, pushing the smoke-tested image
itself (the bytes `docker save` gives, so the digest is the tested image's), and pointing
tags at it. Retries and errors are distribution.py's: by HTTP status, never by text.

Credentials, never on a command line, in a log or on disk:
* `dockerhub` and `oci`: the environment variables named by `username_env` and
  `password_env` (CI secrets); without them, the Docker config's login for that host
  (config.json `auths`, or its credential helper), else anonymous.
* `ecr`: the standard AWS credential chain (boto3: environment, profile, instance or OIDC
  role) exchanged for a registry token. Account and region come from matrix.yaml, else
  from AWS_REGION / AWS_DEFAULT_REGION and STS (the account of the credentials). boto3
  honours AWS_ENDPOINT_URL(_ECR/_STS), which is how the tests reach a stand-in.

What a tag points at is read with HEAD requests (Docker Hub does not count them against
its pull limit); the labels of a digest are read once and kept in a ManifestCache file
(content-addressed, so never stale), which CI keeps between runs: an up-to-date run sends
no counted request. What a run pushes enters the cache read back from the registry, so
the cache never holds what the run only believed it pushed.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import json
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from . import distribution, image, log, sbom
from .distribution import Descriptor, ImageInfo, Manifest, PlatformPush
from .errors import ConfigurationError, CredentialsError, PublishError
from .matrix import Registry
from .redaction import keep_secret, redact
from .tags import Current
from .versions import Version

DOCKER_HUB_API = "registry-1.docker.io"
BACKOFF = 2.0      # seconds before the first retry of a transient failure; doubled each time
KEPT_LABELS = (image.VERSION_LABEL, image.VARIANT_LABEL, image.INPUTS_LABEL, image.BASE_LABEL,
               image.CREATED_LABEL, image.GIT_COMMIT_LABEL)

def api_location(registry: Registry) -> tuple[str, str]:
    """(API host, repository) of a registry entry: docker.io/org/x → registry-1.docker.io, org/x."""
    host, _, repository = registry.image.partition("/")
    if host == "docker.io":
        host = DOCKER_HUB_API
        if "/" not in repository:
            repository = f"library/{repository}"
    return host, repository


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
        version = Version.parse(common(image.VERSION_LABEL)) if common(image.VERSION_LABEL) else None
    except ValueError:
        version = None
    try:
        created: datetime.datetime | None = image.parse_created(common(image.CREATED_LABEL))
    except ValueError:
        created = None
    return Current(digest=info.digest, platforms=info.platforms, version=version,
                   inputs=common(image.INPUTS_LABEL), base=common(image.BASE_LABEL), created=created,
                   commit=common(image.GIT_COMMIT_LABEL))


# ----------------------------------------------------------------------------- one registry

@dataclasses.dataclass
class Session:
    """One registry during one run."""

    registry: Registry
    api: distribution.Registry
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


# ----------------------------------------------------------------------------- connecting

def connect(registry: Registry, *, base_dir: Path, environ: Mapping[str, str], cache: ManifestCache,
            read_only: bool = False) -> Session:
    """Credentials (from the environment, the Docker config or AWS), proved at once.

    read_only (dry runs): nothing outside the run changes (no ECR repository is created),
    and missing credentials are only reported.
    """
    ca_cert = None
    if registry.ca_cert:
        ca_cert = Path(registry.ca_cert) if Path(registry.ca_cert).is_absolute() else base_dir / registry.ca_cert
        if not ca_cert.is_file():
            raise PublishError(f"{registry.name}: ca_cert {ca_cert} is not a file; give the path of "
                               "the registry CA's PEM certificate (relative to matrix.yaml)")
    if registry.type == "ecr":
        registry, username, password, immutable = _ecr(registry, environ, read_only=read_only)
    else:
        username, password = credentials(registry, environ, read_only=read_only)
        immutable = False
    host, repository = api_location(registry)
    keep_secret(password)
    api = distribution.Registry(host, username=username, password=password, ca_cert=ca_cert,
                                backoff=BACKOFF, docker_hub=registry.type == "dockerhub")
    if username:
        with log.step(f"login {registry.name} ({host}) as {username}"):
            api.check_login(repository, push=not read_only)
    return Session(registry, api, repository, cache, immutable=immutable, ca_cert=ca_cert)


def credentials(registry: Registry, environ: Mapping[str, str], *, read_only: bool) -> tuple[str, str]:
    """(username, password) of a `dockerhub` or `oci` entry: its variables, else the Docker
    config's login for its host, else anonymous ("", "")."""
    if registry.username_env or registry.password_env:
        missing = [n or "(unnamed)" for n in (registry.username_env, registry.password_env)
                   if not n or not environ.get(n)]
        if not missing:
            return environ[registry.username_env], environ[registry.password_env]
        what = f"{' and '.join('$' + m for m in missing)} not set"
        if read_only:
            log.warning(f"{registry.name}: {what}: reading anonymously (a real run needs them)")
            return "", ""
        raise PublishError(f"{registry.name}: {what}; export the registry's username and token "
                           "(e.g. as CI secrets) or remove username_env/password_env to use the "
                           "Docker config's login")
    host, _ = api_location(registry)
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
    if host == DOCKER_HUB_API:
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


def _ecr(registry: Registry, environ: Mapping[str, str], *,
         read_only: bool) -> tuple[Registry, str, str, bool]:
    """(the entry with account and region filled in, username, token, tags immutable)."""
    import boto3
    import botocore.exceptions

    region = registry.region or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION", "")
    if not region:
        raise ConfigurationError(f"{registry.name}: no region for ECR; add 'region:' to the registry "
                                 "in matrix.yaml or set AWS_REGION")
    try:
        account = registry.account or boto3.client("sts", region_name=region) \
            .get_caller_identity()["Account"]
        registry = dataclasses.replace(registry, region=region, account=account)
        ecr = boto3.client("ecr", region_name=region)
        with log.step(f"ECR token for {account} in {region}"):
            data = ecr.get_authorization_token(registryIds=[account])["authorizationData"][0]
        username, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
        if not registry.host:
            endpoint = re.sub(r"^https?://", "", data["proxyEndpoint"])
            registry = dataclasses.replace(registry, host=endpoint)
        immutable = _ecr_repository(ecr, registry, create=not read_only)
    except botocore.exceptions.NoCredentialsError:
        raise CredentialsError(f"{registry.name}: no AWS credentials found; set AWS_ACCESS_KEY_ID/"
                           "AWS_SECRET_ACCESS_KEY, AWS_PROFILE or a role (the standard AWS "
                           "credential chain)") from None
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        raise PublishError(f"{registry.name}: AWS API call failed: {redact(str(error))}") from None
    return registry, username, password, immutable


def _ecr_repository(ecr: Any, registry: Registry, *, create: bool) -> bool:
    """Whether the repository's tags are immutable; creates it (mutable) when missing."""
    try:
        found = ecr.describe_repositories(registryId=registry.account,
                                          repositoryNames=[registry.repository])["repositories"][0]
    except ecr.exceptions.RepositoryNotFoundException:
        if not create:
            return False
        with log.step(f"create ECR repository {registry.repository}"):
            ecr.create_repository(registryId=registry.account, repositoryName=registry.repository,
                                  imageTagMutability="MUTABLE")
        return False
    return str(found.get("imageTagMutability", "MUTABLE")).startswith("IMMUTABLE")

