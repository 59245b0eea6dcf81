"""The smoke suite: start an image, wait until Asterisk is fully booted, place real SIP
calls at it with sipp from the host, and say per check what passed and why not.

    pipeline smoke IMAGE [--variant plain|opus] [--platform OS/ARCH] [--logs DIR]
                         [--network host|published|both] [--postgres DSN]

The containers of one run (each on its own free ports, so runs on one host do not collide):
- "host": host networking, the image's configuration plus the smoke additions
  (data/config), PJSIP realtime on a throwaway PostgreSQL. Most checks run here.
- "published": the same configuration with SIP and the RTP range published with -p.
- "default-config": the image's own configuration, untouched: nothing gets in.
With --network host or published, the first two become one container in that mode.

Beside them, the image's own checks (image_checks.py: docker-library's global tests) run
the image with short `docker run`s of their own.

Results: one line per check, a summary table, LOGS/junit.xml, and for each failed check
LOGS/<check>/ with the container log, sipp's traces (messages, errors, statistics,
screen) and what the Asterisk CLI showed.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime
import functools
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .. import log
from ..core import VARIANTS, Target, Variant
from ..engine import local_image
from ..errors import ConfigurationError, PipelineError, SmokeError
from ..labels import VARIANT_LABEL
from . import image_checks, junit
from .checks import CHECKS, Context
from .instance import CheckFailed, Instance
from .ports import allocate
from .realtime import Realtime

if TYPE_CHECKING:
    from python_on_whales import DockerClient

NETWORKS = ("host", "published", "both")
NOT_RUN = "not run:"

@dataclasses.dataclass
class CheckResult:
    name: str
    passed: bool
    seconds: float
    detail: str


@dataclasses.dataclass(frozen=True)
class InstanceSpec:
    label: str
    network: str
    test_config: bool
    realtime: bool
    checks: tuple[str, ...]


def plan(network: str = "both") -> list[InstanceSpec]:
    """The containers of a run and the checks each one gets (pure)."""
    if network not in NETWORKS:
        raise ConfigurationError(f"--network {network!r}: use one of {', '.join(NETWORKS)}")
    full = tuple(CHECKS)
    main = "published" if network == "published" else "host"
    specs = [InstanceSpec(main, main, True, True, full)]
    if network == "both":
        # Side by side with the host container's checks: media through the published ports,
        # both ways (the Opus check's caller echoes what Asterisk sends).
        specs.append(InstanceSpec("published", "published", True, False,
                                  ("boot", "audio", "opus")))
    specs.append(InstanceSpec("default-config", "published" if network != "host" else "host",
                              False, False, ("boot", "closed")))
    return specs


def check_names(network: str = "both") -> list[str]:
    """Every check of a run, in the order they run: boots first, then the image's own
    checks (image_checks.py), then each container's calls."""
    specs = plan(network)
    boots = [f"boot-{s.label}" for s in specs]
    return (boots + list(image_checks.IMAGE_CHECKS)
            + [f"{c}-{s.label}" for s in specs for c in s.checks if c != "boot"])


def image_variant(image: str, labels: Mapping[str, str]) -> Variant:
    """The variant image says it is (its org.asterisk.variant label, among labels)."""
    name = labels.get(VARIANT_LABEL, "")
    if name not in VARIANTS:
        raise ConfigurationError(f"{image} has no {VARIANT_LABEL} label "
                                 f"({' or '.join(VARIANTS)}): pass --variant")
    return VARIANTS[name]


def run_smoke(docker: DockerClient, image: str, *, variant: Variant | None, logs: Path,
              network: str = "both", postgres: str | None = None,
              config: Path | None = None, platform: str | None = None) -> list[CheckResult]:
    """Run every check against `image`; never raises for a failed check (see the results).

    The containers and PostgreSQL start at once; then each container gets its boot check
    and its calls, the containers side by side (each has its own ports). `config` replaces
    the smoke additions (pipeline/smoke/data/config) laid over the image's configuration:
    the tests use it to run with a dialplan that lacks an extension.
    """
    labels = local_image(docker, image).config.labels or {}
    variant = variant or image_variant(image, labels)
    specs = plan(network)
    logs = Path(logs)
    logs.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    results: list[CheckResult] = []
    ctx = Context(variant=variant, password=secrets.token_hex(12))
    work = Path(tempfile.mkdtemp(prefix="pipeline-smoke-"))
    instances = [Instance(label=s.label, network=s.network, ports=p, test_config=s.test_config,
                          platform=platform)
                 for s, p in zip(specs, allocate(len(specs)), strict=True)]
    realtime: Realtime | None = None
    log.info(f"smoke {image} ({variant}, {platform or 'native platform'}, network {network})")
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(instances) + 2) as pool:
            if any(s.realtime for s in specs):
                realtime = Realtime(postgres, ctx)
                preparing = pool.submit(realtime.prepare, docker, image)
            jobs = [pool.submit(run_image_checks, docker, image, platform, logs)]
            for spec, instance in zip(specs, instances, strict=True):
                if spec.realtime and realtime:
                    realtime.attach(instance)
                jobs.append(pool.submit(_start_and_check, docker, image, ctx, spec, instance,
                                        config, work, logs, realtime))
            for job in jobs:
                results += job.result()
            if realtime:
                preparing.result()
    finally:
        _cleanup(instances, realtime, work)
        order = {name: index for index, name in enumerate(check_names(network))}
        results.sort(key=lambda r: order.get(r.name, len(order)))
        junit.write(logs / "junit.xml", f"smoke {image}", results,
                    classname=f"smoke.{variant.name}",
                    properties={"image": image, "variant": variant.name, "network": network,
                                "platform": platform or "native"})
        _summary(image, results, time.monotonic() - start)
    return results


def check_image(docker: DockerClient, image: str, target: Target, platform: str, logs: Path) -> None:
    """Run every check for this image on platform; SmokeError names each failed check and why."""
    logs = Path(logs) / "smoke" / platform.replace("/", "-")
    results = run_smoke(docker, image, variant=target.variant, logs=logs, platform=platform)
    raise_for_failures(f"{image} ({platform})", results, logs)


def raise_for_failures(image: str, results: Sequence[CheckResult], logs: Path) -> None:
    """SmokeError naming each failed check and why, if any failed."""
    failed = [r for r in results if not r.passed]
    if not failed:
        return
    ran = [f"{r.name}: {_first_line(r.detail)}" for r in failed if not r.detail.startswith(NOT_RUN)]
    skipped = [r.name for r in failed if r.detail.startswith(NOT_RUN)]
    if skipped:
        ran.append(f"not run because their container did not boot: {', '.join(skipped)}")
    raise SmokeError(f"smoke test of {image} failed {len(failed)} of {len(results)} checks: "
                     + "; ".join(ran) + f" (logs in {logs})")


# ---- the steps of a run --------------------------------------------------------------------

def _start(docker: DockerClient, image: str, instance: Instance, ctx: Context, config: Path | None) -> None:
    try:
        instance.start(docker, image, password=ctx.password, overlay=config)
    except PipelineError as error:
        instance.start_error = str(error)


def _start_and_check(docker: DockerClient, image: str, ctx: Context, spec: InstanceSpec,
                     instance: Instance, config: Path | None, work: Path, logs: Path,
                     realtime: Realtime | None) -> list[CheckResult]:
    """Start one container, boot check, then its checks one after the other."""
    _start(docker, image, instance, ctx, config)
    results = [_run_check(ctx, "boot", instance, work, logs)]
    for name in spec.checks:
        if name == "boot":
            continue
        if not instance.booted:
            results.append(CheckResult(f"{name}-{instance.label}", False, 0.0,
                                       f"{NOT_RUN} the {instance.label} container did not boot "
                                       "(see its boot check)"))
            continue
        if instance.database and realtime:
            realtime.wait()   # its Asterisk queries the database from the first call on
        results.append(_run_check(ctx, name, instance, work, logs, realtime))
    return results


def _outcome(full_name: str, check: Callable[[], str]) -> CheckResult:
    """Runs one check: passed with its detail, or failed with the reason (never raises)."""
    start = time.monotonic()
    try:
        detail, passed = check(), True
    except CheckFailed as error:
        detail, passed = str(error), False
    except PipelineError as error:
        detail, passed = f"{type(error).__name__}: {error}", False
    except Exception as error:  # a broken check must not hide the others
        detail, passed = f"unexpected {type(error).__name__}: {error}", False
    return CheckResult(full_name, passed, time.monotonic() - start, detail)


def _report(result: CheckResult) -> None:
    if result.passed:
        log.info(f"  {result.name} ... ok ({result.seconds:.1f}s) {result.detail}")
    else:
        log.info(f"  {result.name} ... FAILED ({result.seconds:.1f}s): {_first_line(result.detail)}")


def _run_check(ctx: Context, name: str, instance: Instance, work: Path, logs: Path,
               realtime: Realtime | None = None) -> CheckResult:
    full_name = f"{name}-{instance.label}"
    workdir = work / full_name
    workdir.mkdir(parents=True, exist_ok=True)
    instance.mark = datetime.datetime.now(datetime.UTC)

    def check() -> str:
        if instance.start_error:
            raise CheckFailed(instance.start_error)
        return CHECKS[name](ctx, instance, workdir)

    result = _outcome(full_name, check)
    if not result.passed:
        _keep_logs(ctx, result, instance, workdir, logs / full_name, realtime)
    _report(result)
    return result


def run_image_checks(docker: DockerClient, image: str, platform: str | None,
                     logs: Path) -> list[CheckResult]:
    """The image's own checks (image_checks.py), one after the other; a failed one keeps
    its reason in LOGS/<check>/reason.txt."""
    run = image_checks.Run(docker, image, platform)
    results = []
    for name, check in image_checks.IMAGE_CHECKS.items():
        result = _outcome(name, functools.partial(check, run))
        if not result.passed:
            (logs / name).mkdir(parents=True, exist_ok=True)
            (logs / name / "reason.txt").write_text(result.detail + "\n")
        _report(result)
        results.append(result)
    return results


def _keep_logs(ctx: Context, result: CheckResult, instance: Instance, workdir: Path, destination: Path,
               realtime: Realtime | None) -> None:
    if destination.exists():
        shutil.rmtree(destination)
    shutil.copytree(workdir, destination)
    (destination / "container.log").write_text(instance.log() if instance.name else "")
    (destination / "reason.txt").write_text(result.detail + "\n")
    samples = ctx.samples.get(workdir.name)
    if samples:
        (destination / "asterisk-cli.txt").write_text("\n----\n".join(samples))
    if realtime and result.name.startswith("realtime"):
        (destination / "postgresql.log").write_text(realtime.log_text())
    log.info(f"    logs: {destination}")


def _cleanup(instances: list[Instance], realtime: Realtime | None, work: Path) -> None:
    """Every container and the database go, side by side; then the work directory."""
    jobs = [instance.remove for instance in instances] + ([realtime.close] if realtime else [])
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            for job in [pool.submit(job) for job in jobs]:
                try:
                    job.result()
                except PipelineError as error:
                    log.warning(f"clean-up: {error}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0]


def _summary(image: str, results: Sequence[CheckResult], seconds: float) -> None:
    rows = [[r.name, "ok" if r.passed else "FAILED", f"{r.seconds:.1f}s",
             _first_line(r.detail)[:100]] for r in results]
    passed = sum(r.passed for r in results)
    log.summary(f"smoke {image}: {passed} of {len(results)} checks passed in {seconds:.1f}s",
                ["check", "result", "time", "detail"], rows)


def default_logs(out: Path, image: str) -> Path:
    """Where `pipeline smoke IMAGE` keeps its reports: OUT/logs/smoke/<image>."""
    return out / "logs" / "smoke" / re.sub(r"[^A-Za-z0-9_.-]+", "_", image)
