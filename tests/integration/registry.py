"""Real registries for the publishing tests.

Debian's `docker-registry` (distribution 2.8) started on a free port with its own config and
storage, optionally with htpasswd basic auth and TLS from a throwaway CA; a small TCP proxy
that can "stop the registry" at a chosen moment of a push; and a reader of the registry's
HTTP API that checks every tag points at a complete image.

Why the TLS registry listens on [::1]: dockerd treats registries that resolve into
127.0.0.0/8 as insecure (it skips certificate checks), so a TLS registry on 127.0.0.1 would
prove nothing about the CA. IPv6 loopback is not in that range, and it stays on this
machine: the registry listens on [::1] under a name written to /etc/hosts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

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
            if child.get("platform"):
                platforms.append(f"{child['platform']['os']}/{child['platform']['architecture']}")
        return digest, sorted(platforms)

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
