"""Every series of matrix.yaml (the certified lines 22.8-cert and 20.7-cert among them) built
and smoke-tested through the real CLI on linux/amd64: `pipeline build SPEC` against the
stand-in mirror (sources verified, buildx, the full smoke suite on both variants). 22.x is
the session's `pipeline build lts` (conftest.py), not built twice. Then what differs
between series: chan_sip (18, 20, 20.7-cert) left out, the bundled pjproject of the tree
(2.14, 2.15.1 or 2.17), the certified version string, and the runtime's Debian packages
derived from the build.

The builds run one after the other, in matrix order, so each reuses the build cache the
previous ones filled (the build stage's apt layer, the sounds, the runtime packages layer
when the derived list is the same); the images are removed when the module ends."""

import re
import tarfile
import time
import xml.etree.ElementTree as ET

import pytest
import requests
from python_on_whales.exceptions import DockerException

from pipeline import sources
from pipeline.matrix import load
from pipeline.releases import ReleaseIndex
from pipeline.versions import Version
from tests.integration.conftest import PINNED, PJPROJECT, REPO_MATRIX, cli_build

pytestmark = pytest.mark.slow

MATRIX = load(REPO_MATRIX, environ={})
SPECS = [series.spec.text for series in MATRIX.series]
SMOKE_CASES = {"audio-host", "audio-published", "lua-host", "opus-host", "dtmf-host",
               "realtime-host", "closed-host", "closed-default-config"}


@pytest.fixture(scope="module", params=SPECS)
def built(request, docker, mirror, tmp_path_factory):
    """`pipeline build SPEC`'s outcome, plus the release tarball the mirror serves for it."""
    spec = request.param
    version = PINNED[spec]
    if spec == "22.x":
        outcome = request.getfixturevalue("lts_build")
    else:
        outcome = cli_build(spec, version, mirror, tmp_path_factory.mktemp(f"build-{spec}"))
        request.addfinalizer(lambda: docker.image.remove([outcome["plain"], outcome["opus"]], force=True))
    matrix = load(REPO_MATRIX, environ={"PIPELINE_MIRROR": mirror})
    release = ReleaseIndex(matrix.releases, matrix.sources).get(Version.parse(version))
    tarball = tmp_path_factory.mktemp(f"tarball-{spec}") / "asterisk.tar.gz"
    tarball.write_bytes(requests.get(release.tarball_url, timeout=60).content)
    return {**outcome, "spec": spec, "version": version, "tarball": tarball}


def asterisk_cli(docker, image, command):
    """What `asterisk -rx COMMAND` prints in a container of the image, once fully booted."""
    container = docker.run(image, detach=True, remove=True, networks=["none"])
    try:
        for _ in range(60):
            try:
                docker.container.execute(container, ["asterisk", "-rx", "core waitfullybooted"])
                break
            except DockerException:
                time.sleep(0.5)
        return docker.container.execute(container, ["asterisk", "-rx", command])
    finally:
        docker.container.remove(container, force=True, volumes=True)


def test_the_series_builds_and_passes_the_smoke_suite(built):
    assert built["code"] == 0, f"pipeline build {built['spec']} failed; logs in {built['out']}/logs"
    for target in (built["version"], f"{built['version']}-opus"):
        junit = built["out"] / "logs" / target / "smoke" / "linux-amd64" / "junit.xml"
        suite = ET.parse(junit).getroot()
        names = {case.get("name") for case in suite.iter("testcase")}
        assert names >= SMOKE_CASES, (target, names)
        assert suite.get("failures") == "0" and suite.get("errors", "0") == "0", junit.read_text()


def test_asterisk_names_the_release(docker, built):
    """The image's own check, seen from outside: `asterisk -V` and the version label.
    A certified release prints its stream: 'Asterisk certified-22.8-cert3'."""
    for variant in ("plain", "opus"):
        said = docker.run(built[variant], ["asterisk", "-V"], remove=True).strip()
        prefix = "certified-" if Version.parse(built["version"]).is_certified else ""
        assert said == f"Asterisk {prefix}{built['version']}"
        labels = docker.image.inspect(built[variant]).config.labels
        assert labels["org.asterisk.version"] == built["version"]


def test_chan_sip_is_left_out_where_the_release_has_it(docker, built):
    with tarfile.open(built["tarball"]) as archive:
        has_chan_sip = any(name.endswith("/channels/chan_sip.c") for name in archive.getnames())
    assert has_chan_sip == (Version.parse(built["version"]).major < 21)  # removed in 21
    modules = docker.run(built["plain"], ["ls", "/usr/lib/asterisk/modules"], remove=True).split()
    assert "chan_pjsip.so" in modules
    assert "chan_sip.so" not in modules


def test_the_bundled_pjproject_is_the_trees_own(docker, built):
    """The tree names its pjproject (third-party/versions.mak); the running Asterisk says
    which one it was built with."""
    wanted = sources.pjproject_version(built["tarball"])
    assert wanted == PJPROJECT[built["version"]]
    options = asterisk_cli(docker, built["plain"], "pjproject show buildopts")
    assert re.search(r"^PJ_VERSION\s*:\s*(\S+)$", options, re.MULTILINE)[1] == wanted


def installed(docker, image, packages):
    query = 'dpkg-query -W -f "\\${Package} \\${db:Status-Status}\\n" "$@" 2>/dev/null; true'
    state = docker.run(image, ["sh", "-c", query, "sh", *packages], remove=True)
    return sorted(line.split()[0] for line in state.splitlines() if line.endswith(" installed"))


def test_the_runtime_packages_are_derived_from_the_build(docker, built):
    """Installed from the lists the build derived (dpkg -S of ldd), not from names written
    for one Debian release; the opus layer adds what the codec needs (libopus), the plain
    image does without it; trixie's libxml2 no longer pulls ICU."""
    plain = docker.run(built["plain"], ["cat", "/usr/share/asterisk/runtime-packages.txt"], remove=True).split()
    assert any(name.startswith("libssl3") for name in plain)
    assert any(name.startswith("liblua5.") for name in plain)
    assert not [name for name in plain if name.startswith(("libicu", "libopus"))]
    assert installed(docker, built["plain"], plain) == sorted(plain)
    opus = docker.run(built["opus"], ["cat", "/usr/share/asterisk/runtime-packages-opus.txt"], remove=True).split()
    assert [name for name in opus if name.startswith("libopus")] == ["libopus0"]
    assert installed(docker, built["opus"], opus) == sorted(opus)
    assert installed(docker, built["plain"], ["libopus0"]) == []


def test_tmp_stays_world_writable(docker, built):
    """18.x's `make install` stages an empty /tmp; copied as it was, it made the image's
    /tmp 0755 (apt, and anything running as the asterisk user, then cannot use it)."""
    for variant in ("plain", "opus"):
        mode = docker.run(built[variant], ["stat", "-c", "%a", "/tmp"], remove=True).strip()
        assert mode == "1777", (built[variant], mode)
