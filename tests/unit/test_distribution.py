"""The pure parts of pipeline.distribution: challenge parsing, scheme choice, what counts
as transient, Retry-After, descriptors and the bytes of make_index."""

import email.utils
import hashlib
import json

import pytest
import requests

from pipeline import distribution
from pipeline.distribution import (
    Client,
    Descriptor,
    Manifest,
    default_scheme,
    make_index,
    parse_challenge,
    retry_after_seconds,
)


@pytest.mark.parametrize("header, scheme, params", [
    (('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
      'scope="repository:someone/asterisk:pull,push"'),
     "bearer", {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                "scope": "repository:someone/asterisk:pull,push"}),
    ('Basic realm="https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/",service="ecr.amazonaws.com"',
     "basic", {"realm": "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/",
               "service": "ecr.amazonaws.com"}),
    ('Basic realm="test"', "basic", {"realm": "test"}),              # distribution's htpasswd
    ('bearer realm=https://r/token, service = reg ,error="insufficient_scope"',
     "bearer", {"realm": "https://r/token", "service": "reg", "error": "insufficient_scope"}),
    ('Bearer realm="a \\"quoted\\" realm",scope="repository:a/b:pull"',
     "bearer", {"realm": 'a "quoted" realm', "scope": "repository:a/b:pull"}),
    ("Bearer", "bearer", {}),
])
def test_parse_challenge(header, scheme, params):
    challenge = parse_challenge(header)
    assert challenge is not None
    assert (challenge.scheme, dict(challenge.params)) == (scheme, params)


@pytest.mark.parametrize("header", ["", "   ", None])
def test_parse_challenge_nothing(header):
    assert parse_challenge(header) is None


@pytest.mark.parametrize("host, ca, scheme", [
    ("registry-1.docker.io", None, "https"),
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", None, "https"),
    ("localhost:5000", None, "http"),
    ("localhost", None, "http"),
    ("127.0.0.1:5000", None, "http"),
    ("127.1.2.3:443", None, "http"),
    ("[::1]:5000", None, "http"),
    ("[::1]", None, "http"),
    ("[2001:db8::1]:5000", None, "https"),
    ("10.0.0.1:5000", None, "https"),
    ("registry.pipeline.test:5000", None, "https"),     # a name is never resolved
    ("localhost.example.com", None, "https"),
    ("127.0.0.1:5000", "ca.crt", "https"),              # a CA means TLS, even on loopback
])
def test_default_scheme(host, ca, scheme):
    assert default_scheme(host, ca) == scheme


def test_registry_scheme_and_host():
    assert Client("127.0.0.1:5000").base == "http://127.0.0.1:5000"
    assert Client("docker.io").base == "https://registry-1.docker.io"
    assert Client("localhost:5000", scheme="https").base == "https://localhost:5000"
    for bad in ("https://registry-1.docker.io", "host/path", ""):
        with pytest.raises(ValueError, match="HOST:PORT"):
            Client(bad)


@pytest.mark.parametrize("status, transient", [
    (429, True), (500, True), (502, True), (503, True), (504, True),
    (400, False), (401, False), (403, False), (404, False), (405, False), (501, False),
])
def test_transient_status(status, transient):
    assert distribution.is_transient_status(status) is transient


@pytest.mark.parametrize("error, transient", [
    (requests.ConnectionError("refused"), True),
    (requests.exceptions.ConnectTimeout("slow"), True),
    (requests.exceptions.ReadTimeout("slow"), True),
    (requests.exceptions.ChunkedEncodingError("dropped mid-body"), True),
    (requests.exceptions.SSLError("certificate verify failed"), False),   # a CA does not come back
    (requests.exceptions.InvalidURL("bad"), False),
    (requests.exceptions.TooManyRedirects("loop"), False),
])
def test_transient_exception(error, transient):
    assert distribution.is_transient_exception(error) is transient


def test_retry_after():
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("") is None
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("0") == 0.0
    assert retry_after_seconds("86400") == distribution.MAX_RETRY_AFTER    # bounded
    assert retry_after_seconds("soon") is None
    now = 1_800_000_000.0
    assert retry_after_seconds(email.utils.formatdate(now + 7, usegmt=True), now=now) == 7.0
    assert retry_after_seconds(email.utils.formatdate(now - 7, usegmt=True), now=now) == 0.0


def response(status: int, body: bytes, headers: dict | None = None) -> requests.Response:
    made = requests.Response()
    made.status_code = status
    made._content = body
    made.headers.update(headers or {})
    return made


def test_error_code_and_error_classes():
    body = json.dumps({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"},
                                  {"code": "OTHER"}]}).encode()
    assert distribution.error_code(response(404, body)) == ("MANIFEST_UNKNOWN", "manifest unknown")
    assert distribution.error_code(response(404, b"not json")) == ("", "")
    assert distribution.error_code(response(404, b'{"details":"incorrect username or password"}')) \
        == ("", "")

    registry = Client("r.example", username="me", password="s3cret-pw")
    error = registry._error(response(503, b"", {"Retry-After": "2"}), "HEAD x", repository="a/b")
    assert (error.status, error.transient, error.retry_after) == (503, True, 2.0)
    error = registry._error(response(400, json.dumps({"errors": [{"code": "MANIFEST_INVALID",
                                                                  "message": "bad"}]}).encode()),
                            "PUT x", repository="a/b")
    assert (error.status, error.code, error.transient) == (400, "MANIFEST_INVALID", False)
    assert "r.example/a/b: PUT x: HTTP 400 MANIFEST_INVALID: bad" in str(error)
    refused = registry._error(response(401, b""), "login")
    assert isinstance(refused, distribution.AuthError) and "s3cret-pw" not in str(refused)
    assert "r.example" in str(refused) and "'me'" in str(refused)
    anonymous = Client("r.example")._error(response(401, b""), "GET x")
    assert isinstance(anonymous, distribution.AuthError) and "none are configured" in str(anonymous)


def test_descriptor_platforms_round_trip():
    entry = {"mediaType": distribution.OCI_MANIFEST, "digest": "sha256:" + "a" * 64, "size": 5,
             "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}}
    descriptor = Descriptor.from_json(entry)
    assert descriptor.platform == "linux/arm64/v8"
    assert descriptor.to_json() == entry
    attestation = Descriptor.from_json({
        "mediaType": distribution.OCI_MANIFEST, "digest": "sha256:" + "b" * 64, "size": 5,
        "platform": {"architecture": "unknown", "os": "unknown"},
        "annotations": {"vnd.docker.reference.type": "attestation-manifest"}})
    assert attestation.is_attestation and not descriptor.is_attestation


def test_manifest_from_bytes():
    raw = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}'
    manifest = Manifest.from_bytes(raw)
    assert manifest.digest == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert manifest.media_type == distribution.OCI_INDEX and manifest.is_index
    assert manifest.children == [] and manifest.blobs == []
    with pytest.raises(ValueError):
        Manifest.from_bytes(b'{"schemaVersion":2}')


AMD64 = Descriptor(distribution.OCI_MANIFEST, "sha256:" + "1" * 64, 670, "linux/amd64")
ARM64 = Descriptor(distribution.OCI_MANIFEST, "sha256:" + "2" * 64, 671, "linux/arm64")


def test_make_index_bytes():
    index = make_index([ARM64, AMD64])
    expected = (
        '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":['
        '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:' + "1" * 64
        + '","size":670,"platform":{"architecture":"amd64","os":"linux"}},'
        '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:' + "2" * 64
        + '","size":671,"platform":{"architecture":"arm64","os":"linux"}}]}')
    assert index.raw.decode() == expected
    assert index.media_type == distribution.OCI_INDEX
    assert index.digest == "sha256:" + hashlib.sha256(expected.encode()).hexdigest()
    assert make_index([AMD64, ARM64]) == index                  # order does not matter
    assert index.children == [AMD64, ARM64]
    with pytest.raises(ValueError):
        make_index([])


INDEX_ENTRY = {"mediaType": distribution.OCI_MANIFEST, "digest": "sha256:" + "1" * 64, "size": 5}


@pytest.mark.parametrize("body, media_type, error", [
    ([1, 2], "", "not a JSON object but list"),
    ("a string", distribution.OCI_MANIFEST, "not a JSON object but str"),
    # a schema 1 manifest served as schema 2 (Harbor did: goharbor/harbor#12208)
    ({"schemaVersion": 1, "fsLayers": []}, distribution.DOCKER_MANIFEST,
     "malformed image manifest (KeyError: 'config')"),
    ({"schemaVersion": 2, "mediaType": distribution.OCI_INDEX,
      "manifests": [{k: v for k, v in INDEX_ENTRY.items() if k != "digest"}]}, "",
     "malformed index (KeyError: 'digest')"),
    ({"schemaVersion": 2, "mediaType": distribution.OCI_INDEX,
      "manifests": [{**INDEX_ENTRY, "size": "five"}]}, "", "malformed index (ValueError"),
    ({"schemaVersion": 2, "mediaType": distribution.OCI_INDEX, "manifests": ["sha256:" + "1" * 64]},
     "", "malformed index (AttributeError"),
    ({"schemaVersion": 2, "mediaType": distribution.OCI_INDEX,
      "manifests": [{**INDEX_ENTRY, "digest": "../../../v2/_catalog"}]}, "",
     "'../../../v2/_catalog' is not a digest"),
    ({"schemaVersion": 2, "mediaType": distribution.OCI_MANIFEST, "config": {"size": 2}, "layers": []},
     "", "malformed image manifest (KeyError: 'digest')"),
    ({"schemaVersion": 2, "mediaType": distribution.OCI_MANIFEST, "config": INDEX_ENTRY,
      "layers": [{**INDEX_ENTRY, "platform": "linux/amd64"}]}, "", "malformed image manifest"),
])
def test_a_malformed_manifest_is_a_value_error_naming_what_is_wrong(body, media_type, error):
    """What a registry serves is checked once, when it is read: a ValueError that the client
    turns into that target's RegistryError, never a KeyError deep in a decision."""
    with pytest.raises(ValueError) as caught:
        Manifest.from_bytes(json.dumps(body).encode(), media_type)
    assert error in str(caught.value)


@pytest.mark.parametrize("status, docker_hub, proven, absent", [
    (404, False, False, True),
    (404, True, True, True),
    (401, True, True, True),       # Docker Hub: a repository that does not exist yet
    (401, True, False, False),     # ... but only for credentials it accepted
    (401, False, True, False),     # another registry's 401 is what it says
    (403, True, True, False),      # a 403 is a permission error, wherever it comes from
    (403, False, True, False),
    (200, False, True, False),
])
def test_what_counts_as_absent(status, docker_hub, proven, absent):
    registry = Client("r.example", username="me", password="pw", docker_hub=docker_hub)
    registry.proven = proven
    assert registry._absent(response(status, b"")) is absent


def test_docker_hub_quirks_follow_its_host_or_the_entry_type():
    assert Client("docker.io").docker_hub and Client("registry-1.docker.io").docker_hub
    assert not Client("ghcr.io").docker_hub
    assert Client("127.0.0.1:5000", docker_hub=True).docker_hub   # a stand-in, by configuration
