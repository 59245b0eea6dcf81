"""scripts/setup.sh and scripts/bootstrap-host.sh on the hosts they support (Debian 12,
Debian 13, Ubuntu 24.04) and on those they do not, run for real, as root, in a container
whose /etc/os-release says which distribution it is (the local Debian base image: no
Ubuntu image can be pulled here).

Stand-ins, because a container must not install packages from the network or start a
Docker engine: apt-get, dpkg-query, docker, dockerd, kustomize, mountpoint and
update-binfmts record their arguments; apt-get "installs" into a list that dpkg-query
reads and brings the docker/dockerd/kustomize stand-ins onto PATH, as the real packages
would; dockerd marks the engine as answering. The binfmt handlers are looked for in a
directory of the test (BINFMT_DIR), not the host's. So the test sees exactly which
packages each host gets, from which suite, and what it refuses."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import ROOT
from tests.integration import containers
from tests.integration.conftest import BASE_IMAGE

OS_RELEASE = {
    "ubuntu-24.04": 'PRETTY_NAME="Ubuntu 24.04.3 LTS"\nNAME="Ubuntu"\nVERSION_ID="24.04"\n'
                    'VERSION_CODENAME=noble\nID=ubuntu\nID_LIKE=debian\n',
    "debian-12": 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
                 'VERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian\n',
    "debian-13": 'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nNAME="Debian GNU/Linux"\n'
                 'VERSION_ID="13"\nVERSION_CODENAME=trixie\nID=debian\n',
    "ubuntu-22.04": 'PRETTY_NAME="Ubuntu 22.04.5 LTS"\nVERSION_ID="22.04"\nID=ubuntu\nID_LIKE=debian\n',
    "debian-sid": 'PRETTY_NAME="Debian GNU/Linux trixie/sid"\nNAME="Debian GNU/Linux"\nID=debian\n',
    "fedora-41": 'NAME="Fedora Linux"\nVERSION_ID=41\nID=fedora\nPRETTY_NAME="Fedora Linux 41"\n',
}

TOOLS = ["sip-tester", "docker-registry", "apache2-utils", "openssl", "curl", "ca-certificates",
         "debootstrap", "postgresql", "xz-utils", "bzip2", "shellcheck", "gpg", "gpgv", "fail2ban"]
# The apt-get install calls each host makes, in order (each: its -t SUITE, then packages).
INSTALLS = {
    "ubuntu-24.04": [["docker.io"], ["docker-buildx"], ["qemu-user-static", "binfmt-support"], TOOLS,
                     ["docker-compose-v2"], ["kustomize"]],
    "debian-13": [["docker.io", "docker-cli"], ["docker-buildx"], ["qemu-user-static", "binfmt-support"],
                  TOOLS, ["docker-compose"], ["kustomize"], ["cosign"]],
    "debian-12": [["-t", "trixie", "docker.io", "docker-cli"], ["-t", "sid", "docker-buildx"],
                  ["qemu-user-static", "binfmt-support"], TOOLS, ["-t", "trixie", "docker-compose"],
                  ["-t", "trixie", "kustomize"], ["-t", "sid", "cosign"]],
}

RECORD = """#!/bin/bash
sep=$'\\x1f'
(IFS=$sep; printf '%s\\n' "$(basename "$0")$sep$*") >> /state/calls
"""
STUBS = {
    "apt-get": RECORD + """
[ "$1" = install ] || exit 0
skip=0
for arg in "$@"; do
    if [ "$skip" = 1 ]; then skip=0; continue; fi
    case $arg in
        -t) skip=1 ;;
        -*|install) ;;
        *) echo "$arg" >> /state/installed
           case $arg in
               docker.io) cp /pending/docker /pending/dockerd /stubs/ ;;
               kustomize) cp /pending/kustomize /stubs/ ;;
           esac ;;
    esac
done
""",
    "dpkg-query": """#!/bin/bash
name=${!#}
if grep -qx -- "$name" /state/installed 2>/dev/null; then printf installed; fi
""",
    "mountpoint": RECORD,
    "update-binfmts": RECORD + "touch /state/binfmt/qemu-aarch64\n",
}
PENDING = {
    "docker": RECORD + """
case $1 in
    info) [ -e /state/dockerd-running ] ;;
    buildx) grep -qx docker-buildx /state/installed && echo "github.com/docker/buildx v0.0-test x" ;;
    compose) grep -qxE 'docker-compose(-v2)?' /state/installed && echo "2.0.0-test" ;;
    version) echo "client 26.1.5 (1.45), engine 26.1.5 (API 1.45)" ;;
esac
""",
    "dockerd": RECORD + "touch /state/dockerd-running\n",
    "kustomize": RECORD,
}


def run_setup(docker, tmp_path, host: str, *args: str, script: str = "scripts/bootstrap-host.sh",
              runs: int = 1):
    """Runs the script `runs` times in a container posing as `host`; returns (exit code,
    output, calls, the apt source file it wrote). A call ["rerun"] separates the runs."""
    stubs, pending, state = tmp_path / "stubs", tmp_path / "pending", tmp_path / "state"
    for directory in (stubs, pending, state, state / "binfmt"):
        directory.mkdir()
    for directory, scripts in ((stubs, STUBS), (pending, PENDING)):
        for name, body in scripts.items():
            (directory / name).write_text(body)
            (directory / name).chmod(0o755)
    (tmp_path / "os-release").write_text(OS_RELEASE[host])
    once = f"bash /repo/{script} {' '.join(args)}"
    command = (" && echo rerun >> /state/calls && ".join([once] * runs) + "; code=$?; "
               "cat /etc/apt/sources.list.d/asterisk-pipeline.sources > /state/sources 2>/dev/null; exit $code")
    result = containers.run(
        docker, BASE_IMAGE, ["bash", "-c", command], seconds=120,
        name=f"setup-test-{uuid.uuid4().hex[:8]}", networks=["none"],
        volumes=[(ROOT, "/repo", "ro"), (stubs, "/stubs"), (pending, "/pending", "ro"), (state, "/state"),
                 (tmp_path / "os-release", "/etc/os-release", "ro")],
        envs={"PATH": "/stubs:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
              "BINFMT_DIR": "/state/binfmt", "PIPELINE_CACHE_DIR": "/state/cache"})
    log = state / "calls"
    calls = [line.split("\x1f") for line in log.read_text().splitlines()] if log.exists() else []
    sources = (state / "sources").read_text() if (state / "sources").exists() else ""
    return result.code, result.output, calls, sources


def installs(calls) -> list[list[str]]:
    """The apt-get install calls: their arguments after the fixed options."""
    fixed = ["install", "-y", "-q", "--no-install-recommends"]
    found = [call[1:] for call in calls if call[:2] == ["apt-get", "install"]]
    assert all(call[:4] == fixed for call in found), found
    return [call[4:] for call in found]


@pytest.mark.parametrize("host, name", [("ubuntu-24.04", "Ubuntu 24.04.3 LTS"),
                                        ("debian-13", "Debian GNU/Linux 13 (trixie)"),
                                        ("debian-12", "Debian GNU/Linux 12 (bookworm)")])
def test_each_supported_host_gets_its_packages(docker, tmp_path, host, name):
    code, output, calls, sources = run_setup(docker, tmp_path, host)
    assert code == 0, output
    assert f"[bootstrap] host: {name} ({host})" in output
    assert installs(calls) == INSTALLS[host]
    assert ["dockerd", ""] in calls and ["update-binfmts", "--enable", "qemu-aarch64"] in calls
    if host == "debian-12":
        # Docker 26, buildx, compose v2 and kustomize come from newer Debian suites, pinned low.
        assert "Suites: trixie sid\n" in sources and "Types: deb-src" in sources
    else:
        assert sources == ""   # everything from the host's own archive


def test_a_rerun_installs_nothing(docker, tmp_path):
    code, output, calls, _ = run_setup(docker, tmp_path, "ubuntu-24.04", runs=2)
    assert code == 0, output
    marker = calls.index(["rerun"])
    assert len(installs(calls[:marker])) == 6 and installs(calls[marker:]) == []
    assert "docker: engine and buildx already working; leaving Docker alone" in output


@pytest.mark.parametrize("host, says", [
    ("ubuntu-22.04", "unsupported host: Ubuntu 22.04.5 LTS (ID=ubuntu VERSION_ID=22.04 in /etc/os-release)"),
    ("debian-sid", "unsupported host: Debian GNU/Linux trixie/sid (ID=debian VERSION_ID=none in /etc/os-release)"),
    ("fedora-41", "unsupported host: Fedora Linux 41 (ID=fedora VERSION_ID=41 in /etc/os-release)"),
])
def test_an_unsupported_host_stops_before_installing_anything(docker, tmp_path, host, says):
    code, output, calls, _ = run_setup(docker, tmp_path, host, script="scripts/setup.sh")
    assert code == 1
    [line] = output.strip().splitlines()
    assert line.startswith(f"[bootstrap] ERROR: {says}; supported: Debian 12 (bookworm), "
                           "Debian 13 (trixie) and Ubuntu 24.04 (noble); elsewhere, install Docker"), line
    assert calls == []


def test_stand_ins_are_refused_on_ubuntu(docker, tmp_path):
    code, output, calls, _ = run_setup(docker, tmp_path, "ubuntu-24.04", "--stand-ins")
    assert code == 1
    assert "--stand-ins is not supported on Ubuntu 24.04.3 LTS" in output
    assert calls == []


@pytest.mark.parametrize("host", ["ubuntu-24.04", "debian-12"])
def test_help_prints_the_usage_and_installs_nothing(docker, tmp_path, host):
    code, output, calls, _ = run_setup(docker, tmp_path, host, "--help", script="scripts/setup.sh")
    assert code == 0, output
    assert "Usage: scripts/setup.sh [--stand-ins]" in output
    assert "Usage: scripts/bootstrap-host.sh [--stand-ins]" in output
    assert calls == []
