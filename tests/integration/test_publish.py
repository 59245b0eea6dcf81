"""Publishing against real registries (Debian's docker-registry, started here), and a
Docker-Hub-like stand-in in front of one (tests/integration/registry.py: HubStandIn).

The images are tiny (a file written on top of the base image) but built, smoke-tested,
saved, pushed and tagged by the same code as Asterisk: build.Maker with `dockerfiles=` a
directory whose stages are `runtime` and `runtime-opus` (tests/integration/tiny_image.py).
A full Asterisk build would take minutes per platform. The smoke test is a real, minimal
one: run the image on each platform and read its version.

Stand-ins, named where used: moto in server mode plays the AWS API (ECR tokens,
repositories, STS); a local registry plays the ECR registry endpoint (matrix key `host:`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import requests
import yaml

from pipeline import connect, distribution, outdated, publish, registries, tagspage
from pipeline.build import Maker
from pipeline.errors import ConfigurationError, PublishError, SmokeError
from pipeline.labels import (
    BASE_LABEL,
    CREATED_LABEL,
    INPUTS_LABEL,
    VERSION_LABEL,
    created_text,
    parse_created,
)
from pipeline.matrix import load
from pipeline.outcomes import check, summary
from pipeline.plan import make_plan
from pipeline.releases import ReleaseIndex
from tests.conftest import CERTIFIED_FILE, RELEASES_FILE
from tests.integration.conftest import BASE_IMAGE, REPO_MATRIX, TEST_IMAGE, require
from tests.integration.hub_api import HubApiStandIn
from tests.integration.registry import (
    CuttingProxy,
    HubStandIn,
    RegistryFront,
    free_port,
    start_registry,
    wait_for,
)
from tests.integration.tiny_image import push_tiny_base, remove_images, tiny_prepare, tiny_sources

PLATFORMS = ["linux/amd64", "linux/arm64"]
REPO = "asterisk"
IMAGE_NAME = f"{TEST_IMAGE}-publish"     # PIPELINE_TEST_IMAGE_NAME: one name per checkout


# ----------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def tools():
    for tool in ("docker-registry", "htpasswd", "openssl"):
        require(tool)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(dockerfiles dir, sources context, sha256 of the context's 'release tarball')."""
    return tiny_sources(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module", autouse=True)
def remove_local_images(docker):
    yield
    remove_images(docker, IMAGE_NAME)


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setattr(connect, "BACKOFF", 0.05)


@pytest.fixture
def auth_registry(tools, tmp_path):
    registry = start_registry(tmp_path / "registry", username="pipeline", password="Pa55-w0rd-not-shown")
    yield registry
    registry.stop()


@pytest.fixture
def plain_registry(tools, tmp_path):
    registry = start_registry(tmp_path / "plain-registry")
    yield registry
    registry.stop()


@pytest.fixture
def hub(tools, tmp_path):
    """Docker Hub's documented behaviour (token auth, 401 for a repository that does not
    exist yet, pull counting) in front of a local registry."""
    upstream = start_registry(tmp_path / "hub-upstream")
    stand_in = HubStandIn(upstream, username="pipeline", password="Hub-t0ken-not-shown")
    yield stand_in
    stand_in.close()
    upstream.stop()


def write_matrix(directory: Path, registry_entries: list[dict], versions: list[str], *,
                 mirror: str = "http://127.0.0.1:9/unused", series=("22.x",),
                 platforms=PLATFORMS, base_image=BASE_IMAGE, signing: dict | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "releases.txt").write_text("\n".join(versions) + "\n")
    matrix = {
        "releases": {"source": "file", "files": ["releases.txt"]},
        "sources": {"mirror": mirror},
        "defaults": {"base_image": base_image, "platforms": list(platforms)},
        "series": [spec if isinstance(spec, dict) else {"spec": spec} for spec in series],
        "registries": registry_entries,
        **({"signing": signing} if signing else {}),
    }
    path = directory / "matrix.yaml"
    path.write_text(yaml.safe_dump(matrix, sort_keys=False))
    return path


def oci_entry(registry, name="local", **extra) -> dict:
    entry = {"name": name, "type": "oci", "repository": f"{registry.host}/{REPO}"}
    if registry.username:
        entry.update(username_env="TEST_REGISTRY_USER", password_env="TEST_REGISTRY_PASSWORD")
    return {**entry, **extra}


def hub_entry(hub: HubStandIn, name="hub") -> dict:
    """A `dockerhub` entry whose host is the stand-in (the real one is registry-1.docker.io)."""
    return {"name": name, "type": "dockerhub", "repository": f"{hub.username}/{REPO}",
            "host": hub.host, "username_env": "HUB_USER", "password_env": "HUB_TOKEN"}


def creds(registry) -> dict:
    return {"TEST_REGISTRY_USER": registry.username, "TEST_REGISTRY_PASSWORD": registry.password}


def hub_creds(hub: HubStandIn) -> dict:
    return {"HUB_USER": hub.username, "HUB_TOKEN": hub.password}


def version_smoke(docker, image_ref, target, platform, logs):
    """A minimal real smoke test: the image runs (on that platform) and knows its version."""
    out = docker.run(image_ref, remove=True, platform=platform)
    if out.strip() != str(target.version):
        raise SmokeError(f"{image_ref} says {out.strip()!r}, expected {target.version}")


def make_maker(matrix, tiny, out, smoke=version_smoke, base_digest=lambda name: "") -> Maker:
    dockerfiles, context, digest = tiny
    return Maker(sources=matrix.sources, out=out, image_name=IMAGE_NAME, smoke=smoke,
                 dockerfiles=dockerfiles, prepare=tiny_prepare(context, digest),
                 checksum=lambda release: digest, base_digest=base_digest)


def run_publish(docker, matrix_path, tiny, specs=(), *, environ=None, smoke=version_smoke,
                dry_run=False, variants=(), cache=None, mode="publish", digests=None,
                build_platform="", base_digest=lambda name: "", description="", platforms=(),
                created=None):
    """publish.execute, as `pipeline publish` runs it, with the tiny image's Maker."""
    matrix = load(matrix_path, environ={})
    plan = make_plan(matrix, ReleaseIndex(matrix.releases, matrix.sources), list(specs),
                     variants=list(variants), platforms=list(platforms))
    options = publish.Options(dry_run=dry_run, manifest_cache=cache, mode=mode, digests=digests,
                              build_platform=build_platform, created=created)
    outcomes = publish.execute(plan, make_maker(matrix, tiny, matrix_path.parent / "out", smoke,
                                                base_digest), options,
                               base_dir=matrix_path.parent, environ={} if environ is None else environ,
                               docker=docker, signing=matrix.signing, description=description)
    summary(outcomes)
    return outcomes


def check_provenance(registry, tag: str, platforms) -> None:
    """Every platform of the image tag points at carries BuildKit's SLSA provenance (an
    attestation manifest in the index), about exactly that platform's manifest."""
    _, index = registry.manifest(REPO, tag)
    manifests = {child["digest"]: child["platform"] for child in index["manifests"]
                 if child["platform"]["architecture"] != "unknown"}
    found = registry.provenance(REPO, tag)
    assert set(found) == set(manifests) and len(manifests) == len(platforms), (found, manifests)
    for digest, statement in found.items():
        assert statement["predicateType"].startswith("https://slsa.dev/provenance/")
        assert [s["digest"]["sha256"] for s in statement["subject"]] == [digest.split(":")[1]]
        parameters = statement["predicate"]["invocation"]["parameters"]
        assert parameters["args"]["build-arg:ASTERISK_VERSION"] == tag.split("-")[0]


def local_manifests(docker, ref: str, work: Path) -> dict[str, str]:
    """{platform: manifest digest} of a local image, from its `docker save` layout."""
    archive = work / "saved.tar"
    docker.image.save(ref, output=archive)
    with tarfile.open(archive) as tar:
        def blob(digest):
            return json.loads(tar.extractfile(f"blobs/sha256/{digest.split(':')[1]}").read())
        [top] = json.loads(tar.extractfile("index.json").read())["manifests"]
        children = blob(top["digest"]).get("manifests") or []
    archive.unlink()
    return {f"{c['platform']['os']}/{c['platform']['architecture']}": c["digest"] for c in children
            if c["platform"]["architecture"] != "unknown"}


def statuses(outcomes) -> dict:
    return {(o.target.id, o.registry.name): o.status for o in outcomes}


def cli(args: list[str], *, cwd: Path, env: dict | None = None, dockerfiles: Path | None = None):
    """The real `pipeline` CLI in a subprocess; with dockerfiles, its Dockerfiles directory is
    the tiny one (the inputs digest and the build read it)."""
    prefix = ""
    if dockerfiles:
        prefix = (f"import pipeline.image as i; from pathlib import Path; "
                  f"i.DOCKERFILES = Path({str(dockerfiles)!r}); ")
    code = prefix + "import sys; from pipeline.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, **(env or {})})


# ----------------------------------------------------------------------------- one machine

@pytest.mark.parametrize("platforms", [PLATFORMS, ["linux/amd64"]], ids=["two-platforms", "one-platform"])
@pytest.mark.parametrize("auth", [True, False], ids=["basic-auth", "no-auth"])
def test_publish_then_again_changes_nothing(docker, tools, tiny, tmp_path, platforms, auth):
    """Every tag points at the smoke-tested image itself (its digest is the local image's);
    labels carry version and inputs; no secret anywhere in the image; the second run reads,
    finds everything up to date and pushes nothing (issue 11.11: also with one platform)."""
    registry = start_registry(tmp_path / "registry", **(
        {"username": "pipeline", "password": "Pa55-w0rd-not-shown"} if auth else {}))
    try:
        matrix = write_matrix(tmp_path / "m", [oci_entry(registry)], ["22.9.0", "22.10.1"],
                              platforms=platforms)
        outcomes = run_publish(docker, matrix, tiny, environ=creds(registry))
        assert statuses(outcomes) == {("22.10.1", "local"): "published",
                                      ("22.10.1-opus", "local"): "published"}
        expected = ["22", "22-opus", "22.10", "22.10-opus", "22.10.1", "22.10.1-opus",
                    "latest", "latest-opus", "lts", "lts-opus"]
        assert registry.tags(REPO) == expected
        before = {}
        for tag in expected:
            digest, found = registry.complete(REPO, tag)
            assert found in (sorted(platforms), []), tag     # [] : a plain (one-platform) manifest
            before[tag] = digest
        for outcome in outcomes:
            local = docker.image.inspect(f"{IMAGE_NAME}:{outcome.target.id}").id
            assert before[outcome.target.id] == local == outcome.digest   # the tested image itself
            check_provenance(registry, outcome.target.id, platforms)
        api = distribution.Client(registry.host, username=registry.username,
                                    password=registry.password)
        info = api.image_info(REPO, "lts")
        assert sorted(info.platforms) == sorted(platforms)
        for labels in info.labels.values():
            assert labels[VERSION_LABEL] == "22.10.1"
            assert len(labels[INPUTS_LABEL]) == 64
        if auth:
            for tag in expected:     # layers' history, env, labels: the password is nowhere
                assert registry.password not in registry.get(f"/v2/{REPO}/manifests/{tag}").text

        again = run_publish(docker, matrix, tiny, environ=creds(registry))
        assert set(statuses(again).values()) == {"up to date"}
        assert {tag: registry.complete(REPO, tag)[0] for tag in expected} == before
    finally:
        registry.stop()


def test_tls_registry_with_a_private_ca(docker, tiny, tmp_path, tools):
    """`ca_cert:` (relative to matrix.yaml) is what the client trusts for that registry;
    without it the certificate is really refused."""
    registry = start_registry(tmp_path / "tls-registry", tls=True)
    try:
        untrusted = write_matrix(tmp_path / "u", [oci_entry(registry)], ["22.10.1"])
        [refused] = run_publish(docker, untrusted, tiny, variants=["plain"])
        assert refused.status == "failed"
        assert "certificate" in refused.reason.lower(), refused.reason
        ca_copy = tmp_path / "m" / "registry-ca.crt"
        ca_copy.parent.mkdir(parents=True)
        ca_copy.write_bytes(registry.ca_cert.read_bytes())
        matrix = write_matrix(tmp_path / "m", [oci_entry(registry, ca_cert="registry-ca.crt")],
                              ["22.10.1"])
        outcomes = run_publish(docker, matrix, tiny, variants=["plain"])
        assert statuses(outcomes) == {("22.10.1", "local"): "published"}
        for tag in ["22.10.1", "22.10", "22", "lts", "latest"]:
            assert registry.complete(REPO, tag)[1] == PLATFORMS
        again = run_publish(docker, matrix, tiny, variants=["plain"])
        assert set(statuses(again).values()) == {"up to date"}
    finally:
        registry.stop()


def test_registry_stopped_mid_push_fails_clearly_and_a_rerun_completes(docker, plain_registry, tiny,
                                                                       tmp_path, capsys):
    # 22.9.0 is published first: its tags must survive the failed run untouched.
    proxy = CuttingProxy(plain_registry.listen, rb"PUT /v2/[^ ]*/manifests/", plain_registry.stop)
    proxy.armed = False
    entry = {"name": "local", "type": "oci", "repository": f"{proxy.host}/{REPO}"}
    old = write_matrix(tmp_path / "old", [entry], ["22.9.0"])
    assert set(statuses(run_publish(docker, old, tiny, variants=["plain"])).values()) == {"published"}
    before = {tag: plain_registry.complete(REPO, tag) for tag in plain_registry.tags(REPO)}
    assert sorted(before) == ["22", "22.9", "22.9.0", "latest", "lts"]

    new = write_matrix(tmp_path / "new", [entry], ["22.9.0", "22.10.1"])
    proxy.armed = True       # the registry stops when the first manifest of 22.10.1 arrives
    capsys.readouterr()
    outcomes = run_publish(docker, new, tiny, variants=["plain"])
    out = capsys.readouterr().err
    print(out)
    assert proxy.cut_at, "the registry was never stopped"
    assert statuses(outcomes) == {("22.10.1", "local"): "failed"}
    assert proxy.host in outcomes[0].reason and "attempts" in outcomes[0].reason, outcomes[0].reason
    assert "| 22.10.1 | local    | failed" in out
    assert "reasons:\n- 22.10.1 → local: " in out          # the whole reason, below the table

    plain_registry.start()   # same storage, same port
    assert plain_registry.tags(REPO) == sorted(before)       # no 22.10.1 tag, nothing moved
    assert {tag: plain_registry.complete(REPO, tag) for tag in before} == before

    outcomes = run_publish(docker, new, tiny, variants=["plain"])
    assert statuses(outcomes) == {("22.10.1", "local"): "published"}
    assert plain_registry.tags(REPO) == ["22", "22.10", "22.10.1", "22.9", "22.9.0", "latest", "lts"]
    assert plain_registry.complete(REPO, "22")[0] == plain_registry.complete(REPO, "22.10.1")[0]
    proxy.close()


def test_wrong_credentials_clear_error_and_the_password_is_never_shown(auth_registry, tmp_path):
    """Through the real CLI, verbose: exit code 9, the registry named, the password nowhere,
    and nothing stored in a Docker config."""
    matrix = write_matrix(tmp_path / "m", [oci_entry(auth_registry)], ["22.10.1"])
    wrong = "Wr0ng-but-s3cret-Pa55"
    env = {"TEST_REGISTRY_USER": "pipeline", "TEST_REGISTRY_PASSWORD": wrong,
           "DOCKER_CONFIG": str(tmp_path / "docker-config")}
    for extra in ([], ["--dry-run"]):
        result = cli(["publish", "-v", "--matrix", str(matrix), *extra], cwd=tmp_path, env=env)
        output = result.stdout + result.stderr
        assert result.returncode == 9, output
        assert auth_registry.host in output and "local" in output
        assert "credentials" in output.lower() or "refused" in output.lower(), output
        assert wrong not in output
        assert not (tmp_path / "docker-config").exists()


def test_a_target_whose_smoke_test_fails_is_not_pushed(docker, plain_registry, tiny, tmp_path):
    def opus_fails(docker, image_ref, target, platform, logs):
        if target.variant.name == "opus":
            raise SmokeError(f"{image_ref}: no codec translation path (stand-in failure)")
        version_smoke(docker, image_ref, target, platform, logs)

    matrix = write_matrix(tmp_path / "m", [oci_entry(plain_registry)], ["22.10.1"])
    outcomes = run_publish(docker, matrix, tiny, smoke=opus_fails)
    assert statuses(outcomes) == {("22.10.1", "local"): "published",
                                  ("22.10.1-opus", "local"): "failed"}
    assert "not pushed" in [o for o in outcomes if o.target.variant.name == "opus"][0].reason
    assert plain_registry.tags(REPO) == ["22", "22.10", "22.10.1", "latest", "lts"]
    with pytest.raises(Exception, match="1 of 2"):
        check(outcomes)


def test_an_older_patch_never_moves_a_tag_back(docker, plain_registry, tiny, tmp_path):
    new = write_matrix(tmp_path / "new", [oci_entry(plain_registry)], ["22.9.0", "22.10.1"])
    run_publish(docker, new, tiny, variants=["plain"])
    newest = plain_registry.complete(REPO, "22")[0]
    # A stale release list (it does not know 22.10.1 yet) gives 22.9.0 the tags 22, lts, latest.
    stale = write_matrix(tmp_path / "stale", [oci_entry(plain_registry)], ["22.9.0"])
    outcomes = run_publish(docker, stale, tiny, variants=["plain"])
    assert statuses(outcomes) == {("22.9.0", "local"): "published"}
    assert {a.tag: a.action for a in outcomes[0].actions} == {
        "22.9.0": "create", "22.9": "create", "22": "keep", "lts": "keep", "latest": "keep"}
    for tag in ("22", "lts", "latest"):
        assert plain_registry.complete(REPO, tag)[0] == newest
    assert plain_registry.complete(REPO, "22.9")[0] == plain_registry.complete(REPO, "22.9.0")[0]


def test_a_run_for_fewer_platforms_never_strips_them_from_a_tag(docker, plain_registry, tiny,
                                                                tmp_path):
    """Issue 23.2: the registry holds 22.10.1 for linux/amd64 and linux/arm64 under every tag.
    `publish --platform linux/amd64` (and `build --push --platform`), through the real CLI, a
    dry run and a real one: exit 2, the platform it would drop and the tags named, nothing
    pushed. The same narrowed run through publish.execute with the tiny image's Maker
    (whose smoke test passes, so only the refusal stops it): the target fails with a
    ConfigurationError and every tag still points at the two-platform image. A newer patch
    built for amd64 only is refused too: the aliases it would take hold arm64."""
    from pytest_httpserver import HTTPServer

    dockerfiles, context, digest = tiny
    with HTTPServer(host="127.0.0.1", port=free_port()) as server:
        for version in ("22.10.1", "22.10.2"):
            server.expect_request(
                f"/downloads.asterisk.org/pub/telephony/asterisk/releases/asterisk-{version}.sha256"
            ).respond_with_data(f"{digest}  asterisk-{version}.tar.gz\n")
        mirror = server.url_for("/").rstrip("/")
        matrix = write_matrix(tmp_path / "m", [oci_entry(plain_registry)], ["22.10.1"], mirror=mirror)
        assert statuses(run_publish(docker, matrix, tiny, variants=["plain"])) == {
            ("22.10.1", "local"): "published"}
        tags = ["22", "22.10", "22.10.1", "latest", "lts"]
        assert plain_registry.tags(REPO) == tags
        before = {tag: plain_registry.complete(REPO, tag) for tag in tags}
        assert all(platforms == PLATFORMS for _, platforms in before.values())

        env = {"PIPELINE_OUT": str(tmp_path / "out")}
        for command in (["publish", "--dry-run"], ["publish"], ["build", "--push"]):
            result = cli([*command, "22.x", "--matrix", str(matrix), "--variant", "plain",
                          "--platform", "linux/amd64"], cwd=tmp_path, env=env, dockerfiles=dockerfiles)
            output = result.stdout + result.stderr
            assert result.returncode == 2, output
            assert ("22.10.1: refused: publishing it for linux/amd64 only would take linux/arm64 "
                    "away from 22.10.1, 22.10, 22, lts, latest (in local); nothing of 22.10.1 was "
                    "pushed") in " ".join(output.split()), output
            assert "22 refuse (would drop linux/arm64" in output
            assert "| 22.10.1 | local    | failed" in output
            assert {tag: plain_registry.complete(REPO, tag) for tag in plain_registry.tags(REPO)} == before

        narrowed = run_publish(docker, matrix, tiny, variants=["plain"], platforms=["linux/amd64"])
        assert statuses(narrowed) == {("22.10.1", "local"): "failed"}
        assert narrowed[0].error is ConfigurationError and "linux/arm64" in narrowed[0].reason
        with pytest.raises(ConfigurationError):
            check(narrowed)
        assert {tag: plain_registry.complete(REPO, tag) for tag in plain_registry.tags(REPO)} == before

        newer = write_matrix(tmp_path / "newer", [oci_entry(plain_registry)], ["22.10.1", "22.10.2"],
                             mirror=mirror)
        [refused] = run_publish(docker, newer, tiny, variants=["plain"], platforms=["linux/amd64"])
        assert refused.status == "failed" and refused.error is ConfigurationError
        assert "linux/arm64 away from 22.10, 22, lts, latest" in refused.reason
        assert {tag: plain_registry.complete(REPO, tag) for tag in plain_registry.tags(REPO)} == before

        # every platform the tags have: the newer patch goes out and takes the aliases
        [published] = run_publish(docker, newer, tiny, variants=["plain"])
        assert published.status == "published", published.reason
        assert plain_registry.complete(REPO, "22")[1] == PLATFORMS


def test_dry_run_prints_every_tag_and_touches_nothing(auth_registry, tmp_path, tiny):
    """Through the CLI, with the release checksum served over HTTP like the upstream mirror;
    once with credentials, once without (a dry run names what is missing and exits 0)."""
    from pytest_httpserver import HTTPServer

    dockerfiles, context, digest = tiny
    with HTTPServer(host="127.0.0.1", port=free_port()) as server:
        server.expect_request(
            "/downloads.asterisk.org/pub/telephony/asterisk/releases/asterisk-22.10.1.sha256"
        ).respond_with_data(f"{digest}  asterisk-22.10.1.tar.gz\n")
        matrix = write_matrix(tmp_path / "m", [oci_entry(auth_registry)], ["22.10.1"],
                              mirror=server.url_for("/").rstrip("/"))
        for env in (creds(auth_registry), {"TEST_REGISTRY_USER": "", "TEST_REGISTRY_PASSWORD": ""}):
            result = cli(["publish", "--dry-run", "--matrix", str(matrix), "--variant", "plain"],
                         cwd=tmp_path, env=env)
            output = result.stdout + result.stderr
            assert result.returncode == 0, output
            for tag in ["22.10.1", "22.10", "22", "lts", "latest"]:
                assert f"would create {auth_registry.host}/{REPO}:{tag}" in output
            assert auth_registry.tags(REPO) == []
            assert auth_registry.password not in output
        assert "$TEST_REGISTRY_USER and $TEST_REGISTRY_PASSWORD not set" in output


def test_a_dry_run_without_aws_credentials_names_them_and_exits_0(tmp_path, monkeypatch):
    """ECR cannot even be read without credentials: a dry run shows the registry as not
    checked, says which credentials are missing, and exits 0; a real run fails (exit 9)."""
    matrix = write_matrix(tmp_path / "m", [{"name": "ecr", "type": "ecr", "repository": "asterisk",
                                            "region": "eu-west-1", "account": "123456789012"}],
                          ["22.10.1"])
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    no_aws = {"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "AWS_CONFIG_FILE": str(tmp_path / "none"),
              "AWS_EC2_METADATA_DISABLED": "true"}
    dry = cli(["publish", "--dry-run", "--matrix", str(matrix), "--variant", "plain"], cwd=tmp_path, env=no_aws)
    output = dry.stdout + dry.stderr
    assert dry.returncode == 0, output
    assert "ecr: no AWS credentials found; set AWS_ACCESS_KEY_ID" in output
    assert "not checked" in output
    real = cli(["publish", "--matrix", str(matrix), "--variant", "plain"], cwd=tmp_path, env=no_aws)
    assert real.returncode == 9, real.stdout + real.stderr


# ----------------------------------------------------------------------------- Docker Hub's rules

def test_docker_hub_first_publish_creates_the_repository(docker, hub, tiny, tmp_path):
    """Docker Hub answers 401 for a repository that does not exist yet (binderhub#1664); the
    credentials are proven at login, so that means 'nothing published yet', and the first
    publish creates the repository by pushing (issue 11.4)."""
    matrix = write_matrix(tmp_path / "m", [hub_entry(hub)], ["22.10.1"], platforms=["linux/amd64"])
    outcomes = run_publish(docker, matrix, tiny, environ=hub_creds(hub), variants=["plain"])
    assert statuses(outcomes) == {("22.10.1", "hub"): "published"}, outcomes[0].reason
    assert 401 in hub.statuses("HEAD", "manifest")      # what Docker Hub answered before
    assert hub.upstream.tags(f"{hub.username}/{REPO}") == ["22", "22.10", "22.10.1", "latest", "lts"]


def test_an_up_to_date_run_sends_no_counted_docker_hub_request(docker, hub, plain_registry, tiny,
                                                               tmp_path):
    """The repository's matrix.yaml (every series and variant, the real release lists), its
    Docker Hub entry played by the stand-in: once published, a rerun with the manifest
    cache (CI keeps it between runs) sends HEAD requests only, which Docker Hub does not
    count against its pull limit; nothing is built (issue 11.3)."""
    matrix = load(REPO_MATRIX, environ={"PIPELINE_RELEASES": "file:" + ",".join(
        str(path) for path in (RELEASES_FILE, CERTIFIED_FILE))})
    local = write_matrix(tmp_path / "m", [hub_entry(hub), oci_entry(plain_registry, name="ecr")],
                         ["22.10.1"])
    matrix = dataclasses.replace(matrix, registries=load(local, environ={}).registries, path=local)
    plan = make_plan(matrix, ReleaseIndex(matrix.releases, matrix.sources))
    cache = tmp_path / "manifest-cache.json"
    built = []

    def counting_smoke(docker, image_ref, target, platform, logs):
        built.append(target.id)
        version_smoke(docker, image_ref, target, platform, logs)

    def once():
        maker = make_maker(matrix, tiny, tmp_path / "out", counting_smoke)
        return publish.execute(plan, maker, publish.Options(manifest_cache=cache), base_dir=tmp_path,
                               environ=hub_creds(hub), docker=docker)

    first = once()
    assert set(statuses(first).values()) == {"published"}
    hub.counts.clear()
    built.clear()
    again = once()
    summary(again)
    assert set(statuses(again).values()) == {"up to date"}
    assert built == []
    manifest_gets = hub.counts[("GET", "manifest")]
    heads = hub.counts[("HEAD", "manifest")]
    print(f"\nno-op run of {len(plan.targets)} targets at the Docker Hub stand-in: "
          f"{dict(hub.counts)}")
    assert manifest_gets == 0 and heads == sum(len(t.tags) for t in plan.targets)


def test_publish_puts_the_tags_page_into_the_docker_hub_description(docker, hub, tiny, tmp_path,
                                                                     httpserver, capsys):
    """After the images, the supported-tags page becomes the repository's description (Docker
    Hub's API played by hub_api.HubApiStandIn), with the registry's own login; a rerun
    leaves it alone; an API that fails is a warning and the images stay published."""
    api = HubApiStandIn(httpserver, username=hub.username, password=hub.password,
                        repository=f"{hub.username}/{REPO}")
    matrix = write_matrix(tmp_path / "m", [{**hub_entry(hub), "hub_api": api.url}], ["22.10.1"],
                          platforms=["linux/amd64"])
    loaded = load(matrix, environ={})
    page = tagspage.markdown(make_plan(loaded, ReleaseIndex(loaded.releases, loaded.sources)))

    dry = run_publish(docker, matrix, tiny, environ=hub_creds(hub), variants=["plain"], dry_run=True,
                      description=page)
    assert statuses(dry) == {("22.10.1", "hub"): "would publish"} and api.patches == []
    assert ": would update (" in capsys.readouterr().err

    outcomes = run_publish(docker, matrix, tiny, environ=hub_creds(hub), variants=["plain"],
                           description=page)
    assert statuses(outcomes) == {("22.10.1", "hub"): "published"}
    assert api.patches == [{"full_description": page}]
    assert "| `22.10.1` `22.10` `22` `lts` `latest` |" in " ".join(api.full_description.split())

    api.full_description = "edited by hand"
    api.fail_patch = 500
    again = run_publish(docker, matrix, tiny, environ=hub_creds(hub), variants=["plain"],
                        description=page)
    assert statuses(again) == {("22.10.1", "hub"): "up to date"}
    assert check(again) == 0                        # the run still succeeds
    err = capsys.readouterr().err
    assert "description of " in err and "not updated (the images are published)" in err
    assert hub.password not in err and not any(token in err for token in api.tokens)


# ----------------------------------------------------------------------------- answers that are not "absent"

# What ECR answers a role that may push but not read (no ecr:BatchGetImage), as users saw it:
# bottlerocket-os/bottlerocket-update-operator#157, everything2/everything2#2562; the status
# is 403 (dotnet/sdk#37659). GHCR answers a HEAD of a package the token may not read with 403
# too (LeoMartinDev/voy#3, docker/build-push-action#981), and GCR alike
# (google/go-containerregistry#825). docker-registry answers 401 or 200, never 403: the
# RegistryFront (tests/integration/registry.py) gives the 403 in front of it.
ECR_DENIED = ("User: arn:aws:sts::123456789012:assumed-role/publisher/ci is not authorized to "
              "perform: ecr:BatchGetImage on resource: "
              "arn:aws:ecr:eu-west-1:123456789012:repository/asterisk")


@pytest.fixture
def front(auth_registry):
    made = RegistryFront(auth_registry)
    yield made
    made.close()


def counting(built: list):
    def smoke(docker, image_ref, target, platform, logs):
        built.append(target.id)
        version_smoke(docker, image_ref, target, platform, logs)
    return smoke


def test_a_tag_the_credentials_may_not_read_is_an_error_not_a_first_publish(docker, auth_registry,
                                                                          front, tiny, tmp_path):
    """Issue 18.4: basic auth (as ECR has it), the credentials accepted at login, then 403 on
    every manifest read: a role that may push but not read. A stale release list gives 22.9.0
    the tags 22, lts and latest, which hold 22.10.1: read as "absent", they were created over
    it (moved backwards, past the never-backwards check). Now the target fails in that
    registry with the 403 named, nothing is built or pushed, every tag stays, exit 9."""
    entry = oci_entry(auth_registry)
    new = write_matrix(tmp_path / "new", [entry], ["22.9.0", "22.10.1"])
    run_publish(docker, new, tiny, variants=["plain"], environ=creds(auth_registry))
    before = {tag: auth_registry.complete(REPO, tag) for tag in auth_registry.tags(REPO)}
    assert sorted(before) == ["22", "22.10", "22.10.1", "latest", "lts"]

    for method in ("HEAD", "GET"):
        front.forbid(method, rf"/v2/{REPO}/manifests/.*", "DENIED", ECR_DENIED)
    stale = write_matrix(tmp_path / "stale", [{**entry, "repository": f"{front.host}/{REPO}"}],
                         ["22.9.0"])
    built: list[str] = []
    outcomes = run_publish(docker, stale, tiny, variants=["plain"], environ=creds(auth_registry),
                           smoke=counting(built))
    assert statuses(outcomes) == {("22.9.0", "local"): "failed"}
    assert f"{front.host}/{REPO}: HEAD manifest 22.9.0: HTTP 403" in outcomes[0].reason
    assert ("HEAD", f"/v2/{REPO}/manifests/22.9.0", 403) in front.answers
    assert built == []
    with pytest.raises(PublishError) as caught:
        check(outcomes)
    assert caught.value.exit_code == 9
    assert {tag: auth_registry.complete(REPO, tag) for tag in auth_registry.tags(REPO)} == before


def test_docker_hubs_401_for_a_new_repository_is_docker_hubs_alone(docker, hub, tiny, tmp_path):
    """The Docker Hub stand-in answers 401 for a repository that does not exist yet, as
    Docker Hub does (binderhub#1664): a `dockerhub` entry publishes it for the first time
    (test_docker_hub_first_publish_creates_the_repository). The same answer to an `oci`
    entry is what it says, an error; and a 403 from Docker Hub itself, for a repository that
    exists, is never "absent" either: the tags stay where they are."""
    oci = {"name": "hub", "type": "oci", "repository": f"{hub.host}/{hub.username}/{REPO}",
           "username_env": "HUB_USER", "password_env": "HUB_TOKEN"}
    matrix = write_matrix(tmp_path / "oci", [oci], ["22.10.1"], platforms=["linux/amd64"])
    [refused] = run_publish(docker, matrix, tiny, environ=hub_creds(hub), variants=["plain"])
    assert refused.status == "failed" and "HTTP 401" in refused.reason, refused.reason
    assert hub.upstream.tags(f"{hub.username}/{REPO}") == []

    first = write_matrix(tmp_path / "hub", [hub_entry(hub)], ["22.9.0"], platforms=["linux/amd64"])
    assert statuses(run_publish(docker, first, tiny, environ=hub_creds(hub), variants=["plain"])) == {
        ("22.9.0", "hub"): "published"}
    before = {tag: hub.upstream.complete(f"{hub.username}/{REPO}", tag)
              for tag in hub.upstream.tags(f"{hub.username}/{REPO}")}
    hub.fail(403, times=1000, kind="manifest", method="HEAD")
    newer = write_matrix(tmp_path / "newer", [hub_entry(hub)], ["22.9.0", "22.10.1"],
                         platforms=["linux/amd64"])
    [failed] = run_publish(docker, newer, tiny, environ=hub_creds(hub), variants=["plain"])
    assert failed.status == "failed" and "HTTP 403" in failed.reason, failed.reason
    hub.faults.clear()
    assert {tag: hub.upstream.complete(f"{hub.username}/{REPO}", tag)
            for tag in hub.upstream.tags(f"{hub.username}/{REPO}")} == before


# A schema 1 manifest (no config, no media type of its own), served with a schema 2 media type:
# Harbor has answered clients that asked for schema 2 with schema 1 (goharbor/harbor#12208,
# containerd/containerd#5632).
SCHEMA1 = json.dumps({"schemaVersion": 1, "name": f"{REPO}", "tag": "lts", "architecture": "amd64",
                      "fsLayers": [{"blobSum": "sha256:" + "a" * 64}],
                      "history": [{"v1Compatibility": "{}"}]}).encode()


def test_a_malformed_manifest_fails_its_target_and_the_others_go_on(docker, plain_registry, tiny,
                                                                     tmp_path):
    """Issue 18.4: a manifest that cannot be read (KeyError, ValueError) ended the run with
    exit 1 and no summary. Now it fails the target whose tag points at it, in that registry,
    with the tag and the reason named; the other targets are decided and reported; exit 9.
    Two cases: a front serving a schema 1 manifest as schema 2 under `lts` (Harbor did), and
    an image in the real registry whose config is not JSON (an artifact pushed under one of
    our tags, e.g. `oras push --config FILE:TYPE`; docker-registry checks only that the
    config blob exists) under `lts-opus`."""
    matrix = write_matrix(tmp_path / "m", [oci_entry(plain_registry)], ["22.10.1"],
                          platforms=["linux/amd64"])
    assert set(statuses(run_publish(docker, matrix, tiny)).values()) == {"published"}

    # lts-opus: the same image manifest, its config descriptor pointing at its last layer
    _, image = plain_registry.manifest(REPO, "lts-opus")
    if image.get("manifests"):
        child = next(c for c in image["manifests"] if c["platform"]["architecture"] == "amd64")
        _, image = plain_registry.manifest(REPO, child["digest"])
    layer = image["layers"][-1]
    image["config"] = {**image["config"], "digest": layer["digest"], "size": layer["size"]}
    put = requests.put(f"{plain_registry.url}/v2/{REPO}/manifests/lts-opus", data=json.dumps(image),
                       headers={"Content-Type": image["mediaType"]}, timeout=30)
    assert put.status_code == 201, put.text

    front = RegistryFront(plain_registry)
    try:
        digest = "sha256:" + hashlib.sha256(SCHEMA1).hexdigest()
        front.serve_manifest(rf"/v2/{REPO}/manifests/(lts|{digest})", SCHEMA1,
                             "application/vnd.docker.distribution.manifest.v2+json")
        fronted = write_matrix(tmp_path / "front", [oci_entry(plain_registry, repository=f"{front.host}/{REPO}")],
                               ["22.10.1"], platforms=["linux/amd64"])
        outcomes = {o.target.id: o for o in run_publish(docker, fronted, tiny)}
    finally:
        front.close()
    assert {k: o.status for k, o in outcomes.items()} == {"22.10.1": "failed", "22.10.1-opus": "failed"}
    assert f"{front.host}/{REPO}: manifest {digest} is not a manifest (malformed image manifest" \
        in outcomes["22.10.1"].reason, outcomes["22.10.1"].reason
    assert "is not JSON" in outcomes["22.10.1-opus"].reason, outcomes["22.10.1-opus"].reason
    with pytest.raises(PublishError):
        check(list(outcomes.values()))
@pytest.mark.parametrize("stored", ["helper prints junk", "helper prints a list", "auth not base64"])
def test_an_unreadable_docker_login_fails_that_registry_and_the_others_go_on(plain_registry,
                                                                             auth_registry, tiny,
                                                                             tmp_path, stored):
    """Issue 18.4: a registry without username_env takes the login `docker login` stored.
    A credential helper that answers `get` with something other than its JSON, or an
    `auths` entry that is not base64, raised ValueError: exit 1, a traceback, the other
    registries never reported. Now, through the real CLI (a dry run: nothing is built): that
    registry fails, naming the helper or the entry and how to check it, without showing
    what the helper printed (it may hold the secret); the other registry is decided; exit 9."""
    from pytest_httpserver import HTTPServer

    dockerfiles, context, digest = tiny
    secret = "s3cret-fr0m-the-helper"
    bin_dir, config = tmp_path / "bin", tmp_path / "docker-config"
    bin_dir.mkdir()
    config.mkdir()
    printed = {"helper prints junk": f"Username=pipeline Secret={secret}",
               "helper prints a list": json.dumps([{"Username": "pipeline", "Secret": secret}]),
               "auth not base64": ""}[stored]
    helper = bin_dir / "docker-credential-junk"
    helper.write_text(f"#!/bin/sh\ncat >/dev/null\nprintf '%s\\n' '{printed}'\n")
    helper.chmod(0o755)
    host = auth_registry.host
    if stored == "auth not base64":
        (config / "config.json").write_text(json.dumps({"auths": {host: {"auth": f"%{secret}%"}}}))
    else:
        (config / "config.json").write_text(json.dumps({"credHelpers": {host: "junk"}}))
    with HTTPServer(host="127.0.0.1", port=free_port()) as server:
        server.expect_request(
            "/downloads.asterisk.org/pub/telephony/asterisk/releases/asterisk-22.10.1.sha256"
        ).respond_with_data(f"{digest}  asterisk-22.10.1.tar.gz\n")
        matrix = write_matrix(tmp_path / "m", [
            {"name": "stored", "type": "oci", "repository": f"{host}/{REPO}"},
            oci_entry(plain_registry, name="plain")], ["22.10.1"], mirror=server.url_for("/").rstrip("/"))
        env = {"DOCKER_CONFIG": str(config), "PATH": f"{bin_dir}:{os.environ['PATH']}",
               "PIPELINE_OUT": str(tmp_path / "out")}
        result = cli(["publish", "--dry-run", "-v", "--matrix", str(matrix), "--variant", "plain"],
                     cwd=tmp_path, env=env, dockerfiles=dockerfiles)
    output = result.stdout + result.stderr
    assert result.returncode == 9, output
    assert "Traceback" not in output and secret not in output
    if stored == "auth not base64":
        assert f"{host}: the login stored for {host} in {config / 'config.json'}" in output
    else:
        assert f"{host}: the credential helper docker-credential-junk (named in " in output
        assert f"echo {host} | docker-credential-junk get" in output
    assert "| 22.10.1 | stored   | failed" in output
    assert "| 22.10.1 | plain    | would publish" in output


def test_a_docker_save_that_fails_fails_its_target_and_the_others_go_on(docker, plain_registry,
                                                                         tiny, tmp_path):
    """Issue 18.4: a DockerException from `docker save`/`inspect` of the tested image (here,
    it was removed after its smoke test, as a clean-up on a shared engine can do) ended the
    run. Now it fails that target, named with Docker's own error; the next target is
    published; the summary shows both; exit 9."""
    def removed_after_test(docker, image_ref, target, platform, logs):
        version_smoke(docker, image_ref, target, platform, logs)
        if target.variant.name == "plain":
            docker.image.remove(image_ref)

    matrix = write_matrix(tmp_path / "m", [oci_entry(plain_registry)], ["22.10.1"],
                          platforms=["linux/amd64"])
    outcomes = run_publish(docker, matrix, tiny, smoke=removed_after_test)
    assert statuses(outcomes) == {("22.10.1", "local"): "failed", ("22.10.1-opus", "local"): "published"}
    assert f"22.10.1: Error response from daemon: No such image: {IMAGE_NAME}:22.10.1" in outcomes[0].reason
    assert plain_registry.tags(REPO) == ["22-opus", "22.10-opus", "22.10.1-opus", "latest-opus", "lts-opus"]
    with pytest.raises(PublishError) as caught:
        check(outcomes)
    assert caught.value.exit_code == 9


# ----------------------------------------------------------------------------- the CI split

@contextlib.contextmanager
def checksum_mirror(digest: str, version: str = "22.10.1"):
    """The stand-in mirror's URL, serving only the release's published sha256 (the inputs
    digest reads it; the tiny image needs no tarball): for the real CLI's plan and merge."""
    from pytest_httpserver import HTTPServer

    with HTTPServer(host="127.0.0.1", port=free_port()) as server:
        server.expect_request(
            f"/downloads.asterisk.org/pub/telephony/asterisk/releases/asterisk-{version}.sha256"
        ).respond_with_data(f"{digest}  asterisk-{version}.tar.gz\n")
        yield server.url_for("/").rstrip("/")


@pytest.fixture
def base_registry(tools, docker, tmp_path):
    """A registry serving the targets' base image, as Docker Hub serves Debian's: CI's jobs
    each resolve it there (bases.Resolver), and the engine has no copy of it (as a runner
    has none). Yields (registry, base image ref, push(marker): push a new base image under
    that ref, returning its NAME@DIGEST)."""
    registry = start_registry(tmp_path / "bases")
    ref = f"{registry.host}/base:trixie"

    def push(marker: str) -> str:
        push_tiny_base(docker, ref, marker, base=BASE_IMAGE, platforms=PLATFORMS,
                       directory=tmp_path / "base-contexts")
        return f"{ref}@{distribution.Client(registry.host).head_manifest('base', 'trixie')}"

    yield registry, ref, push
    registry.stop()


def test_ci_build_jobs_push_by_digest_then_the_merge_tags(docker, plain_registry, base_registry, tiny,
                                                         tmp_path):
    """As the workflow runs it: the real CLI's plan (`--json --per-platform`: the jobs'
    matrix, with the plan's `created`), one `--by-digest` job per platform with that
    `created` (build, smoke, push that platform's tested manifest by digest, no tag:
    publish.execute in that mode, with the tiny image's Maker), then the real CLI's
    `--merge` makes the index and moves the tags; a platform missing refuses the target.
    Then, with max_age set and an empty manifest cache (CI's is lost; every check below
    reads the registry itself): a rerun of the merge and the next plan find it up to date
    (issue 23.4: each job stamped its own `created`, the platforms disagreed, and every run
    rebuilt everything)."""
    from pipeline import bases

    dockerfiles, context, digest = tiny
    _, base, push_base = base_registry
    push_base("first")
    with checksum_mirror(digest) as mirror:
        matrix_path = write_matrix(tmp_path / "m", [oci_entry(plain_registry)], ["22.10.1"],
                                   mirror=mirror, base_image=base,
                                   series=({"spec": "22.x", "max_age": "7d"},))
        digests = tmp_path / "digests"
        # the base image from its registry, as in production, whatever the shell says
        env = {"PIPELINE_OUT": str(tmp_path / "out"), "PIPELINE_OFFLINE": "0"}

        def empty_cache() -> list[str]:
            return ["--manifest-cache", str(tmp_path / f"empty-{len(list(tmp_path.iterdir()))}.json")]

        plan = ["plan", "--matrix", str(matrix_path), "--variant", "plain", "--outdated", "--json"]
        result = cli([*plan, "--per-platform"], cwd=tmp_path, env=env, dockerfiles=dockerfiles)
        assert result.returncode == 0, result.stderr
        jobs = json.loads(result.stdout)["include"]
        assert [job["platform"] for job in jobs] == PLATFORMS
        [created] = {job["created"] for job in jobs}
        for entry in jobs:
            [job] = run_publish(docker, matrix_path, tiny, variants=["plain"], mode="by-digest",
                                digests=digests, build_platform=entry["platform"],
                                created=parse_created(created),
                                base_digest=bases.Resolver(docker))
            assert job.status == "pushed by digest", job.reason
            assert plain_registry.tags(REPO) == []       # no tag before the merge
            pushed = json.loads((digests / "22.10.1" / "local" / entry["platform_slug"]).read_text())
            assert pushed["platform"] == entry["platform"]
            assert pushed["labels"][CREATED_LABEL] == created
            # what was pushed is the image this job smoke-tested, and its provenance
            local = local_manifests(docker, f"{IMAGE_NAME}:22.10.1", tmp_path)
            assert pushed["digest"] == local[entry["platform"]]
            [attestation] = pushed["attestations"]
            assert attestation["annotations"]["vnd.docker.reference.digest"] == pushed["digest"]

        merge = ["publish", "--matrix", str(matrix_path), "--variant", "plain", "--merge", str(digests),
                 "--created", created]
        arm64 = digests / "22.10.1" / "local" / "linux-arm64"
        kept = arm64.read_text()
        arm64.unlink()
        result = cli(merge, cwd=tmp_path, env=env, dockerfiles=dockerfiles)
        assert result.returncode == 9 and "no digest for linux/arm64" in result.stderr, result.stderr
        assert plain_registry.tags(REPO) == []

        arm64.write_text(kept)
        result = cli(merge, cwd=tmp_path, env=env, dockerfiles=dockerfiles)
        assert result.returncode == 0, result.stderr
        for tag in ["22.10.1", "22.10", "22", "lts", "latest"]:
            assert plain_registry.complete(REPO, tag)[1] == PLATFORMS
        check_provenance(plain_registry, "22.10.1", PLATFORMS)     # the jobs' attestations merged
        held = plain_registry.labels(REPO, "22.10.1")
        assert {labels[CREATED_LABEL] for labels in held.values()} == {created}, held

        result = cli(merge + empty_cache(), cwd=tmp_path, env=env, dockerfiles=dockerfiles)
        assert result.returncode == 0 and "| up to date |" in result.stderr, result.stderr
        result = cli(plan + empty_cache(), cwd=tmp_path, env=env, dockerfiles=dockerfiles)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == {"include": []}


def test_a_base_image_pushed_while_the_build_jobs_run_ships_in_the_next_run(docker, plain_registry,
                                                                         base_registry, tiny, tmp_path):
    """Debian pushes a new base image after the build jobs resolved theirs and before the
    merge: the merge tags what the build jobs built (on the old base), and the manifest
    cache it leaves says so, as the registry does; so the next plan, with that cache or
    none, rebuilds the target on the new base, and that run ships it (issue 23.4: the merge
    cached its own fresh labels, "new base", for an index built on the old one, and every
    later plan said up to date). Each job resolves the base itself, as CI's jobs do."""
    from pipeline import bases

    _, base, push_base = base_registry
    old = push_base("before")
    matrix = write_matrix(tmp_path / "m", [oci_entry(plain_registry)], ["22.10.1"], base_image=base)
    merge_cache, digests = tmp_path / "merge-cache.json", tmp_path / "digests"

    def ci_run(*, meanwhile=lambda: None):
        created = datetime.datetime.now(datetime.UTC).replace(microsecond=0)   # the plan's
        for platform in PLATFORMS:
            [job] = run_publish(docker, matrix, tiny, variants=["plain"], mode="by-digest",
                                digests=digests, build_platform=platform, created=created,
                                base_digest=bases.Resolver(docker))
            assert job.status == "pushed by digest", job.reason
        meanwhile()
        [merged] = run_publish(docker, matrix, tiny, variants=["plain"], mode="merge", digests=digests,
                               cache=merge_cache, created=created, base_digest=bases.Resolver(docker))
        assert merged.status == "published", merged.reason
        shutil.rmtree(digests)      # a run's artifacts are its own
        return merged

    def next_plan(cache: Path) -> dict:
        loaded = load(matrix, environ={})
        plan = make_plan(loaded, ReleaseIndex(loaded.releases, loaded.sources), variants=["plain"])
        maker = make_maker(loaded, tiny, tmp_path / "out", base_digest=bases.Resolver(docker))
        return outdated.needs(plan, maker.inputs, outdated.Options(manifest_cache=cache),
                              base_dir=matrix.parent, environ={})

    latest = {}
    merged = ci_run(meanwhile=lambda: latest.update(digest=push_base("security-update")))
    held = plain_registry.labels(REPO, "22.10.1")
    assert {labels[BASE_LABEL] for labels in held.values()} == {old}    # what was built
    cached = registries.ManifestCache(merge_cache).get(merged.digest)
    assert cached is not None
    assert {p: ls[BASE_LABEL] for p, ls in cached.labels.items()} == \
        {p: ls[BASE_LABEL] for p, ls in held.items()}                  # what the registry holds
    for cache in (merge_cache, tmp_path / "empty-cache.json"):
        needs = next_plan(cache)
        assert set(needs) == {"22.10.1"} and needs["22.10.1"][0], needs
        assert needs["22.10.1"][1].startswith("rebuilt: new base image"), needs

    ci_run()
    held = plain_registry.labels(REPO, "lts")
    assert {labels[BASE_LABEL] for labels in held.values()} == {latest["digest"]}
    assert next_plan(tmp_path / "another-empty-cache.json") == {}
    assert next_plan(merge_cache) == {}


def split_jobs(docker, matrix, tiny, digests, *, created, between=lambda platform: None):
    """The build jobs of one CI run (one per platform, each resolving the base image itself),
    as the workflow runs them with the plan's created; between(platform) after each job."""
    from pipeline import bases

    for platform in PLATFORMS:
        [job] = run_publish(docker, matrix, tiny, variants=["plain"], mode="by-digest",
                            digests=digests, build_platform=platform, created=created,
                            base_digest=bases.Resolver(docker))
        assert job.status == "pushed by digest", job.reason
        between(platform)


def test_the_merge_needs_no_base_image(docker, plain_registry, base_registry, tiny, tmp_path):
    """The merge tags what its build jobs pushed, from their descriptors: it does not resolve
    the base image again, so a base registry that cannot be read by then (Docker Hub's 429,
    an outage) does not hold back images that were built and smoke-tested."""
    from pipeline import bases

    bases_, base, push_base = base_registry
    built_on = push_base("first")
    matrix = write_matrix(tmp_path / "m", [oci_entry(plain_registry)], ["22.10.1"], base_image=base)
    created = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    split_jobs(docker, matrix, tiny, tmp_path / "digests", created=created)
    bases_.stop()
    [merged] = run_publish(docker, matrix, tiny, variants=["plain"], mode="merge",
                           digests=tmp_path / "digests", created=created,
                           base_digest=bases.Resolver(docker))
    assert merged.status == "published", merged.reason
    held = plain_registry.labels(REPO, "lts")
    assert {labels[BASE_LABEL] for labels in held.values()} == {built_on}


def test_build_jobs_on_different_base_images_are_not_merged(docker, plain_registry, base_registry,
                                                            tiny, tmp_path):
    """Debian pushes a new base image between two build jobs of one target: they made two
    different images (their inputs disagree), and the merge tags neither, naming both; the
    registry's tags are as they were, and the next run builds both platforms on the new
    base and ships them."""
    _, base, push_base = base_registry
    first = push_base("first")
    matrix = write_matrix(tmp_path / "m", [oci_entry(plain_registry)], ["22.10.1"], base_image=base)
    digests = tmp_path / "digests"
    created = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    newer = {}

    def after(platform: str) -> None:
        if platform == PLATFORMS[0]:
            newer["base"] = push_base("security-update")

    split_jobs(docker, matrix, tiny, digests, created=created, between=after)
    [refused] = run_publish(docker, matrix, tiny, variants=["plain"], mode="merge", digests=digests,
                            created=created)
    assert refused.status == "failed"
    assert "its build jobs made different images" in refused.reason, refused.reason
    for platform, built_on in (("linux/amd64", first), ("linux/arm64", newer["base"])):
        assert f"{platform} in local: inputs " in refused.reason
        assert f"base {built_on}, created {created_text(created)}" in refused.reason
    assert plain_registry.tags(REPO) == []
    shutil.rmtree(digests)

    split_jobs(docker, matrix, tiny, digests, created=created)
    [merged] = run_publish(docker, matrix, tiny, variants=["plain"], mode="merge", digests=digests,
                           created=created)
    assert merged.status == "published", merged.reason
    held = plain_registry.labels(REPO, "22.10.1")
    assert {labels[BASE_LABEL] for labels in held.values()} == {newer["base"]}


def test_merge_refuses_a_directory_that_does_not_exist(plain_registry, tmp_path):
    matrix = write_matrix(tmp_path / "m", [oci_entry(plain_registry)], ["22.10.1"])
    for extra in ([], ["--dry-run"]):
        result = cli(["publish", "--matrix", str(matrix), "--merge", str(tmp_path / "nowhere"), *extra],
                     cwd=tmp_path)
        assert result.returncode == 2 and "no such directory" in result.stderr, result.stderr


# ----------------------------------------------------------------------------- after release day

def test_a_new_base_image_rebuilds_exactly_the_targets_on_it(docker, plain_registry, tiny, tmp_path):
    """Bases served from a local registry: publish, push a changed base under the same tag,
    publish again: only the targets on that base are rebuilt, their tags move to the new
    image; a third run does nothing (issue 14.1)."""
    from pipeline import bases

    base_registry = start_registry(tmp_path / "bases")
    try:
        def push_base(tag: str, marker: str) -> None:
            push_tiny_base(docker, f"{base_registry.host}/base:{tag}", marker, base=BASE_IMAGE,
                           platforms=PLATFORMS, directory=tmp_path / tag)

        push_base("a", "first")
        push_base("b", "first")
        matrix = write_matrix(tmp_path / "m", [oci_entry(plain_registry)], ["20.20.1", "22.10.1"],
                              series=({"spec": "22.x", "base_image": f"{base_registry.host}/base:a"},
                                      {"spec": "20.x", "base_image": f"{base_registry.host}/base:b"}))

        def publish_all():
            return run_publish(docker, matrix, tiny, variants=["plain"],
                               base_digest=bases.Resolver(docker))

        assert set(statuses(publish_all()).values()) == {"published"}
        before = {tag: plain_registry.complete(REPO, tag)[0] for tag in plain_registry.tags(REPO)}
        push_base("a", "security-update")
        second = publish_all()
        assert statuses(second) == {("22.10.1", "local"): "published", ("20.20.1", "local"): "up to date"}
        full = next(a for a in second[0].actions if a.tag == "22.10.1")
        assert full.action == "move" and full.reason.startswith("rebuilt: new base image"), full
        after = {tag: plain_registry.complete(REPO, tag)[0] for tag in plain_registry.tags(REPO)}
        assert {t for t in before if after[t] != before[t]} == {"22.10.1", "22.10", "22", "lts", "latest"}
        assert set(statuses(publish_all()).values()) == {"up to date"}
    finally:
        base_registry.stop()


@pytest.mark.parametrize("status", [429, 503])
def test_an_unreadable_base_registry_rolls_nothing_back(docker, plain_registry, tiny, tmp_path, status):
    """The base image's registry answers 429 or 503 while the engine holds an older copy of
    that base: publishing does not decide that target this run (nothing pushed, its tags
    where they were, the failure reported); a target on a readable base is decided as
    usual. Before issue 23 item 5, the local copy was used: the target was rebuilt on the
    older base and pushed over the newer image."""
    from pipeline import bases

    base_registry = start_registry(tmp_path / "bases")
    front = RegistryFront(base_registry)
    old_copy = f"{front.host}/base:a"
    try:
        push_tiny_base(docker, f"{base_registry.host}/base:a", "old", base=BASE_IMAGE,
                       platforms=PLATFORMS, directory=tmp_path / "a-old")
        docker.pull(old_copy, quiet=True)       # the engine keeps this older base, pulled once
        push_tiny_base(docker, f"{base_registry.host}/base:a", "new", base=BASE_IMAGE,
                       platforms=PLATFORMS, directory=tmp_path / "a-new")
        push_tiny_base(docker, f"{base_registry.host}/base:b", "b", base=BASE_IMAGE,
                       platforms=PLATFORMS, directory=tmp_path / "b")
        matrix = write_matrix(tmp_path / "m", [oci_entry(plain_registry)], ["20.20.1", "22.10.1"],
                              series=({"spec": "22.x", "base_image": old_copy},
                                      {"spec": "20.x", "base_image": f"{front.host}/base:b"}))

        def publish_all():
            policy = bases.Policy.for_run({}, publishing=True)
            return run_publish(docker, matrix, tiny, variants=["plain"],
                               base_digest=bases.Resolver(docker, policy))

        assert set(statuses(publish_all()).values()) == {"published"}   # on the newer base
        before = {tag: plain_registry.complete(REPO, tag)[0] for tag in plain_registry.tags(REPO)}
        front.fail(None, r"/v2/base/manifests/a", status)
        second = publish_all()
        found = {(o.target.id, o.registry.name): o for o in second}
        failed = found[("22.10.1", "local")]
        assert failed.status == "failed" and "not decided this run" in failed.reason, failed
        assert found[("20.20.1", "local")].status == "up to date"   # its base is readable
        after = {tag: plain_registry.complete(REPO, tag)[0] for tag in plain_registry.tags(REPO)}
        assert after == before, "a tag moved although its base image could not be read"
    finally:
        front.close()
        base_registry.stop()
        if docker.image.exists(old_copy):
            docker.image.remove(old_copy, force=True)


# ----------------------------------------------------------------------------- Amazon ECR

@pytest.fixture
def aws(monkeypatch, tools):
    """moto_server plays the AWS API (token exchange, repositories, STS)."""
    port = free_port()
    moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import requests

        wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/", timeout=2).ok, "moto_server")
        for name, value in {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
                            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_SESSION_TOKEN": "testing"}.items():
            monkeypatch.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
            monkeypatch.delenv(name, raising=False)
        yield
    finally:
        moto.terminate()
        moto.wait(10)


def ecr_registry(tmp_path):
    """The registry endpoint ECR would be: its only user is AWS with moto's token password,
    so a push works only with the exchanged token."""
    return start_registry(tmp_path / "ecr-registry", username="AWS", password="123456789012-auth-token")


def test_ecr_token_from_the_aws_api_and_repository_created(docker, tiny, tmp_path, aws):
    import boto3

    registry = ecr_registry(tmp_path)
    try:
        entry = {"name": "ecr", "type": "ecr", "repository": REPO, "region": "eu-west-1",
                 "account": "123456789012", "host": registry.host}
        matrix = write_matrix(tmp_path / "m", [entry], ["22.10.1"])
        outcomes = run_publish(docker, matrix, tiny, variants=["plain"])
        assert statuses(outcomes) == {("22.10.1", "ecr"): "published"}
        assert registry.complete(REPO, "lts")[1] == PLATFORMS
        ecr = boto3.client("ecr", region_name="eu-west-1")
        names = [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]]
        assert names == [REPO]
        again = run_publish(docker, matrix, tiny, variants=["plain"])
        assert set(statuses(again).values()) == {"up to date"}
    finally:
        registry.stop()


def test_ecr_account_and_region_from_the_environment_and_sts(docker, tiny, tmp_path, aws, monkeypatch):
    registry = ecr_registry(tmp_path)
    try:
        monkeypatch.setenv("AWS_REGION", "eu-central-1")
        entry = {"name": "ecr", "type": "ecr", "repository": REPO, "host": registry.host}
        matrix = write_matrix(tmp_path / "m", [entry], ["22.10.1"])
        outcomes = run_publish(docker, matrix, tiny, variants=["plain"], environ=dict(os.environ))
        assert statuses(outcomes) == {("22.10.1", "ecr"): "published"}, outcomes[0].reason
        monkeypatch.delenv("AWS_REGION")
        [failed] = run_publish(docker, matrix, tiny, variants=["plain"], environ=dict(os.environ))
        assert failed.status == "failed" and "set AWS_REGION" in failed.reason
    finally:
        registry.stop()


def test_ecr_immutable_tags_refuse_the_target_before_anything_is_pushed(docker, tiny, tmp_path, aws):
    import boto3

    registry = ecr_registry(tmp_path)
    try:
        boto3.client("ecr", region_name="eu-west-1").create_repository(
            repositoryName=REPO, imageTagMutability="IMMUTABLE")
        entry = {"name": "ecr", "type": "ecr", "repository": REPO, "region": "eu-west-1",
                 "account": "123456789012", "host": registry.host}
        first = write_matrix(tmp_path / "old", [entry], ["22.9.0"])
        assert statuses(run_publish(docker, first, tiny, variants=["plain"])) == {
            ("22.9.0", "ecr"): "published"}       # new tags can be created
        before = {tag: registry.complete(REPO, tag)[0] for tag in registry.tags(REPO)}
        newer = write_matrix(tmp_path / "new", [entry], ["22.9.0", "22.10.1"])
        [refused] = run_publish(docker, newer, tiny, variants=["plain"])
        assert refused.status == "failed"
        assert "IMMUTABLE" in refused.reason and "22, lts, latest cannot move" in refused.reason
        assert {tag: registry.complete(REPO, tag)[0] for tag in registry.tags(REPO)} == before
    finally:
        registry.stop()
