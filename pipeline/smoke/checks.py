"""The checks: each places a real call (or REGISTER) with sipp at one container and
asserts what a caller would notice. A check returns a one-line detail when it passes and
raises CheckFailed with the reason when it does not.

What proves what:
- boot: `core waitfullybooted` answers, and PJSIP listens on ASTERISK_SIP_PORT.
- audio: sipp sends a known number of A-law packets to Echo() (its rtp_stream action);
  Asterisk's channel statistics (`pjsip show channelstats`, sampled during the call) must
  show ≥ 90 % of them received and ≥ 90 % of those sent back, towards the address and port
  in its SDP answer.
- opus: Milliwatt() produces signed-linear audio, so an Opus-only call needs Asterisk to
  encode Opus: the answer must be Opus only, the channel must transcode to Opus, and the
  packets Asterisk sends must come back from the caller's RTP echo (so they reached the
  caller). On a plain image the same call must end at once with "no translation path".
- lua: the same call to an extension that exists only in extensions.lua.
- dtmf: a random digit, the RTP packets of sipp's RFC 2833 capture of it, must be the digit
  the dialplan's Read() stored in AstDB.
- realtime: an endpoint that exists only as rows in PostgreSQL registers with digest
  authentication (200 OK, a contact in `pjsip show aor`) and places the audio call.
- closed: INVITE and REGISTER from an unknown user, and as the test endpoint with a wrong
  password, get only 4xx answers; in the image's default configuration too.

No check needs privileges: sipp places the calls and streams the A-law audio over ordinary
UDP sockets; the Opus and DTMF calls' RTP, which sipp 3.6.1 can send only through a raw
socket, comes from the smoke test's own RTP peer (media.py), also an ordinary socket.
"""

from __future__ import annotations

import dataclasses
import os
import random
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from ..core import Variant
from . import media, parse, postgres, rtp, sipp
from .instance import HOST_ADDRESS, CheckFailed, Instance

AUDIO_PACKETS = 75          # 1.5 s of 20 ms A-law packets
AUDIO_HOLD_MS = 2300        # the audio (sipp's rtp_stream starts up to 0.1 s late), then
                            # time for a last channelstats sample after it (0.2-0.5 s each
                            # on a busy machine)
MIN_RATIO = 0.9
OPUS_HOLD_MS = 2000        # long enough for two samples after OPUS_SETTLE_S when busy
OPUS_PRIME_PACKETS = 10     # 200 ms of Opus silence from the caller opens the media path
OPUS_SETTLE_S = 0.6         # measured from here: priming over, Asterisk sends to the caller
OPUS_MIN_PACKETS = 15       # of ~65 that 1.3 s of 20 ms packets would be
DTMF_AUDIO_PACKETS = 15     # A-law before the digit, as a phone sends
DTMF_START_S = 0.5          # the digit's events begin here (the audio ends at 0.3 s)
DTMF_CAPTURES = [os.environ.get("PIPELINE_SIPP_PCAPS", ""), "/usr/share/sip-tester",
                 "/usr/share/sipp/pcap", "/usr/local/share/sipp/pcap"]


@dataclasses.dataclass
class Context:
    """What the checks of one run share."""

    variant: Variant
    password: str                           # the static test endpoint's password
    realtime_endpoint: tuple[str, str] | None = None   # (name, password) in the database
    realtime_problem: str = ""              # why realtime is unavailable, if it is
    samples: dict[str, list[str]] = dataclasses.field(default_factory=dict)


Check = Callable[[Context, Instance, Path], str]


# ---- helpers ------------------------------------------------------------------------------

def _hint(reason: str, service: str) -> str:
    if " 404 " in reason:
        return f"extension '{service}' is not in the dialplan of the endpoint's context: "
    if " 401 " in reason or " 403 " in reason:
        return "the credentials were refused: "
    if "timeout" in reason.lower() or "retrans" in reason.lower():
        return "no answer (is Asterisk listening on this port, and reachable?): "
    return ""


def _require_ok(call: sipp.SippCall, what: str, instance: Instance, service: str = "") -> None:
    if not call.ok:
        reason = call.reason()
        raise CheckFailed(f"{what} failed: {_hint(reason, service)}{reason}"
                          f"{_log_problems(instance)}")


def _log_problems(instance: Instance) -> str:
    """NOTICE/WARNING/ERROR lines Asterisk logged during this check (the last few), on
    the lines after the reason."""
    lines = [line for line in instance.log(since=instance.mark).splitlines()
             if re.search(r"\b(NOTICE|WARNING|ERROR)\[", line)]
    return ("\nAsterisk logged:\n  " + "\n  ".join(lines[-8:])) if lines else ""


def _sample_stats(ctx: Context, instance: Instance, call: sipp.Sipp, prefix: str,
                  key: str, on_sample: Callable[[parse.ChannelStats], None] | None = None
                  ) -> list[tuple[float, parse.ChannelStats]]:
    """Polls `pjsip show channelstats` while sipp runs: (seconds since start, our row)."""
    samples: list[tuple[float, parse.ChannelStats]] = []
    outputs = ctx.samples.setdefault(key, [])
    start = time.monotonic()
    while call.running():
        try:
            output = instance.rx("pjsip show channelstats")
        except Exception as error:  # a failed exec must not stop the call
            output = f"(failed: {error})"
        outputs.append(output)
        rows = [row for row in parse.channelstats(output) if row.channel.startswith(prefix)]
        if rows:
            samples.append((time.monotonic() - start, rows[0]))
            if on_sample:
                on_sample(rows[0])
        time.sleep(0.1)
    return samples


def _check_answer(call: sipp.SippCall, instance: Instance, codec: str) -> parse.Sdp:
    answer = call.answer()
    if answer is None:
        raise CheckFailed("the 200 OK carried no SDP answer")
    if answer.address != HOST_ADDRESS:
        raise CheckFailed(f"the SDP answer sends media to {answer.address}, not {HOST_ADDRESS} "
                          f"where the RTP ports are reachable (ASTERISK_EXTERNAL_ADDRESS)")
    if not instance.ports.rtp_start <= answer.port <= instance.ports.rtp_end:
        raise CheckFailed(f"the SDP answer's RTP port {answer.port} is outside the range "
                          f"{instance.ports.rtp_start}-{instance.ports.rtp_end} given by "
                          "ASTERISK_RTP_START/END")
    audio = [c for c in answer.codecs if c.lower() != "telephone-event"]
    if [c.lower() for c in audio] != [codec.lower()]:
        raise CheckFailed(f"the answer offers {', '.join(answer.codecs) or 'no codec'}, "
                          f"expected {codec}")
    return answer


def _echo_call(ctx: Context, instance: Instance, workdir: Path, *, service: str, caller: str,
               password: str) -> str:
    scenario = sipp.render("call", offer=sipp.PCMA_OFFER,
                           media="\n".join([sipp.stream("audio.alaw"), sipp.pause(AUDIO_HOLD_MS)]))
    runner = sipp.Sipp(scenario, workdir, target=instance.target, ports=instance.ports,
                       service=service, caller=caller, user=caller, password=password,
                       files={"audio.alaw": rtp.alaw_tone(AUDIO_PACKETS)})
    samples = _sample_stats(ctx, instance, runner, f"{caller}-", workdir.name)
    call = runner.wait()
    _require_ok(call, f"the call to '{service}'", instance, service)
    _check_answer(call, instance, "PCMA")
    if not samples:
        raise CheckFailed("the call never showed in `pjsip show channelstats`")
    stats = samples[-1][1]
    sent = AUDIO_PACKETS
    if stats.rx < MIN_RATIO * sent:
        raise CheckFailed(f"Asterisk received {stats.rx} of the {sent} RTP packets sipp sent "
                          f"(need ≥ {MIN_RATIO:.0%})")
    if stats.tx < MIN_RATIO * stats.rx:
        raise CheckFailed(f"Asterisk echoed {stats.tx} of the {stats.rx} RTP packets it "
                          f"received (need ≥ {MIN_RATIO:.0%})")
    return (f"200 OK with PCMA; RTP: sipp sent {sent}, Asterisk received {stats.rx} and sent "
            f"{stats.tx} back; BYE answered 200 OK")


# ---- the checks --------------------------------------------------------------------------

def boot(ctx: Context, instance: Instance, workdir: Path) -> str:
    seconds = instance.wait_booted()
    transports = instance.rx("pjsip show transports")
    (workdir / "transports.txt").parent.mkdir(parents=True, exist_ok=True)
    (workdir / "transports.txt").write_text(transports)
    if f":{instance.ports.sip}" not in transports:
        raise CheckFailed(f"PJSIP is not listening on port {instance.ports.sip} "
                          f"(ASTERISK_SIP_PORT); `pjsip show transports` says:\n{transports}")
    config = "test" if instance.test_config else "default"
    return (f"fully booted {seconds:.1f}s after start ({instance.network} network, {config} "
            f"configuration, SIP {instance.ports.sip}, RTP {instance.ports.rtp_start}-"
            f"{instance.ports.rtp_end})")


def audio(ctx: Context, instance: Instance, workdir: Path) -> str:
    return _echo_call(ctx, instance, workdir, service="echo", caller="smoke",
                      password=ctx.password)


def lua(ctx: Context, instance: Instance, workdir: Path) -> str:
    detail = _echo_call(ctx, instance, workdir, service="lua", caller="smoke",
                        password=ctx.password)
    return f"extension 'lua' (extensions.lua only): {detail}"


def opus(ctx: Context, instance: Instance, workdir: Path) -> str:
    if "opus" not in ctx.variant.transcodes:
        return _opus_refused(ctx, instance, workdir)
    channel: dict[str, str] = {}

    def inspect_channel(row: parse.ChannelStats) -> None:
        if not channel and row.tx:
            output = instance.rx(f"core show channel PJSIP/{row.channel}")
            ctx.samples.setdefault(workdir.name, []).append(output)
            channel.update(parse.channel_fields(output))

    # The caller's media: Opus silence first, then every packet Asterisk sends, echoed.
    with media.Peer(instance.ports.media, host=sipp.LOCAL_IP, echo=True) as peer:
        scenario = sipp.render("call", offer=sipp.offer_at(sipp.OPUS_OFFER, peer.port),
                               media=sipp.pause(OPUS_HOLD_MS))
        runner = sipp.Sipp(scenario, workdir, target=instance.target, ports=instance.ports,
                           service="milliwatt", caller="smoke", user="smoke",
                           password=ctx.password)
        peer.play(rtp.paced(rtp.opus_silence_rtp(OPUS_PRIME_PACKETS)), runner.answer_address,
                  timeout=runner.timeout)
        samples = _sample_stats(ctx, instance, runner, "smoke-", workdir.name, inspect_channel)
        call = runner.wait()
    if not call.ok:
        translation = _translation_problem(instance)
        if translation:
            raise CheckFailed(f"Asterisk cannot encode Opus: it hung up the Opus-only call to "
                              f"Milliwatt: {translation} (is codec_opus_open_source loaded?)")
    _require_ok(call, "the Opus call to 'milliwatt'", instance, "milliwatt")
    _check_answer(call, instance, "opus")
    sent, echoed = opus_window(samples)
    if sent < OPUS_MIN_PACKETS:
        raise CheckFailed(f"Asterisk sent {sent} Opus packets in the measured part of the call "
                          f"(need ≥ {OPUS_MIN_PACKETS})")
    if echoed < MIN_RATIO * sent:
        raise CheckFailed(f"of the {sent} Opus packets Asterisk sent, {echoed} came back "
                          f"from the caller's RTP echo (need ≥ {MIN_RATIO:.0%}; the caller "
                          f"received {peer.received} packets and echoed {peer.echoed})")
    transcode = channel.get("WriteTranscode", "")
    if "opus" not in transcode.lower() or not transcode.lower().startswith("yes"):
        raise CheckFailed(f"the channel does not transcode to Opus (WriteTranscode: "
                          f"{transcode or 'not shown'})")
    return (f"answered with Opus only; Milliwatt transcoded ({transcode}); of {sent} Opus "
            f"packets Asterisk sent, {echoed} came back from the caller's echo")


def opus_window(samples: list[tuple[float, parse.ChannelStats]]) -> tuple[int, int]:
    """Packets Asterisk sent, and received back, after the caller's priming packets: from
    the first sample at least OPUS_SETTLE_S into the call to the last one."""
    settled = [row for seconds, row in samples if seconds >= OPUS_SETTLE_S]
    if len(settled) < 2:
        return 0, 0
    first, last = settled[0], settled[-1]
    return last.tx - first.tx, last.rx - first.rx


def _translation_problem(instance: Instance) -> str:
    """Asterisk's complaint that it cannot transcode, logged during this check."""
    for line in reversed(instance.log(since=instance.mark).splitlines()):
        match = re.search(r"Unable to find a codec translation path.*"
                          r"|[^:\]]*translation path.*", line)
        if match:
            return match.group(0).strip()
    return ""


def _opus_refused(ctx: Context, instance: Instance, workdir: Path) -> str:
    """Plain image: the Opus call that needs transcoding must end at once, for that reason."""
    scenario = sipp.render("call-remote-bye", offer=sipp.OPUS_OFFER, media="", bye_timeout=4000)
    call = sipp.run(scenario, workdir, check=False, target=instance.target, ports=instance.ports,
                    service="milliwatt", caller="smoke", user="smoke", password=ctx.password,
                    rtp_echo=True, timeout=8)
    finals = [r for r in call.responses() if not re.match(r"SIP/2.0 1\d\d", r)]
    ended_by_asterisk = call.ok or any(re.match(r"SIP/2.0 [4-6]\d\d", r) for r in finals[1:])
    if not ended_by_asterisk:
        raise CheckFailed("a plain image kept an Opus-only call to Milliwatt up, or did not "
                          f"answer it: {call.reason()} - without codec_opus it must end the "
                          "call (else this check could pass by accident on an opus image)")
    translation = _translation_problem(instance)
    if not translation:
        raise CheckFailed("the Opus-only call to Milliwatt ended, but Asterisk did not log "
                          f"a missing translation path; responses: {', '.join(finals)}"
                          f"{_log_problems(instance)}")
    return f"plain image: the Opus-only call that needs transcoding ended at once: {translation}"


def dtmf_capture(digit: str) -> bytes:
    for directory in DTMF_CAPTURES:
        path = Path(directory) / f"dtmf_2833_{digit}.pcap"
        if directory and path.is_file():
            return path.read_bytes()
    raise CheckFailed(f"sipp's DTMF capture dtmf_2833_{digit}.pcap was not found in "
                      f"{', '.join(d for d in DTMF_CAPTURES if d)} (Debian package sip-tester; "
                      "or set PIPELINE_SIPP_PCAPS)")


def dtmf(ctx: Context, instance: Instance, workdir: Path) -> str:
    digit = random.choice("0123456789")
    instance.rx("database del smoke dtmf")
    # The caller's media: a little A-law, then the digit's RFC 2833 events as captured.
    schedule = (rtp.paced(rtp.alaw_tone_rtp(DTMF_AUDIO_PACKETS))
                + rtp.capture_schedule(dtmf_capture(digit), start=DTMF_START_S))
    with media.Peer(instance.ports.media, host=sipp.LOCAL_IP) as peer:
        scenario = sipp.render("call-remote-bye", offer=sipp.offer_at(sipp.PCMA_OFFER, peer.port),
                               bye_timeout=6000, media="")
        runner = sipp.Sipp(scenario, workdir, target=instance.target, ports=instance.ports,
                           service="dtmf", caller="smoke", user="smoke", password=ctx.password)
        peer.play(schedule, runner.answer_address, timeout=runner.timeout)
        call = runner.wait()
    _require_ok(call, "the DTMF call to 'dtmf'", instance, "dtmf")
    stored = instance.rx("database get smoke dtmf")
    match = re.search(r"Value:\s*(\S+)", stored)
    got = match.group(1) if match else "nothing"
    if got != digit:
        sent = f"{peer.sent} of {len(schedule)} RTP packets sent"
        raise CheckFailed(f"sent DTMF digit {digit} (RFC 2833), the dialplan read {got} "
                          f"(`database get smoke dtmf`: {stored.strip()}; {sent}"
                          f"{': ' + peer.problem if peer.problem else ''})")
    return (f"digit {digit} sent as RFC 2833 events; Read() got {digit} (AstDB smoke/dtmf) "
            "and hung up")


def realtime(ctx: Context, instance: Instance, workdir: Path) -> str:
    if ctx.realtime_problem or not ctx.realtime_endpoint:
        raise CheckFailed(ctx.realtime_problem or "no realtime database was set up")
    name, password = ctx.realtime_endpoint
    register = sipp.run(sipp.render("register"), workdir / "register", check=False,
                        target=instance.target, ports=instance.ports, caller=name, user=name,
                        password=password)
    _require_ok(register, f"REGISTER of the database endpoint {name}", instance)
    contacts = instance.rx(f"pjsip show aor {name}")
    if "Contact:" not in contacts:
        raise CheckFailed(f"{name} registered (200 OK) but `pjsip show aor {name}` shows no "
                          f"contact:\n{contacts}")
    detail = _echo_call(ctx, instance, workdir / "call", service="echo", caller=name,
                        password=password)
    return (f"{name} (only in PostgreSQL) registered with digest auth (200 OK) and called "
            f"echo: {detail}")


def _expect_rejected(instance: Instance, workdir: Path, *, method: str, caller: str,
                     password: str, service: str = "echo") -> str:
    scenario = sipp.render(f"rejected-{method.lower()}")
    call = sipp.run(scenario, workdir, check=False, target=instance.target, ports=instance.ports,
                    service=service, caller=caller, user=caller, password=password, timeout=6,
                    recv_timeout=3)
    responses = [r.split(" ", 1)[1] for r in call.responses()]
    accepted = [r for r in responses if r.startswith("2")]
    if accepted:
        raise CheckFailed(f"{method} from {caller} with a wrong password was accepted: "
                          f"{accepted[0]} (responses: {', '.join(responses)})")
    finals = [r for r in responses if r[:1] in "3456"]
    if not finals:
        raise CheckFailed(f"{method} from {caller} got no final response: {call.reason()}")
    return f"{method} {caller}: {' → '.join(r.split(' ', 1)[0] for r in finals)}"


def closed(ctx: Context, instance: Instance, workdir: Path) -> str:
    stranger = f"intruder-{secrets.token_hex(3)}"
    wrong = secrets.token_hex(8)
    service = "echo" if instance.test_config else "600"
    outcomes = [
        _expect_rejected(instance, workdir / "invite-unknown", method="INVITE", caller=stranger,
                         password=wrong, service=service),
        _expect_rejected(instance, workdir / "register-unknown", method="REGISTER",
                         caller=stranger, password=wrong),
    ]
    if instance.test_config:
        outcomes += [
            _expect_rejected(instance, workdir / "invite-wrong-password", method="INVITE",
                             caller="smoke", password=wrong, service=service),
            _expect_rejected(instance, workdir / "register-wrong-password", method="REGISTER",
                             caller="smoke", password=wrong),
        ]
    config = "test" if instance.test_config else "default"
    return f"{config} configuration refuses: " + "; ".join(outcomes)


def add_realtime_endpoint(ctx: Context, database: postgres.Database) -> None:
    name, password = f"rt-{secrets.token_hex(4)}", secrets.token_hex(12)
    postgres.add_endpoint(database, name, password, context="smoke")
    ctx.realtime_endpoint = (name, password)


CHECKS: dict[str, Check] = {"boot": boot, "audio": audio, "lua": lua, "opus": opus,
                            "dtmf": dtmf, "realtime": realtime, "closed": closed}
