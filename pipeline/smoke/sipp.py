"""Running sipp from the host: one helper that renders a scenario into a work directory,
logs the command line, runs sipp with bounded waits and keeps its traces.

Every run writes, in its own work directory: the scenario, messages.log (-trace_msg),
errors.log (-trace_err), stats.csv (-trace_stat), screen.log (-trace_screen) and
sipp.out (what sipp printed). The checks read them, and on failure they are kept in
logs/<check>/ for CI to upload.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from string import Template

from .. import log
from ..errors import CommandError, SmokeError
from . import parse
from .ports import Ports

SCENARIOS = Path(__file__).resolve().parent / "data" / "scenarios"
LOCAL_IP = "127.0.0.1"

# SDP media offers ([media_port] is sipp's -mp).
PCMA_OFFER = """m=audio [media_port] RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=sendrecv"""
OPUS_OFFER = """m=audio [media_port] RTP/AVP 111
a=rtpmap:111 opus/48000/2
a=fmtp:111 useinbandfec=1
a=ptime:20
a=sendrecv"""

# sipp's own exit codes (sipp(1)).
EXIT_CODES = {0: "all calls succeeded", 1: "at least one call failed",
              97: "exit on internal command", 99: "normal exit without calls processed",
              255: "fatal error", 254: "fatal error binding a socket"}


def stream(audio: str, *, payload_type: int = 8) -> str:
    """A scenario step that starts sending a raw audio file of the work directory once, as
    RTP from sipp's media socket (-mp) to the address in the SDP answer: sipp's
    `rtp_stream` action, an ordinary UDP socket. sipp 3.6.1 knows payload types 0, 8, 9,
    18 and 98 (8: A-law, 160 bytes a packet every 20 ms)."""
    return f'  <nop><action><exec rtp_stream="{audio},1,{payload_type}"/></action></nop>'


def play(pcap: str) -> str:
    """A scenario step that starts replaying a capture from the work directory.

    sipp replays captures through a raw socket: only as root or with CAP_NET_RAW. The smoke
    checks do not use it (see `stream` and media.py); some other tests do, as root."""
    return f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>'


def offer_at(offer: str, port: int) -> str:
    """An SDP media offer naming `port` instead of sipp's own media port (the smoke test's
    RTP peer, media.py, sends and receives that call's RTP)."""
    return offer.replace("[media_port]", str(port))


def pause(milliseconds: int) -> str:
    return f'  <pause milliseconds="{milliseconds}"/>'


def render(name: str, **values: object) -> str:
    """A scenario from pipeline/smoke/data/scenarios with its placeholders filled in."""
    return Template((SCENARIOS / f"{name}.xml").read_text()).substitute(
        {key: str(value) for key, value in values.items()})


def binary() -> str:
    path = shutil.which("sipp")
    if not path:
        raise SmokeError("sipp is not installed (Debian/Ubuntu package sip-tester): "
                         "the smoke test places its calls with it")
    return path


def command(scenario: str, *, target: str, ports: Ports, service: str = "s",
            caller: str = "smoke", user: str = "", password: str = "", rtp_echo: bool = False,
            timeout: float = 10.0, recv_timeout: float = 5.0) -> list[str]:
    """The sipp command line for one call (-m 1) with every trace and bounded waits."""
    args = [binary(), target, "-sf", scenario, "-s", service, "-key", "caller", caller,
            "-i", LOCAL_IP, "-p", str(ports.sipp), "-mi", LOCAL_IP, "-mp", str(ports.sipp_media),
            "-m", "1", "-l", "1", "-aa", "-nostdin",
            "-timeout", f"{timeout:g}s", "-timeout_error",
            "-recv_timeout", f"{int(recv_timeout * 1000)}", "-max_retrans", "3",
            "-trace_msg", "-message_file", "messages.log",
            "-trace_err", "-error_file", "errors.log",
            "-trace_stat", "-stf", "stats.csv", "-fd", "1",
            "-trace_screen", "-screen_file", "screen.log"]
    if user:
        args += ["-au", user, "-ap", password]
    if rtp_echo:
        args.append("-rtp_echo")
    return args


@dataclasses.dataclass
class SippCall:
    """One finished sipp run and the traces it left in its work directory."""

    command: list[str]
    workdir: Path
    returncode: int
    seconds: float

    def _read(self, name: str) -> str:
        path = self.workdir / name
        return path.read_text(errors="replace") if path.exists() else ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def messages(self) -> str:
        return self._read("messages.log")

    @property
    def stats(self) -> dict[str, str]:
        return parse.sipp_stats(self._read("stats.csv"))

    @property
    def output(self) -> str:
        return self._read("sipp.out")

    def responses(self) -> list[str]:
        return parse.responses(self.messages)

    def answer(self) -> parse.Sdp | None:
        return parse.answer_sdp(self.messages)

    def reason(self) -> str:
        """Why the call failed, in one line: the unexpected message, else the exit code."""
        why = parse.sipp_error(self._read("errors.log"))
        if not why:
            tail = [line.strip() for line in self.output.splitlines() if line.strip()]
            why = next((line for line in reversed(tail) if "rror" in line), "")
        if "raw" in why and "socket" in why:   # play_pcap_audio, which the smoke checks avoid
            why += (" (sipp replays RTP captures through a raw socket: run as root, or "
                    "`setcap cap_net_raw+ep $(command -v sipp)`)")
        code = EXIT_CODES.get(self.returncode, f"exit {self.returncode}")
        summary = parse.sipp_summary(self.stats)
        return "; ".join(part for part in (why, f"sipp: {code}", summary) if part)


class Sipp:
    """Starts sipp for one call against one Asterisk; `wait` returns its SippCall."""

    def __init__(self, scenario_xml: str, workdir: Path, *, target: str, ports: Ports,
                 files: dict[str, bytes] | None = None, timeout: float = 10.0,
                 extra: Sequence[str] = (), **options) -> None:
        """extra: more sipp arguments, e.g. `-oocsf FILE` (a scenario for requests that
        belong to no call of sipp's own, such as an INVITE to a registered sipp)."""
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "scenario.xml").write_text(scenario_xml)
        for name, content in (files or {}).items():
            (workdir / name).write_bytes(content)
        self.workdir = workdir
        self.timeout = timeout
        self.command = command("scenario.xml", target=target, ports=ports, timeout=timeout,
                               **options) + list(extra)
        log.debug(f"(cd {workdir} && {' '.join(self.command)})")
        self._start = time.monotonic()
        self._out = open(workdir / "sipp.out", "wb")   # noqa: SIM115 (closed by wait() or kill())
        try:
            self.process = subprocess.Popen(self.command, cwd=workdir, stdin=subprocess.DEVNULL,
                                            stdout=self._out, stderr=subprocess.STDOUT)
        except OSError as error:
            self._out.close()
            raise CommandError(f"cannot run sipp: {error}") from None

    def running(self) -> bool:
        return self.process.poll() is None

    def answer_address(self) -> tuple[str, int] | None:
        """Where the SDP answer sends media, once sipp has logged it (its message trace is
        flushed after every message), else None."""
        path = self.workdir / "messages.log"
        answer = parse.answer_sdp(path.read_text(errors="replace")) if path.exists() else None
        return (answer.address, answer.port) if answer else None

    def wait(self) -> SippCall:
        try:
            # sipp stops itself at -timeout; the margin covers its start and shutdown.
            returncode = self.process.wait(timeout=self.timeout + 5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            returncode = self.process.wait()
        finally:
            self._out.close()
        return SippCall(self.command, self.workdir, returncode, time.monotonic() - self._start)

    def kill(self) -> None:
        if self.running():
            self.process.kill()
            self.process.wait()
        self._out.close()


def run(scenario_xml: str, workdir: Path, *, check: bool = True, **options) -> SippCall:
    """One call, start to end. With check, a failed call raises CommandError with the
    command line, sipp's reason and its output."""
    call = Sipp(scenario_xml, workdir, **options).wait()
    if check and not call.ok:
        raise CommandError(f"sipp failed: {call.reason()} (its traces: {call.workdir})")
    return call
