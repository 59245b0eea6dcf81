"""The cosign command lines and settings of signing.py, without running cosign: the key
never on a command line, the registry flags, the Docker config cosign gets, and the
settings refused before anything runs. (tests/integration/test_signing.py runs cosign
against real registries.)"""

import base64
import dataclasses
from pathlib import Path

import pytest

from pipeline import signing
from pipeline.errors import ConfigurationError
from pipeline.matrix import Signing

KEY = Signing(method="key", key_env="COSIGN_PRIVATE_KEY", password_env="COSIGN_KEY_PASSWORD")
KEYLESS = Signing(method="keyless")
PEM = "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nsecret\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----"
COSIGN_3_HELP = "      --use-signing-config=true:\n      --tlog-upload=true:"


def signer(settings=KEY, environ=None, tmp_path=Path("/nonexistent")):
    made = signing.Signer(settings, base_dir=tmp_path, environ=environ or {})
    made.__dict__["_tlog_flags"] = signing.no_tlog_flags(COSIGN_3_HELP)   # no cosign to ask
    return made


@pytest.mark.parametrize("help_text, flags", [
    (COSIGN_3_HELP, ("--use-signing-config=false", "--tlog-upload=false")),
    ("      --tlog-upload=true:", ("--tlog-upload=false",)),                 # cosign 2
])
def test_no_transparency_log_flags_per_cosign_version(help_text, flags):
    assert signing.no_tlog_flags(help_text) == flags


def test_key_signing_command_names_the_variable_never_the_key():
    made = signer(environ={"COSIGN_PRIVATE_KEY": PEM, "COSIGN_KEY_PASSWORD": "pw"})
    argv = made.command(["sign"], "127.0.0.1:5000/asterisk@sha256:" + "a" * 64, http=True, ca_cert=None)
    assert argv == ["cosign", "sign", "--yes", "--key", "env://COSIGN_PRIVATE_KEY",
                    "--use-signing-config=false", "--tlog-upload=false", "--allow-http-registry",
                    "127.0.0.1:5000/asterisk@sha256:" + "a" * 64]
    assert PEM not in " ".join(argv) and "pw" not in argv


def test_a_key_file_is_relative_to_the_matrix(tmp_path):
    made = signer(Signing(method="key", key_file="keys/cosign.key"), tmp_path=tmp_path)
    argv = made.command(["attest", "--type", "cyclonedx", "--predicate", "p.json"], "r@d", http=False,
                        ca_cert=Path("/ca.crt"))
    assert argv[:8] == ["cosign", "attest", "--type", "cyclonedx", "--predicate", "p.json", "--yes", "--key"]
    assert argv[8] == str(tmp_path / "keys" / "cosign.key")
    assert argv[-3:] == ["--registry-cacert", "/ca.crt", "r@d"]


def test_keyless_signs_with_the_ambient_identity_and_the_public_log():
    argv = signer(KEYLESS).command(["sign"], "docker.io/me/asterisk@sha256:" + "b" * 64, http=False,
                                   ca_cert=None)
    assert argv == ["cosign", "sign", "--yes", "docker.io/me/asterisk@sha256:" + "b" * 64]


@pytest.mark.parametrize("host, key", [
    ("docker.io", "https://index.docker.io/v1/"),
    ("registry-1.docker.io", "https://index.docker.io/v1/"),
    ("ghcr.io", "ghcr.io"),
    ("127.0.0.1:5000", "127.0.0.1:5000"),
])
def test_the_docker_config_cosign_gets(host, key):
    config = signing.docker_config(host, "me", "t0ken")
    assert list(config["auths"]) == [key]
    assert base64.b64decode(config["auths"][key]["auth"]) == b"me:t0ken"
    assert signing.docker_config(host, "", "") == {"auths": {}}


@pytest.fixture
def fake_cosign(tmp_path):
    """An executable named cosign on PATH (never run here: only found)."""
    directory = tmp_path / "bin"
    directory.mkdir()
    (directory / "cosign").write_text("#!/bin/sh\nexit 99\n")
    (directory / "cosign").chmod(0o755)
    return {"PATH": str(directory)}


def test_keyless_needs_an_oidc_token(fake_cosign, monkeypatch):
    for name in ("ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "SIGSTORE_ID_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError, match="no OIDC identity token here .*id-token: write"):
        signer(KEYLESS, environ=fake_cosign).check()
    github = {"ACTIONS_ID_TOKEN_REQUEST_URL": "https://x", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t"}
    signer(KEYLESS, environ={**fake_cosign, **github}).check()
    signer(KEYLESS, environ={**fake_cosign, "SIGSTORE_ID_TOKEN": "t"}).check()


def test_refused_before_anything_runs(fake_cosign, tmp_path):
    with pytest.raises(ConfigurationError, match="cosign is not installed"):
        signer(KEYLESS, environ={"PATH": str(tmp_path / "empty")}).check()
    with pytest.raises(ConfigurationError, match=r"signing.key_env: \$COSIGN_PRIVATE_KEY is not set"):
        signer(environ=fake_cosign).check()
    with pytest.raises(ConfigurationError, match=r"signing.password_env: \$COSIGN_KEY_PASSWORD is not set"):
        signer(environ={**fake_cosign, "COSIGN_PRIVATE_KEY": PEM}).check()
    with pytest.raises(ConfigurationError, match="signing.key_file: .*missing.key is not a file"):
        signer(dataclasses.replace(KEY, key_env="", key_file="missing.key"), environ=fake_cosign,
               tmp_path=tmp_path).check()
    signer(Signing(), environ={}).check()        # no signing: nothing to check
