"""The fresh path, proven on an engine that has never built anything (fresh_engine.py):

- a target is built FROM a base image that exists only in the local image store (built
  there, never pulled: the stand-ins' debian:trixie-slim, an organisation's own hardened
  base, an air-gapped mirror), and again after a new base image replaced it under the same
  name, each time FROM exactly the digest that was decided on (issue 23: BuildKit looked
  NAME@DIGEST up in the registry and failed, until something had built FROM NAME there);
- README command 1, exactly as the README writes it, builds and smoke-tests both LTS images.

These are the only tests that see a fresh engine: every other test shares the warm one.
The README test compiles Asterisk cold (both images, every smoke check): several minutes.
"""

from __future__ import annotations

import os
import re
import subprocess
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from python_on_whales import DockerClient

from pipeline import bases, build
from pipeline.matrix import load
from pipeline.plan import make_plan
from pipeline.releases import ReleaseIndex
from tests.conftest import ROOT
from tests.integration.fresh_engine import fresh_engine
from tests.integration.tiny_image import tiny_prepare, tiny_sources

pytestmark = pytest.mark.slow

LOCAL_BASE = "pipeline-fresh/base:1"   # never in any registry


@pytest.fixture(scope="module")
def engine():
    with fresh_engine() as started:
        yield started


@pytest.fixture(scope="module")
def client(engine):
    return DockerClient(host=engine.host)


def readme_command_1() -> str:
    """The README's first command (the main job), as a shell command line."""
    block = re.search(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert block, "README.md has no ```sh block"
    lines = [line for line in block[1].splitlines() if line.strip()]
    command = []
    for line in lines[1:] if lines[0].startswith("#") else lines:
        if line.startswith("#"):
            break
        command.append(line.rstrip("\\").strip())
    return " ".join(command)


def make_local_base(client: DockerClient, directory: Path, marker: str) -> str:
    """LOCAL_BASE, built on the fresh engine: the stand-in Debian image's files plus a marker
    file; its digest (the local store's image id)."""
    directory.mkdir(parents=True, exist_ok=True)
    container = client.container.create("debian:trixie-slim", ["true"])
    try:
        client.container.export(container, directory / "rootfs.tar")
    finally:
        client.container.remove(container)
    (directory / "marker").write_text(marker + "\n")
    (directory / "Dockerfile").write_text("FROM scratch\nADD rootfs.tar /\nCOPY marker /base-marker\n")
    # the CLI: python-on-whales' buildx.build(load=True) inspects the build's config digest,
    # which is not an image id in the containerd image store
    subprocess.run(["docker", "buildx", "build", "-q", "--provenance=false", "--load", "-t", LOCAL_BASE,
                    str(directory)], env=engine_env(client), check=True, capture_output=True)
    return str(client.image.inspect(LOCAL_BASE).id)


def engine_env(client: DockerClient) -> dict[str, str]:
    return {**os.environ, "DOCKER_HOST": str(client.client_config.host)}


def test_a_locally_built_base_is_built_from_by_digest_also_after_it_changed(engine, client, tmp_path):
    """Fails before issue 23's fix: 'failed to resolve source metadata for
    docker.io/pipeline-fresh/base:1@sha256:…' (the registry lookup of a local image)."""
    subprocess.run(["bash", "scripts/make-base-images.sh"], cwd=ROOT, env=engine.env(), check=True,
                   capture_output=True)
    dockerfiles, context, digest = tiny_sources(tmp_path / "tiny")
    (tmp_path / "releases.txt").write_text("22.10.1\n")
    (tmp_path / "matrix.yaml").write_text(
        "releases: {source: file, files: [releases.txt]}\n"
        "sources: {mirror: 'http://127.0.0.1:9/unused'}\n"
        f"defaults: {{base_image: '{LOCAL_BASE}', platforms: [linux/amd64]}}\n"
        "series: [{spec: 22.x}]\n")
    matrix = load(tmp_path / "matrix.yaml", environ={})
    [target] = [t for t in make_plan(matrix, ReleaseIndex(matrix.releases, matrix.sources)).targets
                if t.variant.name == "plain"]
    for marker in ("first", "security-update"):
        decided = make_local_base(client, tmp_path / f"base-{marker}", marker)
        resolver = bases.Resolver(client, bases.Policy.for_run({"PIPELINE_OFFLINE": "1"}, publishing=True))
        maker = build.Maker(sources=matrix.sources, out=tmp_path / "out", image_name="fresh-tiny",
                            smoke=None, dockerfiles=dockerfiles, prepare=tiny_prepare(context, digest),
                            checksum=lambda release: digest, base_digest=resolver,
                            base_local=resolver.is_local)
        built = maker.make(client, target, ["linux/amd64"], test=False)
        assert built.ok, built.reason
        assert maker.base_local(LOCAL_BASE) and maker.base_digest(LOCAL_BASE) == decided
        assert maker.labels(target)["org.asterisk-pipeline.base"] == f"{LOCAL_BASE}@{decided}"
        out = client.run(built.image, ["cat", "/base-marker"], remove=True)
        assert out.strip() == marker, f"built FROM the wrong base: {out!r}"


def test_readme_command_1_builds_and_smoke_tests_the_lts_on_a_fresh_engine(engine, client, tmp_path):
    command = readme_command_1()
    assert command == "bash scripts/setup.sh --stand-ins && .venv/bin/pipeline build lts", command
    done = subprocess.run(["bash", "-c", command], cwd=ROOT, capture_output=True, text=True,
                          env={**engine.env(), "PIPELINE_OUT": str(tmp_path / "out")},
                          stdin=subprocess.DEVNULL, timeout=3600)
    assert done.returncode == 0, f"exit {done.returncode}:\n{done.stderr[-6000:]}"
    images = {image.repo_tags[0] for image in client.image.list("asterisk-pipeline") if image.repo_tags}
    assert images == {"asterisk-pipeline:22.10.1", "asterisk-pipeline:22.10.1-opus"}, images
    for target in ("22.10.1", "22.10.1-opus"):
        report = tmp_path / "out" / "logs" / target / "smoke" / "linux-amd64" / "junit.xml"
        suite = ElementTree.parse(report).getroot()
        cases = list(suite.iter("testcase"))
        failed = [case.get("name") for case in cases if case.find("failure") is not None]
        assert len(cases) >= 10 and not failed, (target, len(cases), failed)
