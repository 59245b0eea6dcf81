"""The engine that scripts/bootstrap-host.sh starts builds and runs images FROM the
debootstrapped base, for both platforms, offline."""

import pytest

from tests.integration.conftest import BASE_IMAGE

SUITE = BASE_IMAGE.rsplit(":", 1)[-1].removesuffix("-slim")   # debian:trixie-slim: trixie


@pytest.fixture(scope="module")
def tiny_context(tmp_path_factory):
    context = tmp_path_factory.mktemp("tiny")
    (context / "Dockerfile").write_text(
        "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n"
        "RUN uname -m > /arch && . /etc/os-release && echo \"$VERSION_CODENAME\" > /codename\n"
        'CMD ["sh", "-c", "cat /arch /codename"]\n')
    return context


def test_build_and_run_on_the_native_platform(docker, tiny_context):
    image = docker.buildx.build(tiny_context, build_args={"BASE_IMAGE": BASE_IMAGE},
                                platforms=["linux/amd64"], tags=["engine-test:amd64"], load=True)
    try:
        assert docker.run("engine-test:amd64", remove=True).split() == ["x86_64", SUITE]
    finally:
        docker.image.remove(image, force=True)


def test_multi_platform_build_and_arm64_emulation(docker, tiny_context):
    docker.buildx.build(tiny_context, build_args={"BASE_IMAGE": BASE_IMAGE},
                        platforms=["linux/amd64", "linux/arm64"], tags=["engine-test:multi"], load=True)
    try:
        out = docker.run("engine-test:multi", platform="linux/arm64", remove=True)
        assert out.split() == ["aarch64", SUITE]
    finally:
        docker.image.remove("engine-test:multi", force=True)


def test_the_leftover_check_sees_what_a_test_leaves(docker):
    """The session's nothing_left_behind check (conftest.py) can fail: it sees a volume and a
    process a test started, until they are gone."""
    import os
    import subprocess

    from tests.integration.conftest import descendants, engine_objects

    before = engine_objects(docker)
    volume = docker.volume.create()
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        assert engine_objects(docker) - before == {f"volume {volume.name}"}
        assert f"{sleeper.pid} sleep" in descendants(os.getpid())
    finally:
        sleeper.kill()
        sleeper.wait()
        docker.volume.remove(volume)
    assert engine_objects(docker) == before
    assert f"{sleeper.pid} sleep" not in descendants(os.getpid())
