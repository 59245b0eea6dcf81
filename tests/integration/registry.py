"""Real registries for the publishing tests.

Debian's `docker-registry` (distribution 2.8) started on a free port with its own config and
storage, optionally with htpasswd basic auth and TLS from a throwaway CA; a small TCP proxy
that can "stop the registry" at a chosen moment of a push; a reader of the registry's
HTTP API that checks every tag points at a complete image; a Docker-Hub-like HTTP front
(HubStandIn: token auth, 401 for new repositories, pull-limit headers, faults on demand); and
RegistryFront, which answers what docker-registry never does (403 DENIED to a user it
knows, a malformed manifest) in front of any of them.

Why the TLS registry listens on [::1]: dockerd treats registries that resolve into
127.0.0.0/8 as insecure (it skips certificate checks), so a TLS registry on 127.0.0.1 would
prove nothing about the CA. IPv6 loopback is not in that range, and it stays on this
machine: the registry listens on [::1] under a name written to /etc/hosts.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import dataclasses
import hashlib
import http.server
import json
import re
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests

TLS_NAME = "registry.pipeline.test"
HOSTS = Path("/etc/hosts")
CERTS_D = Path("/etc/docker/certs.d")
MEDIA_TYPES = ", ".join([
    "application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json"])


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_for(check: Callable[[], bool], what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (requests.RequestException, OSError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"{what} did not come up within {seconds:.0f}s")


TLS_ADDRESS = "::1"


def set_hosts_entry(name: str, address: str | None) -> None:
    """Point name at address in /etc/hosts (None removes it). Idempotent; rewritten in place
    because /etc/hosts may be a bind mount."""
    lines = [line for line in HOSTS.read_text().splitlines()
             if not re.search(rf"\s{re.escape(name)}(\s|$)", line)]
    if address:
        lines.append(f"{address} {name}")
    with HOSTS.open("r+") as hosts:
        hosts.seek(0)
        hosts.write("\n".join(lines) + "\n")
        hosts.truncate()


def make_ca(directory: Path, name: str) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for name: (ca.crt, server.crt, server.key)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = directory / "ca.key", directory / "ca.crt"
    key, csr, crt = directory / "server.key", directory / "server.csr", directory / "server.crt"
    ext = directory / "server.ext"
    ext.write_text(f"subjectAltName=DNS:{name}\nbasicConstraints=CA:FALSE\n"
                   "extendedKeyUsage=serverAuth\n")
    for command in (
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca_crt,
         "-days", "2", "-subj", "/CN=asterisk-pipeline test CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
         "-subj", f"/CN={name}"],
        ["openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
         "-out", crt, "-days", "2", "-extfile", ext],
    ):
        subprocess.run([str(c) for c in command], check=True, capture_output=True)
    return ca_crt, crt, key


@dataclasses.dataclass
class LocalRegistry:
    """One docker-registry process; `host` is what image names use (HOST:PORT)."""

    root: Path
    listen: str                       # address:port the process binds
    host: str                         # name:port in image references
    username: str = ""
    password: str = ""
    ca_cert: Path | None = None
    tls: tuple[Path, Path] | None = None
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def start(self) -> LocalRegistry:
        config = self.root / "config.yml"
        text = (f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
                f"    rootdirectory: {self.root / 'data'}\n  delete:\n    enabled: true\n"
                f"http:\n  addr: \"{self.listen}\"\n")
        if self.tls:
            text += f"  tls:\n    certificate: {self.tls[0]}\n    key: {self.tls[1]}\n"
        if self.username:
            htpasswd = self.root / "htpasswd"
            htpasswd.write_text(subprocess.run(
                ["htpasswd", "-Bbn", self.username, self.password],
                capture_output=True, text=True, check=True).stdout)
            text += f"auth:\n  htpasswd:\n    realm: test\n    path: {htpasswd}\n"
        config.write_text(text)
        log = (self.root / "registry.log").open("a")
        self.process = subprocess.Popen(["docker-registry", "serve", str(config)],
                                        stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: self.get("/v2/").status_code in (200, 401), f"registry {self.host}")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    # -- reading it back over the HTTP API, independently of the code under test

    def get(self, path: str, **kwargs) -> requests.Response:
        auth = (self.username, self.password) if self.username else None
        return requests.get(self.url + path, auth=auth, timeout=10,
                            verify=str(self.ca_cert) if self.ca_cert else True, **kwargs)

    def tags(self, repository: str) -> list[str]:
        response = self.get(f"/v2/{repository}/tags/list")
        if response.status_code == 404:
            return []
        response.raise_for_status()
        return sorted(response.json().get("tags") or [])

    def manifest(self, repository: str, reference: str) -> tuple[str, dict] | None:
        response = self.get(f"/v2/{repository}/manifests/{reference}",
                            headers={"Accept": MEDIA_TYPES})
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.headers["Docker-Content-Digest"], response.json()

    def complete(self, repository: str, tag: str) -> tuple[str, list[str]]:
        """(digest, platforms) of tag, after checking that every manifest and blob it refers
        to is in the registry: a tag must never point at an incomplete image."""
        found = self.manifest(repository, tag)
        assert found, f"{repository}:{tag} does not exist"
        digest, index = found
        platforms = []
        children = index.get("manifests") or [{"digest": digest, "platform": None}]
        for child in children:
            child_found = self.manifest(repository, child["digest"])
            assert child_found, f"{repository}:{tag} refers to missing manifest {child['digest']}"
            _, manifest = child_found
            for blob in [manifest["config"], *manifest["layers"]]:
                head = requests.head(f"{self.url}/v2/{repository}/blobs/{blob['digest']}",
                                     auth=(self.username, self.password) if self.username else None,
                                     verify=str(self.ca_cert) if self.ca_cert else True, timeout=10)
                assert head.status_code == 200, f"{repository}:{tag}: blob {blob['digest']} missing"
            platform = child.get("platform") or {}
            if platform and platform.get("architecture") != "unknown":   # not an attestation
                platforms.append(f"{platform['os']}/{platform['architecture']}")
        return digest, sorted(platforms)

    def blob(self, repository: str, digest: str) -> bytes:
        response = self.get(f"/v2/{repository}/blobs/{digest}")
        response.raise_for_status()
        return response.content

    def labels(self, repository: str, reference: str) -> dict[str, dict[str, str]]:
        """{platform: the labels of its config} of the image reference points at (an index's
        attestation manifests left out)."""
        digest, top = self.manifest(repository, reference)
        children = [c for c in top.get("manifests") or [{"digest": digest}]
                    if (c.get("platform") or {}).get("architecture") != "unknown"]
        found = {}
        for child in children:
            _, manifest = self.manifest(repository, child["digest"])
            config = json.loads(self.blob(repository, manifest["config"]["digest"]))
            platform = f"{config['os']}/{config['architecture']}"
            found[platform] = (config.get("config") or {}).get("Labels") or {}
        return found

    def provenance(self, repository: str, tag: str) -> dict[str, dict]:
        """{platform manifest digest: its SLSA provenance statement}, read from the attestation
        manifests of the index tag points at (BuildKit's layout: platform unknown/unknown,
        annotation vnd.docker.reference.digest naming the platform manifest)."""
        _, index = self.manifest(repository, tag)
        found = {}
        for child in index.get("manifests") or []:
            annotations = child.get("annotations") or {}
            if annotations.get("vnd.docker.reference.type") != "attestation-manifest":
                continue
            _, manifest = self.manifest(repository, child["digest"])
            for layer in manifest["layers"]:
                if layer.get("annotations", {}).get("in-toto.io/predicate-type", "").startswith(
                        "https://slsa.dev/provenance/"):
                    found[annotations["vnd.docker.reference.digest"]] = json.loads(
                        self.blob(repository, layer["digest"]))
        return found

    def retag(self, repository: str, tag: str, digest: str) -> None:
        """Point tag at another manifest through the HTTP API, as someone with push access
        (or a compromised registry) could do by hand."""
        body = self.get(f"/v2/{repository}/manifests/{digest}", headers={"Accept": MEDIA_TYPES})
        body.raise_for_status()
        put = requests.put(f"{self.url}/v2/{repository}/manifests/{tag}", data=body.content,
                           headers={"Content-Type": body.headers["Content-Type"]},
                           auth=(self.username, self.password) if self.username else None,
                           verify=str(self.ca_cert) if self.ca_cert else True, timeout=30)
        assert put.status_code == 201, put.text

    def referrers(self, repository: str, digest: str) -> list[dict]:
        """The manifests that name digest as their subject, read from the OCI referrers tag
        schema (`sha256-<hex>`: distribution 2.8 has no referrers API), each fetched."""
        found = self.manifest(repository, digest.replace(":", "-"))
        if not found:
            return []
        return [self.manifest(repository, child["digest"])[1] for child in found[1]["manifests"]]

    def copy_untagged(self, source_repository: str, digest: str, repository: str) -> None:
        """Put one manifest (and its blobs) into repository by digest, with no tag: what a CI
        build job's push-by-digest leaves behind."""
        _, manifest = self.manifest(source_repository, digest)
        auth = (self.username, self.password) if self.username else None
        for blob in [manifest["config"], *manifest["layers"]]:
            mounted = requests.post(f"{self.url}/v2/{repository}/blobs/uploads/",
                                    params={"mount": blob["digest"], "from": source_repository},
                                    auth=auth, timeout=30)
            assert mounted.status_code == 201, mounted.text
        body = self.get(f"/v2/{source_repository}/manifests/{digest}",
                        headers={"Accept": MEDIA_TYPES})
        put = requests.put(f"{self.url}/v2/{repository}/manifests/{digest}", data=body.content,
                           headers={"Content-Type": body.headers["Content-Type"]}, auth=auth,
                           timeout=30)
        assert put.status_code == 201, put.text


def start_registry(root: Path, *, username: str = "", password: str = "",
                   tls: bool = False) -> LocalRegistry:
    root.mkdir(parents=True, exist_ok=True)
    if not tls:
        port = free_port()
        return LocalRegistry(root=root, listen=f"127.0.0.1:{port}", host=f"127.0.0.1:{port}",
                             username=username, password=password).start()
    port = free_port(TLS_ADDRESS)
    set_hosts_entry(TLS_NAME, TLS_ADDRESS)
    ca, crt, key = make_ca(root / "tls", TLS_NAME)
    return LocalRegistry(root=root, listen=f"[{TLS_ADDRESS}]:{port}", host=f"{TLS_NAME}:{port}",
                         username=username, password=password, ca_cert=ca, tls=(crt, key)).start()


def forget_tls(registry: LocalRegistry) -> None:
    """Teardown for a TLS registry: the /etc/hosts name and the CA that publishing installed."""
    set_hosts_entry(TLS_NAME, None)
    target = CERTS_D / registry.host
    if target.is_dir():
        for path in target.iterdir():
            path.unlink()
        target.rmdir()


class CuttingProxy:
    """A TCP proxy in front of a registry that runs `on_cut` (e.g. stop the registry) and
    drops every connection the first time a request matches `trigger`."""

    def __init__(self, upstream: str, trigger: bytes, on_cut: Callable[[], None]) -> None:
        self.upstream = upstream.rsplit(":", 1)
        self.trigger = re.compile(trigger)
        self.on_cut = on_cut
        self.armed = True
        self.cut_at = ""
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._server.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection((self.upstream[0], int(self.upstream[1])), timeout=5)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()
        self._pump(client, upstream, True)

    def _pump(self, source: socket.socket, dest: socket.socket, watch: bool) -> None:
        window = b""
        try:
            while data := source.recv(65536):
                if watch and self.armed:
                    window = (window + data)[-4096:]
                    match = self.trigger.search(window)
                    if match:
                        with self._lock:
                            if self.armed:
                                self.armed = False
                                self.cut_at = match.group(0).decode(errors="replace")
                                self.on_cut()
                        break
                dest.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, dest):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


# ----------------------------------------------------------------------------- answers it cannot give

@dataclasses.dataclass
class Answer:
    """What RegistryFront answers to requests matching method and path (regex), instead of
    the registry: a status with the registry's JSON error body, or (status 200) `manifest`,
    served as a manifest with its own digest and media type in the headers."""

    method: str | None
    path: re.Pattern
    status: int = 200
    code: str = ""
    message: str = ""
    manifest: bytes = b""
    media_type: str = ""


class RegistryFront:
    """An HTTP front for a LocalRegistry (with or without auth) that answers some requests
    itself, the way real registries do and docker-registry cannot be made to, and passes
    everything else through as is (Authorization included, so the registry's own auth still
    decides who is who). `answers`: (method, path, status) of every request."""

    def __init__(self, upstream: LocalRegistry) -> None:
        self.upstream = upstream
        self.rules: list[Answer] = []
        self.answers: list[tuple[str, str, int]] = []
        front = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # dockerd and BuildKit try HTTPS first on a loopback registry and fall back to
            # HTTP when the answer to their TLS hello is an HTTP status line; the default
            # (HTTP/0.9) error reply has none, and they would give up
            default_request_version = "HTTP/1.1"

            def do_GET(self) -> None:
                front._handle(self)

            do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

            def log_message(self, *args) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.host = f"127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def forbid(self, method: str | None, path: str, code: str, message: str) -> None:
        """403 with that error code and message for matching requests."""
        self.rules.append(Answer(method, re.compile(path), 403, code, message))

    def fail(self, method: str | None, path: str, status: int, code: str = "UNAVAILABLE",
             message: str = "service unavailable") -> None:
        """status (e.g. 429, 503) with the registry's JSON error body for matching requests."""
        self.rules.append(Answer(method, re.compile(path), status, code, message))

    def serve_manifest(self, path: str, manifest: bytes, media_type: str) -> None:
        """GET/HEAD of matching manifests answer 200 with these bytes (their own digest)."""
        for method in ("GET", "HEAD"):
            self.rules.append(Answer(method, re.compile(path), manifest=manifest,
                                     media_type=media_type))

    def _handle(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        path = urlsplit(handler.path).path
        rule = next((r for r in self.rules if r.method in (None, handler.command)
                     and r.path.fullmatch(path)), None)
        if rule and rule.status != 200:
            self._reply(handler, rule.status, _errors(rule.code, rule.message))
        elif rule:
            digest = "sha256:" + hashlib.sha256(rule.manifest).hexdigest()
            self._reply(handler, 200, rule.manifest, {"Content-Type": rule.media_type,
                                                      "Docker-Content-Digest": digest})
        else:
            self._forward(handler, body)

    def _forward(self, handler, body: bytes) -> None:
        headers = {key: value for key, value in handler.headers.items()
                   if key.lower() in ("accept", "content-type", "content-length", "authorization")}
        headers["Host"] = self.host
        upstream = requests.request(handler.command, self.upstream.url + handler.path,
                                    headers=headers, data=body or None, allow_redirects=False,
                                    stream=True, timeout=60)
        content = b"" if handler.command == "HEAD" else upstream.raw.read(decode_content=False)
        upstream.close()
        reply = {key: value for key, value in upstream.headers.items()
                 if key.lower() not in _HOP_BY_HOP}
        if "Location" in reply:
            reply["Location"] = reply["Location"].replace(self.upstream.url, f"http://{self.host}")
        if handler.command == "HEAD":
            reply["Content-Length"] = upstream.headers.get("Content-Length", "0")
        self._reply(handler, upstream.status_code, content, reply)

    def _reply(self, handler, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        headers = dict(headers or {})
        handler.send_response(status)
        headers.setdefault("Content-Length", str(len(body)))
        if body and "Content-Type" not in headers:
            headers["Content-Type"] = "application/json"
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        if body and handler.command != "HEAD":
            handler.wfile.write(body)
        self.answers.append((handler.command, urlsplit(handler.path).path, status))


# ----------------------------------------------------------------------------- Docker Hub stand-in

HUB_SERVICE = "registry.docker.io"
HUB_WINDOW = 21600          # Docker Hub's pull-limit window, seconds (the `w=` of its headers)
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"}


@dataclasses.dataclass
class Fault:
    """What the next `times` matching requests get instead of an answer: a status (with
    Retry-After when given), a dropped connection (status None), or a corrupted body."""

    status: int | None
    times: int
    retry_after: str | None = None
    kind: str | None = None          # only requests of this kind: manifest, blob, token, other
    method: str | None = None
    corrupt: bool = False


@dataclasses.dataclass
class _Grant:
    user: str
    access: set[tuple[str, str]]     # (repository, action)
    expires: float


class HubStandIn:
    """Docker Hub's documented behaviour in front of a LocalRegistry that has no auth:

    * Bearer token auth (Docker's token spec) with its own token endpoint, /token on the
      same port: it checks the username and password (a wrong one gets 401
      {"details": "incorrect username or password"}, as auth.docker.io answers), grants pull
      everywhere and push only in the user's own namespace (`user/...`); anonymous tokens
      pull only. Tokens live `token_seconds`.
    * A repository that has no manifest yet answers every read (GET/HEAD of manifests, blobs,
      tags) with 401 UNAUTHORIZED, even with a valid token (jupyterhub/binderhub#1664).
    * Manifest responses carry `ratelimit-limit` / `ratelimit-remaining`; a GET of a
      manifest is a pull, a HEAD is not; past the limit a GET gets 429 (docs.docker.com,
      "Docker Hub pull usage and limits").
    * On demand (`fail`, `drop`, `corrupt`): statuses such as 503 or 429 + Retry-After,
      dropped connections, a damaged body.
    * `counts`: requests received by (method, kind), kind in manifest/blob/token/other;
      `answers`: (method, path, status) of each.
    """

    def __init__(self, upstream: LocalRegistry, *, username: str, password: str,
                 token_seconds: int = 300, pull_limit: int = 100) -> None:
        self.upstream = upstream
        self.username = username
        self.password = password
        self.token_seconds = token_seconds
        self.pull_limit = pull_limit
        self.pulls_left = pull_limit
        self.counts: collections.Counter = collections.Counter()
        self.answers: list[tuple[str, str, int]] = []
        self.created: set[str] = set()       # repositories with at least one manifest
        self.faults: list[Fault] = []
        self._grants: dict[str, _Grant] = {}
        self._lock = threading.Lock()
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                hub._handle(self)

            do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

            def log_message(self, *args) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.host = f"127.0.0.1:{self._server.server_address[1]}"
        self.realm = f"http://{self.host}/token"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- test controls

    def fail(self, status: int, times: int = 1, *, retry_after: str | None = None,
             kind: str | None = None, method: str | None = None) -> None:
        with self._lock:
            self.faults.append(Fault(status, times, retry_after, kind, method))

    def drop(self, times: int = 1, *, kind: str | None = None, method: str | None = None) -> None:
        with self._lock:
            self.faults.append(Fault(None, times, kind=kind, method=method))

    def corrupt(self, times: int = 1, *, kind: str | None = None) -> None:
        with self._lock:
            self.faults.append(Fault(200, times, kind=kind, method="GET", corrupt=True))

    def revoke_tokens(self) -> None:
        with self._lock:
            self._grants.clear()

    def statuses(self, method: str, kind: str) -> list[int]:
        return [status for m, path, status in self.answers if m == method and _hub_kind(path) == kind]

    # -- serving

    def _handle(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        method, split = handler.command, urlsplit(handler.path)
        kind = _hub_kind(split.path)
        with self._lock:
            self.counts[(method, kind)] += 1
            fault = self._take_fault(method, kind)
        if fault and fault.status is None:
            handler.close_connection = True          # no answer at all
            self.answers.append((method, split.path, 0))
            return
        if fault and not fault.corrupt:
            code = "TOOMANYREQUESTS" if fault.status == 429 else "UNAVAILABLE"
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            self._reply(handler, fault.status, _errors(code, f"stand-in fault {fault.status}"), headers)
            return
        if split.path == "/token":
            self._token(handler, split.query)
            return
        repository, action = _repository_action(method, split.path)
        denied = self._check_token(handler, repository, action)
        if denied:
            self._reply(handler, 401, _errors("UNAUTHORIZED", "authentication required"),
                        {"WWW-Authenticate": denied})
            return
        if repository and action == "pull" and repository not in self.created:
            # Docker Hub: a repository that does not exist yet is "unauthorized", not unknown
            self._reply(handler, 401, _errors("UNAUTHORIZED", "authentication required"),
                        {"WWW-Authenticate": self._challenge(repository, "pull", "insufficient_scope")})
            return
        page = parse_qs(split.query)
        if split.path.endswith("/tags/list") and method == "GET" and "n" in page:
            self._tags_page(handler, repository, int(page["n"][0]), page.get("last", [""])[0])
            return
        extra = {}
        if kind == "manifest" and method in ("GET", "HEAD"):
            with self._lock:
                if method == "GET" and self.pulls_left <= 0:
                    limited = True
                else:
                    limited = False
                    self.pulls_left -= 1 if method == "GET" else 0
                left = self.pulls_left
            extra = {"ratelimit-limit": f"{self.pull_limit};w={HUB_WINDOW}",
                     "ratelimit-remaining": f"{left};w={HUB_WINDOW}"}
            if limited:
                self._reply(handler, 429, _errors(
                    "TOOMANYREQUESTS", "You have reached your pull rate limit. You may increase "
                    "the limit by authenticating and upgrading: "
                    "https://www.docker.com/increase-rate-limits"), extra)
                return
        status = self._forward(handler, body, extra, corrupt=bool(fault and fault.corrupt))
        if repository and kind == "manifest" and method == "PUT" and status == 201:
            self.created.add(repository)

    def _take_fault(self, method: str, kind: str) -> Fault | None:
        for fault in self.faults:
            if (fault.times > 0 and fault.kind in (None, kind)
                    and fault.method in (None, method)):
                fault.times -= 1
                return fault
        return None

    def _token(self, handler, query: str) -> None:
        params = parse_qs(query)
        user = ""
        header = handler.headers.get("Authorization", "")
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            if (user, password) != (self.username, self.password):
                self._reply(handler, 401, json.dumps(
                    {"details": "incorrect username or password"}).encode())
                return
        access = set()
        for scope in params.get("scope", []):
            parts = scope.split(":")
            if len(parts) != 3 or parts[0] != "repository":
                continue
            for action in parts[2].split(","):
                if action == "pull" or (action == "push" and user
                                        and parts[1].startswith(f"{user}/")):
                    access.add((parts[1], action))
        token = "hub-" + secrets.token_hex(16)
        with self._lock:
            self._grants[token] = _Grant(user, access, time.monotonic() + self.token_seconds)
        self._reply(handler, 200, json.dumps({
            "token": token, "access_token": token, "expires_in": self.token_seconds,
            "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}).encode(),
            {"Content-Type": "application/json"})

    def _challenge(self, repository: str, action: str, error: str = "") -> str:
        challenge = f'Bearer realm="{self.realm}",service="{HUB_SERVICE}"'
        if repository:
            challenge += f',scope="repository:{repository}:{action}"'
        return challenge + (f',error="{error}"' if error else "")

    def _check_token(self, handler, repository: str, action: str) -> str:
        """"" when the request may go on, else the WWW-Authenticate challenge to answer."""
        header = handler.headers.get("Authorization", "")
        with self._lock:
            grant = self._grants.get(header[7:]) if header.startswith("Bearer ") else None
        if grant is None or grant.expires < time.monotonic():
            return self._challenge(repository, action)
        if repository and (repository, action) not in grant.access:
            return self._challenge(repository, action, "insufficient_scope")
        return ""

    def _tags_page(self, handler, repository: str, n: int, last: str) -> None:
        """tags/list?n=&last= as the OCI spec has it (lexical order, a Link to the next page);
        distribution 2.8 itself ignores n."""
        upstream = requests.get(f"{self.upstream.url}/v2/{repository}/tags/list", timeout=30)
        if upstream.status_code != 200:
            self._reply(handler, upstream.status_code, upstream.content)
            return
        after = [tag for tag in sorted(upstream.json().get("tags") or []) if tag > last]
        headers = {"Content-Type": "application/json"}
        if len(after) > n:
            headers["Link"] = (f'</v2/{repository}/tags/list?n={n}&last={after[n - 1]}>; '
                               'rel="next"')
        self._reply(handler, 200, json.dumps({"name": repository, "tags": after[:n]}).encode(),
                    headers)

    def _forward(self, handler, body: bytes, extra: dict, *, corrupt: bool) -> int:
        headers = {key: value for key, value in handler.headers.items()
                   if key.lower() in ("accept", "content-type", "content-length")}
        headers["Host"] = self.host          # distribution builds Location URLs from it
        upstream = requests.request(handler.command, self.upstream.url + handler.path,
                                    headers=headers, data=body or None, allow_redirects=False,
                                    stream=True, timeout=60)
        content = b"" if handler.command == "HEAD" else upstream.raw.read(decode_content=False)
        upstream.close()
        if corrupt and content:
            content = content[:-1] + bytes([content[-1] ^ 0xFF])
        reply = {key: value for key, value in upstream.headers.items()
                 if key.lower() not in _HOP_BY_HOP}
        if "Location" in reply:
            reply["Location"] = reply["Location"].replace(self.upstream.url, f"http://{self.host}")
        if handler.command == "HEAD":
            reply["Content-Length"] = upstream.headers.get("Content-Length", "0")
        self._reply(handler, upstream.status_code, content, {**reply, **extra})
        return upstream.status_code

    def _reply(self, handler, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        headers = dict(headers or {})
        handler.send_response(status)
        headers.setdefault("Content-Length", str(len(body)))
        if body and "Content-Type" not in headers:
            headers["Content-Type"] = "application/json"
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        if body and handler.command != "HEAD":
            handler.wfile.write(body)
        self.answers.append((handler.command, urlsplit(handler.path).path, status))


def _hub_kind(path: str) -> str:
    if path == "/token":
        return "token"
    if "/manifests/" in path:
        return "manifest"
    if "/blobs/" in path:
        return "blob"
    return "other"


def _repository_action(method: str, path: str) -> tuple[str, str]:
    """('someone/asterisk', 'pull' or 'push') of a /v2/ path; ('', …) for /v2/ itself."""
    match = re.match(r"/v2/(.+?)/(manifests|blobs|tags)/", path)
    return (match.group(1) if match else "", "pull" if method in ("GET", "HEAD") else "push")


def _errors(code: str, message: str) -> bytes:
    return json.dumps({"errors": [{"code": code, "message": message}]}).encode()
