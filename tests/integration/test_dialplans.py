"""The default dialplan (dockerfiles/asterisk/config/extensions.lua), one real call per
extension, against the 22.10.1 image.

One container (host networking, its own free ports) runs the image's own configuration
plus two devices with random names, PHONE_A and PHONE_B (pjsip.d, on the image's
templates, so they land in from-internal like any device a user adds), their extensions
1001 and 1002 (devices.lua: device names are not extension numbers) and a mailbox for
1002 (voicemail.conf). sipp on the host places every call; the calls run at once, except
the story of 1002, which runs in order: registered and answering a call from 1001, then
answering 480 so that 1001 leaves a voicemail, then listening to it with *97, then
changing the mailbox's PIN (written into the spool, not voicemail.conf). Each test then
checks what its call showed: RTP counters sampled from `pjsip show channelstats`, the
verbose log, the CLI (`confbridge list`), the voicemail spool. The table of calls and
proofs is in docs/dialplans.md.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime
import random
import re
import secrets
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from python_on_whales import DockerClient

from pipeline.smoke import parse, sipp
from pipeline.smoke.instance import PASSWORD_TOKEN, Instance, build_test_config, image_file
from tests.integration import calls
from tests.integration.conftest import require

pytestmark = pytest.mark.slow

TEST_LABEL = "org.asterisk-pipeline.test"
MIN_RATIO = 0.9
TONE_PACKETS = 75                  # 1.5 s of 20 ms packets
ECHO_MS = 3000
SETTLE_S = 1.0                     # answer, Wait(0.5) and media start-up are over
SPOOL = "/var/spool/asterisk/voicemail/default/1002/INBOX"

# Two devices on the image's templates (pjsip.conf): context from-internal. Their names
# are not their extension numbers (devices.lua maps the extensions to them). Nine
# characters: `pjsip show channelstats` cuts channel names (NAME-0000000a) at 18.
PHONE_A = f"sip{secrets.token_hex(3)}"      # extension 1001
PHONE_B = f"sip{secrets.token_hex(3)}"      # extension 1002, with a mailbox
ENDPOINTS = f"""; tests/integration/test_dialplans.py: two phones
[{PHONE_A}](endpoint-defaults)
auth = {PHONE_A}
aors = {PHONE_A}
callerid = <1001>

[{PHONE_A}](auth-defaults)
username = {PHONE_A}
password = {PASSWORD_TOKEN}

[{PHONE_A}](aor-defaults)

[{PHONE_B}](endpoint-defaults)
auth = {PHONE_B}
aors = {PHONE_B}
callerid = <1002>
mailboxes = 1002@default

[{PHONE_B}](auth-defaults)
username = {PHONE_B}
password = {PASSWORD_TOKEN}

[{PHONE_B}](aor-defaults)
"""
DEVICES = f"""return {{
	["1001"] = "{PHONE_A}",
	["1002"] = "{PHONE_B}",
}}
"""

# The sipp processes of one run, each with its own SIP and media ports.
SLOTS = ["echo", "milliwatt", "hello", "dtmf", "moh", "ivr", "conference-a", "conference-b",
         "any-mailbox", "phone-1002", "call-1002", "phone-1002-away", "leave-voicemail",
         "own-mailbox", "change-pin", "no-device"]


@dataclasses.dataclass
class Pbx:
    docker: DockerClient
    instance: Instance
    block: calls.PortBlock
    password: str                  # of both devices
    mailbox_password: str          # of mailbox 1002
    work: Path
    monitor: calls.ChannelMonitor | None = None

    @property
    def target(self) -> str:
        return self.instance.target

    def log(self, since: datetime.datetime) -> str:
        return self.instance.log(since=since)

    def call(self, slot: str, scenario: str, *, service: str, caller: str = PHONE_A,
             timeout: float = 15, **options) -> sipp.SippCall:
        """One call from `caller` to `service`, start to end."""
        return self.start(slot, scenario, service=service, caller=caller, timeout=timeout,
                          **options).wait()

    def start(self, slot: str, scenario: str, *, service: str = "s", caller: str = PHONE_A,
              timeout: float = 15, **options) -> calls.Sipp:
        return calls.Sipp(scenario, self.work / slot, target=self.target,
                          ports=self.block.caller(SLOTS.index(slot)), service=service,
                          caller=caller, user=caller, password=self.password,
                          timeout=timeout, **options)

    def sh(self, command: str) -> str:
        return self.docker.container.execute(self.instance.name, ["sh", "-c", command])

    def ls(self, directory: str) -> list[str]:
        return self.sh(f"ls -1 {directory} 2>/dev/null || true").split()

    def stats(self, channel: str) -> parse.ChannelStats:
        """The channel's last RTP counters: its totals if it was sampled near its end."""
        assert self.monitor
        stats = self.monitor.last(channel)
        assert stats, f"{channel} never showed in `pjsip show channelstats`"
        return stats

    def history(self, channel: str) -> list[tuple[float, parse.ChannelStats]]:
        assert self.monitor
        return self.monitor.history(channel)


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def call_xml(media: list[str]) -> str:
    """sipp hangs up after the media part."""
    return sipp.render("call", offer=sipp.PCMA_OFFER, media="\n".join(media))


def remote_bye_xml(media: list[str], bye_ms: int) -> str:
    """Asterisk hangs up within bye_ms after the media part starts."""
    return sipp.render("call-remote-bye", offer=sipp.PCMA_OFFER, media="\n".join(media),
                       bye_timeout=bye_ms)


def one_channel(log: str, exten: str, app: str = r"\w+") -> str:
    found = calls.executed(log, exten, app)
    assert len(found) == 1, f"expected one channel running extension {exten}, the log has {found}"
    return found[0]


def has_line(log: str, channel: str, text: str) -> bool:
    return any(text in line for line in calls.lines_of(log, channel))


# ---- the container -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def pbx(docker, images, tmp_path_factory):
    require("sipp")
    image = images["plain"]
    work = tmp_path_factory.mktemp("dialplans")
    mailbox_password = "".join(random.choice("0123456789") for _ in range(6))
    overlay = work / "overlay"
    (overlay / "pjsip.d").mkdir(parents=True)
    (overlay / "pjsip.d" / "dialplans.conf").write_text(ENDPOINTS)
    (overlay / "devices.lua").write_text(DEVICES)
    # The image's voicemail.conf, plus a mailbox for 1002 in its [default] context.
    voicemail = image_file(docker, image, "/etc/asterisk/voicemail.conf")
    assert voicemail and "[default]" in voicemail, "the image has no voicemail.conf [default]"
    (overlay / "voicemail.conf").write_text(
        f"{voicemail}\n[default](+)\n1002 => {mailbox_password},Test Phone 1002\n")

    block = calls.PortBlock.allocate(callers=len(SLOTS), rtp_ports=48)
    # The smoke test's Instance gives the environment (ports, external address), the boot
    # wait, the CLI and the log; the container is started here, under this test's own
    # label, because the smoke test's clean-up removes every container with its label.
    instance = Instance(label="dialplans", network="host", ports=block.asterisk,
                        name=f"pipeline-test-dialplans-{secrets.token_hex(4)}", _docker=docker)
    pbx = Pbx(docker, instance, block, secrets.token_hex(12), mailbox_password, work / "calls")
    (work / "etc").mkdir()
    config = build_test_config(docker, image, work / "etc", password=pbx.password,
                               overlay=overlay)
    try:
        docker.run(image, detach=True, name=instance.name, envs=instance.env(),
                   volumes=[(str(config), "/etc/asterisk")], networks=["host"],
                   labels={TEST_LABEL: "dialplans"})
        instance.wait_booted()
        yield pbx
    finally:
        (work / "asterisk.log").write_text(instance.log())   # kept for a failed call
        if docker.container.exists(instance.name):
            docker.container.remove(instance.name, force=True, volumes=True)
        shutil.rmtree(work / "etc", ignore_errors=True)


@dataclasses.dataclass
class Outcomes:
    futures: dict[str, concurrent.futures.Future]   # per check: its detail, or its failure
    seconds: float                                  # all the calls, from first to last

    def detail(self, name: str) -> str:
        detail = self.futures[name].result()   # raises the check's AssertionError
        print(f"{name}: {detail}")
        return detail


@pytest.fixture(scope="module")
def outcomes(pbx) -> Outcomes:
    """Every call at once (the 1002 story in order); each test reads its own outcome."""
    start = time.monotonic()
    checks: dict[str, Callable[[Pbx], str]] = {
        "echo": echo_600, "milliwatt": milliwatt_601, "hello": hello_world_602,
        "dtmf": dtmf_603, "moh": music_on_hold_604, "ivr": ivr_605,
        "conference": conference_610, "any-mailbox": any_mailbox_98,
        "no-device": no_device, "endpoints": endpoint_story,
    }
    with calls.ChannelMonitor(pbx.instance.rx) as monitor:
        pbx.monitor = monitor
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(checks)) as pool:
            futures = {name: pool.submit(check, pbx) for name, check in checks.items()}
            concurrent.futures.wait(futures.values())
    story = futures.pop("endpoints")
    if story.exception():
        for name in ("call-1002", "voicemail", "own-mailbox", "change-pin"):
            futures[name] = story
    else:
        futures.update(story.result())
    return Outcomes(futures, time.monotonic() - start)


# ---- the calls ---------------------------------------------------------------------------

def echo_600(pbx: Pbx) -> str:
    # Like a phone, the caller sends audio from the answer on (a tone), then nothing for a
    # second, so that the last samples hold the totals.
    mark = now()
    call = pbx.call("echo", call_xml([sipp.play("audio.pcap"), sipp.pause(ECHO_MS + 1000)]),
                    service="600", files={"audio.pcap": calls.media_pcap(ECHO_MS, tone_hz=1000)})
    calls.require_ok(call, "the call to 600")
    calls.check_answer(call, pbx.block.asterisk)
    channel = one_channel(pbx.log(mark), "600", "echo")
    sent = ECHO_MS // calls.PTIME_MS
    total = pbx.stats(channel)
    assert total.rx >= MIN_RATIO * sent, f"Asterisk received {total.rx} of the {sent} packets"
    received, echoed, seconds = calls.steady(pbx.history(channel), SETTLE_S)
    assert received >= 25, f"too few samples of {channel} once Echo() ran: {pbx.history(channel)}"
    assert echoed >= MIN_RATIO * received, (
        f"in {seconds:.1f}s of Echo(), Asterisk received {received} packets and sent {echoed} back")
    return (f"{channel}: sent {sent}, Asterisk received {total.rx}; once Echo() ran, "
            f"{echoed} of {received} packets came back")


def _audio_to_caller(pbx: Pbx, slot: str, exten: str, app: str, hold_ms: int,
                     min_packets: int) -> tuple[str, str, parse.ChannelStats]:
    """A call whose caller echoes what it receives: what Asterisk receives back is what
    reached the caller."""
    mark = now()
    call = pbx.call(slot, call_xml([sipp.pause(hold_ms)]), service=exten, rtp_echo=True)
    calls.require_ok(call, f"the call to {exten}")
    log = pbx.log(mark)
    channel = one_channel(log, exten, app)
    total = pbx.stats(channel)
    assert total.tx >= min_packets, f"{exten} sent {total.tx} RTP packets, expected ≥ {min_packets}"
    back, sent, seconds = calls.steady(pbx.history(channel), SETTLE_S)
    assert sent >= 20, f"too few samples of {channel}: {pbx.history(channel)}"
    assert back >= MIN_RATIO * sent, (
        f"in {seconds:.1f}s, {exten} sent {sent} packets and {back} came back from the caller")
    return log, channel, total


def milliwatt_601(pbx: Pbx) -> str:
    _, channel, stats = _audio_to_caller(pbx, "milliwatt", "601", "milliwatt", 3000, 50)
    return f"{channel}: Milliwatt sent {stats.tx} packets, {stats.rx} came back from the caller"


def music_on_hold_604(pbx: Pbx) -> str:
    log, channel, stats = _audio_to_caller(pbx, "moh", "604", "musiconhold", 3500, 75)
    assert has_line(log, channel, "Started music on hold, class 'default'"), (
        f"no music on hold started on {channel}:\n" + "\n".join(calls.lines_of(log, channel)))
    return f"{channel}: music on hold, {stats.tx} packets sent, {stats.rx} echoed by the caller"


def hello_world_602(pbx: Pbx) -> str:
    mark = now()
    call = pbx.call("hello", remote_bye_xml([], 8000), service="602", rtp_echo=True)
    calls.require_ok(call, "the call to 602 (Asterisk hangs up after the prompt)")
    log = pbx.log(mark)
    channel = one_channel(log, "602", "playback")
    assert has_line(log, channel, "Playing 'hello-world"), f"{channel} did not play hello-world"
    stats = pbx.stats(channel)
    assert stats.tx >= 25, f"602 sent only {stats.tx} RTP packets"
    return f"{channel}: played hello-world ({stats.tx} packets), then hung up"


def dtmf_603(pbx: Pbx) -> str:
    digit = random.choice("34567890")   # 1 and 2 (echo, tone) would not hang up
    mark = now()
    call = pbx.call("dtmf", remote_bye_xml(
        [sipp.play("keys.pcap"), sipp.pause(200)], 8000), service="603",
        files={"keys.pcap": calls.media_pcap(1500, dtmf=[(1000, digit)])})
    calls.require_ok(call, "the call to 603 (Asterisk hangs up after the digit)")
    log = pbx.log(mark)
    channel = one_channel(log, "603", "read")
    assert has_line(log, channel, f"DTMF test: digit {digit}"), (
        f"pressed {digit}; the dialplan logged:\n" + "\n".join(calls.lines_of(log, channel)))
    return f"{channel}: pressed {digit}, logged 'DTMF test: digit {digit}', then hung up"


def ivr_605(pbx: Pbx) -> str:
    mark = now()
    keys = calls.media_pcap(5000, dtmf=[(1000, "7"), (4500, "2")])
    call = pbx.call("ivr", remote_bye_xml([sipp.play("keys.pcap"), sipp.pause(200)], 12000),
                    service="605", timeout=20, files={"keys.pcap": keys})
    calls.require_ok(call, "the call to 605 (7, then 2: hello-world and hang up)")
    log = pbx.log(mark)
    channel = one_channel(log, "605", "read")
    mine = calls.lines_of(log, channel)
    chosen = [re.search(r"IVR: choice (\w+)", line).group(1) for line in mine
              if "IVR: choice" in line and "verbose(" in line]
    assert chosen == ["7", "2"], f"the IVR read {chosen}, expected 7 then 2:\n" + "\n".join(mine)
    after_choice = mine[next(i for i, line in enumerate(mine) if "IVR: choice 2" in line):]
    assert any("Playing 'hello-world" in line for line in after_choice), (
        "branch 2 did not play hello-world:\n" + "\n".join(after_choice))
    assert any("Playing 'pm-invalid-option" in line for line in mine), "7 was not refused"
    return f"{channel}: 7 → pm-invalid-option, 2 → hello-world, then hung up"


def conference_610(pbx: Pbx) -> str:
    mark = now()
    scenario = call_xml([sipp.pause(7000)])
    callers = [pbx.start(slot, scenario, service="610")
               for slot in ("conference-a", "conference-b")]
    listing = ""
    try:
        def both_in() -> bool:
            nonlocal listing
            listing = pbx.instance.rx("confbridge list 610")
            return len(re.findall(rf"^PJSIP/{PHONE_A}-\S+", listing, re.MULTILINE)) == 2
        calls.wait_for(both_in, timeout=6, interval=0.3,
                       message=lambda: f"`confbridge list 610` does not show 2 callers:\n{listing}")
    finally:
        results = [caller.wait() for caller in callers]
    for result in results:
        calls.require_ok(result, "a call to 610")
    channels = calls.executed(pbx.log(mark), "610", "confbridge")
    assert len(channels) == 2, f"expected two callers in ConfBridge(610), the log has {channels}"
    return f"`confbridge list 610` showed {' and '.join(channels)} at once"


def any_mailbox_98(pbx: Pbx) -> str:
    mark = now()
    keys = calls.media_pcap(4000, dtmf=[(1200, "1002#"), (3800, pbx.mailbox_password + "#")])
    call = pbx.call("any-mailbox", call_xml([sipp.play("keys.pcap"), sipp.pause(9000)]),
                    service="*98", timeout=20, files={"keys.pcap": keys})
    calls.require_ok(call, "the call to *98")
    log = pbx.log(mark)
    channel = one_channel(log, "*98", "voicemailmain")
    mine = calls.lines_of(log, channel)
    assert any("Playing 'vm-login" in line for line in mine), "*98 did not ask for a mailbox"
    assert any("Playing 'vm-youhave" in line for line in mine), (
        "the login to mailbox 1002 did not succeed:\n" + "\n".join(mine))
    assert not any("vm-incorrect" in line for line in mine), "*98 refused the login"
    return f"{channel}: asked for mailbox and password, logged in to 1002"


# ---- 1002: answers, then does not answer (voicemail), then listens ------------------------------

def register_1002(pbx: Pbx, slot: str, answer: str, hold_ms: int) -> calls.Sipp:
    """sipp registered as PHONE_B (extension 1002), answering Asterisk's INVITEs with
    scenarios/<answer>.xml."""
    phone = pbx.start(slot, calls.render("registered", hold_ms=hold_ms), caller=PHONE_B,
                      timeout=hold_ms / 1000 + 10, rtp_echo=True,
                      extra=["-oocsf", str(calls.SCENARIOS / f"{answer}.xml")])
    port = pbx.block.caller(SLOTS.index(slot)).sipp
    calls.wait_for(lambda: f"@127.0.0.1:{port}" in pbx.instance.rx(f"pjsip show aor {PHONE_B}")
                   or not phone.running(), timeout=8,
                   message=f"1002 (sipp on port {port}) did not register")
    assert phone.running(), f"the REGISTER of 1002 failed: {phone.wait().reason()}"
    return phone


def endpoint_story(pbx: Pbx) -> dict[str, concurrent.futures.Future]:
    results: dict[str, concurrent.futures.Future] = {}
    for name, step in (("call-1002", call_1002), ("voicemail", leave_voicemail),
                       ("own-mailbox", own_mailbox_97), ("change-pin", change_pin_97)):
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(step(pbx))
        except Exception as error:   # the next steps still run; each test reports its own
            future.set_exception(error)
        results[name] = future
    return results


def call_1002(pbx: Pbx) -> str:
    phone = register_1002(pbx, "phone-1002", "answer", hold_ms=6000)
    try:
        mark = now()
        # 1.5 s of tone, then a silent second before hanging up: the last samples are totals.
        call = pbx.call("call-1002", call_xml([sipp.play("audio.pcap"), sipp.pause(2500)]),
                        service="1002",
                        files={"audio.pcap": calls.media_pcap(TONE_PACKETS * 20, tone_hz=800)})
        calls.require_ok(call, "the call from 1001 to 1002")
        calls.check_answer(call, pbx.block.asterisk)
    finally:
        phone.kill()
    log = pbx.log(mark)
    caller = one_channel(log, "1002", "dial")
    answered = re.search(rf"(PJSIP/{PHONE_B}-\w+) answered {re.escape(caller)}", log)
    assert answered, f"1002 did not answer {caller}:\n" + "\n".join(calls.lines_of(log, caller))
    callee = answered.group(1)
    to_1002, at_1001 = pbx.stats(callee), pbx.stats(caller)
    assert to_1002.tx >= MIN_RATIO * TONE_PACKETS, (
        f"of {TONE_PACKETS} packets from 1001, {to_1002.tx} were sent on to 1002")
    assert at_1001.tx >= MIN_RATIO * to_1002.tx, (
        f"1002 echoed, but only {at_1001.tx} packets came back to 1001")
    return (f"{caller} → {callee}: {to_1002.tx} of {TONE_PACKETS} packets reached 1002, "
            f"{at_1001.tx} came back to 1001")


def leave_voicemail(pbx: Pbx) -> str:
    phone = register_1002(pbx, "phone-1002-away", "decline", hold_ms=6000)
    try:
        mark = now()
        # "#" skips the greeting; then about 4 s of tone are recorded; then 1001 hangs up.
        message = calls.media_pcap(5000, dtmf=[(800, "#")], tone_hz=600)
        call = pbx.call("leave-voicemail", call_xml([sipp.play("message.pcap"),
                                                     sipp.pause(5500)]),
                        service="1002", timeout=20, files={"message.pcap": message})
        calls.require_ok(call, "the call from 1001 to 1002 that goes to voicemail")
    finally:
        phone.kill()
    log = pbx.log(mark)
    caller = one_channel(log, "1002", "dial")
    mine = calls.lines_of(log, caller)
    assert any("No one is available to answer" in line for line in
               log.splitlines()), "Dial() did not end with NOANSWER:\n" + "\n".join(mine)
    assert any('voicemail("' in line and '"1002@default,u"' in line for line in mine), (
        "no VoiceMail(1002@default,u) after the unanswered call:\n" + "\n".join(mine))
    calls.wait_for(lambda: {"msg0000.txt", "msg0000.wav"} <= set(pbx.ls(SPOOL)),
                   timeout=5, message=lambda: f"{SPOOL} has {pbx.ls(SPOOL)}")
    info = pbx.sh(f"cat {SPOOL}/msg0000.txt")
    fields = dict(re.findall(r"^(\w+)=(.*)$", info, re.MULTILINE))
    assert fields.get("callerid") == "1001", f"msg0000.txt:\n{info}"
    assert int(fields.get("duration", "0")) >= 2, f"the message is too short:\n{info}"
    return (f"{caller}: no answer → VoiceMail(1002@default,u); {SPOOL}: "
            f"{', '.join(sorted(pbx.ls(SPOOL)))} ({fields['duration']} s from 1001)")


def own_mailbox_97(pbx: Pbx) -> str:
    mark = now()
    # Password and '#'; then 1 (first message) while the "you have" intro plays.
    keys = calls.media_pcap(5000, dtmf=[(1200, pbx.mailbox_password + "#"), (5000, "1")])
    call = pbx.call("own-mailbox", call_xml([sipp.play("keys.pcap"), sipp.pause(14000)]),
                    service="*97", caller=PHONE_B, timeout=25, files={"keys.pcap": keys})
    calls.require_ok(call, "the call from 1002 to *97")
    log = pbx.log(mark)
    channel = one_channel(log, "*97", "voicemailmain")
    mine = calls.lines_of(log, channel)
    played = [line for line in mine if f"Playing '{SPOOL}/msg0000" in line]
    assert played, f"VoiceMailMain did not play {SPOOL}/msg0000:\n" + "\n".join(mine)
    return f"{channel}: logged in with the password, played {played[0].split('Playing ')[1]}"


def change_pin_97(pbx: Pbx) -> str:
    """VoiceMailMain's mailbox options: 0, then 5, the new PIN twice. It lands in the
    mailbox's directory (passwordlocation = spooldir); voicemail.conf stays as it was."""
    new_pin = "".join(random.choice("123456789") for _ in range(7))
    mark = now()
    keys = calls.media_pcap(14000, dtmf=[(1200, pbx.mailbox_password + "#"), (5000, "0"),
                                         (6800, "5"), (8400, new_pin + "#"),
                                         (11600, new_pin + "#")])
    call = pbx.call("change-pin", call_xml([sipp.play("keys.pcap"), sipp.pause(17000)]),
                    service="*97", caller=PHONE_B, timeout=30, files={"keys.pcap": keys})
    calls.require_ok(call, "the call from 1002 to *97 that changes the PIN")
    log = pbx.log(mark)
    channel = one_channel(log, "*97", "voicemailmain")
    mine = calls.lines_of(log, channel)
    assert any("Playing 'vm-passchanged" in line for line in mine), (
        "VoiceMailMain did not confirm the new PIN:\n" + "\n".join(mine))
    secret = pbx.sh(f"cat {SPOOL.rsplit('/', 1)[0]}/secret.conf")
    assert re.search(rf"^password\s*=\s*{new_pin}$", secret, re.MULTILINE), secret
    config = pbx.sh("cat /etc/asterisk/voicemail.conf")
    assert f"1002 => {pbx.mailbox_password}," in config and new_pin not in config
    return f"{channel}: new PIN confirmed, in the spool's secret.conf; voicemail.conf unchanged"


def no_device(pbx: Pbx) -> str:
    mark = now()
    call = pbx.call("no-device", remote_bye_xml([], 8000), service="1999")
    calls.require_ok(call, "the call to 1999 (no device: Asterisk hangs up)")
    log = pbx.log(mark)
    assert "Extension 1999 has no device in devices.lua" in log, log[-3000:]
    return "1999: no device in devices.lua, said so and hung up"


# ---- the tests ---------------------------------------------------------------------------

def test_scenarios_render_to_xml():
    import xml.etree.ElementTree as ET

    for path in sorted(calls.SCENARIOS.glob("*.xml")):
        root = ET.fromstring(calls.render(path.stem, hold_ms=1000, expires_header="Expires: 60")
                             .encode("iso-8859-1"))
        assert root.tag == "scenario", path


def test_echo_600(outcomes):
    outcomes.detail("echo")


def test_milliwatt_601(outcomes):
    outcomes.detail("milliwatt")


def test_hello_world_602(outcomes):
    outcomes.detail("hello")


def test_dtmf_603(outcomes):
    outcomes.detail("dtmf")


def test_music_on_hold_604(outcomes):
    outcomes.detail("moh")


def test_ivr_605(outcomes):
    outcomes.detail("ivr")


def test_conference_610(outcomes):
    outcomes.detail("conference")


def test_call_between_registered_endpoints(outcomes):
    outcomes.detail("call-1002")


def test_voicemail_on_no_answer(outcomes):
    outcomes.detail("voicemail")


def test_own_voicemail_97(outcomes):
    outcomes.detail("own-mailbox")


def test_any_voicemail_98(outcomes):
    outcomes.detail("any-mailbox")


def test_a_new_pin_goes_into_the_spool(outcomes):
    outcomes.detail("change-pin")


def test_an_extension_without_a_device(outcomes):
    outcomes.detail("no-device")

