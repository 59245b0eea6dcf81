"""pipeline.distribution against real registries: Debian's docker-registry (distribution 2.8)
without auth, with htpasswd basic auth, with TLS from a private CA; and the Docker-Hub-like
stand-in (HubStandIn: token auth, 401 for repositories that do not exist yet, pull-limit
headers, faults on demand) in front of another one.

The images are real: built here by buildx from the local base image (two platforms, one
platform with its attestation, one platform without), saved with `docker save`, pushed
by push_saved_image and read back both by the code under test and independently
(LocalRegistry.complete walks every manifest and blob over plain HTTP).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tarfile
import time
from pathlib import Path

import pytest

from pipeline import log
from pipeline.distribution import (
    AuthError,
    Client,
    Manifest,
    RegistryError,
    make_index,
    push_saved_image,
)
from pipeline.errors import PublishError
from tests.integration.conftest import BASE_IMAGE, TEST_IMAGE, require
from tests.integration.registry import (
    HubStandIn,
    LocalRegistry,
    RegistryFront,
    free_port,
    make_ca,
    start_registry,
)

PLATFORMS = ("linux/amd64", "linux/arm64")
USER, PASSWORD = "pipeline", "Pa55-w0rd-not-shown"
DOCKERFILE = f"""\
FROM {BASE_IMAGE}
ARG TARGETPLATFORM
LABEL org.example.platform=$TARGETPLATFORM org.example.test=distribution
COPY hello.txt /hello.txt
"""


@dataclasses.dataclass(frozen=True)
class Saved:
    ref: str
    archive: Path
    image_id: str


@dataclasses.dataclass
class Target:
    """A client, the repository namespace it may push to, and an independent reader."""

    name: str
    client: Client
    reader: LocalRegistry
    namespace: str

    def repo(self, name: str) -> str:
        return f"{self.namespace}/{name}"


# ----------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def tools():
    for tool in ("docker-registry", "htpasswd", "openssl"):
        require(tool)


@pytest.fixture(scope="module")
def saved(docker, tmp_path_factory):
    """multi: two platforms (+ attestations); single: one platform (+ its attestation), an
    index all the same; bare: one platform without attestation, a plain image manifest."""
    base = tmp_path_factory.mktemp("distribution-images")
    context = base / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(DOCKERFILE)
    (context / "hello.txt").write_text("hello from the distribution tests\n")
    made = {}
    try:
        for key, platforms, provenance in (("multi", list(PLATFORMS), None),
                                           ("single", ["linux/amd64"], None),
                                           ("bare", ["linux/amd64"], False)):
            ref = f"{TEST_IMAGE}-distribution:{key}-{os.getpid()}"
            if provenance is None:
                docker.buildx.build(context, platforms=platforms, load=True, tags=[ref])
            else:
                # type=image, not --load: for a plain manifest, python-on-whales would inspect
                # the iidfile's id, which buildx writes as the config digest, unknown to
                # the containerd image store (whose image id is the manifest digest)
                docker.buildx.build(context, platforms=platforms, provenance=provenance,
                                    output={"type": "image", "name": ref})
            made[key] = Saved(ref, base / f"{key}.tar", "")
            docker.image.save(ref, output=made[key].archive)
            made[key] = Saved(ref, made[key].archive, docker.image.inspect(ref).id)
        yield made
    finally:
        if made:
            docker.image.remove([saved.ref for saved in made.values()])


@pytest.fixture(scope="module")
def plain(tools, tmp_path_factory):
    registry = start_registry(tmp_path_factory.mktemp("plain"))
    yield registry
    registry.stop()


@pytest.fixture(scope="module")
def basic(tools, tmp_path_factory):
    registry = start_registry(tmp_path_factory.mktemp("basic"), username=USER, password=PASSWORD)
    yield registry
    registry.stop()


@pytest.fixture(scope="module")
def tls(tools, tmp_path_factory):
    """TLS from a throwaway CA, for the name `localhost` (no /etc/hosts entry needed): the
    client must be given the CA, and uses HTTPS because it is given one."""
    root = tmp_path_factory.mktemp("tls")
    ca, crt, key = make_ca(root / "tls", "localhost")
    port = free_port()
    registry = LocalRegistry(root=root, listen=f"127.0.0.1:{port}", host=f"localhost:{port}",
                             ca_cert=ca, tls=(crt, key)).start()
    yield registry
    registry.stop()


@pytest.fixture
def hub(tools, tmp_path):
    upstream = start_registry(tmp_path / "hub-upstream")
    stand_in = HubStandIn(upstream, username=USER, password=PASSWORD)
    yield stand_in
    stand_in.close()
    upstream.stop()


def hub_client(hub: HubStandIn, **options) -> Client:
    """A client of the stand-in as of Docker Hub (its quirks apply: `docker_hub`)."""
    return Client(hub.host, username=USER, password=PASSWORD, backoff=0.01, docker_hub=True,
                    **options)


@pytest.fixture(params=["plain", "basic", "tls", "hub"])
def target(request, tools) -> Target:
    kind = request.param
    if kind == "hub":
        hub = request.getfixturevalue("hub")
        return Target(kind, hub_client(hub), hub.upstream, USER)
    registry = request.getfixturevalue(kind)
    credentials = {"username": USER, "password": PASSWORD} if kind == "basic" else {}
    client = Client(registry.host, ca_cert=registry.ca_cert, backoff=0.01, **credentials)
    return Target(kind, client, registry, f"distribution-{request.node.name.split('[')[0][5:]}")


def independent(reader: LocalRegistry, repository: str, tag: str) -> tuple[str, tuple[str, ...]]:
    """(digest, platforms) as read without the code under test, after checking that every
    manifest and blob the tag refers to is in the registry."""
    digest, platforms = reader.complete(repository, tag)
    return digest, tuple(p for p in platforms if p != "unknown/unknown")


def saved_index(saved: Saved) -> Manifest:
    with tarfile.open(saved.archive) as tar:
        raw = tar.extractfile("blobs/sha256/" + saved.image_id.split(":")[1]).read()
    return Manifest.from_bytes(raw)


# ----------------------------------------------------------------------------- every registry

def test_push_multi_platform_image(target, saved):
    """The image's own index, byte for byte (its digest is the local image id), attestations
    included; read back by HEAD, GET and image_info, and independently."""
    registry, repo = target.client, target.repo("multi")
    registry.check_login(repo, push=True)
    pushed = push_saved_image(registry, repo, saved["multi"].archive, tag="1.0")
    assert pushed.digest == saved["multi"].image_id
    assert registry.head_manifest(repo, "1.0") == pushed.digest

    manifest = registry.get_manifest(repo, "1.0")
    assert manifest.digest == pushed.digest and manifest.is_index
    assert manifest.raw == saved_index(saved["multi"]).raw
    assert sum(child.is_attestation for child in manifest.children) == 2
    for child in manifest.children:
        assert registry.head_manifest(repo, child.digest) == child.digest

    info = registry.image_info(repo, "1.0")
    assert (info.digest, info.platforms) == (pushed.digest, PLATFORMS)
    for platform in PLATFORMS:
        assert info.labels[platform]["org.example.platform"] == platform
        assert info.labels[platform]["org.example.test"] == "distribution"
    assert independent(target.reader, repo, "1.0") == (pushed.digest, PLATFORMS)
    assert registry.tags(repo) == ["1.0"]

    before = registry.requests_made.copy()
    assert push_saved_image(registry, repo, saved["multi"].archive, tag="1.0") == pushed
    uploads = {key: registry.requests_made[key] - before[key]
               for key in (("POST", "blob"), ("PUT", "blob"))}
    assert uploads == {("POST", "blob"): 0, ("PUT", "blob"): 0}      # every blob was there


def test_single_platform_images(target, saved):
    """One platform as an index (with its attestation) and as a plain image manifest: both
    read as that one platform with its labels (issue 11, point 11)."""
    registry, repo = target.client, target.repo("single")
    pushed = push_saved_image(registry, repo, saved["single"].archive, tag="index")
    assert pushed.digest == saved["single"].image_id
    info = registry.image_info(repo, "index")
    assert (info.digest, info.platforms) == (pushed.digest, ("linux/amd64",))
    assert info.labels["linux/amd64"]["org.example.platform"] == "linux/amd64"

    bare = push_saved_image(registry, repo, saved["bare"].archive, tag="bare")
    assert (bare.digest, bare.platform) == (saved["bare"].image_id, "linux/amd64")
    manifest = registry.get_manifest(repo, "bare")
    assert not manifest.is_index and manifest.digest == bare.digest
    info = registry.image_info(repo, "bare")
    assert (info.digest, info.platforms) == (bare.digest, ("linux/amd64",))
    assert list(info.labels) == ["linux/amd64"]
    assert info.labels["linux/amd64"]["org.example.platform"] == "linux/amd64"
    assert independent(target.reader, repo, "bare") == (bare.digest, ())
    assert sorted(registry.tags(repo)) == ["bare", "index"]


def test_platforms_by_digest_then_one_index(target, saved):
    """CI's build jobs push one platform each, by digest and untagged; the merge job puts
    make_index over them under the tag."""
    registry, repo = target.client, target.repo("merged")
    registry.check_login(repo, push=True)
    local = {child.platform: child for child in saved_index(saved["multi"]).children}
    descriptors = [push_saved_image(registry, repo, saved["multi"].archive, platform=platform)
                   for platform in reversed(PLATFORMS)]
    for descriptor in descriptors:
        assert descriptor.digest == local[descriptor.platform].digest     # the tested bytes
        assert registry.head_manifest(repo, descriptor.digest) == descriptor.digest
    assert registry.tags(repo) == []

    index = make_index(descriptors)
    assert registry.put_manifest(repo, "1.0", index) == index.digest
    info = registry.image_info(repo, "1.0")
    assert (info.digest, info.platforms) == (index.digest, PLATFORMS)
    assert info.labels["linux/arm64"]["org.example.platform"] == "linux/arm64"
    assert independent(target.reader, repo, "1.0") == (index.digest, PLATFORMS)


def test_absent_tag_and_repository(target, saved):
    registry, repo = target.client, target.repo("absent")
    registry.check_login(repo, push=True)
    for repository in (repo, target.repo("never-pushed")):
        assert registry.head_manifest(repository, "nope") is None
        assert registry.get_manifest(repository, "nope") is None
        assert registry.image_info(repository, "nope") is None
    assert registry.tags(target.repo("never-pushed")) == []
    push_saved_image(registry, repo, saved["bare"].archive, tag="there")
    assert registry.head_manifest(repo, "nope") is None
    assert registry.head_manifest(repo, "sha256:" + "0" * 64) is None


# ----------------------------------------------------------------------------- one registry

def test_tags_follow_pagination(hub, saved):
    registry, repo = hub_client(hub), f"{USER}/paged"
    pushed = push_saved_image(registry, repo, saved["bare"].archive, tag="t0")
    manifest = registry.get_manifest(repo, pushed.digest)
    for n in range(1, 5):
        registry.put_manifest(repo, f"t{n}", manifest)
    before = registry.requests_made[("GET", "other")]
    assert sorted(registry.tags(repo, page_size=2)) == ["t0", "t1", "t2", "t3", "t4"]
    assert registry.requests_made[("GET", "other")] - before == 3     # pages of 2, 2, 1


def test_tls_needs_the_ca(tls, saved):
    with_ca = Client(tls.host, ca_cert=tls.ca_cert)
    assert with_ca.base.startswith("https://")
    push_saved_image(with_ca, "distribution/tls", saved["bare"].archive, tag="1")
    without = Client(tls.host, scheme="https", backoff=0.01)
    with pytest.raises(RegistryError) as caught:
        without.head_manifest("distribution/tls", "1")
    assert not caught.value.transient and caught.value.status is None
    assert "TLS" in str(caught.value) and "ca_cert" in str(caught.value)
    assert without.requests_made[("HEAD", "manifest")] == 1                # not retried


def test_basic_auth_refused_or_missing(basic):
    wrong = "not-the-" + PASSWORD
    for call in ("check_login", "head_manifest"):
        registry = Client(basic.host, username=USER, password=wrong)
        with pytest.raises(AuthError) as caught:
            if call == "check_login":
                registry.check_login("distribution/x", push=True)
            else:
                registry.head_manifest("distribution/x", "1")
        message = str(caught.value)
        assert basic.host in message and wrong not in message and PASSWORD not in message
        assert caught.value.status == 401 and not caught.value.transient
    with pytest.raises(AuthError, match="none are configured"):
        Client(basic.host).head_manifest("distribution/x", "1")
    good = Client(basic.host, username=USER, password=PASSWORD)
    good.check_login("distribution/x", push=True)
    assert good.proven


def test_not_found_and_bad_request_are_not_retried(plain):
    registry = Client(plain.host, backoff=0.01)
    repo = "distribution/errors"
    with pytest.raises(RegistryError) as caught:
        registry.get_blob(repo, "sha256:" + "0" * 64)
    assert (caught.value.status, caught.value.code, caught.value.transient) == (404, "BLOB_UNKNOWN",
                                                                                False)
    assert registry.requests_made[("GET", "blob")] == 1
    missing = "sha256:" + "1" * 64
    broken = Manifest.from_bytes(json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": missing,
                   "size": 2}, "layers": []}).encode())
    with pytest.raises(RegistryError) as caught:
        registry.put_manifest(repo, "broken", broken)
    assert caught.value.status == 400 and not caught.value.transient
    assert caught.value.code == "MANIFEST_BLOB_UNKNOWN"
    assert registry.requests_made[("PUT", "manifest")] == 1


def test_incomplete_archive_pushes_nothing(plain, saved, tmp_path):
    """A local image missing a platform's layers (partial pull): refused before any upload."""
    index = saved_index(saved["multi"])
    with tarfile.open(saved["multi"].archive) as tar:
        layers = {child.platform: {layer["digest"] for layer in json.loads(tar.extractfile(
                      "blobs/sha256/" + child.digest[7:]).read())["layers"]}
                  for child in index.children if not child.is_attestation}
        gone = min(layers["linux/arm64"] - layers["linux/amd64"])   # a layer of arm64 only
        partial = tmp_path / "partial.tar"
        with tarfile.open(partial, "w") as out:
            for member in tar.getmembers():
                if member.name != "blobs/sha256/" + gone[7:]:
                    out.addfile(member, tar.extractfile(member) if member.isfile() else None)
    registry, repo = Client(plain.host), "distribution/partial"
    with pytest.raises(PublishError, match="blob.* missing"):
        push_saved_image(registry, repo, partial, tag="1")
    assert registry.requests_made == {}
    with pytest.raises(PublishError, match="linux/amd64, linux/arm64"):
        push_saved_image(registry, repo, saved["multi"].archive, platform="linux/riscv64")
    assert push_saved_image(registry, repo, partial, platform="linux/amd64").platform == "linux/amd64"


def test_a_403_is_a_permission_error_never_absent(basic, saved):
    """docker-registry behind RegistryFront, which answers 403 DENIED to manifest reads (as
    ECR does for a role without ecr:BatchGetImage, GHCR for a token without access to the
    package: see test_publish.ECR_DENIED): with basic auth, accepted credentials, the read
    is an AuthError naming the host, the tag and the status; a 403 never proves the
    credentials; a 404 behind the same front is still "absent"."""
    repo = "distribution/forbidden"
    Client(basic.host, username=USER, password=PASSWORD).check_login(repo, push=True)
    push_saved_image(Client(basic.host, username=USER, password=PASSWORD), repo,
                     saved["bare"].archive, tag="1")
    front = RegistryFront(basic)
    try:
        front.forbid(None, rf"/v2/{repo}/manifests/1", "DENIED", "not authorized to perform: "
                     "ecr:BatchGetImage")
        unproven = Client(front.host, username=USER, password=PASSWORD, backoff=0.01)
        for read in (unproven.head_manifest, unproven.get_manifest, unproven.image_info):
            with pytest.raises(AuthError) as caught:
                read(repo, "1")
            assert caught.value.status == 403 and not caught.value.transient
            assert f"{front.host}/{repo}" in str(caught.value) and PASSWORD not in str(caught.value)
        assert not unproven.proven
        proven = Client(front.host, username=USER, password=PASSWORD, backoff=0.01)
        proven.check_login(repo, push=True)
        assert proven.proven
        with pytest.raises(AuthError, match="HTTP 403 DENIED: not authorized"):
            proven.get_manifest(repo, "1")
        assert proven.head_manifest(repo, "2") is None           # a real 404
        assert [status for _, path, status in front.answers if path.endswith("/manifests/1")] == \
            [403, 403, 403, 403]
    finally:
        front.close()


# ----------------------------------------------------------------------------- Docker Hub quirks

def test_hub_first_push_to_a_new_repository(hub, saved):
    """Docker Hub answers 401 for a repository that does not exist yet (binderhub#1664):
    with proven credentials that reads as absent, and the first push creates it."""
    repo = f"{USER}/brand-new"
    registry = hub_client(hub)
    registry.check_login(repo, push=True)
    assert registry.head_manifest(repo, "1.0") is None
    assert registry.image_info(repo, "1.0") is None
    assert registry.tags(repo) == []
    assert 401 in hub.statuses("HEAD", "manifest") and 401 in hub.statuses("GET", "manifest")
    pushed = push_saved_image(registry, repo, saved["multi"].archive, tag="1.0")
    assert registry.head_manifest(repo, "1.0") == pushed.digest

    # credentials proven by the token alone (no check_login) count as well
    assert hub_client(hub).head_manifest(f"{USER}/other-new", "1.0") is None
    # anonymous: pulls what exists, but a 401 is not "absent" without credentials
    anonymous = Client(hub.host, docker_hub=True)
    assert anonymous.head_manifest(repo, "1.0") == pushed.digest
    with pytest.raises(AuthError, match="none are configured") as caught:
        anonymous.head_manifest(f"{USER}/other-new", "1.0")
    assert hub.host in str(caught.value)


def test_hub_refuses_wrong_password_and_foreign_namespace(hub, saved):
    wrong = "not-the-" + PASSWORD
    registry = Client(hub.host, username=USER, password=wrong)
    for call in (lambda: registry.check_login(f"{USER}/x", push=True),
                 lambda: registry.head_manifest(f"{USER}/x", "1.0")):
        with pytest.raises(AuthError) as caught:
            call()
        assert hub.host in str(caught.value) and USER in str(caught.value)
        assert wrong not in str(caught.value) and PASSWORD not in str(caught.value)
    with pytest.raises(AuthError) as caught:
        push_saved_image(hub_client(hub), "someone-else/x", saved["bare"].archive, tag="1")
    assert caught.value.status == 401 and PASSWORD not in str(caught.value)
    with pytest.raises(AuthError, match="needs credentials"):
        Client(hub.host).check_login(f"{USER}/x", push=True)


def test_hub_transient_failures_are_retried(hub, saved):
    repo = f"{USER}/flaky"
    registry = hub_client(hub)
    pushed = push_saved_image(registry, repo, saved["bare"].archive, tag="1")

    def heads():
        return hub.counts[("HEAD", "manifest")]

    before = heads()
    hub.fail(503, times=2, kind="manifest")
    assert registry.head_manifest(repo, "1") == pushed.digest
    assert heads() - before == 3

    before = heads()
    hub.drop(times=2, kind="manifest")
    assert registry.head_manifest(repo, "1") == pushed.digest
    assert heads() - before == 3

    before = heads()
    hub.fail(503, times=100, kind="manifest")
    with pytest.raises(RegistryError) as caught:
        hub_client(hub, attempts=3).head_manifest(repo, "1")
    assert (caught.value.status, caught.value.transient) == (503, True)
    assert "after 3 attempts" in str(caught.value)
    assert heads() - before == 3
    hub.faults.clear()

    hub.fail(429, times=1, retry_after="1", kind="manifest")
    start = time.monotonic()
    assert registry.head_manifest(repo, "1") == pushed.digest
    assert time.monotonic() - start >= 1.0      # Retry-After honoured (the backoff is 0.01 s)

    # a connection dropped in the middle of a push: the upload starts again
    hub.drop(times=1, kind="blob", method="PUT")
    again = push_saved_image(registry, f"{USER}/flaky-push", saved["multi"].archive, tag="1")
    assert again.digest == saved["multi"].image_id
    assert independent(hub.upstream, f"{USER}/flaky-push", "1") == (again.digest, PLATFORMS)


def test_hub_counts_head_apart_from_get(hub, saved, monkeypatch, capsys):
    """HEAD is not a pull on Docker Hub; GET is. Both carry the pull-limit headers."""
    repo = f"{USER}/counted"
    registry = hub_client(hub)
    pushed = push_saved_image(registry, repo, saved["bare"].archive, tag="1")
    monkeypatch.setattr(log, "VERBOSE", True)
    left, counts = hub.pulls_left, hub.counts.copy()
    mine = registry.requests_made.copy()
    assert registry.head_manifest(repo, "1") == pushed.digest
    assert hub.counts[("HEAD", "manifest")] - counts[("HEAD", "manifest")] == 1
    assert hub.counts[("GET", "manifest")] == counts[("GET", "manifest")]
    assert hub.pulls_left == left
    assert registry.requests_made[("HEAD", "manifest")] - mine[("HEAD", "manifest")] == 1
    assert f"pulls remaining {left};w=21600" in capsys.readouterr().err

    registry.get_manifest(repo, "1")
    assert hub.counts[("GET", "manifest")] - counts[("GET", "manifest")] == 1
    assert hub.pulls_left == left - 1
    assert registry.requests_made[("GET", "manifest")] - mine[("GET", "manifest")] == 1


def test_hub_pull_limit_is_a_transient_429(hub, saved):
    repo = f"{USER}/limited"
    registry = hub_client(hub, attempts=2)
    push_saved_image(registry, repo, saved["bare"].archive, tag="1")
    hub.pulls_left = 0
    with pytest.raises(RegistryError) as caught:
        registry.get_manifest(repo, "1")
    assert (caught.value.status, caught.value.code, caught.value.transient) == (
        429, "TOOMANYREQUESTS", True)
    assert registry.head_manifest(repo, "1")            # a HEAD is still answered


def test_hub_token_refresh(hub, saved):
    repo = f"{USER}/tokens"
    registry = hub_client(hub)
    pushed = push_saved_image(registry, repo, saved["bare"].archive, tag="1")
    tokens = hub.counts[("GET", "token")]
    assert registry.head_manifest(repo, "1") == pushed.digest
    assert hub.counts[("GET", "token")] == tokens                 # cached per scope
    hub.revoke_tokens()
    assert registry.head_manifest(repo, "1") == pushed.digest     # 401, new token, once more
    assert hub.counts[("GET", "token")] == tokens + 1

    hub.token_seconds = 1
    short = hub_client(hub)
    assert short.head_manifest(repo, "1") == pushed.digest
    time.sleep(1.0)
    tokens = hub.counts[("GET", "token")]
    assert short.head_manifest(repo, "1") == pushed.digest        # expired: fetched anew
    assert hub.counts[("GET", "token")] == tokens + 1


def test_hub_damaged_content_is_refused(hub, saved):
    repo = f"{USER}/damaged"
    registry = hub_client(hub)
    pushed = push_saved_image(registry, repo, saved["bare"].archive, tag="1")
    manifest = registry.get_manifest(repo, pushed.digest)
    config = manifest.json["config"]["digest"]
    hub.corrupt(kind="blob")
    with pytest.raises(RegistryError, match="arrived with digest") as caught:
        registry.get_blob(repo, config)
    assert not caught.value.transient
    hub.corrupt(kind="manifest")
    with pytest.raises(RegistryError, match="expected"):
        registry.get_manifest(repo, pushed.digest)
