"""Calls from the host at an Asterisk in a container, for the tests of the deployments and
of the default dialplan: the scenarios of tests/integration/scenarios next to the smoke
test's, ports for many calls at once, RTP streams with DTMF digits at chosen times, and a
monitor of Asterisk's per-channel RTP counters.

Built on pipeline/smoke: its sipp command line and traces (sipp.command, sipp.Sipp,
SippCall), RTP packets (rtp), port probing (ports) and output parsing (parse).
"""

from __future__ import annotations

import dataclasses
import random
import re
import struct
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from string import Template

from pipeline.smoke import parse, rtp, sipp
from pipeline.smoke.ports import Ports, pick_block, port_is_free

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
PTIME_MS = 20
SAMPLES = 160                     # 20 ms at 8 kHz
ALAW_SILENCE = bytes([rtp.alaw(0)]) * SAMPLES
TELEPHONE_EVENT = 101             # the payload type of sipp.PCMA_OFFER
EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}
DIGIT_MS = 100                    # a key press
DIGIT_GAP_MS = 250                # between two key presses of one sequence

# A phone as a file in pjsip.d (a configuration overlay): endpoint, auth and AOR made from
# the image's templates. format(name=..., password=...).
DEVICE_CONF = """[{name}](endpoint-defaults)
auth = {name}
aors = {name}

[{name}](auth-defaults)
username = {name}
password = {password}

[{name}](aor-defaults)
"""


def render(name: str, **values: object) -> str:
    """A scenario of tests/integration/scenarios with its ${placeholders} filled in."""
    return Template((SCENARIOS / f"{name}.xml").read_text()).substitute(
        {key: str(value) for key, value in values.items()})


# ---- ports -------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class PortBlock:
    """Consecutive free local ports: Asterisk's SIP port and RTP range, and for each sipp
    a SIP port and four media ports (sipp uses -mp and the three above it)."""

    base: int
    callers: int
    rtp_ports: int

    @classmethod
    def allocate(cls, *, callers: int, rtp_ports: int) -> PortBlock:
        size = cls(0, callers, rtp_ports).size
        return cls(pick_block(port_is_free, rng=random.Random(), size=size), callers, rtp_ports)

    @property
    def _media(self) -> int:
        return self.base + 2 * ((self.callers + 2) // 2)

    @property
    def rtp_start(self) -> int:
        return self._media + 4 * self.callers

    @property
    def size(self) -> int:
        return self.rtp_start + self.rtp_ports - self.base

    @property
    def asterisk(self) -> Ports:
        """Asterisk's ports (ASTERISK_SIP_PORT, ASTERISK_RTP_START/END) and the first sipp's."""
        return self.caller(0)

    def caller(self, index: int) -> Ports:
        if not 0 <= index < self.callers:
            raise IndexError(f"caller {index} of a block for {self.callers}")
        return Ports(sip=self.base, rtp_start=self.rtp_start,
                     rtp_end=self.rtp_start + self.rtp_ports - 1,
                     sipp=self.base + 1 + index, sipp_media=self._media + 4 * index)


# ---- RTP streams ---------------------------------------------------------------------------

def media_pcap(duration_ms: int, *, dtmf: Sequence[tuple[int, str]] = (),
               tone_hz: float | None = None, ssrc: int = 0x7E575A11) -> bytes:
    """One RTP stream of 20 ms A-law packets, as a phone sends it: silence (or a tone),
    with RFC 4733 key presses at the given times (ms from the start; several digits are
    pressed one after the other). Each key press is its own event: a new timestamp, a
    duration that grows every packet, three end packets; replaying sipp's single-digit
    captures one after another would repeat one timestamp, which Asterisk takes for one
    event."""
    slots = max(duration_ms, _dtmf_end(dtmf)) // PTIME_MS
    events: dict[int, tuple[int, int, bool, int]] = {}   # slot -> (event, duration, end, start)
    for at, digits in dtmf:
        start = at // PTIME_MS
        for digit in digits:
            steps = DIGIT_MS // PTIME_MS
            for step in range(steps + 2):                 # then the end packet twice more
                events[start + step] = (EVENTS[digit], min(step + 1, steps) * SAMPLES,
                                        step + 1 >= steps, start)
            start += (DIGIT_MS + DIGIT_GAP_MS) // PTIME_MS
    tone = rtp.tone(tone_hz, slots * SAMPLES) if tone_hz else None
    packets = []
    for slot in range(slots):
        if slot in events:
            event, duration, end, start = events[slot]
            payload = struct.pack("!BBH", event, (0x80 if end else 0) | 10, duration)
            packets.append(rtp.rtp_packet(payload, payload_type=TELEPHONE_EVENT,
                                          sequence=slot + 1, timestamp=start * SAMPLES,
                                          ssrc=ssrc, marker=slot == start))
            continue
        audio = (bytes(rtp.alaw(s) for s in tone[slot * SAMPLES:(slot + 1) * SAMPLES])
                 if tone else ALAW_SILENCE)
        packets.append(rtp.rtp_packet(audio, payload_type=rtp.PCMA, sequence=slot + 1,
                                      timestamp=slot * SAMPLES, ssrc=ssrc, marker=slot == 0))
    return rtp.pcap(packets, interval_us=PTIME_MS * 1000)


def _dtmf_end(dtmf: Sequence[tuple[int, str]]) -> int:
    return max((at + len(digits) * (DIGIT_MS + DIGIT_GAP_MS) for at, digits in dtmf), default=0)


# ---- sipp ----------------------------------------------------------------------------------

Sipp = sipp.Sipp  # with extra=[...] for more sipp arguments (e.g. -oocsf)


def require_ok(call: sipp.SippCall, what: str) -> None:
    assert call.ok, f"{what} failed: {call.reason()} (traces in {call.workdir})"


def check_answer(call: sipp.SippCall, ports: Ports, address: str = sipp.LOCAL_IP) -> parse.Sdp:
    """Asterisk's SDP answer: A-law, media at `address`, in the configured RTP range."""
    answer = call.answer()
    assert answer is not None, f"the 200 OK carried no SDP answer ({call.workdir})"
    assert answer.address == address, (
        f"the SDP answer sends media to {answer.address}, not {address} "
        "(ASTERISK_EXTERNAL_ADDRESS / ASTERISK_LOCAL_NETS)")
    assert ports.rtp_start <= answer.port <= ports.rtp_end, (
        f"the answer's RTP port {answer.port} is outside {ports.rtp_start}-{ports.rtp_end}")
    audio = [c for c in answer.codecs if c.lower() != "telephone-event"]
    assert audio == ["PCMA"], f"the answer offers {answer.codecs}, expected PCMA"
    return answer


# ---- what Asterisk shows -------------------------------------------------------------------

class ChannelMonitor:
    """Samples `pjsip show channelstats` while calls run and keeps, per channel, every
    sample of its RTP counters with the time it was taken (a channel leaves the list when
    it hangs up, so its last sample is its total). `rx` runs one Asterisk CLI command; a
    failed sample is skipped."""

    def __init__(self, rx: Callable[[str], str], interval: float = 0.2) -> None:
        self._rx = rx
        self._interval = interval
        self._history: dict[str, list[tuple[float, parse.ChannelStats]]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="channel-monitor", daemon=True)

    def __enter__(self) -> ChannelMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                rows = parse.channelstats(self._rx("pjsip show channelstats"))
            except Exception:   # a failed exec must not end the monitoring
                rows = []
            taken = time.monotonic()
            with self._lock:
                for row in rows:
                    self._history.setdefault(row.channel, []).append((taken, row))
            self._stop.wait(self._interval)

    def history(self, channel: str) -> list[tuple[float, parse.ChannelStats]]:
        """(seconds since the channel's first sample, counters) of a channel, by its name
        (e.g. PJSIP/1001-0000000a)."""
        key = channel.removeprefix("PJSIP/")[:18]
        with self._lock:
            samples = list(self._history.get(key, []))
        return [(taken - samples[0][0], row) for taken, row in samples]

    def last(self, channel: str) -> parse.ChannelStats | None:
        samples = self.history(channel)
        return samples[-1][1] if samples else None


def steady(samples: list[tuple[float, parse.ChannelStats]], settle: float
           ) -> tuple[int, int, float]:
    """Packets Asterisk received and sent between the first sample at least `settle`
    seconds into the call and the last one, and the seconds between them: what a call
    carries once answering, prompts and media start-up are over."""
    settled = [(seconds, row) for seconds, row in samples if seconds >= settle]
    if len(settled) < 2:
        return 0, 0, 0.0
    (start, first), (end, last) = settled[0], settled[-1]
    return last.rx - first.rx, last.tx - first.tx, end - start


def executed(log: str, exten: str, app: str = r"\w+") -> list[str]:
    """Channels that ran an application of extension `exten` (from Asterisk's verbose log
    lines `Executing [600@from-internal:1] answer("PJSIP/1001-00000000", "")`), in order."""
    pattern = rf'Executing \[{re.escape(exten)}@[\w-]+:\d+\] {app}\("([^"]+)"'
    found = []
    for channel in re.findall(pattern, log):
        if channel not in found:
            found.append(channel)
    return found


def lines_of(log: str, channel: str) -> list[str]:
    return [line for line in log.splitlines() if channel in line]


def wait_for(condition: Callable[[], object], *, timeout: float, interval: float = 0.2,
             message: str | Callable[[], str] = "condition") -> object:
    """Polls until `condition()` is true; AssertionError with `message` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"not after {timeout:.0f}s: {text}")
        time.sleep(interval)
