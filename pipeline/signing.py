"""Signing what publishing pushes, with cosign (sigstore/cosign): the image digest every
tag will point at, and one signed SBOM attestation (CycloneDX) per platform on it.

Two ways, from matrix.yaml's `signing:` (matrix.Signing):

* keyless (GitHub Actions): cosign takes the job's OIDC identity (the workflow with
  `permissions: id-token: write`), gets a short-lived certificate from Sigstore's Fulcio and
  records the signature in its public transparency log, Rekor. Users verify with the
  workflow's identity (docs/publish.md).
* key: a cosign key pair. The private key comes from an environment variable (cosign reads
  `env://NAME` itself) or a file; its password from a variable, passed as COSIGN_PASSWORD.
  Neither is ever on a command line or in a log. The transparency log is off
  (`--tlog-upload=false`): nothing leaves for a public service, so the signature proves
  who holds the key but there is no public record of when it was made; users verify
  with `--key cosign.pub --insecure-ignore-tlog`.

cosign needs the registry's credentials: they go into a Docker config written for that
one command in a private temporary directory (DOCKER_CONFIG, mode 0600, removed after),
never into the user's. A plain-HTTP loopback registry gets `--allow-http-registry`, a
private CA `--registry-cacert`. Signatures and attestations are stored as OCI referrers
of the digest (cosign 3); a registry without the referrers API gets the referrers tag
schema (`sha256-<hex>` tags), as Docker's registry 2.8, GHCR and the tests' registries.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from . import log
from .distribution import DOCKER_HUB
from .errors import ConfigurationError, PublishError
from .matrix import Signing
from .redaction import keep_secret, redact

if TYPE_CHECKING:
    from .registries import Session

DOCKER_HUB_AUTH = "https://index.docker.io/v1/"   # the Docker config key for Docker Hub
SBOM_PREDICATE = "cyclonedx"
TIMEOUT = 600              # seconds for one cosign command (its own retries included)
# What a job with `permissions: id-token: write` gets on GitHub Actions, or a token given.
OIDC_VARIABLES = (("ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"), ("SIGSTORE_ID_TOKEN",))


def docker_config(host: str, username: str, password: str) -> dict[str, object]:
    """The Docker config that gives cosign (go-containerregistry) this registry's login."""
    if not (username or password):
        return {"auths": {}}
    key = DOCKER_HUB_AUTH if host in ("docker.io", "index.docker.io", DOCKER_HUB) else host
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"auths": {key: {"auth": auth}}}


def no_tlog_flags(sign_help: str) -> tuple[str, ...]:
    """How this cosign signs without the transparency log, from `cosign sign --help`: cosign
    3 needs its TUF signing config switched off as well (`--use-signing-config=false`, else
    it refuses `--tlog-upload=false`); cosign 2 has no such flag."""
    if "--use-signing-config" in sign_help:
        return ("--use-signing-config=false", "--tlog-upload=false")
    return ("--tlog-upload=false",)


class Signer:
    """cosign for one run: the matrix's signing settings and the run's environment."""

    def __init__(self, signing: Signing, *, base_dir: Path, environ: Mapping[str, str],
                 matrix_file: str = "matrix.yaml") -> None:
        self.signing = signing
        self.base_dir = base_dir
        self.environ = dict(environ)
        self.where = matrix_file
        for name in (signing.key_env, signing.password_env):
            if name and self.environ.get(name):
                keep_secret(self.environ[name])

    @property
    def enabled(self) -> bool:
        return self.signing.enabled

    def describe(self) -> str:
        if self.signing.method == "keyless":
            return "keyless (the CI's OIDC identity, Sigstore's public Fulcio and Rekor)"
        source = f"${self.signing.key_env}" if self.signing.key_env else str(self._key_file())
        return f"the cosign key in {source}, no transparency log"

    # -- before anything is built or pushed

    def check(self) -> None:
        """ConfigurationError (naming the setting and the fix) unless signing can work here:
        cosign installed; keyless: an OIDC token; key: the key and its password present,
        and proven by reading the key with them."""
        if not self.enabled:
            return
        if not shutil.which("cosign", path=self._env().get("PATH")):
            raise ConfigurationError(f"{self.where}: signing.method {self.signing.method}: cosign is "
                                     "not installed; install it (Debian: apt-get install cosign; "
                                     "GitHub Actions: sigstore/cosign-installer)")
        if self.signing.method == "keyless":
            if not any(all(self._env().get(name) for name in names) for names in OIDC_VARIABLES):
                raise ConfigurationError(
                    f"{self.where}: signing.method keyless: no OIDC identity token here (GitHub "
                    "Actions gives one to jobs with `permissions: id-token: write`; elsewhere set "
                    "SIGSTORE_ID_TOKEN, or sign with a key: method key)")
            return
        if self.signing.key_env and not self.environ.get(self.signing.key_env):
            raise ConfigurationError(f"{self.where}: signing.key_env: ${self.signing.key_env} is not "
                                     "set; export the cosign private key (PEM) in it (e.g. from a CI "
                                     "secret)")
        if self.signing.key_file and not self._key_file().is_file():
            raise ConfigurationError(f"{self.where}: signing.key_file: {self._key_file()} is not a "
                                     "file; give the cosign private key's path (relative to the matrix)")
        if self.signing.password_env and self.signing.password_env not in self.environ:
            raise ConfigurationError(f"{self.where}: signing.password_env: "
                                     f"${self.signing.password_env} is not set; export the key's "
                                     "password in it")
        done = self._cosign(["public-key", "--key", self._key_ref()], {})
        if done.returncode != 0:
            raise ConfigurationError(f"{self.where}: signing: cosign cannot read the private key "
                                     f"({self._key_source()}) with the password in "
                                     f"{'$' + self.signing.password_env if self.signing.password_env else 'no variable'}"
                                     f": {self._tail(done)}")
        fingerprint = hashlib.sha256(done.stdout.encode()).hexdigest()[:16]
        log.info(f"  signing with {self.describe()} (public key sha256 {fingerprint}…)")

    # -- the registry operations

    def sign(self, session: Session, digest: str) -> None:
        self._run(session, digest, ["sign"])

    def attest_sbom(self, session: Session, digest: str, document: bytes) -> None:
        """A signed in-toto attestation of type cyclonedx on digest, the SBOM its predicate."""
        with tempfile.TemporaryDirectory(prefix="pipeline-sbom-") as scratch:
            predicate = Path(scratch) / "sbom.cdx.json"
            predicate.write_bytes(document)
            self._run(session, digest, ["attest", "--type", SBOM_PREDICATE, "--predicate", str(predicate)])

    def command(self, action: Sequence[str], reference: str, *, http: bool,
                ca_cert: Path | None) -> list[str]:
        """The cosign command line (no secret on it: the key is env://NAME or a path)."""
        argv = ["cosign", *action, "--yes"]
        if self.signing.method == "key":
            argv += ["--key", self._key_ref(), *self._tlog_flags]
        if http:
            argv.append("--allow-http-registry")
        if ca_cert:
            argv += ["--registry-cacert", str(ca_cert)]
        return [*argv, reference]

    def _run(self, session: Session, digest: str, action: Sequence[str]) -> None:
        reference = f"{session.registry.image}@{digest}"
        argv = self.command(action, reference, http=session.api.scheme == "http",
                            ca_cert=session.ca_cert)
        host = session.registry.image.split("/", 1)[0]
        with self._registry_login(host, *session.api.login) as config:
            done = self._cosign(argv[1:], {"DOCKER_CONFIG": str(config)})
        if done.returncode != 0:
            raise PublishError(f"{session.name}: cosign {action[0]} {reference} failed (exit "
                               f"{done.returncode}): {self._tail(done)}; nothing was tagged")

    # -- cosign itself

    def _cosign(self, args: Sequence[str], extra: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
        env = {**self._env(), **extra}
        if self.signing.method == "key":
            env["COSIGN_PASSWORD"] = self.environ.get(self.signing.password_env, "") \
                if self.signing.password_env else ""
            if self.signing.key_env:
                env[self.signing.key_env] = self.environ.get(self.signing.key_env, "")
        log.debug("cosign " + " ".join(args))
        try:
            return subprocess.run(["cosign", *args], env=env, capture_output=True, text=True,
                                  stdin=subprocess.DEVNULL, timeout=TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise PublishError(f"cosign {args[0]}: {error}") from None

    def _env(self) -> dict[str, str]:
        """The environment cosign runs in: the process's, with the run's on top."""
        return {**os.environ, **self.environ}

    @contextlib.contextmanager
    def _registry_login(self, host: str, username: str, password: str) -> Iterator[Path]:
        """A Docker config holding only this registry's login, readable by us alone, for the
        length of one command."""
        directory = Path(tempfile.mkdtemp(prefix="pipeline-cosign-"))   # mode 0700
        try:
            config = directory / "config.json"
            config.touch(mode=0o600)
            config.write_text(json.dumps(docker_config(host, username, password)))
            yield directory
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    @functools.cached_property
    def _tlog_flags(self) -> tuple[str, ...]:
        done = self._cosign(["sign", "--help"], {})
        return no_tlog_flags(done.stdout + done.stderr)

    def _key_file(self) -> Path:
        path = Path(self.signing.key_file)
        return path if path.is_absolute() else self.base_dir / path

    def _key_ref(self) -> str:
        return f"env://{self.signing.key_env}" if self.signing.key_env else str(self._key_file())

    def _key_source(self) -> str:
        return f"${self.signing.key_env}" if self.signing.key_env else str(self._key_file())

    @staticmethod
    def _tail(done: subprocess.CompletedProcess[str]) -> str:
        lines = [line for line in (done.stderr or done.stdout).splitlines()
                 if line.strip() and "has been deprecated" not in line]
        return redact(" ".join(lines[-2:])) or "no output"
