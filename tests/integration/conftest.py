"""Integration tests use the real services that scripts/setup.sh --stand-ins prepares:
the Docker engine, the local source mirror, sipp, docker-registry, PostgreSQL.
They fail (not skip) when those are missing: run scripts/setup.sh first."""

import os
import shutil
import subprocess

import pytest
import requests

MIRROR = os.environ.get("PIPELINE_MIRROR", "http://127.0.0.1:8088")
BASE_IMAGE = os.environ.get("PIPELINE_TEST_BASE_IMAGE", "debian:trixie-slim")
# Where scripts/setup.sh keeps the stand-ins (downloads cache, mirror): lib.sh's CACHE_DIR.
CACHE_DIR = os.environ.get("PIPELINE_CACHE_DIR", "/var/cache/asterisk-pipeline")

# What the stand-in mirror serves (pinned in scripts/make-local-mirror.sh): each spec's
# release, and the pjproject version bundled in that release's tree.
PINNED = {"18.x": "18.26.4", "20.x": "20.20.1", "22.x": "22.10.1", "23.x": "23.4.1",
          "22.8-cert": "22.8-cert3"}
PJPROJECT = {"18.26.4": "2.15.1", "20.20.1": "2.17", "22.10.1": "2.17", "23.4.1": "2.17",
             "22.8-cert3": "2.15.1"}


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
        # A test that needs the built images compiles Asterisk (unless given images): slow,
        # so that `pytest -m "not slow"` never compiles.
        if "lts_build" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def docker():
    from python_on_whales import DockerClient

    client = DockerClient()
    info = subprocess.run(["docker", "info", "-f", "{{.ServerVersion}}"], capture_output=True, text=True)
    assert info.returncode == 0, f"no Docker engine: run scripts/setup.sh --stand-ins ({info.stderr.strip()})"
    return client


@pytest.fixture(scope="session")
def mirror():
    try:
        requests.get(MIRROR + "/", timeout=5).raise_for_status()
    except requests.RequestException as error:
        pytest.fail(f"the local source mirror {MIRROR} does not answer ({error}); "
                    "run scripts/setup.sh --stand-ins")
    return MIRROR


def require(tool):
    assert shutil.which(tool), f"{tool} is not installed: run scripts/setup.sh --stand-ins"


# ----------------------------------------------------------------------------- images
# The newest LTS (22.10.1 from the local mirror), plain and opus, built once per session by
# the real CLI: `pipeline build lts` (sources verified, buildx, smoke calls). Set
# PIPELINE_TEST_IMAGE_PLAIN / PIPELINE_TEST_IMAGE_OPUS to test images built elsewhere, or
# PIPELINE_TEST_IMAGE_NAME to build under another local name (two checkouts on one host).
TEST_IMAGE = os.environ.get("PIPELINE_TEST_IMAGE_NAME", "asterisk-test")


def cli_build(spec, version, mirror, out):
    """`pipeline build SPEC --platform linux/amd64` against the mirror, as a user runs it:
    exit code, the two image refs (TEST_IMAGE:<version>[-opus]) and the output directory."""
    from pipeline import build
    from pipeline.cli import main
    from tests.conftest import ROOT

    saved = os.environ.get("PIPELINE_MIRROR"), build.OUT
    os.environ["PIPELINE_MIRROR"], build.OUT = mirror, out
    try:
        code = main(["build", spec, "--platform", "linux/amd64", "--image", TEST_IMAGE,
                     "--matrix", str(ROOT / "matrix.yaml")])
    finally:
        build.OUT = saved[1]
        if saved[0] is None:
            os.environ.pop("PIPELINE_MIRROR", None)
        else:
            os.environ["PIPELINE_MIRROR"] = saved[0]
    return {"code": code, "plain": f"{TEST_IMAGE}:{version}", "opus": f"{TEST_IMAGE}:{version}-opus",
            "out": out}


@pytest.fixture(scope="session")
def lts_build(docker, mirror, tmp_path_factory):
    """The outcome of `pipeline build lts`: exit code, output, and the two image refs."""
    from pipeline import build

    given = os.environ.get("PIPELINE_TEST_IMAGE_PLAIN"), os.environ.get("PIPELINE_TEST_IMAGE_OPUS")
    if all(given):
        return {"code": 0, "plain": given[0], "opus": given[1], "out": build.OUT}
    return cli_build("lts", PINNED["22.x"], mirror, tmp_path_factory.mktemp("lts-build"))


@pytest.fixture(scope="session")
def images(lts_build, docker):
    for variant in ("plain", "opus"):
        assert docker.image.exists(lts_build[variant]), (
            f"{lts_build[variant]} was not built (pipeline build lts exited {lts_build['code']}; "
            f"logs in {lts_build['out']}/logs)")
    return {"plain": lts_build["plain"], "opus": lts_build["opus"]}
