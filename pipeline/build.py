"""Building the planned targets with docker buildx, through one injectable Docker client.

Per release: fetch and verify the sources once (sources.py), then build each variant from
dockerfiles/asterisk (plain first, so the opus variant reuses its layers), then smoke-test
each image. A failure in one target is recorded and the others go on; the summary shows
all of them, and the exit code is non-zero when any failed.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from . import log, sources
from . import smoke as smoke_module
from .errors import BuildError, PipelineError
from .matrix import Matrix, Sources
from .plan import BUILD_TARGET, Plan, Target

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILES = ROOT / "dockerfiles" / "asterisk"
OUT = Path(os.environ.get("PIPELINE_OUT", "out"))


@dataclasses.dataclass
class Result:
    target: Target
    image: str = ""
    status: str = "pending"     # built | smoked | failed | skipped
    reason: str = ""
    seconds: float = 0.0
    size: int = 0
    steps: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status != "failed"


def client() -> DockerClient:
    return DockerClient()


def native_platform() -> str:
    machine = os.uname().machine
    return {"x86_64": "linux/amd64", "aarch64": "linux/arm64", "arm64": "linux/arm64"}.get(
        machine, f"linux/{machine}")


def local_image(name: str, target: Target) -> str:
    return f"{name}:{target.id}"


def git_revision() -> str:
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def source_url() -> str:
    if os.environ.get("GITHUB_REPOSITORY"):
        server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{os.environ['GITHUB_REPOSITORY']}"
    return "https://github.com/asterisk-pipeline/asterisk-pipeline"


def inputs_digest(target: Target, config: Sources, tarball_sha256: str,
                  dockerfiles: Path = DOCKERFILES) -> str:
    """A digest of everything that goes into an image, known before building it.

    Stored as a label; publishing compares it with the registry's copy to skip targets that
    are up to date without rebuilding them. The release tarball's sha256 stands for the
    whole source tree (it names the bundled pjproject's md5).
    """
    digest = hashlib.sha256()
    for path in sorted(p for p in dockerfiles.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(dockerfiles)).encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    digest.update(json.dumps({
        "target": target.id, "tarball": tarball_sha256, "base": target.base_image,
        "platforms": sorted(target.platforms), "opus": list(config.opus_codec_sha256),
        "sounds": [config.core_sounds, config.moh], "pjproject": config.pjproject,
    }, sort_keys=True).encode())
    return digest.hexdigest()


def labels(target: Target, inputs: str) -> dict[str, str]:
    return {
        "org.opencontainers.image.title": "asterisk",
        "org.opencontainers.image.description": f"Asterisk {target.version} ({target.variant}), "
                                                "built from source and smoke-tested with real calls",
        "org.opencontainers.image.version": target.id,
        "org.opencontainers.image.revision": git_revision(),
        "org.opencontainers.image.source": source_url(),
        "org.opencontainers.image.created":
            datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "org.asterisk.version": str(target.version),
        "org.asterisk.variant": target.variant,
        "org.asterisk-pipeline.inputs": inputs,
    }


def cache_options(cache: str, scope: str) -> dict:
    """--cache DIR (a local directory) or a buildx cache spec such as type=gha."""
    if not cache:
        return {}
    if "=" in cache:
        spec = dict(item.split("=", 1) for item in cache.split(","))
        if spec.get("type") == "gha":
            spec.setdefault("scope", scope)
        # mode and ignore-error are export options (BuildKit reads them on cache-to only). A
        # cache backend that fails (GitHub's answers 429 when busy) must not fail the build:
        # BuildKit only logs a failed import, and ignore-error=true does the same for an export.
        cache_from = {key: value for key, value in spec.items() if key not in ("mode", "ignore-error")}
        return {"cache_from": cache_from, "cache_to": {"mode": "max", "ignore-error": "true", **spec}}
    directory = Path(cache) / scope
    options = {"cache_to": {"type": "local", "dest": str(directory), "mode": "max"}}
    if directory.exists():
        options["cache_from"] = {"type": "local", "src": str(directory)}
    return options


def build_image(docker: DockerClient, target: Target, context: Path, *, inputs: str,
                platforms: list[str], tags: Iterable[str] = (), load: bool = False,
                output: dict[str, str] | None = None, cache: str = "",
                log_file: Path | None = None, dockerfiles: Path = DOCKERFILES) -> dict:
    """One buildx build of one target; returns buildx's metadata (digest, ...).

    load=True puts the image in the local store; output= sends it elsewhere (e.g. a
    registry, by digest). BuildError with the log's tail on failure.
    """
    build_args = {"ASTERISK_VERSION": str(target.version), "BASE_IMAGE": target.base_image}
    log.debug(f"docker buildx build {dockerfiles} --target {BUILD_TARGET[target.variant]} "
              f"--build-context sources={context} --platform {','.join(platforms)} "
              + " ".join(f"-t {t}" for t in tags) + (f" --output {output}" if output else ""))
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as scratch:
        metadata_file = Path(scratch) / "metadata.json"
        try:
            stream = docker.buildx.build(
                dockerfiles, target=BUILD_TARGET[target.variant], build_args=build_args,
                build_contexts={"sources": str(context)}, platforms=platforms, tags=list(tags),
                labels=labels(target, inputs), load=load, output=output or {},
                metadata_file=metadata_file, progress="plain", provenance=False,
                stream_logs=True, **cache_options(cache, f"asterisk-{target.version}"))
            for line in stream:
                lines.append(line)
                log.debug(line.rstrip())
        except DockerException as error:
            tail = "".join(lines[-25:]) or (error.stderr or "")
            raise BuildError(f"build of {target.id} failed: {failure_summary(lines)}\n{tail}") from None
        finally:
            if log_file:
                log_file.parent.mkdir(parents=True, exist_ok=True)
                log_file.write_text("".join(lines))
        return json.loads(metadata_file.read_text()) if metadata_file.exists() else {}


def failure_summary(lines: list[str]) -> str:
    """'[stage n/m] <first words of the step>: <its last output line>' from a plain-progress log."""
    failed = next((re.match(r"#(\d+) ERROR", line) for line in reversed(lines)
                   if re.match(r"#\d+ ERROR", line)), None)
    if not failed:
        return "see the build log"
    step = failed[1]
    title = next((line.split(" ", 1)[1].strip() for line in lines
                  if line.startswith(f"#{step} [")), f"step #{step}")
    output = [line for line in lines if re.match(rf"#{step} \d+\.\d+ ", line)]
    last = output[-1].split(" ", 2)[2].strip() if output else ""
    return f"{title[:80]}{' …' if len(title) > 80 else ''}: {last}"


SmokeFn = Callable[[DockerClient, str, Target, Path], None]


def run(matrix: Matrix, plan: Plan, args) -> int:
    """`pipeline build`: build every target of the plan, smoke each, summarise."""
    docker = client()
    platforms_for = (lambda t: list(t.platforms)) if args.platform else (lambda t: [native_platform()])
    if args.dry_run:
        for target in plan.targets:
            log.info(f"would build {local_image(args.image, target)} for "
                     f"{','.join(platforms_for(target))} from {target.release.tarball_url}")
        return 0
    results = build_all(docker, matrix, plan, image_name=args.image, platforms_for=platforms_for,
                        cache=args.cache, smoke=None if args.no_smoke else smoke_module.check_image)
    report(results)
    failed = [r for r in results if not r.ok]
    if failed:
        raise BuildError(f"{len(failed)} of {len(results)} targets failed: "
                         + ", ".join(r.target.id for r in failed))
    return 0


def build_all(docker: DockerClient, matrix: Matrix, plan: Plan, *, image_name: str,
              platforms_for: Callable[[Target], list[str]], cache: str = "",
              smoke: SmokeFn | None = None) -> list[Result]:
    results: list[Result] = []
    by_version: dict[str, list[Target]] = {}
    for target in plan.targets:
        by_version.setdefault(str(target.version), []).append(target)
    for version, targets in by_version.items():
        context = OUT / "sources" / version
        try:
            with log.group(f"sources {version}"):
                sources.prepare(targets[0].release, matrix.sources, context)
        except PipelineError as error:
            log.error(str(error))
            results += [Result(t, status="failed", reason=str(error)) for t in targets]
            continue
        for target in sorted(targets, key=lambda t: t.variant != "plain"):
            results.append(_build_one(docker, matrix.sources, target, context, image_name,
                                      platforms_for(target), cache, smoke))
    return results


def _build_one(docker, config, target, context, image_name, platforms, cache, smoke) -> Result:
    result = Result(target, image=local_image(image_name, target))
    start = time.monotonic()
    logs = OUT / "logs" / target.id
    with log.group(f"{target.id} ({', '.join(platforms)})"):
        try:
            step_start = time.monotonic()
            inputs = inputs_digest(target, config, sources.file_sha256(context / "asterisk.tar.gz"))
            with log.step(f"build {result.image}"):
                build_image(docker, target, context, inputs=inputs, platforms=platforms,
                            tags=[result.image], load=True, cache=cache, log_file=logs / "build.log")
            result.steps["build"] = time.monotonic() - step_start
            result.size = docker.image.inspect(result.image).size or 0
            result.status = "built"
            if smoke is not None:
                step_start = time.monotonic()
                with log.step(f"smoke {result.image}"):
                    smoke(docker, result.image, target, logs)
                result.steps["smoke"] = time.monotonic() - step_start
                result.status = "smoked"
        except PipelineError as error:
            log.error(str(error))
            result.status, result.reason = "failed", str(error).splitlines()[0]
    result.seconds = time.monotonic() - start
    return result


def report(results: list[Result]) -> None:
    rows = [[r.target.id, r.status, r.image, f"{r.size / 1e6:.0f} MB" if r.size else "-",
             " ".join(f"{k} {v:.0f}s" for k, v in r.steps.items()) or "-", r.reason or ""]
            for r in results]
    log.summary("build summary", ["target", "status", "image", "size", "time", "reason"], rows)
