"""Publishing against real registries (Debian's docker-registry, started here).

The images are tiny (a file written on top of the base image) but built, pushed and tagged
by the same code as Asterisk: build.build_image with `dockerfiles=` a directory whose
stages are `runtime` and `runtime-opus`, using the `sources` build context and the
ASTERISK_VERSION / BASE_IMAGE arguments. A full Asterisk arm64 build under emulation would
take an hour. The smoke test is a real, minimal one: run the image and read its version.

Stand-ins, named where used: moto in server mode plays the AWS API (ECR tokens and
repositories); a local registry plays the ECR registry endpoint (matrix key `host:`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import yaml
from python_on_whales import DockerClient

from pipeline import publish, report
from pipeline.build import Maker
from pipeline.errors import SmokeError
from pipeline.matrix import load
from pipeline.plan import make_plan
from pipeline.releases import ReleaseIndex
from tests.conftest import CERTIFIED_FILE, RELEASES_FILE
from tests.integration.conftest import BASE_IMAGE, require
from tests.integration.registry import CuttingProxy, forget_tls, free_port, start_registry, wait_for
from tests.integration.tiny_image import TINY_DOCKERFILE

ROOT = Path(__file__).resolve().parents[2]
PLATFORMS = ["linux/amd64", "linux/arm64"]
REPO = "asterisk"


# ----------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def tools():
    for tool in ("docker-registry", "htpasswd", "openssl"):
        require(tool)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(dockerfiles dir, sources context, sha256 of the context's 'release tarball')."""
    base = tmp_path_factory.mktemp("tiny")
    dockerfiles, context = base / "dockerfiles", base / "sources"
    dockerfiles.mkdir()
    context.mkdir()
    (dockerfiles / "Dockerfile").write_text(TINY_DOCKERFILE)
    marker = base / "README"
    marker.write_text("a stand-in for an Asterisk release tarball\n")
    with tarfile.open(context / "asterisk.tar.gz", "w:gz") as tar:
        tar.add(marker, arcname="asterisk/README")
    digest = hashlib.sha256((context / "asterisk.tar.gz").read_bytes()).hexdigest()
    return dockerfiles, context, digest


@pytest.fixture(scope="module", autouse=True)
def remove_local_images():
    yield
    names = subprocess.run(["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}",
                            "publish-test"], capture_output=True, text=True).stdout.split()
    if names:
        subprocess.run(["docker", "image", "rm", *names], capture_output=True)


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch, tmp_path):
    monkeypatch.setattr(registries, "RETRY_DELAY", 0.2)
    monkeypatch.setattr(build, "OUT", tmp_path / "out")


@pytest.fixture
def docker(docker, tmp_path):
    """A client with its own Docker config: logins made by a test stay in the test."""
    return DockerClient(config=str(tmp_path / "docker-config"))


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


def write_matrix(directory: Path, registry_entries: list[dict], versions: list[str], *,
                 mirror: str = "http://127.0.0.1:9/unused", series=("22.x",)) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "releases.txt").write_text("\n".join(versions) + "\n")
    matrix = {
        "releases": {"source": "file", "files": ["releases.txt"]},
        "sources": {"mirror": mirror},
        "defaults": {"base_image": BASE_IMAGE, "platforms": PLATFORMS},
        "series": [{"spec": spec} for spec in series],
        "registries": registry_entries,
    }
    path = directory / "matrix.yaml"
    path.write_text(yaml.safe_dump(matrix, sort_keys=False))
    return path


def oci_entry(registry, name="local", **extra) -> dict:
    entry = {"name": name, "type": "oci", "repository": f"{registry.host}/{REPO}"}
    if registry.username:
        entry.update(username_env="TEST_REGISTRY_USER", password_env="TEST_REGISTRY_PASSWORD")
    return {**entry, **extra}


def version_smoke(docker, image, target, platform, logs):
    """A minimal real smoke test: the image runs (on that platform) and knows its version."""
    out = docker.run(image, remove=True, platform=platform)
    if out.strip() != str(target.version):
        raise SmokeError(f"{image} says {out.strip()!r}, expected {target.version}")


def make_maker(matrix, tiny, out, smoke=version_smoke, base_digest=lambda name: "") -> Maker:
    dockerfiles, context, digest = tiny
    return Maker(sources=matrix.sources, out=out, image_name="publish-test", smoke=smoke,
                 dockerfiles=dockerfiles, prepare=lambda release, sources, dest: context,
                 checksum=lambda release: digest, base_digest=base_digest)


def run_publish(docker, matrix_path, tiny, specs=(), *, environ=None, smoke=version_smoke,
                dry_run=False, variants=(), out=None, cache=None, mode="publish", digests=None,
                build_platform="", base_digest=lambda name: ""):
    """publish.execute, as `pipeline publish` runs it, with the tiny image's Maker."""
    matrix = load(matrix_path, environ={})
    plan = make_plan(matrix, ReleaseIndex(matrix.releases, matrix.sources), list(specs),
                     variants=list(variants))
    out = out or matrix_path.parent / "out"
    options = publish.Options(dry_run=dry_run, manifest_cache=cache, mode=mode, digests=digests,
                              build_platform=build_platform)
    outcomes = publish.execute(plan, make_maker(matrix, tiny, out, smoke, base_digest), options,
                               base_dir=matrix_path.parent, environ={} if environ is None else environ,
                               docker=docker)
    report.publications(outcomes)
    return outcomes


def creds(registry) -> dict:
    return {"TEST_REGISTRY_USER": registry.username, "TEST_REGISTRY_PASSWORD": registry.password}


def inspect_platforms(docker, ref: str, env: dict | None = None) -> dict:
    """imagetools inspect's per-platform configs of ref (the check the issue names)."""
    command = [*docker.client_config.docker_cmd, "buildx", "imagetools", "inspect", ref,
               "--format", "{{json .Image}}"]
    out = subprocess.run([str(c) for c in command], capture_output=True, text=True,
                         env={**os.environ, **(env or {})})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def statuses(outcomes) -> dict:
    return {(o.target.id, o.registry.name): o.status for o in outcomes}


# ----------------------------------------------------------------------------- tests

def test_publish_with_basic_auth_then_again_changes_nothing(docker, auth_registry, tiny, tmp_path):
    """Both platforms under every tag; labels carry version and inputs; no secret anywhere
    in the image; the second run reads, finds everything up to date and pushes nothing."""
    matrix = write_matrix(tmp_path / "m", [oci_entry(auth_registry)], ["22.9.0", "22.10.1"])
    start = time.monotonic()
    outcomes = run_publish(docker, matrix, tiny, environ=creds(auth_registry))
    first = time.monotonic() - start
    assert statuses(outcomes) == {("22.10.1", "local"): "published",
                                  ("22.10.1-opus", "local"): "published"}
    expected = ["22", "22-opus", "22.10", "22.10-opus", "22.10.1", "22.10.1-opus",
                "latest", "latest-opus", "lts", "lts-opus"]
    assert auth_registry.tags(REPO) == expected
    before = {}
    for tag in expected:
        digest, platforms = auth_registry.complete(REPO, tag)
        assert platforms == PLATFORMS, tag
        before[tag] = digest
    configs = inspect_platforms(docker, f"{auth_registry.host}/{REPO}:lts")
    assert sorted(configs) == PLATFORMS
    for config in configs.values():
        assert config["config"]["Labels"]["org.asterisk.version"] == "22.10.1"
        assert len(config["config"]["Labels"]["org.asterisk-pipeline.inputs"]) == 64
        assert auth_registry.password not in json.dumps(config)   # layers' history, env, labels

    start = time.monotonic()
    again = run_publish(docker, matrix, tiny, environ=creds(auth_registry))
    second = time.monotonic() - start
    assert set(statuses(again).values()) == {"up to date"}
    assert {tag: auth_registry.complete(REPO, tag)[0] for tag in expected} == before
    print(f"\nfirst publish (2 targets, 2 platforms): {first:.1f}s; second (no-op): {second:.1f}s")
    assert second < 15


def test_tls_registry_with_a_private_ca(docker, tiny, tmp_path, tools):
    """`ca_cert:` makes dockerd (push) and imagetools (read, tag) trust the registry's CA."""
    registry = start_registry(tmp_path / "tls-registry", tls=True)
    try:
        # Without the CA the registry is not trusted: certificates are really checked here.
        untrusted = write_matrix(tmp_path / "u", [oci_entry(registry)], ["22.10.1"])
        [refused] = run_publish(docker, untrusted, tiny, variants=["plain"])
        assert refused.status == "failed"
        assert "certificate" in refused.reason, refused.reason
        ca_copy = tmp_path / "m" / "registry-ca.crt"
        ca_copy.parent.mkdir(parents=True)
        ca_copy.write_bytes(registry.ca_cert.read_bytes())
        matrix = write_matrix(tmp_path / "m", [oci_entry(registry, ca_cert="registry-ca.crt")],
                              ["22.10.1"])
        outcomes = run_publish(docker, matrix, tiny, variants=["plain"])
        assert statuses(outcomes) == {("22.10.1", "local"): "published"}
        assert (Path("/etc/docker/certs.d") / registry.host / "ca.crt").read_bytes() == ca_copy.read_bytes()
        for tag in ["22.10.1", "22.10", "22", "lts", "latest"]:
            assert registry.complete(REPO, tag)[1] == PLATFORMS
            configs = inspect_platforms(docker, f"{registry.host}/{REPO}:{tag}",
                                        env={"SSL_CERT_FILE": str(registry.ca_cert)})
            assert sorted(configs) == PLATFORMS
        again = run_publish(docker, matrix, tiny, variants=["plain"])
        assert set(statuses(again).values()) == {"up to date"}
    finally:
        registry.stop()
        forget_tls(registry)


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
    assert "local: 22.10.1: push failed after 4 attempts" in outcomes[0].reason
    assert "| 22.10.1 | local    | failed" in out

    plain_registry.start()   # same storage, same port
    assert plain_registry.tags(REPO) == sorted(before)       # no 22.10.1 tag, nothing moved
    assert {tag: plain_registry.complete(REPO, tag) for tag in before} == before

    outcomes = run_publish(docker, new, tiny, variants=["plain"])
    assert statuses(outcomes) == {("22.10.1", "local"): "published"}
    assert plain_registry.tags(REPO) == ["22", "22.10", "22.10.1", "22.9", "22.9.0", "latest", "lts"]
    assert plain_registry.complete(REPO, "22")[0] == plain_registry.complete(REPO, "22.10.1")[0]
    proxy.close()


def test_wrong_credentials_clear_error_and_the_password_is_never_shown(auth_registry, tmp_path):
    """Through the real CLI, verbose: exit code 9, the registry named, the password nowhere."""
    matrix = write_matrix(tmp_path / "m", [oci_entry(auth_registry)], ["22.10.1"])
    wrong = "Wr0ng-but-s3cret-Pa55"
    env = {**os.environ, "TEST_REGISTRY_USER": "pipeline", "TEST_REGISTRY_PASSWORD": wrong,
           "DOCKER_CONFIG": str(tmp_path / "docker-config")}
    for extra in ([], ["--dry-run"]):
        result = subprocess.run([sys.executable, "-m", "pipeline", "publish", "-v", "--matrix",
                                 str(matrix), *extra], capture_output=True, text=True, env=env,
                                cwd=tmp_path)
        output = result.stdout + result.stderr
        assert result.returncode == 9, output
        assert f"local: login to {auth_registry.host} failed" in output
        assert "unauthorized" in output.lower()
        assert "$TEST_REGISTRY_USER / $TEST_REGISTRY_PASSWORD" in output
        assert wrong not in output
        config = tmp_path / "docker-config" / "config.json"
        assert not config.exists() or base64.b64encode(f"pipeline:{wrong}".encode()).decode() \
            not in config.read_text()


def test_ecr_token_from_the_aws_api_and_repository_created(docker, tiny, tmp_path, monkeypatch, tools):
    """Stand-ins: moto_server plays the AWS API (token exchange, repositories); a local
    docker-registry plays the ECR endpoint, given as the registry's `host:`. Its only user
    is AWS with moto's token password, so the push works only with the exchanged token."""
    pytest.importorskip("moto")
    port = free_port()
    moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    account = "123456789012"
    registry = start_registry(tmp_path / "ecr-registry", username="AWS",
                              password=f"{account}-auth-token")
    try:
        import boto3
        import requests

        wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/", timeout=2).ok, "moto_server")
        for name, value in {"AWS_ENDPOINT_URL_ECR": f"http://127.0.0.1:{port}",
                            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_SESSION_TOKEN": "testing"}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        entry = {"name": "ecr", "type": "ecr", "repository": REPO, "region": "eu-west-1",
                 "account": account, "host": registry.host}
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
        moto.terminate()
        moto.wait(10)


def test_a_target_whose_smoke_test_fails_is_not_pushed(docker, plain_registry, tiny, tmp_path):
    def opus_fails(docker, image, target, logs):
        if target.variant == "opus":
            raise SmokeError(f"{image}: no codec translation path (stand-in failure)")
        version_smoke(docker, image, target, logs)

    matrix = write_matrix(tmp_path / "m", [oci_entry(plain_registry)], ["22.10.1"])
    outcomes = run_publish(docker, matrix, tiny, smoke=opus_fails)
    assert statuses(outcomes) == {("22.10.1", "local"): "published",
                                  ("22.10.1-opus", "local"): "failed"}
    assert "not pushed" in [o for o in outcomes if o.target.variant == "opus"][0].reason
    assert plain_registry.tags(REPO) == ["22", "22.10", "22.10.1", "latest", "lts"]
    with pytest.raises(Exception, match="1 of 2"):
        publish.check(outcomes)


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


def test_dry_run_prints_every_tag_and_touches_nothing(auth_registry, tmp_path, tiny):
    """Through the CLI, with the release checksum served over HTTP like the upstream mirror."""
    from pytest_httpserver import HTTPServer

    dockerfiles, context, digest = tiny
    with HTTPServer(host="127.0.0.1", port=free_port()) as server:
        server.expect_request(
            "/downloads.asterisk.org/pub/telephony/asterisk/releases/asterisk-22.10.1.sha256"
        ).respond_with_data(f"{digest}  asterisk-22.10.1.tar.gz\n")
        matrix = write_matrix(tmp_path / "m", [oci_entry(auth_registry)], ["22.10.1"],
                              mirror=server.url_for("/").rstrip("/"))
        env = {**os.environ, **creds(auth_registry), "DOCKER_CONFIG": str(tmp_path / "docker-config")}
        result = subprocess.run([sys.executable, "-m", "pipeline", "publish", "--dry-run",
                                 "--matrix", str(matrix), "--variant", "plain"],
                                capture_output=True, text=True, env=env, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for tag in ["22.10.1", "22.10", "22", "lts", "latest"]:
        assert f"would create {auth_registry.host}/{REPO}:{tag}" in output
    assert auth_registry.tags(REPO) == []
    assert not (tmp_path / "docker-config" / "config.json").exists()   # no login stored
    assert auth_registry.password not in output


def test_merge_makes_lists_from_per_platform_digests(docker, plain_registry, tiny, tmp_path):
    """The CI split: build jobs push one platform each by digest (simulated here through the
    registry API: this host's docker driver cannot push by digest), then `pipeline publish
    --merge DIR` (the real CLI) makes the manifest list and moves the tags."""
    from pytest_httpserver import HTTPServer

    dockerfiles, context, digest = tiny
    with HTTPServer(host="127.0.0.1", port=free_port()) as server:
        server.expect_request(
            "/downloads.asterisk.org/pub/telephony/asterisk/releases/asterisk-22.10.1.sha256"
        ).respond_with_data(f"{digest}  asterisk-22.10.1.tar.gz\n")
        matrix_path = write_matrix(tmp_path / "m", [oci_entry(plain_registry)], ["22.10.1"],
                                   mirror=server.url_for("/").rstrip("/"))
        matrix = load(matrix_path, environ={})
        plan = make_plan(matrix, ReleaseIndex(matrix.releases, matrix.sources), [],
                         variants=["plain"])
        target, registry = plan.targets[0], plan.registries[0]
        # what the merge job will compute: the inputs of the whole multi-platform target
        inputs = build.inputs_digest(target, matrix.sources, digest, dockerfiles)
        staging = f"{plain_registry.host}/staging"
        build.build_image(docker, target, context, inputs=inputs, platforms=PLATFORMS,
                          tags=[f"{staging}:x"], dockerfiles=dockerfiles,
                          output={"type": "image", "push": "true"})
        docker.image.remove(f"{staging}:x")       # only the registry's copy is needed
        _, index = plain_registry.manifest("staging", "x")
        digests = tmp_path / "digests"
        arm64 = None
        for child in index["manifests"]:
            platform = f"{child['platform']['os']}/{child['platform']['architecture']}"
            plain_registry.copy_untagged("staging", child["digest"], REPO)
            publish.write_digest(digests, target, registry, platform, child["digest"])
            arm64 = arm64 or (platform == "linux/arm64" and child["digest"])
        assert plain_registry.tags(REPO) == []       # pushed by digest: no tag yet

        # the real CLI, its Dockerfiles directory pointed at the tiny one (inputs digest)
        cli = [sys.executable, "-c", "import sys; from pathlib import Path; import pipeline.build as b; "
               f"b.DOCKERFILES = Path({str(dockerfiles)!r}); from pipeline.cli import main; "
               "sys.exit(main(sys.argv[1:]))",
               "publish", "--matrix", str(matrix_path), "--variant", "plain", "--merge", str(digests)]
        env = {**os.environ, "DOCKER_CONFIG": str(tmp_path / "docker-config")}
        # a platform missing: nothing is tagged, and the run fails
        missing = digests / target.id / registry.name / "linux-arm64"
        missing.unlink()
        result = subprocess.run(cli, capture_output=True, text=True, env=env, cwd=tmp_path)
        assert result.returncode == 9 and "no digest for linux/arm64" in result.stderr, result.stderr
        assert plain_registry.tags(REPO) == []

        missing.write_text(arm64 + "\n")
        result = subprocess.run(cli, capture_output=True, text=True, env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        for tag in ["22.10.1", "22.10", "22", "lts", "latest"]:
            assert plain_registry.complete(REPO, tag)[1] == PLATFORMS
        result = subprocess.run(cli, capture_output=True, text=True, env=env, cwd=tmp_path)
        assert result.returncode == 0 and "| up to date |" in result.stderr, result.stderr


def test_scheduled_run_over_the_whole_matrix_when_up_to_date(docker, auth_registry, plain_registry,
                                                              tiny, tmp_path):
    """The repository's matrix.yaml (every series and variant, the real release lists), with
    its two registries replaced by local ones: once published, a rerun only reads (no build)
    and must finish well within the 30 s a scheduled run may take."""
    import dataclasses

    matrix = load(ROOT / "matrix.yaml", environ={"PIPELINE_RELEASES": "file:" + ",".join(
        str(path) for path in (RELEASES_FILE, CERTIFIED_FILE))})
    local = load(write_matrix(tmp_path / "m", [oci_entry(auth_registry, name="hub"),
                                               oci_entry(plain_registry, name="ecr")], ["22.10.1"]),
                 environ={})
    matrix = dataclasses.replace(matrix, registries=local.registries, path=local.path)
    plan = make_plan(matrix, ReleaseIndex(matrix.releases, matrix.sources))
    assert len(plan.targets) == 8

    def once():
        with publish.connected(docker, plan.registries, base_dir=tmp_path, environ=creds(auth_registry)
                               ) as (client, sessions, unreachable):
            return publish.publish(client, plan, sessions, make_builder(matrix, tiny),
                                   unreachable=unreachable)

    start = time.monotonic()
    first = once()
    first_seconds = time.monotonic() - start
    assert set(statuses(first).values()) == {"published"}
    start = time.monotonic()
    again = once()
    seconds = time.monotonic() - start
    publish.report(again)
    assert set(statuses(again).values()) == {"up to date"}
    print(f"\nwhole matrix (8 targets x 2 registries): first publish {first_seconds:.0f}s, "
          f"up-to-date rerun {seconds:.1f}s")
    assert seconds < 30
