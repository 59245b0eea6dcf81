"""`pipeline export-wsl`: the 22.10.1 image as a WSL 2 root filesystem tarball.

WSL itself needs Windows; what it does with the tarball is done here with Docker instead:
`docker import` makes the tarball a root filesystem as `wsl --import` does, and the
container runs the [boot] command of its /etc/wsl.conf as root, with a fresh tmpfs on
/run, as WSL does at each start. Then Asterisk must be fully booted, running as the
asterisk user, with its SIP transports.
"""

from __future__ import annotations

import configparser
import secrets
import tarfile
import time
from pathlib import Path

import pytest
from python_on_whales.exceptions import DockerException

from pipeline import wsl
from pipeline.cli import main

WSL_CONF = "etc/wsl.conf"


def names(tarball: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(tarball) as archive:
        return {wsl._member_name(m.name): m for m in archive.getmembers()}


def read(tarball: Path, name: str) -> str:
    with tarfile.open(tarball) as archive:
        return archive.extractfile(name).read().decode()


def no_leftovers(docker, directory: Path) -> None:
    containers = docker.container.list(all=True, filters=[("name", "pipeline-export-wsl-")])
    assert not containers, f"containers left behind: {containers}"
    temporary = [p.name for p in directory.iterdir() if p.name.startswith(".")]
    assert not temporary, f"temporary files left in {directory}: {temporary}"


@pytest.fixture(scope="module")
def exported(images, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("wsl") / "asterisk.tar"
    start = time.monotonic()
    assert main(["export-wsl", images["plain"], "-o", str(output),
                 "--platform", "linux/amd64"]) == 0
    print(f"export-wsl took {time.monotonic() - start:.1f}s, {output.stat().st_size / 1e6:.0f} MB")
    return output


@pytest.mark.slow
def test_tarball_is_the_image_with_wsl_settings(exported, docker):
    members = names(exported)
    conf = configparser.ConfigParser()
    conf.read_string(read(exported, WSL_CONF))
    assert conf["boot"]["command"] == f"/{wsl.BOOT_SCRIPT}"
    assert conf["user"]["default"] == "root"
    assert members[wsl.BOOT_SCRIPT].mode & 0o111, "the boot script is not executable"
    assert members[WSL_CONF].uid == 0 and members[WSL_CONF].mode == 0o644
    # The image's filesystem, its default configuration in /etc/asterisk.
    for path in ("usr/sbin/asterisk", wsl.ENTRYPOINT, "etc/asterisk/extensions.lua",
                 "etc/asterisk/pjsip.conf", "etc/asterisk/modules.conf",
                 "usr/share/asterisk/sounds/en/hello-world.ulaw"):
        assert path in members, f"/{path} is missing"
    # Ownership kept: the configuration is root's and the group asterisk's, the state asterisk's.
    config = members["etc/asterisk/modules.conf"]
    assert (config.uid, config.gid, config.mode) == (0, 1000, 0o640), "ownership was not kept"
    assert members["var/spool/asterisk"].uid == 1000, "ownership was not kept"
    assert members["var/run"].issym() and members["var/run"].linkname == "/run"
    # No Docker runtime files; a hosts file until WSL writes its own.
    assert not {".dockerenv", "etc/hostname", "etc/resolv.conf"} & set(members)
    assert "localhost" in read(exported, "etc/hosts")
    no_leftovers(docker, exported.parent)


@pytest.mark.slow
def test_imported_tarball_boots_asterisk_like_wsl(exported, docker):
    conf = configparser.ConfigParser()
    conf.read_string(read(exported, WSL_CONF))
    boot_command = conf["boot"]["command"]
    tag = f"pipeline-test/wsl-import:{secrets.token_hex(4)}"
    name = f"pipeline-test-wsl-{secrets.token_hex(4)}"
    docker.image.import_(exported, tag=tag)
    try:
        version = docker.run(tag, ["asterisk", "-V"], remove=True)
        assert version.strip() == "Asterisk 22.10.1"
        # The boot command as WSL runs it (sh -c, as root), then the distribution idles.
        docker.run(tag, ["sh", "-c", f"{boot_command} && exec sleep infinity"], detach=True,
                   name=name, tmpfs=["/run"], user="root")
        deadline = time.monotonic() + 30
        while True:
            try:
                out = docker.execute(name, ["asterisk", "-rx", "core waitfullybooted"])
                if "fully booted" in out:
                    break
            except DockerException:
                pass
            assert time.monotonic() < deadline, (
                "Asterisk did not boot:\n" + docker.execute(name, ["sh", "-c", "tail -30 "
                                                                   + wsl.CONSOLE_LOG]))
            time.sleep(0.2)
        owner = docker.execute(
            name, ["sh", "-c", "stat -c %U /proc/$(cat /run/asterisk/asterisk.pid)"])
        assert owner.strip() == "asterisk", f"Asterisk runs as {owner.strip()}"
        transports = docker.execute(name, ["asterisk", "-rx", "pjsip show transports"])
        assert "0.0.0.0:5060" in transports, transports
        console = docker.execute(name, ["cat", wsl.CONSOLE_LOG])
        assert "Asterisk Ready" in console, console[-2000:]
    finally:
        if docker.container.exists(name):
            docker.container.remove(name, force=True, volumes=True)
        docker.image.remove(tag, force=True)


def test_missing_image_is_a_clear_error(docker, tmp_path, capsys):
    output = tmp_path / "asterisk.tar"
    assert main(["export-wsl", "pipeline-test/no-such-image:0", "-o", str(output)]) == 2
    err = capsys.readouterr().err
    assert "no image pipeline-test/no-such-image:0 in the local Docker engine" in err
    assert not output.exists()
    no_leftovers(docker, tmp_path)


@pytest.mark.parametrize("where, says", [
    ("missing/asterisk.tar", "does not exist"),
    (".", "is a directory"),
    ("/sys/asterisk.tar", "cannot write there"),   # read-only for root too
])
def test_unwritable_output_is_a_clear_error(images, docker, tmp_path, capsys, where, says):
    output = tmp_path / where if not where.startswith("/") else Path(where)
    assert main(["export-wsl", images["plain"], "-o", str(output)]) == 2
    err = capsys.readouterr().err
    assert says in err and str(output) in err, err
    no_leftovers(docker, tmp_path)


def test_platform_the_image_lacks_is_a_clear_error(images, docker, tmp_path, capsys):
    assert main(["export-wsl", images["plain"], "-o", str(tmp_path / "a.tar"),
                 "--platform", "linux/arm64"]) == 2
    assert "has no linux/arm64 variant" in capsys.readouterr().err
    assert main(["export-wsl", images["plain"], "-o", str(tmp_path / "a.tar"),
                 "--platform", "linux/s390x"]) == 2
    no_leftovers(docker, tmp_path)


def test_dry_run_writes_nothing(tmp_path, capsys):
    output = tmp_path / "asterisk.tar"
    assert main(["export-wsl", "any:image", "-o", str(output), "--dry-run"]) == 0
    assert "default = root" in capsys.readouterr().err
    assert not output.exists()


def test_an_image_without_the_entrypoint_is_refused():
    """Any image exports, but only one of this project's boots: rewrite() says what lacks."""
    import io

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        info = tarfile.TarInfo("usr/sbin/asterisk")
        archive.addfile(info, io.BytesIO(b""))
    raw.seek(0)
    with pytest.raises(wsl.ConfigurationError, match="docker-entrypoint.sh"):
        wsl.rewrite(raw, io.BytesIO(), image="other:1", env=[])
