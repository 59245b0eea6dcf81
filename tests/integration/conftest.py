"""Integration tests use the real services that scripts/setup.sh --stand-ins prepares:
the Docker engine, the local source mirror, sipp, docker-registry, PostgreSQL.
They fail (not skip) when those are missing: run scripts/setup.sh first."""

import os
import shutil
import subprocess

import pytest
import requests

MIRROR = os.environ.get("PIPELINE_MIRROR", "http://127.0.0.1:8088")
BASE_IMAGE = os.environ.get("PIPELINE_TEST_BASE_IMAGE", "debian:bookworm-slim")


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


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
