"""Integration tests use the real services that scripts/setup.sh --stand-ins prepares:
the Docker engine, the local source mirror, sipp, docker-registry, PostgreSQL.
They fail (not skip) when those are missing: run scripts/setup.sh first."""

import os
import shutil
from pathlib import Path

import pytest
import requests

from pipeline.core import VARIANT_NAMES, VARIANTS

MIRROR = os.environ.get("PIPELINE_MIRROR", "http://127.0.0.1:8088")
BASE_IMAGE = os.environ.get("PIPELINE_TEST_BASE_IMAGE", "debian:trixie-slim")
# Where scripts/setup.sh keeps the stand-ins (downloads cache, mirror): lib.sh's CACHE_DIR.
CACHE_DIR = os.environ.get("PIPELINE_CACHE_DIR", "/var/cache/asterisk-pipeline")

# The stand-in mirror signs its tarballs with its own test key (make-local-mirror.sh keeps it
# in CACHE_DIR/test-signing-key; stand-ins.env names it), not the Asterisk Development Team's:
# runs against the mirror are pointed at that key by configuration, as stand-ins.env does,
# unless the environment already names one.
SIGNING_KEY_DIR = Path(CACHE_DIR) / "test-signing-key"


def _stand_in_key() -> dict[str, str]:
    pinned = SIGNING_KEY_DIR / "fingerprint"
    return {"PIPELINE_SIGNATURE_KEY": os.environ.get("PIPELINE_SIGNATURE_KEY")
            or str(SIGNING_KEY_DIR / "public.asc"),
            "PIPELINE_SIGNATURE_FINGERPRINT": os.environ.get("PIPELINE_SIGNATURE_FINGERPRINT")
            or (pinned.read_text().strip() if pinned.is_file() else "")}


STAND_IN_KEY = _stand_in_key()

# The releases pinned in scripts/make-local-mirror.sh: each spec's release, and the
# pjproject version bundled in that release's tree.
PINNED_ALL = {"18.x": "18.26.4", "20.x": "20.20.1", "22.x": "22.10.1", "23.x": "23.4.1",
              "22.8-cert": "22.8-cert3", "20.7-cert": "20.7-cert11"}
PJPROJECT = {"18.26.4": "2.15.1", "20.20.1": "2.17", "22.10.1": "2.17", "23.4.1": "2.17",
             "22.8-cert3": "2.15.1", "20.7-cert11": "2.14"}


def _unavailable() -> set[str]:
    """Pinned releases the stand-in mirror could not serve (versions.env MIRROR_UNAVAILABLE):
    20.7-cert11 is in no ../shared/sources, so a fresh offline machine has it only once
    someone makes it from its git tag (make-from-git.sh into CACHE_DIR/extra-sources)."""
    try:   # the mirror the tests use says so (it serves its versions.env)
        text = requests.get(f"{MIRROR}/versions.env", timeout=10).text
    except requests.RequestException:
        text = ""   # no mirror: the tests that need it fail, naming scripts/setup.sh
    for line in text.splitlines():
        if line.startswith("MIRROR_UNAVAILABLE="):
            return set(line.partition("=")[2].strip('"').split())
    return set()


UNAVAILABLE = _unavailable()
# What the stand-in mirror serves, of the pinned releases.
PINNED = {spec: version for spec, version in PINNED_ALL.items() if version not in UNAVAILABLE}


def _repo_matrix() -> Path:
    """The matrix the integration tests plan with: the repository's matrix.yaml, less the
    series whose pinned release the mirror could not serve (then a copy, named in the
    report header), so a run on a machine without those sources tests everything else."""
    import tempfile

    import yaml

    from tests.conftest import ROOT

    left_out = {spec for spec, version in PINNED_ALL.items() if version in UNAVAILABLE}
    if not left_out:
        return ROOT / "matrix.yaml"
    data = yaml.safe_load((ROOT / "matrix.yaml").read_text())
    data["series"] = [series for series in data["series"] if str(series["spec"]) not in left_out]
    path = Path(tempfile.mkdtemp(prefix="pipeline-test-matrix-")) / "matrix.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


REPO_MATRIX = _repo_matrix()


def pytest_report_header():
    if UNAVAILABLE:
        left_out = ", ".join(spec for spec, version in PINNED_ALL.items() if version in UNAVAILABLE)
        return (f"stand-in mirror: {', '.join(sorted(UNAVAILABLE))} not served (no stand-in source "
                f"here: see scripts/make-local-mirror.sh); series {left_out} left out of the "
                f"matrix the integration tests use ({REPO_MATRIX})")
    return None


# Fixtures that compile Asterisk: a test using one of them (directly or through another
# fixture) is slow, whatever its module says, so `pytest -m "not slow"` compiles nothing.
COMPILING_FIXTURES = {"lts_build", "images"}


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
        if COMPILING_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def docker():
    from python_on_whales import DockerClient
    from python_on_whales.exceptions import DockerException

    client = DockerClient()
    try:
        client.system.info()
    except DockerException as error:
        pytest.fail(f"no Docker engine: run scripts/setup.sh --stand-ins ({error.stderr or error})")
    return client


def engine_objects(docker) -> set[str]:
    """Every container, volume and network of the engine, named by kind."""
    return ({f"container {c.name}" for c in docker.container.list(all=True)}
            | {f"volume {v.name}" for v in docker.volume.list()}
            | {f"network {n.name}" for n in docker.network.list()})


def descendants(pid: int) -> set[str]:
    """Live processes started (directly or not) by pid: 'PID command'."""
    parents: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        if rest[0] != "Z":
            parents.setdefault(int(rest[1]), []).append(int(entry))
            names[int(entry)] = name
    found, todo = set(), list(parents.get(pid, []))
    while todo:
        child = todo.pop()
        found.add(f"{child} {names[child]}")
        todo += parents.get(child, [])
    return found


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind(request):
    """At the end of the integration session: no container, volume or network that was
    not there at its start, and no process the tests started, is still there."""
    if not any("tests/integration" in str(item.fspath) for item in request.session.items):
        yield
        return
    from python_on_whales import DockerClient

    client = DockerClient()
    before = engine_objects(client)
    yield
    leftovers = sorted(engine_objects(client) - before) + sorted(descendants(os.getpid()))
    assert not leftovers, f"the integration tests left behind: {leftovers}"


@pytest.fixture(scope="session", autouse=True)
def stand_ins():
    """Every integration test runs as the stand-ins configure a run (stand-ins.env, which
    scripts/setup.sh --stand-ins writes): the stand-in mirror's signing key, and offline
    base images (PIPELINE_OFFLINE=1: the local image store's, since no registry holding
    debian:trixie-slim is reachable here). A test that checks another key or the online
    base image policy passes its own environment."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {**STAND_IN_KEY, "PIPELINE_OFFLINE": "1"}.items():
            patch.setenv(name, os.environ.get(name) or value)
        yield STAND_IN_KEY


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
    exit code, an image ref per variant (TEST_IMAGE:<version><suffix>: core.VARIANTS) and the
    output directory."""
    from pipeline.cli import main

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PIPELINE_MIRROR", mirror)
        patch.setenv("PIPELINE_OUT", str(out))
        code = main(["build", spec, "--platform", "linux/amd64", "--image", TEST_IMAGE,
                     "--matrix", str(REPO_MATRIX)])
    return {"code": code, "out": out,
            **{name: f"{TEST_IMAGE}:{version}{variant.suffix}" for name, variant in VARIANTS.items()}}


@pytest.fixture(scope="session")
def lts_build(docker, mirror, tmp_path_factory):
    """The outcome of `pipeline build lts`: exit code, output, and the two image refs."""
    given = os.environ.get("PIPELINE_TEST_IMAGE_PLAIN"), os.environ.get("PIPELINE_TEST_IMAGE_OPUS")
    if all(given):
        return {"code": 0, "plain": given[0], "opus": given[1], "out": tmp_path_factory.mktemp("given")}
    return cli_build("lts", PINNED["22.x"], mirror, tmp_path_factory.mktemp("lts-build"))


@pytest.fixture(scope="session")
def images(lts_build, docker):
    for variant in VARIANT_NAMES:
        assert docker.image.exists(lts_build[variant]), (
            f"{lts_build[variant]} was not built (pipeline build lts exited {lts_build['code']}; "
            f"logs in {lts_build['out']}/logs)")
    return {variant: lts_build[variant] for variant in VARIANT_NAMES}
