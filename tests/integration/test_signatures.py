"""Upstream's OpenPGP signature of a release tarball, checked by the real gpgv.

A loopback server (pytest-httpserver) plays a mirror: it serves the 22.10.1 tarball, its
.sha256 and its .asc the way each test needs them, and passes every other request on to the
stand-in mirror (listings, pjproject, Opus, sounds). The signatures are made here by real
gpg with test keys: the Asterisk Development Team's private key is not ours, so a real
upstream signature cannot be made or fetched offline (../shared/sources has no .asc); the
code path is the same for the real key and a test key, only the configured key differs.
A refused signature must stop `pipeline build` before any build step: nothing built.
"""

import hashlib
import re
import subprocess
import textwrap
from pathlib import Path

import pytest
import requests
from werkzeug import Response

from pipeline import openpgp, sources
from pipeline.cli import main
from pipeline.errors import SourceError
from pipeline.matrix import ASTERISK_RELEASE_KEY, load
from pipeline.releases import ReleaseIndex
from pipeline.versions import Version
from tests.integration.conftest import REPO_MATRIX, SIGNING_KEY_DIR, STAND_IN_KEY

VERSION = "22.10.1"
RELEASES = "downloads.asterisk.org/pub/telephony/asterisk/releases"
TARBALL = f"/{RELEASES}/asterisk-{VERSION}.tar.gz"
IMAGE = "gpg-signature-test"


class Key:
    """A test key made by real gpg in its own GNUPGHOME."""

    def __init__(self, directory: Path, name: str) -> None:
        self.home = directory / name
        self.home.mkdir(mode=0o700)
        self.gpg(["--passphrase", "", "--quick-gen-key", f"{name} <{name}@localhost>", "ed25519", "sign", "never"])
        colons = self.gpg(["--with-colons", "--list-keys"]).stdout.decode()
        [self.fingerprint] = openpgp.primary_fingerprints(colons)
        self.public = directory / f"{name}.asc"
        self.public.write_bytes(self.gpg(["--armor", "--export", self.fingerprint]).stdout)

    def gpg(self, args, data=b""):
        return subprocess.run(["gpg", "--batch", "--quiet", "--no-auto-check-trustdb", "--homedir",
                               str(self.home), *args], input=data, capture_output=True, check=True, timeout=60)

    def sign(self, data: bytes) -> bytes:
        return self.gpg(["--armor", "--detach-sign", "--output", "-"], data).stdout

    def close(self) -> None:
        subprocess.run(["gpgconf", "--homedir", str(self.home), "--kill", "gpg-agent"], check=False)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    directory = tmp_path_factory.mktemp("keys")
    made = {name: Key(directory, name) for name in ("pinned", "other")}
    yield made
    for key in made.values():
        key.close()


@pytest.fixture(scope="module")
def release(mirror):
    tarball = requests.get(f"{mirror}{TARBALL}", timeout=60)
    tarball.raise_for_status()
    return tarball.content


def sha256_file(data: bytes) -> bytes:
    return f"{hashlib.sha256(data).hexdigest()}  asterisk-{VERSION}.tar.gz\n".encode()


@pytest.fixture
def served(httpserver, mirror):
    """path → bytes the loopback mirror serves instead of the stand-in's (None: 404)."""
    overrides: dict[str, bytes | None] = {}

    def handler(request):
        if request.path in overrides:
            body = overrides[request.path]
            return Response(body, status=200) if body is not None else Response("not found", status=404)
        upstream = requests.get(f"{mirror}{request.path}", timeout=60)
        return Response(upstream.content, status=upstream.status_code,
                        content_type=upstream.headers.get("Content-Type"))

    httpserver.expect_request(re.compile(".*")).respond_with_handler(handler)
    return overrides


def serve(served, tarball: bytes, signature: bytes | None):
    served[TARBALL] = tarball
    served[TARBALL + ".sha256"] = sha256_file(tarball)
    served[TARBALL + ".asc"] = signature


def matrix_file(tmp_path, httpserver, extra=""):
    """A matrix whose mirror is the loopback server; a base image that does not exist, so that
    a build that wrongly got past the signature stops at once instead of compiling."""
    path = tmp_path / "matrix.yaml"
    path.write_text(textwrap.dedent(f"""\
        sources:
          mirror: {httpserver.url_for("/").rstrip("/")}
          opus_codec: https://raw.githubusercontent.com/traud/asterisk-opus/a959f072d3f364be983dd27e6e250b038aaef747/codecs
          opus_codec_sha256:
            codec_opus_open_source.c: b35e8917fb42cb371e8ef37a45a46aca3988130ebc38b7b8c0ff533d65756bba
            ex_opus.h: 4cfd088a445233ae0c9b7d823d7918dd2561cbaf7e2f458d5f4c552fe8f504f3
        """) + textwrap.indent(extra, "  ") + textwrap.dedent(f"""\
        defaults:
          base_image: {IMAGE}-no-such-base:never
          platforms: [linux/amd64]
          variants: [plain]
        series:
          - spec: "22.x"
        """))
    return path


def pin(monkeypatch, key):
    monkeypatch.delenv("PIPELINE_MIRROR", raising=False)
    monkeypatch.delenv("PIPELINE_RELEASES", raising=False)
    monkeypatch.setenv("PIPELINE_SIGNATURE_KEY", str(key.public))
    monkeypatch.setenv("PIPELINE_SIGNATURE_FINGERPRINT", key.fingerprint)


def prepare(matrix_path, context, environ):
    matrix = load(matrix_path, environ=environ)
    found = ReleaseIndex(matrix.releases, matrix.sources).get(Version.parse(VERSION))
    return sources.prepare(found, matrix.sources, context)


# ----------------------------------------------------------------------------- passing

def test_a_good_signature_by_the_pinned_key_passes_and_is_recorded(keys, release, served, httpserver, tmp_path):
    serve(served, release, keys["pinned"].sign(release))
    environ = {"PIPELINE_SIGNATURE_KEY": str(keys["pinned"].public),
               "PIPELINE_SIGNATURE_FINGERPRINT": keys["pinned"].fingerprint}
    context = prepare(matrix_file(tmp_path, httpserver), tmp_path / "ctx", environ)
    [asterisk] = [v for v in sources.recorded(context) if v.part == "asterisk"]
    assert asterisk.signed_by == keys["pinned"].fingerprint
    assert f"OpenPGP signature (.asc) by key {keys['pinned'].fingerprint}" in asterisk.checked_against
    assert (context / "asterisk.tar.gz").read_bytes() == release
    assert not list(context.rglob("*.asc"))   # the signature stays out of the build context


def test_the_stand_in_mirror_signs_with_its_own_test_key(mirror, release, tmp_path):
    """What stand-ins.env configures: the mirror's .asc verify against its test key, and are
    refused (another key) against the real Asterisk key that matrix.yaml pins."""
    assert STAND_IN_KEY["PIPELINE_SIGNATURE_FINGERPRINT"], (
        f"no stand-in signing key in {SIGNING_KEY_DIR}: rerun scripts/setup.sh --stand-ins")
    (tmp_path / "t.tar.gz").write_bytes(release)
    (tmp_path / "t.tar.gz.asc").write_bytes(requests.get(f"{mirror}{TARBALL}.asc", timeout=30).content)
    test_key = Path(STAND_IN_KEY["PIPELINE_SIGNATURE_KEY"])
    good = openpgp.verify(tmp_path / "t.tar.gz", tmp_path / "t.tar.gz.asc", test_key,
                          STAND_IN_KEY["PIPELINE_SIGNATURE_FINGERPRINT"])
    assert good.ok and good.signer == STAND_IN_KEY["PIPELINE_SIGNATURE_FINGERPRINT"]
    matrix = load(REPO_MATRIX, environ={"PIPELINE_MIRROR": mirror})   # the real key
    found = ReleaseIndex(matrix.releases, matrix.sources).get(Version.parse(VERSION))
    with pytest.raises(SourceError, match=f"signed by another key {good.signer}, not the pinned "
                                          f"{matrix.sources.signature_fingerprint}"):
        sources.prepare(found, matrix.sources, tmp_path / "ctx")


def test_the_shipped_key_file_holds_exactly_the_pinned_key(tmp_path):
    tmp_path.chmod(0o700)
    colons = subprocess.run(["gpg", "--batch", "--homedir", str(tmp_path), "--with-colons", "--show-keys",
                             str(ASTERISK_RELEASE_KEY)], capture_output=True, text=True, check=True).stdout
    pinned = load(REPO_MATRIX, environ={}).sources.signature_fingerprint
    assert openpgp.primary_fingerprints(colons) == [pinned] == ["F2FC93DB7587BD1FB49E045A5D984BE337191CE7"]
    assert "Asterisk Development Team <asteriskteam@digium.com>" in colons
    # byte for byte the copy pipeline/keys/README.md says where it comes from
    readme = (ASTERISK_RELEASE_KEY.parent / "README.md").read_text()
    assert re.search(rf"this file's sha256 is\s+{hashlib.sha256(ASTERISK_RELEASE_KEY.read_bytes()).hexdigest()}",
                     readme)


# ----------------------------------------------------------------------------- refused

def refused_build(monkeypatch, tmp_path, httpserver, docker, capsys):
    """`pipeline build` as a user runs it: exit code and the error output."""
    monkeypatch.setenv("PIPELINE_OUT", str(tmp_path / "out"))
    code = main(["build", VERSION, "--matrix", str(matrix_file(tmp_path, httpserver)), "--image", IMAGE])
    err = capsys.readouterr().err
    assert code == 7, err
    # refused before any build step: no verified tarball left, no build log, no image
    assert not (tmp_path / "out" / "sources" / VERSION / "asterisk.tar.gz").exists()
    assert not (tmp_path / "out" / "logs").exists()
    assert docker.image.list(IMAGE) == []
    return err


def test_a_tampered_tarball_with_a_matching_sha256_is_refused(keys, release, served, httpserver, docker,
                                                              monkeypatch, tmp_path, capsys):
    """What a compromised mirror can do: change the tarball and publish its new .sha256. Only
    the signature, which it cannot make, tells."""
    tampered = release[:-200] + b"\0" * 200
    serve(served, tampered, keys["pinned"].sign(release))
    pin(monkeypatch, keys["pinned"])
    err = refused_build(monkeypatch, tmp_path, httpserver, docker, capsys)
    assert f"asterisk-{VERSION}.tar.gz: bad signature: the file or its signature was altered" in err
    assert "nothing was built from it" in err


def test_a_tampered_signature_is_refused(keys, release, served, httpserver, docker, monkeypatch, tmp_path, capsys):
    signature = bytearray(keys["pinned"].sign(release))
    body = signature.index(b"\n\n") + 2   # the armored packet: flip a bit of the signature's value
    signature[body + 100] ^= 0x01
    serve(served, release, bytes(signature))
    pin(monkeypatch, keys["pinned"])
    err = refused_build(monkeypatch, tmp_path, httpserver, docker, capsys)
    assert re.search(r"asterisk-22\.10\.1\.tar\.gz: (bad signature|not an OpenPGP signature|no good "
                     r"signature|the signature cannot be checked)", err), err


def test_a_missing_signature_is_refused(keys, release, served, httpserver, docker, monkeypatch, tmp_path, capsys):
    serve(served, release, None)
    pin(monkeypatch, keys["pinned"])
    err = refused_build(monkeypatch, tmp_path, httpserver, docker, capsys)
    assert f"asterisk-{VERSION}.tar.gz: no OpenPGP signature beside it (cannot download " in err
    assert "HTTP 404" in err and "sources.verify_signatures: false" in err


def test_a_signature_by_another_key_is_refused(keys, release, served, httpserver, docker, monkeypatch,
                                              tmp_path, capsys):
    serve(served, release, keys["other"].sign(release))
    pin(monkeypatch, keys["pinned"])
    err = refused_build(monkeypatch, tmp_path, httpserver, docker, capsys)
    assert (f"signed by another key {keys['other'].fingerprint}, not the pinned "
            f"{keys['pinned'].fingerprint}") in err
    assert "PIPELINE_SIGNATURE_KEY" in err


def test_a_key_file_without_the_pinned_key_is_refused(keys, release, served, httpserver, docker, monkeypatch,
                                                     tmp_path, capsys):
    serve(served, release, keys["pinned"].sign(release))
    pin(monkeypatch, keys["pinned"])
    monkeypatch.setenv("PIPELINE_SIGNATURE_KEY", str(keys["other"].public))
    err = refused_build(monkeypatch, tmp_path, httpserver, docker, capsys)
    assert (f"{keys['other'].public}: holds no key with the pinned fingerprint {keys['pinned'].fingerprint} "
            f"(it holds {keys['other'].fingerprint})") in err


# ----------------------------------------------------------------------------- turned off

def test_turned_off_no_signature_is_needed_and_the_plan_says_so(release, served, httpserver, monkeypatch,
                                                                tmp_path, capsys):
    serve(served, release, None)
    monkeypatch.delenv("PIPELINE_MIRROR", raising=False)
    monkeypatch.delenv("PIPELINE_RELEASES", raising=False)
    matrix_path = matrix_file(tmp_path, httpserver, "verify_signatures: false\n")
    assert main(["plan", "--matrix", str(matrix_path)]) == 0
    out, err = capsys.readouterr()
    off = "upstream's OpenPGP signature is NOT checked (sources.verify_signatures: false)"
    assert off in out and f"warning: release tarballs: published checksum only, {off}" in err
    assert main(["plan", "--json", "--matrix", str(matrix_path)]) == 0
    out, err = capsys.readouterr()
    assert off in err and off not in out      # stdout stays the JSON CI reads

    context = prepare(matrix_path, tmp_path / "ctx", {})
    [asterisk] = [v for v in sources.recorded(context) if v.part == "asterisk"]
    assert asterisk.signed_by == "" and asterisk.checked_against == "the sha256 file published beside it"
    assert f"asterisk {VERSION}: upstream's OpenPGP signature not checked" in capsys.readouterr().err


def test_the_plan_names_the_pinned_key(mirror, monkeypatch, capsys):
    monkeypatch.setenv("PIPELINE_MIRROR", mirror)
    monkeypatch.delenv("PIPELINE_RELEASES", raising=False)
    assert main(["plan", "22.x", "--matrix", str(REPO_MATRIX)]) == 0
    out = capsys.readouterr().out
    assert (f"release tarballs: published sha256, and the OpenPGP signature (.asc) beside each made by key "
            f"{STAND_IN_KEY['PIPELINE_SIGNATURE_FINGERPRINT']} ({STAND_IN_KEY['PIPELINE_SIGNATURE_KEY']})") in out


def test_a_binary_key_file_works_as_an_armored_one(keys, release, tmp_path):
    binary = tmp_path / "pinned.gpg"
    binary.write_bytes(keys["pinned"].gpg(["--export", keys["pinned"].fingerprint]).stdout)
    (tmp_path / "t.tar.gz").write_bytes(release)
    (tmp_path / "t.tar.gz.asc").write_bytes(keys["pinned"].sign(release))
    for key in (binary, keys["pinned"].public):
        verdict = openpgp.verify(tmp_path / "t.tar.gz", tmp_path / "t.tar.gz.asc", key, keys["pinned"].fingerprint)
        assert verdict.ok and verdict.signer == keys["pinned"].fingerprint, (key, verdict)
