"""Signed images and their SBOM attestations (issues 14.2 and 12.7), against real registries.

Publishing signs with a cosign key pair made here (`cosign generate-key-pair`), the
transparency log off (matrix `signing: {method: key, ...}`); then the real `cosign verify`
and `cosign verify-attestation` users run (docs/publish.md) check what is in the registry.
Keyless signing needs Sigstore's Fulcio and GitHub's OIDC token, which cannot exist here;
its command line is tested in tests/unit/test_signing.py.

- A published image verifies under every tag; with another key it does not.
- An image published unsigned does not verify, nor does a tag pointed by hand (through the
  registry API) at another digest.
- Each platform's SBOM is attached as a signed CycloneDX attestation, found by cosign and
  read independently from the registry (the referrers tag schema).
- A signature that cannot be stored fails that target × registry and no tag is created;
  a rerun publishes it signed.
- Token auth (the Docker Hub stand-in) and a TLS registry with a private CA: cosign gets
  the login and the CA without the user's Docker config.
- Bad signing settings stop the run (exit 2) before anything is built or pushed, and the
  key and its password are never shown.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import subprocess
from pathlib import Path

import pytest

from pipeline import connect
from tests.integration.registry import CuttingProxy, HubStandIn, forget_tls, start_registry
from tests.integration.test_publish import (
    IMAGE_NAME,
    PLATFORMS,
    REPO,
    creds,
    hub_creds,
    hub_entry,
    oci_entry,
    run_publish,
    statuses,
    write_matrix,
)
from tests.integration.tiny_image import remove_images, tiny_sources

PASSWORD = "c0sign-Pa55-not-shown"
KEY_ENV, PASSWORD_ENV = "TEST_COSIGN_KEY", "TEST_COSIGN_PASSWORD"
SIGNING = {"method": "key", "key_env": KEY_ENV, "password_env": PASSWORD_ENV}
TAGS = ["22.10.1", "22.10", "22", "lts", "latest"]


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """Two cosign key pairs: ours (private key PEM, public key file) and a stranger's."""
    made = {}
    for name in ("ours", "stranger"):
        directory = tmp_path_factory.mktemp(f"cosign-{name}")
        subprocess.run(["cosign", "generate-key-pair"], cwd=directory, check=True, capture_output=True,
                       env={**os.environ, "COSIGN_PASSWORD": PASSWORD})
        made[name] = ((directory / "cosign.key").read_text(), directory / "cosign.pub")
    return made


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_sources(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setattr(connect, "BACKOFF", 0.05)


@pytest.fixture(scope="module", autouse=True)
def remove_local_images(docker):
    yield
    remove_images(docker, IMAGE_NAME)


def signing_env(keys) -> dict:
    return {KEY_ENV: keys["ours"][0], PASSWORD_ENV: PASSWORD}


def cosign(args: list[str], *, registry, tmp_path: Path, public_key: Path) -> subprocess.CompletedProcess:
    """cosign as a user runs it: logged in to the registry (a Docker config of their own),
    the registry's CA when it has one, plain HTTP allowed for a loopback registry."""
    config = tmp_path / "user-docker-config"
    config.mkdir(exist_ok=True)
    username = getattr(registry, "username", "")
    auths = {}
    if username:
        auths[registry.host] = {"auth": base64.b64encode(f"{username}:{registry.password}".encode()).decode()}
    (config / "config.json").write_text(json.dumps({"auths": auths}))
    flags = ["--key", str(public_key), "--insecure-ignore-tlog"]
    ca_cert = getattr(registry, "ca_cert", None)
    flags += ["--registry-cacert", str(ca_cert)] if ca_cert else ["--allow-http-registry"]
    return subprocess.run(["cosign", *args[:1], *flags, *args[1:]], capture_output=True, text=True,
                          env={**os.environ, "DOCKER_CONFIG": str(config)}, timeout=120, check=False)


def verify(ref: str, **kwargs) -> subprocess.CompletedProcess:
    return cosign(["verify", ref], **kwargs)


def attested_sboms(ref: str, **kwargs) -> list[dict]:
    """The in-toto statements of the verified CycloneDX attestations on ref."""
    done = cosign(["verify-attestation", "--type", "cyclonedx", ref], **kwargs)
    assert done.returncode == 0, done.stderr
    return [json.loads(base64.b64decode(json.loads(line)["payload"]))
            for line in done.stdout.splitlines() if line.strip()]


# ----------------------------------------------------------------------------- verify

def test_published_images_verify_unsigned_and_retagged_ones_do_not(docker, tiny, tmp_path, keys,
                                                                   capsys):
    registry = start_registry(tmp_path / "registry", username="pipeline", password="Pa55-w0rd-not-shown")
    try:
        image = f"{registry.host}/{REPO}"
        signed = write_matrix(tmp_path / "signed", [oci_entry(registry)], ["22.10.1"], signing=SIGNING)
        outcomes = run_publish(docker, signed, tiny, environ={**creds(registry), **signing_env(keys)},
                               variants=["plain"])
        assert statuses(outcomes) == {("22.10.1", "local"): "published"}, outcomes[0].reason
        digest = outcomes[0].digest
        check = {"registry": registry, "tmp_path": tmp_path, "public_key": keys["ours"][1]}
        for tag in TAGS:
            done = verify(f"{image}:{tag}", **check)
            assert done.returncode == 0, done.stderr
            assert digest in done.stdout          # the signed digest is the tag's
        stranger = verify(f"{image}:22.10.1", **{**check, "public_key": keys["stranger"][1]})
        assert stranger.returncode != 0

        # one signed SBOM per platform, about this digest, naming the Asterisk release
        statements = attested_sboms(f"{image}:22.10.1", **check)
        assert len(statements) == len(PLATFORMS)
        found = set()
        for statement in statements:
            assert statement["predicateType"] == "https://cyclonedx.org/bom"
            assert [s["digest"]["sha256"] for s in statement["subject"]] == [digest.split(":")[1]]
            bom = statement["predicate"]
            properties = {p["name"]: p["value"] for p in bom["metadata"]["component"]["properties"]}
            found.add(properties["asterisk-pipeline:platform"])
            [asterisk] = [c for c in bom["components"] if c["name"] == "asterisk"]
            assert asterisk["version"] == "22.10.1"
            assert asterisk["hashes"] == [{"alg": "SHA-256", "content": tiny[2]}]
        assert found == set(PLATFORMS)
        # ...and read without cosign: the registry holds them as referrers of the digest
        referrers = registry.referrers(REPO, digest)
        assert len(referrers) == 1 + len(PLATFORMS)
        assert {r["subject"]["digest"] for r in referrers} == {digest}

        # an image published without signing does not verify
        unsigned = write_matrix(tmp_path / "unsigned", [oci_entry(registry)], ["22.10.1"])
        capsys.readouterr()
        outcomes = run_publish(docker, unsigned, tiny, environ=creds(registry), variants=["opus"])
        assert statuses(outcomes) == {("22.10.1-opus", "local"): "published"}
        assert "no signing: section; the images are published unsigned" in capsys.readouterr().err
        done = verify(f"{image}:22.10.1-opus", **check)
        assert done.returncode != 0 and "no signatures found" in done.stderr, done.stderr
        # a tag pointed by hand at another digest does not verify; the others still do
        registry.retag(REPO, "22", outcomes[0].digest)
        assert verify(f"{image}:22", **check).returncode != 0
        assert verify(f"{image}:22.10.1", **check).returncode == 0
    finally:
        registry.stop()


def test_a_signature_that_cannot_be_stored_leaves_no_tag(docker, tiny, tmp_path, keys):
    """The registry goes away when cosign asks for the digest's referrers (after the image
    is pushed by digest, before any tag): the target fails for that registry, clearly, with
    no tag created; once the registry is back, a rerun publishes it signed."""
    registry = start_registry(tmp_path / "registry")
    proxy = CuttingProxy(registry.listen, rb"GET /v2/[^ ]*/referrers/", registry.stop)
    try:
        entry = {"name": "local", "type": "oci", "repository": f"{proxy.host}/{REPO}"}
        matrix = write_matrix(tmp_path / "m", [entry], ["22.10.1"], platforms=["linux/amd64"],
                              signing=SIGNING)
        [failed] = run_publish(docker, matrix, tiny, environ=signing_env(keys), variants=["plain"])
        assert proxy.cut_at, "cosign never asked for referrers"
        assert failed.status == "failed"
        assert "cosign sign" in failed.reason and "nothing was tagged" in failed.reason, failed.reason
        registry.start()
        assert registry.tags(REPO) == []

        [again] = run_publish(docker, matrix, tiny, environ=signing_env(keys), variants=["plain"])
        assert again.status == "published", again.reason
        done = verify(f"{proxy.host}/{REPO}:lts", registry=registry, tmp_path=tmp_path,
                      public_key=keys["ours"][1])
        assert done.returncode == 0, done.stderr
    finally:
        proxy.close()
        registry.stop()


def test_the_ci_merge_job_signs_the_index_it_makes(docker, tiny, tmp_path, keys):
    """The CI split: each build job pushes its platform by digest (nothing signed, no tag);
    the merge job makes the index, signs it, attests both platforms' SBOMs (read from the
    registry: the merge job has no local image), then tags it."""
    registry = start_registry(tmp_path / "registry")
    try:
        matrix = write_matrix(tmp_path / "m", [oci_entry(registry)], ["22.10.1"], signing=SIGNING)
        digests = tmp_path / "digests"
        created = datetime.datetime.now(datetime.UTC).replace(microsecond=0)   # the plan's
        for platform in PLATFORMS:
            [job] = run_publish(docker, matrix, tiny, variants=["plain"], mode="by-digest",
                                digests=digests, build_platform=platform,
                                created=created)   # no key needed here
            assert job.status == "pushed by digest", job.reason
        assert registry.tags(REPO) == []
        [merged] = run_publish(docker, matrix, tiny, variants=["plain"], mode="merge", digests=digests,
                               environ=signing_env(keys), created=created)
        assert merged.status == "published", merged.reason
        check = {"registry": registry, "tmp_path": tmp_path, "public_key": keys["ours"][1]}
        done = verify(f"{registry.host}/{REPO}:lts", **check)
        assert done.returncode == 0 and merged.digest in done.stdout, done.stderr
        assert len(attested_sboms(f"{registry.host}/{REPO}:22.10.1", **check)) == len(PLATFORMS)
    finally:
        registry.stop()


@pytest.mark.parametrize("kind", ["token-auth", "tls-private-ca"])
def test_cosign_reaches_token_auth_and_private_ca_registries(docker, tiny, tmp_path, keys, kind):
    """Docker Hub's token flow (the stand-in) and a registry whose certificate only the
    matrix's ca_cert trusts: cosign gets the same login and CA as the pipeline's client."""
    if kind == "token-auth":
        upstream = start_registry(tmp_path / "hub-upstream")
        hub = HubStandIn(upstream, username="pipeline", password="Hub-t0ken-not-shown")
        entry, environ, image = hub_entry(hub), hub_creds(hub), f"{hub.host}/pipeline/{REPO}"
        stops = [hub.close, upstream.stop]
        reader = hub
    else:
        registry = start_registry(tmp_path / "tls-registry", tls=True)
        (tmp_path / "m").mkdir()
        (tmp_path / "m" / "ca.crt").write_bytes(registry.ca_cert.read_bytes())
        entry, environ, image = oci_entry(registry, ca_cert="ca.crt"), {}, f"{registry.host}/{REPO}"
        stops = [registry.stop, lambda: forget_tls(registry)]
        reader = registry
    try:
        matrix = write_matrix(tmp_path / "m", [entry], ["22.10.1"], platforms=["linux/amd64"],
                              signing=SIGNING)
        [outcome] = run_publish(docker, matrix, tiny, environ={**environ, **signing_env(keys)},
                                variants=["plain"])
        assert outcome.status == "published", outcome.reason
        check = {"registry": reader, "tmp_path": tmp_path, "public_key": keys["ours"][1]}
        done = verify(f"{image}:22.10.1", **check)
        assert done.returncode == 0, done.stderr
        assert len(attested_sboms(f"{image}:22.10.1", **check)) == 1
    finally:
        for stop in stops:
            stop()


# ----------------------------------------------------------------------------- bad settings

def test_bad_signing_settings_stop_the_run_before_anything(tmp_path, keys, tiny):
    """Through the real CLI, verbose: exit 2 naming the setting, nothing built or pushed,
    neither the key nor its password in the output."""
    registry = start_registry(tmp_path / "registry")
    try:
        matrix = write_matrix(tmp_path / "m", [oci_entry(registry)], ["22.10.1"], signing=SIGNING)
        dockerfiles = tiny[0]
        cases = [
            ({}, f"signing.key_env: ${KEY_ENV} is not set"),
            ({KEY_ENV: keys["ours"][0]}, f"signing.password_env: ${PASSWORD_ENV} is not set"),
            ({KEY_ENV: keys["ours"][0], PASSWORD_ENV: "wrong-password"},
             f"cosign cannot read the private key (${KEY_ENV}) with the password in ${PASSWORD_ENV}"),
        ]
        for env, message in cases:
            clean = {k: v for k, v in os.environ.items() if k not in (KEY_ENV, PASSWORD_ENV)}
            result = subprocess.run(
                [*cli_command(dockerfiles), "publish", "-v", "--matrix", str(matrix)],
                capture_output=True, text=True, cwd=tmp_path, env={**clean, **env,
                                                                    "PIPELINE_OUT": str(tmp_path / "out")})
            output = result.stdout + result.stderr
            assert result.returncode == 2, output
            assert message in output, output
            assert "BEGIN ENCRYPTED" not in output and PASSWORD not in output
            assert not (tmp_path / "out" / "logs").exists()      # nothing was built
            assert registry.tags(REPO) == []
    finally:
        registry.stop()


def cli_command(dockerfiles: Path) -> list[str]:
    """The `pipeline` CLI with the tiny Dockerfiles (as test_publish.cli runs it)."""
    import sys

    code = (f"import pipeline.image as i; from pathlib import Path; i.DOCKERFILES = Path({str(dockerfiles)!r}); "
            "import sys; from pipeline.cli import main; sys.exit(main(sys.argv[1:]))")
    return [sys.executable, "-c", code]

