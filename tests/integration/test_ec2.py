"""deploy/ec2/user-data.sh: valid bash, clean under shellcheck, and what it really does when
run, as root, on Ubuntu and on Amazon Linux 2023. It runs in a Debian container whose
/etc/os-release says which distribution it is; apt-get, dnf, systemctl and docker are
stand-ins that record their arguments (the package managers "install" the docker
stand-in), so the test sees the exact commands and the directories it leaves behind."""

import shutil
import subprocess
import uuid

import pytest

from tests.conftest import ROOT
from tests.integration import containers
from tests.integration.conftest import BASE_IMAGE

USER_DATA = ROOT / "deploy" / "ec2" / "user-data.sh"

OS_RELEASE = {
    "ubuntu": 'ID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n',
    "amzn": 'ID="amzn"\nID_LIKE="fedora"\nVERSION_ID="2023"\n',
    "fedora": 'ID=fedora\nVERSION_ID=41\n',
}

# Each stand-in appends one line to /calls/log: its name and arguments, separated by \x1f.
RECORD = """#!/bin/sh
sep=$(printf '\\037')
(IFS=$sep; printf '%s\\n' "$(basename "$0")$sep$*") >> /calls/log
"""
INSTALLS_DOCKER = RECORD + "cp /pending/docker /stubs/docker\n"


def test_syntax():
    result = subprocess.run(["bash", "-n", str(USER_DATA)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_shellcheck():
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is not installed (apt-get install shellcheck)"
    result = subprocess.run([shellcheck, "--severity=style", str(USER_DATA)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def run_user_data(docker, tmp_path, distribution, *, runs=1, docker_preinstalled=False):
    """Runs the script `runs` times in one container; returns (exit code, output, calls, tree)."""
    stubs, pending, calls = tmp_path / "stubs", tmp_path / "pending", tmp_path / "calls"
    for directory in (stubs, pending, calls):
        directory.mkdir()
    for name, body in {"apt-get": INSTALLS_DOCKER, "dnf": INSTALLS_DOCKER,
                       "systemctl": RECORD, "docker": RECORD}.items():
        target = stubs if name != "docker" or docker_preinstalled else pending
        (target / name).write_text(body)
        (target / name).chmod(0o755)
    (tmp_path / "os-release").write_text(OS_RELEASE[distribution])
    # Through `| cat`, which ends only when the script's own `tee` has written all: else the
    # container can end (and take tee with it) before the last lines are out.
    script = "set -o pipefail; " + "; ".join(["bash /user-data.sh | cat"] * runs)
    # The tree it leaves: path, owner ids and mode of each directory under /srv/asterisk.
    script += "; code=$?; find /srv/asterisk -printf '%p %U:%G %m\\n' > /calls/tree 2>/dev/null; exit $code"
    name = f"ec2-user-data-{uuid.uuid4().hex[:8]}"
    result = containers.run(
        docker, BASE_IMAGE, ["bash", "-c", script], name=name, networks=["none"],
        volumes=[(USER_DATA, "/user-data.sh", "ro"), (stubs, "/stubs"), (pending, "/pending", "ro"),
                 (calls, "/calls"), (tmp_path / "os-release", "/etc/os-release", "ro")],
        envs={"PATH": "/stubs:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"})
    log = calls / "log"
    recorded = [line.split("\x1f") for line in log.read_text().splitlines()] if log.exists() else []
    tree = (calls / "tree").read_text().split("\n") if (calls / "tree").exists() else []
    return result.code, result.output, recorded, [t for t in tree if t]


def docker_runs(calls):
    return [call[2:] for call in calls if call[:2] == ["docker", "run"]]


def option_values(args, option):
    return [args[i + 1] for i, arg in enumerate(args) if arg == option]


@pytest.mark.parametrize("distribution, install", [
    ("ubuntu", ["apt-get", "install", "-y", "-q", "docker.io"]),
    ("amzn", ["dnf", "install", "-y", "docker"]),
])
def test_installs_docker_and_runs_the_image(docker, tmp_path, distribution, install):
    code, output, calls, tree = run_user_data(docker, tmp_path, distribution)
    assert code == 0, output
    assert install in calls, calls
    assert ["systemctl", "enable", "--now", "docker"] in calls
    assert ["docker", "pull", "docker.io/asteriskpipeline/asterisk:lts"] in calls
    [run] = docker_runs(calls)
    assert run[-1] == "docker.io/asteriskpipeline/asterisk:lts"
    assert option_values(run, "--network") == ["host"]
    assert option_values(run, "--restart") == ["unless-stopped"]
    envs = dict(value.split("=", 1) for value in option_values(run, "-e"))
    assert envs == {"ASTERISK_EXTERNAL_ADDRESS": "ec2", "ASTERISK_EXTERNAL_ADDRESS_REQUIRED": "yes",
                    "ASTERISK_SIP_PORT": "5060",
                    "ASTERISK_RTP_START": "10000", "ASTERISK_RTP_END": "10099",
                    "ASTERISK_UID": "1000", "ASTERISK_GID": "1000"}
    volumes = dict(value.split(":", 1) for value in option_values(run, "-v"))
    assert volumes == {"/srv/asterisk/etc": "/etc/asterisk", "/srv/asterisk/spool": "/var/spool/asterisk",
                       "/srv/asterisk/log": "/var/log/asterisk", "/srv/asterisk/lib": "/var/lib/asterisk"}
    # The configuration is root's (readable by the group), the state the user's.
    assert sorted(tree) == sorted([f"/srv/asterisk/{d} 1000:1000 750" for d in ("spool", "log", "lib")]
                                  + ["/srv/asterisk/etc 0:1000 750", "/srv/asterisk 0:0 755"])
    # Least privilege: what the entrypoint needs as root, nothing for Asterisk.
    assert option_values(run, "--cap-drop") == ["ALL"]
    assert sorted(option_values(run, "--cap-add")) == ["CHOWN", "DAC_OVERRIDE", "FOWNER",
                                                        "SETGID", "SETPCAP", "SETUID"]
    assert option_values(run, "--security-opt") == ["no-new-privileges"]
    assert "started asterisk from docker.io/asteriskpipeline/asterisk:lts" in output


def test_a_second_run_recreates_the_container_without_reinstalling(docker, tmp_path):
    code, output, calls, _ = run_user_data(docker, tmp_path, "ubuntu", runs=2)
    assert code == 0, output
    assert sum(call[:2] == ["apt-get", "install"] for call in calls) == 1
    assert "docker already installed" in output
    assert sum(call[:3] == ["docker", "rm", "-f"] for call in calls) == 2
    assert len(docker_runs(calls)) == 2


def test_an_unsupported_distribution_stops_with_a_message(docker, tmp_path):
    code, output, calls, _ = run_user_data(docker, tmp_path, "fedora")
    assert code == 1
    assert "unsupported distribution 'fedora'" in output
    assert not docker_runs(calls)
