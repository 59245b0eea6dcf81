"""The OCI distribution HTTP API: reading what a tag points at, pushing the tested image,
moving tags. Plain `requests`; every decision is made from status codes and exception
types, never from message text.

Specifications followed:
* OCI distribution spec (pull, push, content discovery) and Docker's registry HTTP API v2.
* Docker's token authentication spec (distribution docs/spec/auth/token.md): a 401 carries a
  `WWW-Authenticate` challenge; `Basic` means basic auth on every request (ECR: user
  `AWS`, the ECR token as password); `Bearer realm=,service=,scope=` means GET the realm
  with service and scope (basic credentials when we have them, anonymous otherwise), then
  send `Authorization: Bearer <token>`. A token lives `expires_in` seconds (default 60).

Only a 404 means "absent", with one exception, Docker Hub's. Every other refusal is an
error: GHCR answers 403 to a HEAD of a package the token may not read
(LeoMartinDev/voy#3), ECR 403 DENIED to a role without ecr:BatchGetImage
(bottlerocket-os/bottlerocket-update-operator#157, dotnet/sdk#37659), GCR 403 alike
(google/go-containerregistry#825). Read as "absent", such a tag would be planned as a
first publish and overwritten, past the never-backwards check.

Docker Hub's documented quirks (`docker_hub`: its host, or a `type: dockerhub` entry):
* A repository that does not exist yet answers reads with 401 UNAUTHORIZED, not 404
  (jupyterhub/binderhub#1664, "Docker Hub now returns 401 for missing repos"). Once our
  credentials are proven (check_login, or a token issued for them), a 401 on a read
  means "absent", so a first publish goes on and creates the repository by pushing.
* A manifest GET counts against the pull rate limit, a HEAD does not; both carry
  `ratelimit-limit` / `ratelimit-remaining` headers (docs.docker.com, "Docker Hub pull
  usage and limits", View pull rate and limit). Hence head_manifest, and requests_made.
* Over the limit (or the abuse limit) it answers 429 Too Many Requests (same page):
  transient; Retry-After is honoured up to MAX_RETRY_AFTER seconds.
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import email.utils
import functools
import hashlib
import ipaddress
import json
import re
import tarfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar, cast
from urllib.parse import urljoin, urlsplit

import requests

from . import log
from .errors import PublishError

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = (OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST)

DOCKER_HUB = "registry-1.docker.io"
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 60.0       # seconds: a longer Retry-After is cut to this
TIMEOUT = (10, 120)          # connect, read (seconds)
ATTESTATION = "unknown/unknown"
REFERENCE_DIGEST = "vnd.docker.reference.digest"   # an attestation manifest: its subject
DIGEST = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")   # OCI image spec's grammar

T = TypeVar("T")


# ----------------------------------------------------------------------------- errors

class RegistryError(PublishError):
    """A registry operation failed. `status` is the HTTP status (None: no answer), `code`
    the first error code of the registry's JSON body ("" if none), `transient` whether
    trying again may help (connection errors, timeouts, 429, 500, 502, 503, 504)."""

    def __init__(self, message: str, *, status: int | None = None, code: str = "",
                 transient: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.transient = transient
        self.retry_after = retry_after      # seconds the registry asked us to wait, if it did


class AuthError(RegistryError):
    """The credentials were refused, are missing, or do not allow the operation."""


def is_transient_status(status: int) -> bool:
    return status in TRANSIENT_STATUSES


def is_transient_exception(error: requests.RequestException) -> bool:
    """No answer: timeouts, refused or dropped connections. A TLS failure is not transient:
    a wrong or missing CA does not fix itself."""
    if isinstance(error, requests.exceptions.SSLError):
        return False
    return isinstance(error, (requests.ConnectionError, requests.Timeout,
                              requests.exceptions.ChunkedEncodingError))


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """A Retry-After header (seconds or an HTTP date) in seconds, at most MAX_RETRY_AFTER;
    None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def error_code(response: requests.Response) -> tuple[str, str]:
    """(code, message) of the first entry of the registry's JSON error body, or ("", "")."""
    try:
        errors = response.json().get("errors") or []
        first = errors[0]
        return str(first.get("code", "")), str(first.get("message", ""))
    except (ValueError, AttributeError, IndexError, TypeError):
        return "", ""


# ----------------------------------------------------------------------------- auth parsing

@dataclasses.dataclass(frozen=True)
class Challenge:
    """One WWW-Authenticate challenge: scheme ("basic", "bearer", lower case) and params."""

    scheme: str
    params: Mapping[str, str]


_PARAM = re.compile(r'\s*([A-Za-z][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*,?')


def parse_challenge(header: str) -> Challenge | None:
    """`Bearer realm="https://auth.docker.io/token",service="registry.docker.io",
    scope="repository:a/b:pull,push"` → Challenge("bearer", {...}); None if empty."""
    match = re.match(r"\s*([A-Za-z][\w-]*)\s*", header or "")
    if not match:
        return None
    params, rest = {}, header[match.end():]
    while rest:
        found = _PARAM.match(rest)
        if not found:
            break
        quoted, bare = found.group(2), found.group(3)
        params[found.group(1).lower()] = (re.sub(r"\\(.)", r"\1", quoted) if quoted is not None
                                          else bare)
        rest = rest[found.end():]
    return Challenge(match.group(1).lower(), params)


def default_scheme(host: str, ca_cert: Path | None = None) -> str:
    """Docker's rule: registries on loopback (localhost, 127.0.0.0/8, ::1) are insecure, so
    plain HTTP; everything else HTTPS. A CA certificate means TLS even on loopback."""
    if ca_cert:
        return "https"
    name = host.rsplit("]", 1)[0].lstrip("[") if host.startswith("[") else host.rsplit(":", 1)[0]
    if name == "localhost":
        return "http"
    try:
        return "http" if ipaddress.ip_address(name).is_loopback else "https"
    except ValueError:
        return "https"


def scope(repository: str, push: bool) -> str:
    return f"repository:{repository}:{'pull,push' if push else 'pull'}"


def _kind(url: str) -> str:
    path = urlsplit(url).path
    if "/manifests/" in path:
        return "manifest"
    if "/blobs/" in path:
        return "blob"
    return "other"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# ----------------------------------------------------------------------------- content

@dataclasses.dataclass(frozen=True)
class Descriptor:
    """A reference to content: media type, digest, size; for an index entry the platform
    ("linux/arm64", with "/v8" when a variant is set) and annotations."""

    media_type: str
    digest: str
    size: int
    platform: str | None = None
    annotations: Mapping[str, str] = dataclasses.field(default_factory=dict, hash=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Descriptor:
        """KeyError, TypeError or ValueError when data is not a descriptor."""
        platform = data.get("platform")
        if not isinstance(data["digest"], str) or not DIGEST.fullmatch(data["digest"]):
            raise ValueError(f"{data['digest']!r} is not a digest")
        return cls(media_type=data.get("mediaType", ""), digest=data["digest"],
                   size=int(data.get("size", 0)),
                   platform=platform_name(platform) if platform else None,
                   annotations=dict(data.get("annotations") or {}))

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.platform:
            os_, architecture, *variant = self.platform.split("/")
            data["platform"] = {"architecture": architecture, "os": os_,
                                **({"variant": variant[0]} if variant else {})}
        if self.annotations:
            data["annotations"] = dict(sorted(self.annotations.items()))
        return data

    @property
    def is_attestation(self) -> bool:
        return (self.platform == ATTESTATION
                or self.annotations.get("vnd.docker.reference.type") == "attestation-manifest")


def platform_name(platform: Mapping[str, Any]) -> str:
    """{"os": "linux", "architecture": "arm64", "variant": "v8"} → "linux/arm64/v8"."""
    name = f"{platform.get('os', 'unknown')}/{platform.get('architecture', 'unknown')}"
    return f"{name}/{platform['variant']}" if platform.get("variant") else name


@dataclasses.dataclass(frozen=True)
class Manifest:
    """A manifest or index exactly as served: its bytes are never re-serialised."""

    digest: str
    media_type: str
    raw: bytes

    @classmethod
    def from_bytes(cls, raw: bytes, media_type: str = "") -> Manifest:
        """ValueError, saying what is wrong, unless raw is an index or an image manifest
        whose descriptors can be read (a registry may serve anything: Harbor has served
        schema 1 manifests, without config, to clients asking for schema 2:
        goharbor/harbor#12208, containerd/containerd#5632)."""
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError(f"not a JSON object but {type(data).__name__}")
        media_type = media_type or data.get("mediaType", "")
        if not media_type:
            raise ValueError("manifest without a media type")
        manifest = cls(digest=sha256(raw), media_type=media_type, raw=raw)
        try:
            _ = manifest.children if manifest.is_index else manifest.blobs   # each one read
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            what = "index" if manifest.is_index else "image manifest"
            raise ValueError(f"malformed {what} ({type(error).__name__}: {error})") from None
        return manifest

    @functools.cached_property
    def json(self) -> dict[str, Any]:
        return cast(dict[str, Any], json.loads(self.raw))

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES or "manifests" in self.json

    @property
    def children(self) -> list[Descriptor]:
        return [Descriptor.from_json(entry) for entry in self.json.get("manifests") or []]

    @property
    def blobs(self) -> list[Descriptor]:
        """An image manifest's config and layers (empty for an index)."""
        if self.is_index:
            return []
        return [Descriptor.from_json(self.json["config"]),
                *(Descriptor.from_json(layer) for layer in self.json.get("layers") or [])]

    def descriptor(self, platform: str | None = None) -> Descriptor:
        return Descriptor(media_type=self.media_type, digest=self.digest, size=len(self.raw),
                          platform=platform)


@dataclasses.dataclass(frozen=True)
class ImageInfo:
    """What a tag points at: the digest, the platforms and each platform's config labels.
    Attestation manifests (platform unknown/unknown) are left out."""

    digest: str
    platforms: tuple[str, ...]
    labels: dict[str, dict[str, str]]


def make_index(children: Sequence[Descriptor]) -> Manifest:
    """An OCI image index over per-platform manifests. Deterministic: the same children, in
    any order, give the same bytes (sorted by platform, then digest; compact JSON)."""
    if not children:
        raise ValueError("an index needs at least one manifest")
    ordered = sorted(children, key=lambda child: (child.platform or "", child.digest))
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX,
             "manifests": [child.to_json() for child in ordered]}
    return Manifest.from_bytes(json.dumps(index, separators=(",", ":")).encode(), OCI_INDEX)


# ----------------------------------------------------------------------------- the client

@dataclasses.dataclass
class _Token:
    value: str
    expires: float      # time.monotonic() after which it is renewed before use


class Client:
    """One registry host. Operations are retried on transient failures (attempts, with
    backoff doubling from `backoff` seconds, or the registry's Retry-After); everything
    else raises at once. Errors name the host and the step, never a secret."""

    def __init__(self, host: str, *, username: str = "", password: str = "",
                 ca_cert: Path | None = None, scheme: str | None = None, attempts: int = 4,
                 backoff: float = 2.0, session: requests.Session | None = None,
                 docker_hub: bool = False) -> None:
        if "://" in host or "/" in host or not host:
            raise ValueError(f"registry host {host!r}: give HOST or HOST:PORT, "
                             "without scheme or path")
        self.host = DOCKER_HUB if host in ("docker.io", "index.docker.io") else host
        self.docker_hub = docker_hub or self.host == DOCKER_HUB    # its quirks apply
        self.scheme = scheme or default_scheme(self.host, ca_cert)
        self.base = f"{self.scheme}://{self.host}"
        self.username = username
        self._password = password
        self._verify: str | bool = str(ca_cert) if ca_cert else True
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self._http = session or requests.Session()
        self._http.headers.setdefault("User-Agent", "asterisk-pipeline")
        self._basic = False                     # the registry asked for basic auth
        self._tokens: dict[str, _Token] = {}   # scope -> bearer token
        self.proven = False                     # our credentials were accepted
        self.requests_made: collections.Counter[tuple[str, str]] = collections.Counter()

    def __repr__(self) -> str:
        return f"Client({self.base!r}, username={self.username!r})"

    @property
    def login(self) -> tuple[str, str]:
        """(username, password) this client sends, for a tool that must reach the same
        registry as the same user (cosign)."""
        return self.username, self._password

    @property
    def _credentials(self) -> bool:
        return bool(self.username or self._password)

    # -- public operations

    def check_login(self, repository: str, *, push: bool) -> None:
        """Prove the credentials now (basic auth on /v2/, or a token for the pull[,push]
        scope of repository): AuthError naming the host if they are refused or missing."""
        self._retrying(f"{self.host}: login", lambda: self._check_login(repository, push))

    def head_manifest(self, repository: str, reference: str) -> str | None:
        """The digest reference points at, or None when absent. A HEAD: Docker Hub does not
        count it as a pull."""
        return self._retrying(f"{self.host}/{repository}: HEAD {reference}",
                              lambda: self._head_manifest(repository, reference))

    def get_manifest(self, repository: str, reference: str) -> Manifest | None:
        return self._retrying(f"{self.host}/{repository}: GET manifest {reference}",
                              lambda: self._get_manifest(repository, reference))

    def image_info(self, repository: str, reference: str, *,
                   manifests: dict[str, Manifest] | None = None) -> ImageInfo | None:
        """What reference points at: for an index, each platform's manifest and config; for
        a single image manifest, its one platform from the config's os/architecture.
        manifests: those already read or pushed, by digest (content-addressed, so never
        stale): not read again; the ones read here are added (a manifest GET counts as a
        Docker Hub pull)."""
        known = {} if manifests is None else manifests
        top = known.get(reference) or self.get_manifest(repository, reference)
        if top is None:
            return None
        labels = {}
        if top.is_index:
            for child in top.children:
                if child.is_attestation:
                    continue
                manifest = known.get(child.digest) or self.get_manifest(repository, child.digest)
                if manifest is None:
                    raise RegistryError(f"{self.host}/{repository}:{reference} refers to a "
                                        f"missing manifest {child.digest}")
                known[child.digest] = manifest
                config = self._config(repository, manifest)
                labels[child.platform or platform_name(config)] = _labels(config)
        else:
            config = self._config(repository, top)
            labels[platform_name(config)] = _labels(config)
        return ImageInfo(digest=top.digest, platforms=tuple(sorted(labels)), labels=labels)

    def get_blob(self, repository: str, digest: str) -> bytes:
        """A blob's bytes, checked against its digest."""
        return self._retrying(f"{self.host}/{repository}: GET blob {digest}",
                              lambda: self._get_blob(repository, digest))

    def blob_exists(self, repository: str, digest: str) -> bool:
        return self._retrying(f"{self.host}/{repository}: HEAD blob {digest}",
                              lambda: self._blob_exists(repository, digest))

    def upload_blob(self, repository: str, digest: str, data: bytes | IO[bytes],
                    size: int) -> None:
        """Upload a blob unless the repository has it: POST an upload, then one PUT with the
        whole content and ?digest= (the registry checks the digest)."""
        if self.blob_exists(repository, digest):
            log.debug(f"{self.host}/{repository}: blob {digest} already there")
            return
        start = data.tell() if hasattr(data, "tell") else 0
        self._retrying(f"{self.host}/{repository}: upload blob {digest} ({size} bytes)",
                       lambda: self._upload_blob(repository, digest, data, size, start))

    def put_manifest(self, repository: str, reference: str, manifest: Manifest) -> str:
        """PUT manifest's exact bytes under reference (a tag or its digest); the digest the
        registry reports, which must be the manifest's own."""
        return self._retrying(f"{self.host}/{repository}: PUT manifest {reference}",
                              lambda: self._put_manifest(repository, reference, manifest))

    def tags(self, repository: str, *, page_size: int | None = None) -> list[str]:
        """Every tag of repository (following Link pagination); [] when it does not exist."""
        return self._retrying(f"{self.host}/{repository}: list tags",
                              lambda: self._tags(repository, page_size))

    # -- one attempt of each operation

    def _check_login(self, repository: str, push: bool) -> None:
        response = self._send("GET", f"{self.base}/v2/", {})
        if response.status_code == 200:
            log.debug(f"{self.host}: no authentication required")
            return
        if response.status_code != 401:
            raise self._error(response, "login")
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if challenge is None or challenge.scheme not in ("basic", "bearer"):
            raise RegistryError(f"{self.host}: login: unsupported authentication challenge "
                                f"{response.headers.get('WWW-Authenticate', '')!r}", status=401)
        if challenge.scheme == "bearer":
            if push and not self._credentials:
                raise self._missing_credentials(repository, "push")
            self._fetch_token(challenge, scope(repository, push))
        elif not self._credentials:
            raise self._missing_credentials(repository, "read")
        else:
            self._basic = True
        response = self._request("GET", repository, "/v2/", push=push)
        if response.status_code != 200:
            raise self._error(response, "login", repository=repository)
        if self._credentials:
            self.proven = True
            log.debug(f"{self.host}: credentials of {self.username} accepted")

    def _head_manifest(self, repository: str, reference: str) -> str | None:
        response = self._request("HEAD", repository, f"/v2/{repository}/manifests/{reference}",
                                 headers={"Accept": ", ".join(MANIFEST_TYPES)})
        if self._absent(response):
            return None
        if response.status_code != 200:
            raise self._error(response, f"HEAD manifest {reference}", repository=repository)
        digest = response.headers.get("Docker-Content-Digest")
        if digest:
            return digest
        if reference.startswith("sha256:"):
            return reference
        manifest = self._get_manifest(repository, reference)   # header is optional (OCI)
        return manifest.digest if manifest else None

    def _get_manifest(self, repository: str, reference: str) -> Manifest | None:
        response = self._request("GET", repository, f"/v2/{repository}/manifests/{reference}",
                                 headers={"Accept": ", ".join(MANIFEST_TYPES)})
        if self._absent(response):
            return None
        if response.status_code != 200:
            raise self._error(response, f"GET manifest {reference}", repository=repository)
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        for expected in (response.headers.get("Docker-Content-Digest"),
                         reference if reference.startswith("sha256:") else None):
            if expected and expected != sha256(response.content):
                raise RegistryError(f"{self.host}/{repository}: manifest {reference} has "
                                    f"digest {sha256(response.content)}, expected {expected}")
        try:
            return Manifest.from_bytes(response.content,
                                       media_type if media_type in MANIFEST_TYPES else "")
        except ValueError as error:
            raise RegistryError(f"{self.host}/{repository}: manifest {reference} is not a "
                                f"manifest ({error})") from None

    def _config(self, repository: str, manifest: Manifest) -> dict[str, Any]:
        """An image manifest's config (a JSON object), or RegistryError saying what it is."""
        if not manifest.blobs:
            raise RegistryError(f"{self.host}/{repository}: {manifest.digest} is an index where an "
                                "image manifest belongs")
        digest = manifest.blobs[0].digest
        try:
            config = json.loads(self.get_blob(repository, digest))
        except ValueError as error:
            raise RegistryError(f"{self.host}/{repository}: config {digest} of {manifest.digest} "
                                f"is not JSON ({error})") from None
        if not isinstance(config, dict) or not isinstance(config.get("config") or {}, dict):
            raise RegistryError(f"{self.host}/{repository}: config {digest} of {manifest.digest} "
                                "is not an image configuration")
        return cast(dict[str, Any], config)

    def _get_blob(self, repository: str, digest: str) -> bytes:
        response = self._request("GET", repository, f"/v2/{repository}/blobs/{digest}")
        if response.status_code != 200:
            raise self._error(response, f"GET blob {digest}", repository=repository)
        if sha256(response.content) != digest:
            raise RegistryError(f"{self.host}/{repository}: blob {digest} arrived with digest "
                                f"{sha256(response.content)}")
        return response.content

    def _blob_exists(self, repository: str, digest: str) -> bool:
        response = self._request("HEAD", repository, f"/v2/{repository}/blobs/{digest}")
        if self._absent(response):
            return False
        if response.status_code != 200:
            raise self._error(response, f"HEAD blob {digest}", repository=repository)
        return True

    def _upload_blob(self, repository: str, digest: str, data: bytes | IO[bytes], size: int,
                     start: int) -> None:
        response = self._request("POST", repository, f"/v2/{repository}/blobs/uploads/",
                                 push=True, headers={"Content-Length": "0"})
        if response.status_code != 202 or "Location" not in response.headers:
            raise self._error(response, "start blob upload", repository=repository)
        location = urljoin(self.base + "/", response.headers["Location"])
        if not isinstance(data, bytes):
            data.seek(start)
        response = self._request("PUT", repository, location, push=True, params={"digest": digest},
                                 headers={"Content-Type": "application/octet-stream",
                                          "Content-Length": str(size)}, data=data)
        if response.status_code != 201:
            raise self._error(response, f"upload blob {digest}", repository=repository)
        reported = response.headers.get("Docker-Content-Digest")
        if reported and reported != digest:
            raise RegistryError(f"{self.host}/{repository}: blob {digest} stored as {reported}")

    def _put_manifest(self, repository: str, reference: str, manifest: Manifest) -> str:
        response = self._request("PUT", repository, f"/v2/{repository}/manifests/{reference}",
                                 push=True, headers={"Content-Type": manifest.media_type},
                                 data=manifest.raw)
        if response.status_code not in (200, 201):
            raise self._error(response, f"PUT manifest {reference}", repository=repository)
        digest = response.headers.get("Docker-Content-Digest") or manifest.digest
        if digest != manifest.digest:
            raise RegistryError(f"{self.host}/{repository}: PUT {reference}: the registry "
                                f"stored digest {digest}, we sent {manifest.digest}")
        return digest

    def _tags(self, repository: str, page_size: int | None) -> list[str]:
        url: str | None = f"/v2/{repository}/tags/list"
        params = {"n": str(page_size)} if page_size else None
        found: list[str] = []
        while url:
            response = self._request("GET", repository, url, params=params)
            if self._absent(response):
                return []
            if response.status_code != 200:
                raise self._error(response, "list tags", repository=repository)
            found += response.json().get("tags") or []
            following = response.links.get("next", {}).get("url")
            url, params = (urljoin(self.base + "/", following) if following else None), None
        return found

    # -- HTTP, authentication, errors

    def _retrying(self, what: str, call: Callable[[], T]) -> T:
        for attempt in range(1, self.attempts + 1):
            try:
                return call()
            except RegistryError as error:
                if not error.transient:
                    raise
                if attempt == self.attempts:
                    if attempt == 1:
                        raise
                    raise type(error)(f"{error} (after {attempt} attempts)", status=error.status,
                                      code=error.code, transient=True) from None
                delay = (error.retry_after if error.retry_after is not None
                         else self.backoff * 2 ** (attempt - 1))
                log.warning(f"{what}: {error}; retrying in {delay:g}s "
                            f"(attempt {attempt + 1} of {self.attempts})")
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _request(self, method: str, repository: str, url: str, *, push: bool = False,
                 headers: Mapping[str, str] | None = None, **kwargs: Any) -> requests.Response:
        """One request with authentication: on a 401, answer the challenge (fetch a token
        or switch to basic auth) and send it once more."""
        url = url if "://" in url else self.base + url
        wanted = scope(repository, push)
        data = kwargs.get("data")
        start = None if data is None or isinstance(data, bytes) else data.tell()
        response = self._send(method, url, {**(headers or {}), **self._authorization(wanted)},
                              **kwargs)
        if response.status_code != 401:
            if self._basic and self._credentials and response.ok:
                self.proven = True      # accepted; a 403 proves nothing
            return response
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if challenge is None:
            return response
        if challenge.scheme == "basic":
            if not self._credentials or self._basic:
                return response         # nothing to send, or what we sent was refused
            self._basic = True
        elif challenge.scheme == "bearer":
            if challenge.params.get("error") == "insufficient_scope" and self._authorization(wanted):
                return response         # a fresh token for this scope: asking again won't help
            self._fetch_token(challenge, wanted)
        else:
            return response
        if start is not None:
            data.seek(start)        # type: ignore[union-attr]
        return self._send(method, url, {**(headers or {}), **self._authorization(wanted)},
                          **kwargs)

    def _authorization(self, wanted: str) -> dict[str, str]:
        if self._basic and self._credentials:
            pair = f"{self.username}:{self._password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        candidates = [wanted]
        if wanted.endswith(":pull"):
            candidates.append(wanted + ",push")     # a push token reads as well
        for candidate in candidates:
            token = self._tokens.get(candidate)
            if token and token.expires > time.monotonic():
                return {"Authorization": f"Bearer {token.value}"}
        return {}

    def _fetch_token(self, challenge: Challenge, wanted: str) -> None:
        realm = challenge.params.get("realm", "")
        split = urlsplit(realm)
        if split.scheme not in ("http", "https") or not split.netloc:
            raise RegistryError(f"{self.host}: the registry's token realm {realm!r} is not a URL")
        if (self._credentials and split.scheme == "http"
                and default_scheme(split.netloc) != "http"):
            raise AuthError(f"{self.host}: refusing to send credentials to the plain-HTTP token "
                            f"service {split.netloc}")
        scopes = [wanted]
        if challenge.params.get("scope") and challenge.params["scope"] != wanted:
            scopes.append(challenge.params["scope"])
        params: dict[str, Any] = {"scope": scopes}
        if challenge.params.get("service"):
            params["service"] = challenge.params["service"]
        if self.username:
            params["account"] = self.username
        response = self._send("GET", realm, {}, params=params, kind="token",
                              auth=(self.username, self._password) if self._credentials else None)
        if response.status_code in (401, 403):
            raise self._refused(response, f"token service {split.netloc}")
        if response.status_code != 200:
            raise self._error(response, f"token from {split.netloc}")
        try:
            body = response.json()
            value = body.get("token") or body.get("access_token")
            lifetime = float(body.get("expires_in") or 60)
        except (ValueError, AttributeError, TypeError):
            value, lifetime = None, 0.0
        if not value:
            raise RegistryError(f"{self.host}: the token service {split.netloc} sent no token",
                                status=response.status_code)
        self._tokens[wanted] = _Token(value, time.monotonic() + lifetime * 0.9)
        if self._credentials:
            self.proven = True

    def _send(self, method: str, url: str, headers: Mapping[str, str], *,
              kind: str | None = None, **kwargs: Any) -> requests.Response:
        kind = kind or _kind(url)
        self.requests_made[(method, kind)] += 1
        try:
            response = self._http.request(method, url, headers=dict(headers), timeout=TIMEOUT,
                                          verify=self._verify,
                                          allow_redirects=method in ("GET", "HEAD"), **kwargs)
        except requests.RequestException as error:
            raise self._unreachable(error, method, url) from None
        log.debug(f"{method} {url.split('?')[0]} -> {response.status_code}")
        remaining = response.headers.get("ratelimit-remaining")
        if remaining and kind == "manifest":
            log.debug(f"{self.host}: pulls remaining {remaining} "
                      f"(limit {response.headers.get('ratelimit-limit', '?')})")
        return response

    def _absent(self, response: requests.Response) -> bool:
        """404, or Docker Hub's 401 for a repository that does not exist yet (only from
        Docker Hub, once our credentials are proven; otherwise the 401 is an AuthError).
        Never a 403: that is a permission error, raised by the caller."""
        if response.status_code == 404:
            return True
        return response.status_code == 401 and self.docker_hub and self.proven

    def _missing_credentials(self, repository: str, action: str) -> AuthError:
        return AuthError(f"{self.host}: {action} access to {repository} needs credentials; "
                         "none are configured", status=401, code="UNAUTHORIZED")

    def _refused(self, response: requests.Response, where: str) -> AuthError:
        code, _ = error_code(response)
        who = f"the credentials of {self.username!r}" if self._credentials else "anonymous access"
        return AuthError(f"{self.host}: {where} refused {who} (HTTP {response.status_code}"
                         f"{' ' + code if code else ''}); check the username and password or token",
                         status=response.status_code, code=code)

    def _error(self, response: requests.Response, what: str, *,
               repository: str = "") -> RegistryError:
        status = response.status_code
        code, message = error_code(response)
        where = f"{self.host}/{repository}" if repository else self.host
        if status in (401, 403):
            if not self._credentials:
                return AuthError(f"{where}: {what}: HTTP {status}"
                                 f"{' ' + code if code else ''}: credentials are needed and none "
                                 "are configured", status=status, code=code)
            return AuthError(f"{where}: {what}: HTTP {status}{' ' + code if code else ''}"
                             f"{': ' + message if message else ''} (user {self.username!r}: "
                             "check the credentials and their permissions)",
                             status=status, code=code)
        transient = is_transient_status(status)
        detail = f"{code}: {message}" if code else (response.reason or "")
        return RegistryError(f"{where}: {what}: HTTP {status} {detail}".rstrip(), status=status,
                             code=code, transient=transient,
                             retry_after=retry_after_seconds(response.headers.get("Retry-After"))
                             if transient else None)

    def _unreachable(self, error: requests.RequestException, method: str,
                     url: str) -> RegistryError:
        where = urlsplit(url).netloc
        if isinstance(error, requests.exceptions.SSLError):
            hint = ("; give the registry's CA certificate (ca_cert)"
                    if self._verify is True else "")
            return RegistryError(f"{self.host}: TLS with {where} failed: certificate not "
                                 f"trusted or not valid{hint}",
                                 transient=is_transient_exception(error))
        kind = "timed out" if isinstance(error, requests.Timeout) else type(error).__name__
        return RegistryError(f"{self.host}: {method} {urlsplit(url).path}: no answer from "
                             f"{where} ({kind})", transient=is_transient_exception(error))


def _labels(config: Mapping[str, Any]) -> dict[str, str]:
    labels = (config.get("config") or {}).get("Labels") or {}
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


# ----------------------------------------------------------------------------- docker save

class _Layout:
    """The OCI image layout inside a `docker save` archive (containerd image store):
    index.json → the image (index or manifest) → manifests → config and layers."""

    def __init__(self, tar: tarfile.TarFile, archive: Path) -> None:
        self.tar = tar
        self.archive = archive
        self.names = set(tar.getnames())

    def _path(self, digest: str) -> str:
        algorithm, _, hexdigest = digest.partition(":")
        return f"blobs/{algorithm}/{hexdigest}"

    def has(self, digest: str) -> bool:
        return self._path(digest) in self.names

    def open(self, descriptor: Descriptor) -> IO[bytes]:
        member = self.tar.extractfile(self._path(descriptor.digest))
        if member is None:
            raise PublishError(f"{self.archive}: blob {descriptor.digest} is not a file")
        return member

    def image(self) -> Descriptor:
        try:
            index = json.loads(self.tar.extractfile("index.json").read())   # type: ignore[union-attr]
        except (KeyError, AttributeError, ValueError):
            raise PublishError(f"{self.archive}: no OCI image layout (index.json) in it; make it "
                               "with `docker save IMAGE` on the containerd image store") from None
        entries = index.get("manifests") or []
        if len(entries) != 1:
            raise PublishError(f"{self.archive}: holds {len(entries)} images; save exactly one")
        return Descriptor.from_json(entries[0])

    def manifest(self, descriptor: Descriptor) -> Manifest:
        if not self.has(descriptor.digest):
            raise PublishError(f"{self.archive}: manifest {descriptor.digest} is missing")
        raw = self.open(descriptor).read()
        try:
            manifest = Manifest.from_bytes(raw, descriptor.media_type)
        except ValueError as error:
            raise PublishError(f"{self.archive}: manifest {descriptor.digest}: {error}") from None
        if manifest.digest != descriptor.digest:
            raise PublishError(f"{self.archive}: manifest {descriptor.digest} has digest "
                               f"{manifest.digest}")
        return manifest


@dataclasses.dataclass(frozen=True)
class PlatformPush:
    """One platform of a saved image, pushed by digest: its manifest and the attestation
    manifests (BuildKit's provenance) that refer to it. The merge job puts all of them in
    the index."""

    manifest: Descriptor
    attestations: tuple[Descriptor, ...] = ()

    @property
    def children(self) -> list[Descriptor]:
        return [self.manifest, *self.attestations]


def push_saved_image(registry: Client, repository: str, archive: Path, *,
                     tag: str | None = None, platform: str | None = None) -> Descriptor:
    """Push the image in a `docker save` archive, byte for byte: the bytes pushed are the
    bytes tested.

    platform None: every manifest the image holds (attestations included) by digest, then
    the image itself under `tag` (or by digest): its digest is the local image id.
    platform given: only that platform (push_saved_platform); returns its manifest's
    descriptor. Every blob is checked to be in the archive before anything is pushed."""
    if platform:
        if tag:
            raise ValueError("push_saved_image: a single platform is pushed by digest, without tag")
        return push_saved_platform(registry, repository, archive, platform).manifest
    with tarfile.open(archive) as tar:
        layout = _Layout(tar, archive)
        top = layout.manifest(layout.image())
        manifests = [layout.manifest(child) for child in top.children] if top.is_index else []
        _push(registry, repository, layout, manifests, archive)
        _push(registry, repository, layout, [top], archive, reference=tag or top.digest)
        return top.descriptor(None if top.is_index else
                              platform_name(json.loads(layout.open(top.blobs[0]).read())))


def saved_manifest(archive: Path) -> Manifest:
    """The image's own manifest or index in a `docker save` archive, as pushed."""
    with tarfile.open(archive) as tar:
        layout = _Layout(tar, archive)
        return layout.manifest(layout.image())


def push_saved_platform(registry: Client, repository: str, archive: Path,
                        platform: str) -> PlatformPush:
    """Only that platform's manifest, its attestation manifests and their blobs, by digest,
    no tag (CI jobs that build one platform each; make_index joins their children)."""
    with tarfile.open(archive) as tar:
        layout = _Layout(tar, archive)
        top = layout.manifest(layout.image())
        manifest, descriptor = _platform_manifest(layout, top, platform, archive)
        attestations = [child for child in top.children if child.is_attestation
                        and child.annotations.get(REFERENCE_DIGEST) == manifest.digest]
        _push(registry, repository, layout,
              [manifest, *(layout.manifest(child) for child in attestations)], archive)
        return PlatformPush(descriptor, tuple(attestations))


def _push(registry: Client, repository: str, layout: _Layout, manifests: Sequence[Manifest],
          archive: Path, *, reference: str | None = None) -> None:
    """Every blob the manifests name (those the registry lacks), then the manifests, each by
    digest or, when given, under reference."""
    blobs = {blob.digest: blob for manifest in manifests for blob in manifest.blobs}
    missing = [digest for digest in blobs if not layout.has(digest)]
    if missing:
        raise PublishError(f"{archive}: {len(missing)} blob(s) missing (first: {missing[0]}); "
                           "the local image is incomplete for some platform")
    for blob in blobs.values():
        registry.upload_blob(repository, blob.digest, layout.open(blob), blob.size)
    for manifest in manifests:
        registry.put_manifest(repository, reference or manifest.digest, manifest)


def _platform_manifest(layout: _Layout, top: Manifest, platform: str,
                       archive: Path) -> tuple[Manifest, Descriptor]:
    if top.is_index:
        matches = [child for child in top.children
                   if child.platform == platform and not child.is_attestation]
        if len(matches) != 1:
            found = sorted(c.platform or "?" for c in top.children if not c.is_attestation)
            raise PublishError(f"{archive}: no single manifest for {platform} "
                               f"(the image has {', '.join(found) or 'none'})")
        manifest = layout.manifest(matches[0])
        return manifest, manifest.descriptor(platform)
    config = json.loads(layout.open(top.blobs[0]).read())
    if platform_name(config) != platform:
        raise PublishError(f"{archive}: the image is {platform_name(config)}, not {platform}")
    return top, top.descriptor(platform)
