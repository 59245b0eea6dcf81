"""Smoke benchmarks: the whole smoke suite per image, and how many calls one Asterisk carries.

    .venv/bin/python benchmarks/bench_smoke.py [--runs 3] [--no-suite] [--no-capacity] [--write]
        [--plain asterisk-pipeline:22.10.1] [--opus asterisk-pipeline:22.10.1-opus]
        [--echo-ladder 25,50,...] [--transcoded-ladder 25,50,...] [--hold 30]

Suite: `pipeline.smoke.run_smoke` (network "both"), as `pipeline smoke` runs it, timed.
Capacity: one Asterisk container with the smoke test configuration (pipeline.smoke.instance,
host networking, a wide RTP range), then sipp places N concurrent calls held for --hold
seconds, for N up the ladder until a step fails: a failed call, or an RTP stream that
Asterisk's own counters (`pjsip show channelstats`, sampled during the calls) show short
of 90 %. Echo calls: G.711 A-law to Echo() on the plain image. Transcoded calls: Opus-only
to Milliwatt() on the opus image (Asterisk encodes Opus for each call), echoed back by sipp.
Writes the sections "smoke suite" and "call capacity" of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import math
import os
import random
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from xml.etree import ElementTree

from python_on_whales.exceptions import DockerException

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import write_section  # noqa: E402
from pipeline import engine  # noqa: E402
from pipeline.core import VARIANTS  # noqa: E402
from pipeline.errors import PipelineError  # noqa: E402
from pipeline.smoke import parse, rtp, run_smoke, sipp  # noqa: E402
from pipeline.smoke.instance import HOST_ADDRESS, Instance  # noqa: E402
from pipeline.smoke.ports import Ports, pick_block, port_is_free  # noqa: E402

PLAIN, OPUS = "asterisk-pipeline:22.10.1", "asterisk-pipeline:22.10.1-opus"
ECHO_LADDER = (100, 200, 300, 400, 500, 600, 700, 800, 1000)
TRANSCODED_LADDER = (50, 100, 150, 175, 200, 225, 250, 300)
MIN_RATIO = 0.9            # as the smoke test's audio check
PACKETS_PER_S = 50         # 20 ms packets
TAIL_S = 5                 # echo calls: the caller's audio ends this long before its BYE
RAMP_S = 10                # calls are set up within about this long (rate = N / RAMP_S) ...
MAX_RATE = 50              # ... at no more than this many calls a second
LOAD_LIMIT = 1.5
LOAD_WAIT_STEP_S, LOAD_WAIT_MAX_S = 300, 1200
SAMPLE_EVERY_S = 2.0


# ---- the whole suite ------------------------------------------------------------------------

@dataclasses.dataclass
class SuiteRun:
    seconds: float
    checks: dict[str, float]
    failed: list[str]


def time_suite(docker, image: str, variant: str, runs: int) -> list[SuiteRun]:
    figures = []
    for _ in range(runs):
        logs = Path(tempfile.mkdtemp(prefix="bench-smoke-logs-"))
        try:
            start = time.monotonic()
            results = run_smoke(docker, image, variant=VARIANTS[variant], logs=logs, network="both")
            seconds = time.monotonic() - start
        finally:
            shutil.rmtree(logs, ignore_errors=True)
        figures.append(SuiteRun(seconds, {r.name: r.seconds for r in results},
                                [r.name for r in results if not r.passed]))
    return figures


def median_run(runs: list[SuiteRun]) -> SuiteRun:
    return sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]


def suite_section(images: dict[str, str], results: dict[str, list[SuiteRun]], loads) -> str:
    head = "| | " + " | ".join(f"{v} (`{images[v]}`)" for v in results) + " | target |"
    rows = [head, "|---" * (len(results) + 2) + "|"]

    def row(label, cell, target=""):
        rows.append(f"| {label} | " + " | ".join(cell(r) for r in results.values()) + f" | {target} |")

    row("runs (wall time)", lambda r: ", ".join(f"{x.seconds:.1f} s" for x in r))
    row("min", lambda r: f"{min(x.seconds for x in r):.1f} s", "")
    row("median", lambda r: f"{statistics.median(x.seconds for x in r):.1f} s", "≤ 30 s")
    row("failed checks (all runs)", lambda r: ", ".join(sorted({f for x in r for f in x.failed})) or "none")
    medians = {v: median_run(r) for v, r in results.items()}
    names = list(dict.fromkeys(n for m in medians.values() for n in m.checks))
    checks = ["| check (median run) | " + " | ".join(results) + " |",
              "|---" * (len(results) + 1) + "|"]
    for name in names:
        checks.append(f"| {name} | " + " | ".join(
            f"{medians[v].checks[name]:.1f} s" if name in medians[v].checks else "-"
            for v in results) + " |")
    return ("\n".join(rows) + "\n\n" + "\n".join(checks) + f"""

`pipeline.smoke.run_smoke(docker, image, variant=…, logs=tmpdir, network="both")`, as
`pipeline smoke IMAGE` runs it: three containers started at once (host networking with
realtime PostgreSQL, published ports, the image's default configuration), each container's
checks one after the other, the containers side by side. So the per-check times add up to
more than the wall time; the wall time is bounded by the slowest container's chain (boot,
then its calls). Each run starts its own throwaway PostgreSQL for the realtime check.
Load average (1 min) before the runs: {loads[0]:.2f}, after: {loads[1]:.2f}.
""")


# ---- capacity: one Asterisk, many calls --------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Kind:
    key: str                # "echo" or "transcoded"
    name: str
    image: str
    service: str
    offer: str
    rtp_echo: bool          # sipp echoes what Asterisk sends (transcoded calls)
    codec: str


@dataclasses.dataclass
class Step:
    calls: int
    rate: int
    seconds: float = 0.0
    successful: int = 0
    failed: int = 0
    retransmissions: int = 0
    peak_channels: int = 0
    measured: int = 0              # channels whose RTP counters were read late enough
    short: int = 0                 # of those, streams short of MIN_RATIO
    worst: float = 1.0             # the lowest ratio seen (see `judge`)
    asterisk_cpu: float = 0.0      # % of one core, over the window when all calls are up
    sipp_cpu: float = 0.0
    machine_cpu: float = 0.0       # % of all cores together (200 % = both cores busy)
    irq_cpu: float = 0.0           # of all that, in interrupts and softirqs (packet handling)
    docker_stats_cpu: str = ""     # one `docker stats` sample in that window
    others: str = ""               # the largest other CPU users in that window
    transcode: str = ""            # WriteTranscode of one channel (transcoded calls)
    why: str = ""

    @property
    def other_cpu(self) -> float:
        """Everything else on the machine in that window: dockerd, the sampling's docker
        exec, and whatever other work runs on this machine."""
        return max(0.0, self.machine_cpu - self.asterisk_cpu - self.sipp_cpu)

    @property
    def passed(self) -> bool:
        return not self.why


def call_rate(calls: int) -> int:
    return min(MAX_RATE, max(5, math.ceil(calls / RAMP_S)))


def wide_ports(calls: int) -> Ports:
    """Like ports.allocate, but with an RTP range for `calls` calls (RTP + RTCP each)."""
    size = 8 + 2 * calls + 16
    base = pick_block(port_is_free, rng=random.Random(), size=size)
    return Ports(sip=base, sipp=base + 1, sipp_media=base + 4, rtp_start=base + 8,
                 rtp_end=base + size - 1)


def channel_rows(output: str) -> list[tuple[parse.ChannelStats, int]]:
    """`pjsip show channelstats` rows with each channel's up time in seconds."""
    rows = []
    for line in output.splitlines():
        found = parse.channelstats(line)
        if found:
            h, m, s = (int(x) for x in line[29:37].split(":"))
            rows.append((found[0], h * 3600 + m * 60 + s))
    return rows


def asterisk_pid(container: str) -> int:
    """The host pid of the container's Asterisk daemon (under tini, so not State.Pid)."""
    # The CLI: python-on-whales' docker.container.top is not implemented.
    top = subprocess.run(["docker", "top", container, "-o", "pid,args"], capture_output=True,
                         text=True, check=True).stdout
    for line in top.splitlines()[1:]:
        pid, args = line.split(None, 1)
        if args.startswith("asterisk") and " -f" in args:
            return int(pid)
    raise RuntimeError(f"no Asterisk daemon in {container}:\n{top}")


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])      # utime + stime, every thread


def machine_ticks() -> tuple[int, int, int]:
    values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(values), values[3] + values[4], values[5] + values[6]   # total, idle, irq


def process_ticks() -> dict[int, tuple[str, int]]:
    """{pid: (name, CPU ticks)} of every process, its waited-for children's included (so a
    compiler that ran and exited under `make` counts for make): to name what else ran."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, tail = stat.read_text().rsplit(")", 1)
        except OSError:         # the process has exited
            continue
        fields = tail.split()
        found[int(stat.parent.name)] = (head.split("(", 1)[1], sum(int(f) for f in fields[11:15]))
    return found


class Sampler(threading.Thread):
    """Reads `pjsip show channelstats` while sipp runs; CPU over the window when all calls
    are up (from the end of the ramp until the first calls end)."""

    def __init__(self, instance: Instance, process: subprocess.Popen, kind: Kind,
                 window: tuple[float, float], asterisk_pid: int) -> None:
        super().__init__(daemon=True)
        self.instance, self.process, self.kind = instance, process, kind
        self.window, self.asterisk_pid = window, asterisk_pid
        self.last: dict[str, tuple[parse.ChannelStats, int]] = {}
        self.peak = 0
        self.cpu: dict[str, float] = {}
        self.docker_stats = ""
        self.others = ""          # the largest other CPU users in the window
        self.transcode = ""
        self.stop = threading.Event()

    def run(self) -> None:
        start = time.monotonic()
        cpu = threading.Thread(target=self._measure_cpu, args=(start,), daemon=True)
        cpu.start()
        while self.process.poll() is None and not self.stop.is_set():
            try:
                output = self.instance.rx("pjsip show channelstats", timeout=15)
            except (PipelineError, DockerException):   # a failed exec must not stop sampling
                output = ""
            rows = channel_rows(output)
            self.peak = max(self.peak, len(rows))
            for row, up in rows:
                self.last[row.channel] = (row, up)
            if self.kind.rtp_echo and not self.transcode and rows and time.monotonic() - start > 5:
                fields = parse.channel_fields(
                    self.instance.rx(f"core show channel PJSIP/{rows[0][0].channel}"))
                self.transcode = fields.get("WriteTranscode", "not shown")
            self.stop.wait(SAMPLE_EVERY_S)
        cpu.join(5)

    def _measure_cpu(self, start: float) -> None:
        """On a clock of its own: a slow `docker exec` in the sampling must not shift it."""
        begin, end = self.window
        if self.stop.wait(max(0.0, start + begin - time.monotonic())):
            return
        opened = self._cpu_mark()
        if self.stop.wait(max(0.0, start + (begin + end) / 2 - time.monotonic())):
            return
        with contextlib.suppress(DockerException):   # the container is gone: no figure
            [stats] = engine.client().container.stats(self.instance.name)
            self.docker_stats = f"{stats.cpu_percentage:.2f}%"
        if self.stop.wait(max(0.0, start + end - time.monotonic())) or self.process.poll() is not None:
            return
        with contextlib.suppress(OSError):   # sipp or Asterisk exited just now: no figure
            self._cpu_close(opened)

    def _cpu_mark(self):
        return (time.monotonic(), cpu_ticks(self.asterisk_pid), cpu_ticks(self.process.pid),
                machine_ticks(), process_ticks())

    def _cpu_close(self, opened) -> None:
        now = self._cpu_mark()
        hz = os.sysconf("SC_CLK_TCK")
        seconds = now[0] - opened[0]
        total = now[3][0] - opened[3][0]
        idle = now[3][1] - opened[3][1]
        self.cpu = {"asterisk": 100 * (now[1] - opened[1]) / hz / seconds,
                    "sipp": 100 * (now[2] - opened[2]) / hz / seconds,
                    "machine": 100 * os.cpu_count() * (total - idle) / max(total, 1)}
        # Interrupt and softirq time (here: mostly the loopback network stack carrying the
        # RTP) is also in the time of the process it interrupted: shown apart, not added.
        self.cpu["irq"] = 100 * (now[3][2] - opened[3][2]) / hz / seconds
        used: collections.Counter[str] = collections.Counter()
        for pid, (name, ticks) in now[4].items():
            if pid not in (self.asterisk_pid, self.process.pid):
                used[name] += ticks - opened[4].get(pid, (name, 0))[1]
        self.others = ", ".join(f"{name} {100 * ticks / hz / seconds:.0f} %"
                                for name, ticks in used.most_common(3) if ticks > 0.02 * hz * seconds)


def judge(kind: Kind, last: dict[str, tuple[parse.ChannelStats, int]], hold: int
          ) -> tuple[int, int, float]:
    """(channels measured, streams short of MIN_RATIO, lowest ratio) from each channel's
    last sample. Expected packets: 50 a second of up time, less one second (up time is
    counted in whole seconds and media starts after the answer); for echo calls at most
    what the caller's capture holds. Echo: Asterisk received ≥ 90 % of that and sent back
    ≥ 90 % of what it received. Transcoded: Asterisk sent ≥ 90 % of that in Opus, and
    ≥ 90 % of it came back from sipp's echo (so it reached the caller)."""
    audio = (hold - TAIL_S) * PACKETS_PER_S
    measured = short = 0
    worst = 1.0
    for row, up in last.values():
        if up < 10:
            continue
        measured += 1
        expected = PACKETS_PER_S * (up - 1)
        if kind.rtp_echo:
            ratios = [row.tx / expected, row.rx / max(row.tx, 1)]
        else:
            ratios = [row.rx / min(expected, audio), row.tx / max(row.rx, 1)]
        ratio = min(ratios)
        worst = min(worst, ratio)
        short += ratio < MIN_RATIO
    return measured, short, worst


def scenario(kind: Kind) -> str:
    """The smoke test's call scenario; the call lasts -d (sipp's default pause)."""
    media = "  <pause/>" if kind.rtp_echo else sipp.play("audio.pcap") + "\n  <pause/>"
    return sipp.render("call", offer=kind.offer, media=media)


def run_step(instance: Instance, kind: Kind, calls: int, hold: int, password: str,
             workdir: Path, asterisk_pid: int) -> Step:
    rate = call_rate(calls)
    step = Step(calls, rate)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "scenario.xml").write_text(scenario(kind))
    (workdir / "audio.pcap").write_bytes(rtp.alaw_tone_pcap((hold - TAIL_S) * PACKETS_PER_S))
    ramp = calls / rate
    bound = ramp + hold + 40
    command = [sipp.binary(), instance.target, "-sf", "scenario.xml", "-s", kind.service,
               "-key", "caller", "smoke", "-i", sipp.LOCAL_IP, "-p", str(instance.ports.sipp),
               "-mi", sipp.LOCAL_IP, "-mp", str(instance.ports.sipp_media),
               "-m", str(calls), "-l", str(calls), "-r", str(rate), "-d", str(hold * 1000),
               "-aa", "-nostdin", "-timeout", f"{bound:.0f}s", "-timeout_error",
               "-recv_timeout", "10000", "-max_retrans", "5",
               "-trace_err", "-error_file", "errors.log",
               "-trace_stat", "-stf", "stats.csv", "-fd", "1",
               "-trace_screen", "-screen_file", "screen.log",
               "-au", "smoke", "-ap", password]
    if kind.rtp_echo:
        command.append("-rtp_echo")
    start = time.monotonic()
    with open(workdir / "sipp.out", "wb") as out:
        process = subprocess.Popen(command, cwd=workdir, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        # All calls are up from the end of the ramp until the first ones end.
        sampler = Sampler(instance, process, kind, (ramp + 2, hold - 2), asterisk_pid)
        sampler.start()
        try:
            returncode = process.wait(timeout=bound + 15)
        except subprocess.TimeoutExpired:
            returncode = -1
        finally:
            if process.poll() is None:     # timed out, or the benchmark was interrupted
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            sampler.stop.set()
            sampler.join(30)
    step.seconds = time.monotonic() - start
    stats = parse.sipp_stats((workdir / "stats.csv").read_text() if (workdir / "stats.csv").exists() else "")
    step.successful = int(stats.get("SuccessfulCall(C)", 0) or 0)
    step.failed = int(stats.get("FailedCall(C)", 0) or 0)
    step.retransmissions = int(stats.get("Retransmissions(C)", 0) or 0)
    step.peak_channels = sampler.peak
    step.measured, step.short, step.worst = judge(kind, sampler.last, hold)
    step.asterisk_cpu = sampler.cpu.get("asterisk", float("nan"))
    step.sipp_cpu = sampler.cpu.get("sipp", float("nan"))
    step.machine_cpu = sampler.cpu.get("machine", float("nan"))
    step.irq_cpu = sampler.cpu.get("irq", float("nan"))
    step.docker_stats_cpu = sampler.docker_stats
    step.others = sampler.others
    step.transcode = sampler.transcode
    problems = []
    if returncode != 0 or step.failed or step.successful != calls:
        reason = sipp_reasons(workdir / "errors.log", scenario(kind))
        problems.append(f"{step.failed} failed calls, {step.successful}/{calls} succeeded "
                        f"(sipp exit {returncode}{': ' + reason if reason else ''})")
    if step.measured < 0.9 * calls:
        problems.append(f"RTP counters read for only {step.measured} of {calls} calls")
    if step.short:
        problems.append(f"{step.short} RTP streams short of {MIN_RATIO:.0%} (lowest {step.worst:.1%})")
    if kind.rtp_echo and not step.transcode.lower().startswith("yes"):
        problems.append(f"not transcoding (WriteTranscode: {step.transcode or 'not read'})")
    step.why = "; ".join(problems)
    return step


def sipp_reasons(errors_log: Path, scenario_xml: str) -> str:
    """The commonest reason in sipp's -trace_err log, with how many calls it names."""
    text = errors_log.read_text(errors="replace") if errors_log.exists() else ""
    reasons = collections.Counter()
    # Entries are not always on lines of their own: each starts with a date.
    for match in re.finditer(r"Call-Id: [^,]+, (.+?)(?=\d{4}-\d\d-\d\d\s|\n|$)", text):
        reasons[match.group(1).strip().rstrip(",")] += 1
    if not reasons:
        return parse.sipp_error(text)
    reason, count = reasons.most_common(1)[0]
    return f"{count} × {reason}{unanswered(reason, scenario_xml)}"


def unanswered(reason: str, scenario_xml: str) -> str:
    """sipp names a receive timeout by the index of the scenario step that waited: say
    which request went unanswered (the last one sent before that step)."""
    match = re.search(r"receive timeout on message \S+:(\d+)", reason)
    if not match:
        return ""
    steps = list(ElementTree.fromstring(scenario_xml.encode("iso-8859-1")))
    sent = [s for s in steps[:int(match.group(1))] if s.tag == "send"]
    method = (sent[-1].text or "").split()[0] if sent and (sent[-1].text or "").split() else "?"
    return f" (the {method} sent before that step got no final answer within 10 s)"


def wait_idle(instance: Instance, timeout: float = 60) -> None:
    """Until Asterisk has no channel left (the previous step's calls hung up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = instance.rx("core show channels count")
        match = re.search(r"(\d+) active channel", out)
        if match and match.group(1) == "0":
            return
        time.sleep(1)


def capacity(docker, kind: Kind, ladder: list[int], hold: int, budget: float, work: Path
             ) -> list[Step]:
    """Steps up the ladder until one fails or the next would not fit in `budget` seconds."""
    password = secrets.token_hex(12)
    instance = Instance(label=f"bench-{kind.key}", network="host", ports=wide_ports(max(ladder)))
    steps: list[Step] = []
    start = time.monotonic()
    try:
        instance.start(docker, kind.image, password=password)
        instance.wait_booted()
        pid = asterisk_pid(instance.name)
        for calls in ladder:
            estimate = calls / call_rate(calls) + hold + 15
            if time.monotonic() - start + estimate > budget:
                print(f"{kind.name}: {calls} calls would not fit in the {budget:.0f} s budget",
                      file=sys.stderr)
                break
            wait_idle(instance)
            step = run_step(instance, kind, calls, hold, password, work / f"{kind.key}-{calls}", pid)
            steps.append(step)
            print(f"{kind.name}: {calls} calls: {'ok' if step.passed else 'FAILED: ' + step.why} "
                  f"(peak {step.peak_channels} channels, Asterisk {step.asterisk_cpu:.0f} %, "
                  f"sipp {step.sipp_cpu:.0f} %, machine {step.machine_cpu:.0f} %, "
                  f"{step.seconds:.0f} s)", file=sys.stderr, flush=True)
            if not step.passed:
                break
    finally:
        instance.remove()
    return steps


def wait_for_quiet() -> tuple[float, float]:
    """Waits (in steps of ≤ 5 min, ≤ 20 min in all) until the 1-min load average is below
    LOAD_LIMIT; returns (load when asked, load when starting)."""
    first = os.getloadavg()[0]
    waited = 0
    while os.getloadavg()[0] > LOAD_LIMIT and waited < LOAD_WAIT_MAX_S:
        print(f"load average {os.getloadavg()[0]:.2f} > {LOAD_LIMIT}: waiting", file=sys.stderr,
              flush=True)
        pause = min(60, LOAD_WAIT_STEP_S, LOAD_WAIT_MAX_S - waited)
        time.sleep(pause)
        waited += pause
    return first, os.getloadavg()[0]


def limited_by(step: Step | None) -> str:
    """What the CPU figures of the failing (or last) step say about the limit."""
    if step is None:
        return "-"
    shares = (f"Asterisk {step.asterisk_cpu:.0f} %, sipp {step.sipp_cpu:.0f} %, other "
              f"{step.other_cpu:.0f} %")
    if step.machine_cpu >= 180:
        return f"both cores busy at N = {step.calls} ({shares}): CPU, shared with the caller"
    return f"not CPU at N = {step.calls} (machine {step.machine_cpu:.0f} %: {shares})"


def capacity_section(results: dict[str, tuple[Kind, list[Step]]], hold: int,
                     loads: tuple[float, float]) -> str:
    lines = []
    summary = [("| calls | largest N with no failed call and RTP ≥ 90 % | Asterisk CPU at that N "
                "(/proc; docker stats) | sipp CPU | machine CPU | first failing step | what limited it |"),
               "|---|---|---|---|---|---|---|"]
    for name, (kind, steps) in results.items():
        passed = [s for s in steps if s.passed]
        best = passed[-1] if passed else None
        failing = next((s for s in steps if not s.passed), None)
        cpu = (f"{best.asterisk_cpu:.0f} %; {best.docker_stats_cpu or '-'} | {best.sipp_cpu:.0f} % | "
               f"{best.machine_cpu:.0f} % of 200 %") if best else "- | - | -"
        limit = (f"{failing.calls}: {failing.why}" if failing else
                 f"none (ladder or time budget ended at {steps[-1].calls if steps else '-'})")
        summary.append(f"| {name} (`{kind.image}`) | {best.calls if best else 'none'} | {cpu} | "
                       f"{limit} | {limited_by(failing or (steps[-1] if steps else None))} |")
        lines += [f"\n{name} (`{kind.image}`, {kind.service}, {kind.codec}):\n",
                  ("| N | rate | result | peak channels | RTP measured / short (lowest) | "
                   "Asterisk CPU | sipp CPU | other CPU (largest) | machine CPU (of it irq/softirq) | "
                   "docker stats | step time |"),
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for s in steps:
            lines.append(
                f"| {s.calls} | {s.rate}/s | {'ok' if s.passed else 'FAILED: ' + s.why} | "
                f"{s.peak_channels} | {s.measured} / {s.short} ({s.worst:.1%}) | "
                f"{s.asterisk_cpu:.0f} % | {s.sipp_cpu:.0f} % | {s.other_cpu:.0f} % ({s.others or '-'}) | "
                f"{s.machine_cpu:.0f} % ({s.irq_cpu:.0f} %) | {s.docker_stats_cpu or '-'} | "
                f"{s.seconds:.0f} s |")
    return "\n".join(summary) + "\n" + "\n".join(lines) + f"""

One container per image with the smoke test configuration (`pipeline.smoke.instance.Instance`,
host networking, an RTP range wide enough for the largest step), sipp 3.6.1 on the same
host and the same 2 cores, all traffic on {HOST_ADDRESS}. Each step: `sipp -m N -l N -r R
-d {hold * 1000}` with R = N/{RAMP_S} calls a second (5 to {MAX_RATE}), the smoke test's authenticated
call scenario (INVITE, 401, INVITE with credentials, 200, ACK, hold, BYE), each call held
{hold} s, so all N calls are up together from the end of the ramp until the first ones hang up.
Echo calls: each caller replays {hold - TAIL_S} s of G.711 A-law ({(hold - TAIL_S) * PACKETS_PER_S} packets of 20 ms, made by
`pipeline.smoke.rtp.alaw_tone_pcap` so the count is exact; sipp 3.6.1 cannot loop
/usr/share/sip-tester/g711a.pcap without scenario jumps) with `play_pcap_audio` (one sending
thread and raw socket per call) to Echo(). Transcoded calls: an Opus-only offer to
Milliwatt() on the opus image, so Asterisk encodes Opus for every call (a sampled channel
must show WriteTranscode "Yes"); sipp's `-rtp_echo` sends it back. RTP is judged from
Asterisk's own counters (`pjsip show channelstats`, read every {SAMPLE_EVERY_S:.0f} s), per call from its
last reading: ≥ 90 % of the packets its up time calls for received (echo) or sent in Opus
(transcoded), and ≥ 90 % of those coming back. "RTP measured" counts the calls read at
least 10 s into the call. CPU is % of one core over the window when all N calls are up,
from /proc: Asterisk's daemon and sipp (every thread), and the whole machine from
/proc/stat (200 % = both cores); "other" is the rest (the largest other processes named:
the sampling's `docker exec`, containerd, other work on this shared machine); in brackets
after the machine figure, the part spent in interrupts and softirqs (mostly the loopback
network stack carrying the RTP; it is also counted in the process it interrupted);
"docker stats" is one sample of the container in that window. sipp's own CPU is on the
same two cores, so these are figures for Asterisk and its caller together: a caller on
another machine would leave Asterisk more room. Near saturation the limit moves by about
one step from run to run (scheduling noise, and any other work on the machine: see
"other"). A failing step ends the ladder; so does the time budget. Load average (1 min)
when the capacity part was asked for: {loads[0]:.2f}, when it started: {loads[1]:.2f}
(during a step, sipp's sending threads alone raise it far above the core count, so it
says nothing about other work there: see the "other CPU" column).
"""


def stop_on_sigterm() -> None:
    """SIGTERM (and SIGINT, which a background job ignores) run the clean-up: containers
    removed and sipp killed in `finally`."""
    def stop(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def main() -> None:
    stop_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--plain", default=PLAIN)
    parser.add_argument("--opus", default=OPUS)
    parser.add_argument("--no-suite", action="store_true")
    parser.add_argument("--no-capacity", action="store_true")
    parser.add_argument("--echo-ladder", default=",".join(map(str, ECHO_LADDER)))
    parser.add_argument("--transcoded-ladder", default=",".join(map(str, TRANSCODED_LADDER)))
    parser.add_argument("--hold", type=int, default=30, help="seconds each call lasts")
    parser.add_argument("--echo-budget", type=float, default=390, help="seconds for the echo ladder")
    parser.add_argument("--transcoded-budget", type=float, default=330,
                        help="seconds for the transcoded ladder")
    parser.add_argument("--kinds", default="echo,transcoded")
    parser.add_argument("--write", action="store_true",
                        help="write the sections to docs/benchmarks.md (else only print them)")
    parser.add_argument("--no-wait", action="store_true",
                        help=f"do not wait for the load average to drop below {LOAD_LIMIT}")
    args = parser.parse_args()
    docker = engine.client()
    images = {"plain": args.plain, "opus": args.opus}
    command = ".venv/bin/python benchmarks/bench_smoke.py --write"

    if not args.no_suite:
        before = os.getloadavg()[0]
        results = {v: time_suite(docker, image, v, args.runs) for v, image in images.items()}
        body = suite_section(images, results, (before, os.getloadavg()[0]))
        if args.write:
            write_section("smoke suite", f"{command} --no-capacity --runs {args.runs}", body)
        print(body)

    if not args.no_capacity:
        loads = (os.getloadavg()[0],) * 2 if args.no_wait else wait_for_quiet()
        kinds = {
            "echo": (Kind("echo", "G.711 echo", args.plain, "echo", sipp.PCMA_OFFER, False, "PCMA both ways"),
                     args.echo_ladder, args.echo_budget),
            "transcoded": (Kind("transcoded", "Opus transcoded", args.opus, "milliwatt", sipp.OPUS_OFFER, True,
                                "Opus offer only, Asterisk encodes Opus"),
                           args.transcoded_ladder, args.transcoded_budget),
        }
        work = Path(tempfile.mkdtemp(prefix="bench-capacity-"))
        results = {}
        try:
            for key in args.kinds.split(","):
                kind, ladder, budget = kinds[key]
                ladder = [int(n) for n in ladder.split(",")]
                results[kind.name] = (kind, capacity(docker, kind, ladder, args.hold, budget, work))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        body = capacity_section(results, args.hold, loads)
        if args.write:
            write_section("call capacity", f"{command} --no-suite --echo-ladder {args.echo_ladder} "
                          f"--transcoded-ladder {args.transcoded_ladder} --hold {args.hold}", body)
        print(body)


if __name__ == "__main__":
    main()
