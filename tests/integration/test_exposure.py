"""What the image exposes to the network, tried with real SIP requests from the host:

- ASTERISK_SIP_PERMIT becomes a PJSIP ACL: a source outside it gets 403 (and a FailedACL
  security event), a source inside it reaches authentication as before;
- the security events reach stdout, and deploy/fail2ban's filter finds in them exactly
  the failed attempts (unknown account, wrong password, refused by the ACL) with the
  caller's address, and nothing of a phone that registered properly: run with the real
  fail2ban-regex on `docker logs` and on Docker's json-file log of the container;
- the jail example parses with fail2ban's own configuration and bans in DOCKER-USER;
- AMI, when enabled in manager.conf, listens on 127.0.0.1 only.

fail2ban comes from Debian's package: the installed one, or (when missing) the package
unpacked into a cache directory, without installing or starting anything.
"""

from __future__ import annotations

import ast
import os
import random
import re
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from pipeline.smoke import sipp
from pipeline.smoke.instance import build_test_config, image_file
from pipeline.smoke.ports import pick_block, port_is_free
from tests.conftest import ROOT
from tests.integration import calls
from tests.integration.conftest import require
from tests.integration.test_image import wait_booted

FAIL2BAN = ROOT / "deploy" / "fail2ban"
FILTER = FAIL2BAN / "filter.d" / "asterisk-docker.conf"
JAIL = FAIL2BAN / "jail.d" / "asterisk-docker.conf"
FAILURES = re.compile(r'SecurityEvent=\\?"(?:FailedACL|InvalidAccountID|ChallengeResponseFailed|InvalidPassword)'
                      r'\\?"|res_pjsip_acl\.c:\d+ apply_acl: Incoming SIP message from .* did not pass ACL test')
# Where the unpacked package is kept between runs (scripts/lib.sh's cache directory).
CACHE = Path(os.environ.get("PIPELINE_CACHE_DIR", "/var/cache/asterisk-pipeline")) / "fail2ban"


# ---- fail2ban ------------------------------------------------------------------------------

class Fail2ban:
    def __init__(self, root: Path | None):
        self.root = root      # an unpacked package, or None for the installed one

    def command(self, tool: str) -> list[str]:
        if self.root is None:
            return [shutil.which(tool) or tool]
        return ["env", f"PYTHONPATH={self.root}/usr/lib/python3/dist-packages", "/usr/bin/python3",
                str(self.root / "usr" / "bin" / tool)]

    @property
    def config(self) -> Path:
        return Path("/etc/fail2ban") if self.root is None else self.root / "etc" / "fail2ban"

    def regex(self, log: Path, *options: str) -> str:
        """fail2ban-regex with the filter, in the time zone of the jail (logtimezone)."""
        done = subprocess.run([*self.command("fail2ban-regex"), "--timezone", "UTC", *options,
                               str(log), str(FILTER)],
                              check=False, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"fail2ban-regex failed: {done.stdout}{done.stderr}"
        return done.stdout

    def failures(self, log: Path) -> list[tuple[str, float]]:
        """(address, time) of each matched line, as a jail would count them."""
        rows = [ast.literal_eval(line.rstrip(",")) for line in
                self.regex(log, "--out", "row").splitlines() if line.startswith("[")]
        return [(row[0], float(row[1])) for row in rows]


@pytest.fixture(scope="module")
def fail2ban() -> Fail2ban:
    """Debian's fail2ban: installed (scripts/bootstrap-host.sh), or else its package
    unpacked here (apt-get download; nothing is installed or started)."""
    if shutil.which("fail2ban-regex"):
        return Fail2ban(None)
    root = CACHE / "root"
    if not (root / "usr" / "bin" / "fail2ban-regex").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        for deb in CACHE.glob("fail2ban_*.deb"):
            deb.unlink()
        done = subprocess.run(["apt-get", "download", "fail2ban"], cwd=CACHE, check=False,
                              capture_output=True, text=True, timeout=120)
        debs = list(CACHE.glob("fail2ban_*.deb"))
        assert debs, f"fail2ban is not installed and `apt-get download fail2ban` failed: {done.stderr}"
        shutil.rmtree(root, ignore_errors=True)
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(root)], check=True, timeout=60)
    return Fail2ban(root)


def matched(output: str) -> int:
    found = re.search(r"^Lines: \d+ lines, \d+ ignored, (\d+) matched", output, re.MULTILINE)
    assert found, output
    return int(found.group(1))


# ---- the containers ------------------------------------------------------------------------

DEVICE = f"phone-{secrets.token_hex(3)}"


class Pbx:
    """One container of the image on the host network, on ports of its own."""

    def __init__(self, docker, image: str, work: Path, *, permit: str, ami_port: int | None = None):
        self.docker, self.block = docker, calls.PortBlock.allocate(callers=4, rtp_ports=8)
        self.password = secrets.token_hex(12)
        overlay = work / "overlay"
        (overlay / "pjsip.d").mkdir(parents=True)
        (overlay / "pjsip.d" / "device.conf").write_text(
            calls.DEVICE_CONF.format(name=DEVICE, password=self.password))
        if ami_port:
            # The image's manager.conf, switched on, on a free port: its bindaddr stays.
            manager = image_file(docker, image, "/etc/asterisk/manager.conf")
            assert manager and "enabled = no" in manager
            (overlay / "manager.conf").write_text(
                manager.replace("enabled = no", "enabled = yes").replace("port = 5038", f"port = {ami_port}"))
        config = build_test_config(docker, image, work / "etc", password="", overlay=overlay)
        self.name = f"exposure-test-{secrets.token_hex(4)}"
        ports = self.block.asterisk
        docker.run(image, detach=True, name=self.name, networks=["host"],
                   volumes=[(str(config), "/etc/asterisk")],
                   envs={"ASTERISK_SIP_PORT": str(ports.sip), "ASTERISK_RTP_START": str(ports.rtp_start),
                         "ASTERISK_RTP_END": str(ports.rtp_end), "ASTERISK_SIP_PERMIT": permit})
        wait_booted(docker, self.name)

    def request(self, slot: int, scenario: str, workdir: Path, *, user: str, password: str,
                service: str = "600") -> sipp.SippCall:
        return sipp.run(sipp.render(scenario), workdir, check=False,
                        target=f"{sipp.LOCAL_IP}:{self.block.asterisk.sip}",
                        ports=self.block.caller(slot), service=service, caller=user, user=user,
                        password=password, timeout=6, recv_timeout=3)

    def logs(self) -> str:
        return self.docker.container.logs(self.name)

    def json_log(self) -> Path:
        return Path(self.docker.container.inspect(self.name).log_path)

    def remove(self) -> None:
        self.docker.container.remove(self.name, force=True, volumes=True)


@pytest.fixture(scope="module")
def open_pbx(docker, images, tmp_path_factory):
    """SIP permitted from loopback (and a documentation network): requests reach auth."""
    require("sipp")
    ami_port = pick_block(port_is_free, rng=random.Random(), size=1)
    pbx = Pbx(docker, images["plain"], tmp_path_factory.mktemp("open"),
              permit="127.0.0.0/8, 192.0.2.0/24", ami_port=ami_port)
    pbx.ami_port = ami_port
    yield pbx
    pbx.remove()


@pytest.fixture(scope="module")
def closed_pbx(docker, images, tmp_path_factory):
    """SIP permitted from a network the host is not in."""
    require("sipp")
    pbx = Pbx(docker, images["plain"], tmp_path_factory.mktemp("closed"), permit="192.0.2.0/24")
    yield pbx
    pbx.remove()


@pytest.fixture(scope="module")
def attempts(open_pbx, closed_pbx, tmp_path_factory) -> dict[str, sipp.SippCall]:
    """A phone that registers properly, then what a scanner does."""
    work = tmp_path_factory.mktemp("attempts")
    stranger = f"scanner-{secrets.token_hex(3)}"
    return {
        "good": open_pbx.request(0, "register", work / "good", user=DEVICE, password=open_pbx.password),
        "unknown-register": open_pbx.request(1, "rejected-register", work / "ur", user=stranger,
                                             password="guess"),
        "unknown-invite": open_pbx.request(2, "rejected-invite", work / "ui", user="1001",
                                           password="1001"),
        "wrong-password": open_pbx.request(3, "rejected-invite", work / "wp", user=DEVICE,
                                           password="not-" + open_pbx.password),
        "acl": closed_pbx.request(0, "rejected-register", work / "acl", user=DEVICE,
                                  password=closed_pbx.password),
    }


def finals(call: sipp.SippCall) -> list[str]:
    return [r.split(" ")[1] for r in call.responses() if r.split(" ")[1][:1] in "23456"]


# ---- the ACL ---------------------------------------------------------------------------------

def test_a_source_outside_the_permit_list_gets_403(attempts, closed_pbx):
    assert finals(attempts["acl"]) == ["403"], attempts["acl"].responses()
    assert re.search(r"Incoming SIP message from 127\.0\.0\.1:\d+ did not pass ACL test", closed_pbx.logs())
    generated = closed_pbx.docker.execute(closed_pbx.name, ["cat", "/run/asterisk/generated/pjsip.conf"])
    assert "[sip-permit]\ntype = acl\ndeny = 0.0.0.0/0\ndeny = ::/0\npermit = 192.0.2.0/24" in generated


def test_a_source_inside_the_permit_list_reaches_authentication(attempts):
    calls.require_ok(attempts["good"], f"REGISTER of {DEVICE} from a permitted source")
    for name in ("unknown-register", "unknown-invite", "wrong-password"):
        responses = finals(attempts[name])
        assert responses and "403" not in responses and all(r in ("401", "407") for r in responses), (
            name, attempts[name].responses())


# ---- fail2ban ---------------------------------------------------------------------------------

def test_security_events_reach_stdout(attempts, open_pbx):
    log = open_pbx.logs()
    for event in ("SuccessfulAuth", "InvalidAccountID", "ChallengeResponseFailed"):
        assert f'SecurityEvent="{event}"' in log, event


@pytest.mark.parametrize("source", ["docker logs", "json-file log"])
def test_the_filter_matches_every_failure_and_nothing_else(attempts, open_pbx, closed_pbx,
                                                           fail2ban, tmp_path, source):
    if source == "docker logs":
        log = tmp_path / "asterisk.log"
        log.write_text(open_pbx.logs() + closed_pbx.logs())
        texts = [log.read_text()]
        files = [log]
    else:
        files = [open_pbx.json_log(), closed_pbx.json_log()]
        texts = [path.read_text() for path in files]
    expected = sum(len(FAILURES.findall(text)) for text in texts)
    # The REGISTER of an unknown account, an INVITE from one, a wrong password, the ACL.
    assert expected >= 4, f"only {expected} failure events in the logs"
    found = sum(matched(fail2ban.regex(path)) for path in files)
    assert found == expected, f"fail2ban matched {found} lines, the logs have {expected} failures"
    failures = [failure for path in files for failure in fail2ban.failures(path)]
    assert len(failures) == expected
    assert {address for address, _ in failures} == {"127.0.0.1"}, failures
    # Each with its real time: within the last minutes, not hours off (time zones).
    assert all(time.time() - 600 < when <= time.time() + 5 for _, when in failures), failures
    good_lines = [line for text in texts for line in text.splitlines() if "SuccessfulAuth" in line]
    assert good_lines, "no SuccessfulAuth event of the phone that registered"


def test_the_filter_ignores_a_phone_that_registers(attempts, open_pbx, fail2ban, tmp_path):
    log = tmp_path / "good.log"
    log.write_text("\n".join(line for line in open_pbx.logs().splitlines()
                             if f'AccountID="{DEVICE}"' in line and "SecurityEvent=" in line
                             and "ChallengeResponseFailed" not in line))
    assert "SuccessfulAuth" in log.read_text()
    assert matched(fail2ban.regex(log)) == 0


def test_the_jail_parses_and_bans_in_docker_user(fail2ban, tmp_path):
    config = tmp_path / "fail2ban"
    shutil.copytree(fail2ban.config, config)
    for sub in ("filter.d", "jail.d"):
        shutil.copy(FAIL2BAN / sub / "asterisk-docker.conf", config / sub / "asterisk-docker.conf")
    # Only this jail: Debian's defaults enable sshd.
    (config / "jail.d" / "defaults-debian.conf").unlink(missing_ok=True)
    done = subprocess.run([*fail2ban.command("fail2ban-client"), "-c", str(config), "-d"],
                          check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    dump = done.stdout
    assert "['add', 'asterisk-docker', 'polling']" in dump, dump[:3000]
    start = re.search(r"\['actionstart', \"(.*?)\"\]", dump)
    assert start, dump[:3000]
    assert "echo 'all'" in start.group(1) and "-I DOCKER-USER -p $proto -j f2b-asterisk-docker" in start.group(1), (
        start.group(1))
    assert "['set', 'asterisk-docker', 'maxretry', 5]" in dump


# ---- AMI -------------------------------------------------------------------------------------

def test_ami_listens_on_loopback_only_when_enabled(open_pbx):
    settings = open_pbx.docker.execute(open_pbx.name, ["asterisk", "-rx", "manager show settings"])
    assert re.search(r"Manager \(AMI\):\s+Yes", settings), settings
    assert re.search(rf"Web Manager \(AMI/HTTP\):.*\n(?:.*\n)*?\s*TCP Bindaddress:\s+127\.0\.0\.1:{open_pbx.ami_port}",
                     settings), settings
    # The listening socket itself: 127.0.0.1, in /proc/net/tcp (hex, state 0A = LISTEN).
    table = open_pbx.docker.execute(open_pbx.name, ["cat", "/proc/net/tcp", "/proc/net/tcp6"])
    port = f"{open_pbx.ami_port:04X}"
    listening = [row.split()[1] for row in table.splitlines()[1:]
                 if len(row.split()) > 3 and row.split()[3] == "0A" and row.split()[1].endswith(f":{port}")]
    assert listening == [f"0100007F:{port}"], listening
