"""The other platform by cross-compiling (issue 10): on this amd64 machine, `pipeline build
lts --platform linux/arm64 --variant plain` as a user runs it. The compile stages run on
the build host with Debian's cross toolchain; only the runtime stages run as arm64, under
QEMU. Then the image is smoke-tested under QEMU with the whole suite (real calls with
audio, Lua, realtime in PostgreSQL, DTMF, closed by default), its binaries are checked to
be the target's, and what configure and menuselect decided is compared with the native
build of the same release (session's `pipeline build lts`, conftest.py).

On an arm64 machine the same test cross-compiles amd64.
"""

import xml.etree.ElementTree as ET

import pytest

from pipeline import build, engine
from pipeline.matrix import load
from pipeline.plan import make_plan
from pipeline.releases import ReleaseIndex
from tests.integration.conftest import PINNED, REPO_MATRIX, TEST_IMAGE

pytestmark = pytest.mark.slow

NATIVE = engine.native_platform()
OTHER = {"linux/amd64": "linux/arm64", "linux/arm64": "linux/amd64"}[NATIVE]
UNAME = {"linux/amd64": "x86_64", "linux/arm64": "aarch64"}
ELF_MACHINE = {"linux/amd64": 0x3E, "linux/arm64": 0xB7}   # e_machine: EM_X86_64, EM_AARCH64
VERSION = PINNED["22.x"]
# What may differ between the two builds' autoconfig.h: functions only one CPU's glibc has.
CPU_SPECIFIC = {"HAVE_IOPERM"}   # x86 port I/O


@pytest.fixture(scope="module")
def cross_build(docker, mirror, tmp_path_factory):
    from pipeline.cli import main

    out = tmp_path_factory.mktemp("cross-build")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PIPELINE_MIRROR", mirror)
        patch.setenv("PIPELINE_OUT", str(out))
        code = main(["build", "lts", "--platform", OTHER, "--variant", "plain", "--image",
                     f"{TEST_IMAGE}-cross", "--matrix", str(REPO_MATRIX)])
    ref = f"{TEST_IMAGE}-cross:{VERSION}"
    yield {"code": code, "image": ref, "out": out}
    docker.image.remove(ref, force=True)


def test_the_cross_built_image_passes_the_smoke_suite_under_emulation(cross_build):
    assert cross_build["code"] == 0, f"pipeline build failed; logs in {cross_build['out']}/logs"
    junit = cross_build["out"] / "logs" / VERSION / "smoke" / OTHER.replace("/", "-") / "junit.xml"
    suite = ET.parse(junit).getroot()
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) >= {"boot-host", "audio-host", "audio-published", "lua-host", "dtmf-host",
                          "realtime-host", "closed-host", "closed-default-config", "opus-host"}
    failed = {name: case.find("failure").get("message") for name, case in cases.items()
              if case.find("failure") is not None}
    assert not failed, failed
    assert suite.get("failures") == "0" and suite.get("errors", "0") == "0"


def test_its_binaries_are_the_target_platforms(cross_build, docker, tmp_path):
    ref = cross_build["image"]
    assert f"linux/{docker.image.inspect(ref).architecture}" == OTHER
    assert docker.run(ref, ["uname", "-m"], entrypoint="", platform=OTHER, remove=True,
                      networks=["none"]).strip() == UNAME[OTHER]
    container = docker.container.create(ref, platform=OTHER)
    try:
        for path in ("/usr/sbin/asterisk", "/usr/lib/asterisk/modules/chan_pjsip.so",
                     "/usr/lib/libasteriskpj.so.2"):
            docker.copy((container, path), tmp_path / "elf")
            header = (tmp_path / "elf").read_bytes()[:20]
            assert header[:4] == b"\x7fELF", path
            assert int.from_bytes(header[18:20], "little") == ELF_MACHINE[OTHER], path
    finally:
        docker.container.remove(container, force=True, volumes=True)


def build_config(docker, platform, dest):
    """configure's autoconfig.h and menuselect's choices of the release built for platform
    (the Dockerfile's build-config stage, from the build cache the builds filled)."""
    matrix = load(REPO_MATRIX)
    plan = make_plan(matrix, ReleaseIndex(matrix.releases, matrix.sources), ["lts"],
                     variants=["plain"], platforms=[platform])
    [target] = plan.targets
    maker = build.maker_for(matrix, build.Options(out=dest / "out"), docker)
    base, base_contexts = maker.base_build(docker, target)
    build.build_image(docker, target, maker.context(target), labels=maker.labels(target),
                      platforms=[platform], base=base, contexts=base_contexts, stage="build-config",
                      output={"type": "local", "dest": str(dest)})
    return {name: (dest / name).read_text().splitlines() for name in ("autoconfig.h", "menuselect.makeopts")}


def defines(lines):
    """{NAME: value or None} of an autoconfig.h's `#define NAME value` / `/* #undef NAME */`."""
    found = {}
    for line in lines:
        words = line.replace("/*", "").replace("*/", "").split()
        if len(words) >= 2 and words[0] in ("#define", "#undef"):
            found[words[1]] = " ".join(words[2:]) if words[0] == "#define" else None
    return found


def test_configure_and_menuselect_decide_as_a_native_build_does(cross_build, lts_build, docker,
                                                               mirror, monkeypatch, tmp_path):
    """Without the run-time facts the Dockerfile gives a cross configure, Asterisk would be
    built without eventfd, SOCK_NONBLOCK and the rest, and start differently."""
    assert cross_build["code"] == 0 and lts_build["code"] == 0
    monkeypatch.setenv("PIPELINE_MIRROR", mirror)
    native = build_config(docker, NATIVE, tmp_path / "native")
    cross = build_config(docker, OTHER, tmp_path / "cross")
    native_defines, cross_defines = defines(native["autoconfig.h"]), defines(cross["autoconfig.h"])
    assert set(native_defines) == set(cross_defines)
    differ = {name for name in native_defines if native_defines[name] != cross_defines[name]}
    assert differ <= CPU_SPECIFIC, {n: (native_defines[n], cross_defines[n]) for n in differ - CPU_SPECIFIC}
    assert cross_defines["HAVE_EVENTFD"] == "1"
    # menuselect marks BUILD_NATIVE (-march=native) unavailable when cross-compiling; the
    # Dockerfile turns it off in every build anyway. Every other choice is the same.
    only_cross = {"MENUSELECT_DEPSFAILED=MENUSELECT_CFLAGS=BUILD_NATIVE"}
    assert [line for line in cross["menuselect.makeopts"] if line not in only_cross] \
        == native["menuselect.makeopts"]
