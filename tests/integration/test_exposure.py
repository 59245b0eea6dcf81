"""What the image exposes to the network, tried with real SIP requests from the host:

- ASTERISK_SIP_PERMIT becomes a PJSIP ACL: a source outside it gets 403 (and a FailedACL
  security event), a source inside it reaches authentication as before;
- the security events reach stdout, and deploy/fail2ban's filter finds in them exactly
  the failed attempts (unknown account, wrong password, refused by the ACL) with the
  caller's address, and nothing of a phone that registered properly: run with the real
  fail2ban-regex on `docker logs` and on Docker's json-file log of the container;
- a stranger who writes Asterisk's field names into what Asterisk logs of a request (From
  user, Call-ID, Authorization; quotes, commas, escapes, line breaks, lines Asterisk cuts)
  gets no other address charged, and is still charged where the line says who they are;
- the jail example, set up as docs/networking.md says, parses with fail2ban's own
  configuration, bans in DOCKER-USER, and a real fail2ban server running it reads the
  Asterisk container's log only: it bans the stranger, never the address that another
  container's log names;
- AMI, when enabled in manager.conf, listens on 127.0.0.1 only.

fail2ban is Debian's package (scripts/bootstrap-host.sh installs it). The fail2ban server
of the jail test runs with its own configuration directory, socket and in-memory database,
and bans with fail2ban's `dummy` action (a line in a file): this host's firewall is
shared.
"""

from __future__ import annotations

import dataclasses
import random
import re
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from pipeline.smoke import sipp
from pipeline.smoke.instance import build_test_config, image_file
from pipeline.smoke.ports import pick_block, port_is_free
from tests.conftest import ROOT
from tests.integration import calls, sip_by_hand
from tests.integration.conftest import require
from tests.integration.test_image import wait_booted

FAIL2BAN = ROOT / "deploy" / "fail2ban"
FILTER = FAIL2BAN / "filter.d" / "asterisk-docker.conf"
FAILURES = re.compile(r'SecurityEvent=\\?"(?:FailedACL|InvalidAccountID|ChallengeResponseFailed|InvalidPassword)'
                      r'\\?"|res_pjsip_acl\.c:\d+ apply_acl: Incoming SIP message from .* did not pass ACL test')


# ---- fail2ban ------------------------------------------------------------------------------

def fail2ban_regex(log: Path, *options: str) -> str:
    """Debian's fail2ban-regex (scripts/bootstrap-host.sh installs it) with the filter, in
    the time zone of the jail (logtimezone). Its output as written: a carriage return in
    a log line stays one (no newline translation)."""
    require("fail2ban-regex")
    done = subprocess.run(["fail2ban-regex", "--timezone", "UTC", *options, str(log), str(FILTER)],
                          check=False, capture_output=True, timeout=120)
    output = done.stdout.decode("utf-8", errors="replace")
    assert done.returncode == 0, f"fail2ban-regex failed: {output}{done.stderr.decode(errors='replace')}"
    return output


@dataclasses.dataclass(frozen=True)
class Charge:
    """One failure as the jail counts it: the address charged, when, and the log line."""

    address: str
    time: float
    line: str


def charges(log: Path) -> list[Charge]:
    """Every line of `log` the filter matches, with the address it charges."""
    rows = fail2ban_regex(log, "--out", "<ip>\t<time>\t<msg>").split("\n")   # lines end at \n only
    found = [row.split("\t", 2) for row in rows if row.count("\t") >= 2]
    return [Charge(address, float(when), line) for address, when, line in found]


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


@pytest.fixture(scope="module")
def ami_failure(open_pbx) -> str:
    """A login to AMI (on loopback) with an account manager.conf does not have: a security
    event of another service, which ends with a field of its own (SessionTV)."""
    with socket.create_connection((sipp.LOCAL_IP, open_pbx.ami_port), timeout=10) as connection:
        connection.recv(1024)   # the banner
        connection.sendall(b"Action: Login\r\nUsername: scanner\r\nSecret: guess\r\n\r\n")
        answer = connection.recv(4096).decode(errors="replace")
    assert "Authentication failed" in answer, answer
    calls.wait_for(lambda: 'Service="AMI"' in open_pbx.logs(), timeout=10, message="AMI's security event")
    return answer


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
def test_the_filter_matches_every_failure_and_nothing_else(attempts, ami_failure, open_pbx, closed_pbx, tmp_path,
                                                           source):
    if source == "docker logs":
        log = tmp_path / "asterisk.log"
        log.write_text(open_pbx.logs() + closed_pbx.logs())
        texts = [log.read_text()]
        files = [log]
    else:
        files = [open_pbx.json_log(), closed_pbx.json_log()]
        texts = [path.read_text() for path in files]
    expected = sum(len(FAILURES.findall(text)) for text in texts)
    # The REGISTER of an unknown account, an INVITE from one, a wrong password, the ACL, AMI.
    assert expected >= 5, f"only {expected} failure events in the logs"
    found = sum(matched(fail2ban_regex(path)) for path in files)
    assert found == expected, f"fail2ban matched {found} lines, the logs have {expected} failures"
    failures = [charge for path in files for charge in charges(path)]
    assert len(failures) == expected
    assert {charge.address for charge in failures} == {"127.0.0.1"}, failures
    # Each with its real time: within the last minutes, not hours off (time zones).
    assert all(time.time() - 600 < charge.time <= time.time() + 5 for charge in failures), failures
    good_lines = [line for text in texts for line in text.splitlines() if "SuccessfulAuth" in line]
    assert good_lines, "no SuccessfulAuth event of the phone that registered"


def test_the_filter_ignores_a_phone_that_registers(attempts, open_pbx, tmp_path):
    log = tmp_path / "good.log"
    log.write_text("\n".join(line for line in open_pbx.logs().splitlines()
                             if f'AccountID="{DEVICE}"' in line and "SecurityEvent=" in line
                             and "ChallengeResponseFailed" not in line))
    assert "SuccessfulAuth" in log.read_text()
    assert matched(fail2ban_regex(log)) == 0


# ---- a stranger writing Asterisk's security log ----------------------------------------------
# Asterisk writes the security events' fields without escaping (AccountID is the From user,
# SessionID the Call-ID, Challenge and Response come from the Authorization header), so a
# stranger can put `",RemoteAddress="IPV4/UDP/<anyone>/5060` into a line. VICTIM stands for
# an address the stranger wants banned (their victim's SIP trunk provider, say).

VICTIM = "192.0.2.9"
MARK = secrets.token_hex(3)   # in every Call-ID: which attempt a line belongs to
FAKE = f'",LocalAddress="IPV4/UDP/192.0.2.1/5060",RemoteAddress="IPV4/UDP/{VICTIM}/5060"'
FAKE_END = FAKE + ',Challenge="",Response="",ExpectedResponse=""'
WRONG_PASSWORD = sip_by_hand.WRONG_DIGEST
EVENT_TV = "2026-01-01T00:00:00.000+0000"    # the length of every EventTV Asterisk writes


def response(value: str) -> str:
    """A digest answer whose response parameter is `value` (written as it goes on the wire)."""
    return WRONG_PASSWORD.replace('response="0123456789abcdef0123456789abcdef"', f"response={value}")


def cut_call_id(name: str, prefix: str, event: str, account: str, end: str, filler: str = "x") -> str:
    """A Call-ID that makes Asterisk cut the event's line right after `end`: it writes a
    line of at most 8191 bytes (main/logger.c: `prefix`, Asterisk's own start of the line,
    then the message), and the cut line ends as the stranger wrote it, without a line
    break (the next line goes on after it)."""
    head = (f'{prefix}SecurityEvent="{event}",EventTV="{EVENT_TV}",Severity="Error",Service="PJSIP",'
            f'EventVersion="1",AccountID="{account}",SessionID="')
    marker = f"{name}-{MARK}-"
    room = 8191 - len(head.encode()) - len(marker) - len(end.encode())
    return marker + filler * (room // len(filler.encode())) + "x" * (room % len(filler.encode())) + end


@dataclasses.dataclass(frozen=True)
class Attack:
    register: sip_by_hand.Register
    counted: str | None   # the failure event the filter must still charge (to the stranger)


def register(name: str, user: str = "stranger", call_id: str = "", **options) -> sip_by_hand.Register:
    """A REGISTER whose Call-ID starts with `name` and MARK, which finds its log lines."""
    return sip_by_hand.Register(user=user, call_id=f"{name}-{MARK}-{call_id}", **options)


UNKNOWN, WRONG = "InvalidAccountID", "ChallengeResponseFailed"
# What a stranger writes, and which failure the filter must still charge them with.
ATTACKS = {
    # The From user (AccountID, at most 36 bytes): pjsip decodes %22 to a quote, %5C to a
    # backslash, %0D and %0A to line breaks.
    "from-quote": Attack(register("from-quote", f"%22,RemoteAddress=%22IPV4/U/{VICTIM}/1"), UNKNOWN),
    "from-quote-udp": Attack(register("from-quote-udp", f"%22,RemoteAddress=%22IPV4/UDP/{VICTIM}/1%22"), UNKNOWN),
    "from-fields": Attack(register("from-fields", "a%22,Service=%22AMI%22,LocalAddress=%22x"), UNKNOWN),
    "from-backslash": Attack(register("from-backslash", f"%5C%22,RemoteAddress=%5C%22IPV4/U/{VICTIM}/1"), UNKNOWN),
    "from-cr": Attack(register("from-cr", f"%0D,RemoteAddress=%22IPV4/U/{VICTIM}/1"), UNKNOWN),
    "from-lf": Attack(register("from-lf", f"x%0ARemoteAddress=%22IPV4/UDP/{VICTIM}/1%22"), None),
    "from-long": Attack(register("from-long", "A" * 300), UNKNOWN),
    # The Call-ID (SessionID): anything but a line break, of any length.
    "call-id-quote": Attack(register("call-id-quote", call_id=FAKE + ',Service="PJSIP'), UNKNOWN),
    "call-id-end": Attack(register("call-id-end", call_id=FAKE), UNKNOWN),
    # The Call-ID also goes into the NOTICE of every failed request: here, as the ACL's warning.
    "call-id-acl": Attack(register("call-id-acl", call_id=(
        f" WARNING[1]: res_pjsip_acl.c:158 apply_acl: Incoming SIP message from {VICTIM}:5060 did not pass ACL test")),
        UNKNOWN),
    "call-id-password": Attack(register("call-id-password", DEVICE, FAKE + ',Challenge="',
                                        authorization=WRONG_PASSWORD), WRONG),
    # The Authorization header (Challenge, Response): quoted strings, their escapes kept.
    "response-quote": Attack(register("response-quote", DEVICE, authorization=response(
        f'"x\\",LocalAddress=\\"IPV4/UDP/192.0.2.1/5060\\",RemoteAddress=\\"IPV4/UDP/{VICTIM}/5060\\",'
        'Challenge=\\"\\",Response=\\"y"')), WRONG),
    "nonce-quote": Attack(register("nonce-quote", DEVICE, authorization=WRONG_PASSWORD.replace(
        'nonce="{nonce}"', f'nonce="\\",RemoteAddress=\\"IPV4/UDP/{VICTIM}/1\\",Challenge=\\""')), WRONG),
    # Asterisk keeps 255 bytes of the response: the cut leaves a backslash before its quote.
    "response-cut": Attack(register("response-cut", DEVICE, authorization=response(
        '"' + "a" * 254 + f'\\",RemoteAddress=\\"IPV4/UDP/{VICTIM}/5060\\""')), None),
    "wrong-password": Attack(register("wrong-password", DEVICE, authorization=WRONG_PASSWORD), WRONG),
}


def cut_attacks(prefix: str) -> dict[str, Attack]:
    """Lines Asterisk cuts, ending with FAKE: in ASCII, in four-byte characters (fewer
    characters for as many bytes), and a wrong password's."""
    def cut(name: str, event: str, account: str, end: str, filler: str = "x") -> str:
        return cut_call_id(name, prefix, event, account, end, filler)

    return {
        "cut": Attack(sip_by_hand.Register(user="stranger", call_id=cut("cut", UNKNOWN, "stranger", FAKE)), None),
        "cut-utf8": Attack(sip_by_hand.Register(
            user="stranger", call_id=cut("cut-utf8", UNKNOWN, "stranger", FAKE, "\U0001f600")), None),
        "cut-password": Attack(sip_by_hand.Register(
            user=DEVICE, call_id=cut("cut-password", WRONG, DEVICE, FAKE_END), authorization=WRONG_PASSWORD),
            None),
    }


@pytest.fixture(scope="module")
def stranger_pbx(docker, images, tmp_path_factory):
    """A container of its own for the stranger's requests (their cut lines swallow others)."""
    pbx = Pbx(docker, images["plain"], tmp_path_factory.mktemp("stranger"), permit="127.0.0.0/8")
    yield pbx
    pbx.remove()


@pytest.fixture(scope="module")
def stranger(stranger_pbx) -> dict[str, Attack]:
    """Every attack sent, from 127.0.0.1, and its lines in both logs. The cut ones go
    last (a cut line has no line break and takes the next lines into itself), made to
    measure for Asterisk's start of a security line as this container writes it."""
    target = (sipp.LOCAL_IP, stranger_pbx.block.asterisk.sip)

    def send(attacks: dict[str, Attack]) -> None:
        for name, attack in attacks.items():
            statuses = sip_by_hand.send(target, attack.register)
            assert statuses and all(status.startswith("SIP/2.0 401") for status in statuses), (name, statuses)

    def logged(call_id: str) -> bool:
        return (f'SessionID="{call_id}' in stranger_pbx.logs()
                and f'SessionID=\\"{call_id}' in stranger_pbx.json_log().read_text(errors="replace"))

    send(ATTACKS)
    calls.wait_for(lambda: logged(f"wrong-password-{MARK}-"), timeout=20, message="the attacks' events in the logs")
    starts = re.findall(r"^(\[[^]]+\] SECURITY\[\d+\]: res_security_log\.c:\d+ security_event_stasis_cb: )",
                        stranger_pbx.logs(), re.MULTILINE)
    cuts = cut_attacks(starts[-1])
    send(cuts)
    # One more request ends the last cut line: once its event is in both logs, so is everything before.
    sip_by_hand.send(target, sip_by_hand.Register(user="flush", call_id=f"flush-{MARK}"))
    calls.wait_for(lambda: logged(f"flush-{MARK}"), timeout=20, message="the last request's event in the logs")
    return {**ATTACKS, **cuts}


def stranger_logs(pbx: Pbx, tmp_path: Path, source: str) -> Path:
    if source == "json-file log":
        return pbx.json_log()
    log = tmp_path / "docker-logs.txt"
    log.write_text(pbx.logs())
    return log


@pytest.mark.parametrize("source", ["docker logs", "json-file log"])
def test_a_stranger_gets_no_other_address_charged(stranger, stranger_pbx, tmp_path, source):
    log = stranger_logs(stranger_pbx, tmp_path, source)
    # The attacks reached the log: the first RemoteAddress of many a failure names VICTIM.
    first = [re.search(r'RemoteAddress=\\?"IPV4/\w+/([^/\\"]+)/', line)
             for line in log.read_text(errors="replace").split("\n") if FAILURES.search(line)]
    assert sum(1 for found in first if found and found.group(1) == VICTIM) >= 5, first
    found = charges(log)
    assert found, "the filter charged nothing at all"
    assert {charge.address for charge in found} == {"127.0.0.1"}, [
        (charge.address, charge.line[:300]) for charge in found if charge.address != "127.0.0.1"]


@pytest.mark.parametrize("source", ["docker logs", "json-file log"])
def test_a_stranger_is_charged_where_the_line_says_who_they_are(stranger, stranger_pbx, tmp_path, source):
    lines = [charge.line.replace('\\"', '"') for charge in charges(stranger_logs(stranger_pbx, tmp_path, source))]
    missing = [name for name, attack in stranger.items() if attack.counted and not any(
        f'SecurityEvent="{attack.counted}"' in line and f"{name}-{MARK}-" in line for line in lines)]
    assert not missing, f"not counted: {missing}"


# ---- the jail ----------------------------------------------------------------------------------

def jail_config(directory: Path, local: str = "") -> Path:
    """fail2ban's own configuration with the filter and the jail added (Debian's default
    sshd jail taken out), and jail.d/asterisk-docker.local as docs/networking.md has one
    write it."""
    require("fail2ban-client")
    shutil.copytree("/etc/fail2ban", directory)
    (directory / "jail.d" / "defaults-debian.conf").unlink(missing_ok=True)
    for sub in ("filter.d", "jail.d"):
        shutil.copy(FAIL2BAN / sub / "asterisk-docker.conf", directory / sub / "asterisk-docker.conf")
    if local:
        (directory / "jail.d" / "asterisk-docker.local").write_text(local)
    return directory


def documented_local(log_path: Path) -> str:
    """jail.d/asterisk-docker.local as docs/networking.md has one write it (its printf
    format, with the container's log path)."""
    docs = (ROOT / "docs" / "networking.md").read_text()
    written = re.search(r"^printf '(\[asterisk-docker\][^']*)' \"\$\(docker inspect -f '\{\{\.LogPath\}\}' asterisk\)\"",
                        docs, re.MULTILINE)
    assert written, "docs/networking.md no longer writes asterisk-docker.local with printf"
    return written.group(1).replace("\\n", "\n").replace("%s", str(log_path))


def dump(config: Path) -> str:
    done = subprocess.run(["fail2ban-client", "-c", str(config), "-d"],
                          check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_jail_is_off_until_told_which_log_to_read(tmp_path):
    assert "asterisk-docker" not in dump(jail_config(tmp_path / "fail2ban"))


def test_the_jail_parses_and_bans_in_docker_user(open_pbx, tmp_path):
    log = open_pbx.json_log()
    text = dump(jail_config(tmp_path / "fail2ban", documented_local(log)))
    assert "['add', 'asterisk-docker', 'polling']" in text, text[:3000]
    assert re.findall(r"\['set', 'asterisk-docker', 'addlogpath', '([^']*)'", text) == [str(log)]
    start = re.search(r"\['actionstart', \"(.*?)\"\]", text)
    assert start, text[:3000]
    assert "echo 'all'" in start.group(1) and "-I DOCKER-USER -p $proto -j f2b-asterisk-docker" in start.group(1), (
        start.group(1))
    assert "['set', 'asterisk-docker', 'maxretry', 5]" in text


class Fail2banServer:
    """A real fail2ban server, in the foreground, on a configuration directory of its own
    (socket, pid file, log, an in-memory database), banning with the `dummy` action."""

    def __init__(self, config: Path):
        self.config = config
        (config / "fail2ban.local").write_text(
            f"[Definition]\nlogtarget = {config / 'fail2ban.log'}\nsocket = {config / 'fail2ban.sock'}\n"
            f"pidfile = {config / 'fail2ban.pid'}\ndbfile = :memory:\n")
        # Bans go into a file, not this shared host's firewall; 127.0.0.1 (the stranger
        # here) is this host's own address, which fail2ban would otherwise never ban.
        (config / "jail.d" / "zz-test.local").write_text(
            f"[asterisk-docker]\naction = dummy[target={config / 'bans'}]\nignoreself = false\n")
        self.process = subprocess.Popen(["fail2ban-client", "-c", str(config), "-f", "-x", "start"],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def client(self, *command: str) -> str:
        done = subprocess.run(["fail2ban-client", "-c", str(self.config), *command],
                              check=False, capture_output=True, text=True, timeout=30)
        return done.stdout + done.stderr

    def status(self) -> dict[str, str]:
        """`fail2ban-client status asterisk-docker`, as {"File list": ..., "Banned IP list": ...}."""
        text = self.client("status", "asterisk-docker")
        return {key.strip(): value.strip() for key, value in re.findall(r"[|`]- ([^:\n]+):[ \t]*(.*)", text)}

    def banned(self) -> list[str]:
        """Who the `dummy` action banned so far (its file: a line "+ADDRESS" a ban)."""
        bans = self.config / "bans"
        return [line[1:] for line in bans.read_text().splitlines() if line.startswith("+")] if bans.exists() else []

    def stop(self) -> str:
        self.client("stop")
        try:
            output, _ = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            output, _ = self.process.communicate()
        return output


@pytest.fixture
def neighbour(docker, images):
    """Another container on the host, whose log holds what someone else wrote to it: lines
    in the form of Asterisk's security events, naming VICTIM (a web application that logs
    what it was sent, say)."""
    line = (f'[2026-01-01 00:00:00.000] SECURITY[1]: res_security_log.c:114 security_event_stasis_cb: '
            f'SecurityEvent="InvalidAccountID",EventTV="{EVENT_TV}",Severity="Error",Service="PJSIP",'
            f'EventVersion="1",AccountID="x",SessionID="neighbour-{MARK}",LocalAddress="IPV4/UDP/192.0.2.1/5060",'
            f'RemoteAddress="IPV4/UDP/{VICTIM}/5060"\n')
    name = f"exposure-neighbour-{secrets.token_hex(4)}"
    docker.run(images["plain"], [line * 8], entrypoint="printf", name=name)
    yield Path(docker.container.inspect(name).log_path)
    docker.container.remove(name, force=True, volumes=True)


def test_a_real_fail2ban_bans_the_stranger_and_reads_no_other_log(stranger, stranger_pbx, neighbour, tmp_path):
    # What the neighbour's log holds would ban VICTIM, were the jail to read it.
    assert {charge.address for charge in charges(neighbour)} == {VICTIM}
    log = stranger_pbx.json_log()
    server = Fail2banServer(jail_config(tmp_path / "fail2ban", documented_local(log)))
    try:
        calls.wait_for(lambda: "127.0.0.1" in server.banned(), timeout=30,
                       message=lambda: f"a ban of 127.0.0.1 (status: {server.status()})")
        status = server.status()
        banned = server.banned()
    finally:
        output = server.stop()
    assert status["File list"] == str(log), (status, output)
    assert banned == ["127.0.0.1"], (banned, status)


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
