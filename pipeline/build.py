"""Making a target's image: docker buildx builds it from dockerfiles/asterisk, then the smoke
test places real calls at it. `Maker.make` is that one build-then-smoke step; `pipeline
build` (`run` below) and every way of publishing use it.

Per release the sources are fetched and verified once (sources.py); the plain variant is
built first, so the opus variant reuses its layers. A failure in one target is recorded and
the others go on; the summary shows all of them, and the exit code is non-zero when any
failed.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from . import bases, core, engine, image, log, report, sbom, smoke
from .core import Release, Target
from .errors import BuildError, PipelineError
from .inputs import Inputs
from .labels import image_labels, source_date_epoch
from .matrix import Matrix, Sources
from .plan import Plan
from .provenance import Provenance, revision
from .snapshots import Snapshot
from .sources import identity, recorded
from .sources import prepare as prepare_sources

SmokeFn = Callable[[DockerClient, str, Target, str, Path], None]
"""smoke(docker, local image, target, platform, logs dir): raises SmokeError when it fails."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Options:
    """`pipeline build` as the command line asked for it."""

    image_name: str = "asterisk-pipeline"
    cache: str = ""
    smoke: bool = True
    every_platform: bool = False    # --platform given: the target's platforms, else the native one
    out: Path = Path("out")
    dry_run: bool = False


@dataclasses.dataclass
class Built:
    """One target's image in the local engine, and what happened to it."""

    target: Target
    image: str
    platforms: tuple[str, ...]
    status: str = "pending"     # built (not smoke-tested) | tested | failed
    reason: str = ""
    seconds: float = 0.0
    size: int = 0
    steps: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in ("built", "tested")


def _version() -> str:
    try:
        return importlib.metadata.version("asterisk-pipeline")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def cache_options(cache: str, scope: str) -> dict[str, dict[str, str]]:
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


def build_image(docker: DockerClient, target: Target, context: Path, *, labels: Mapping[str, str],
                platforms: Sequence[str], tags: Iterable[str] = (), load: bool = False,
                cache: str = "", log_file: Path | None = None, base: str = "",
                dockerfiles: Path = image.DOCKERFILES, provenance: bool = False, stage: str = "",
                contexts: Mapping[str, Path | str] | None = None,
                output: Mapping[str, str] | None = None) -> dict[str, Any]:
    """One buildx build of one target; returns buildx's metadata (digests, ...).

    stage: the Dockerfile target, by default the variant's stage (its name is also passed as
    VARIANT_STAGE, which the SBOM stages build on); contexts: more named build contexts
    than `sources` (such as the base image's, Maker.base_build); output: a buildx --output
    (e.g. type=local) instead of an image.
    base: the image to build FROM (NAME@DIGEST, or a NAME that contexts replaces), else the
    target's base image by name. The
    image config's dates come from the `created` label (SOURCE_DATE_EPOCH), so two builds
    of one target with the same labels have the same layers and config. provenance: attach
    BuildKit's SLSA provenance attestation (image.PROVENANCE) to each platform; it records
    the build's invocation id and times, so the image index then differs per build.
    BuildError with the failing step and the log's tail on failure.
    """
    variant_stage = target.variant.stage
    stage = stage or variant_stage
    build_args = {"ASTERISK_VERSION": str(target.version), "BASE_IMAGE": base or target.base_image,
                  image.VARIANT_ARG: variant_stage}
    epoch = source_date_epoch(labels)
    if epoch:
        build_args["SOURCE_DATE_EPOCH"] = epoch
    named: dict[str, str | Path] = {"sources": str(context),
                                    **{name: str(path) for name, path in (contexts or {}).items()}}
    log.debug(f"docker buildx build {dockerfiles} --target {stage} "
              + " ".join(f"--build-context {name}={path}" for name, path in named.items())
              + f" --platform {','.join(platforms)} " + " ".join(f"-t {t}" for t in tags))
    lines: list[str] = []
    caching = cache_options(cache, f"asterisk-{target.source_id}")
    with tempfile.TemporaryDirectory() as scratch:
        metadata_file = Path(scratch) / "metadata.json"
        try:
            # stream_logs=True: an iterator over the build's output lines
            stream = cast(Iterator[str], docker.buildx.build(
                dockerfiles, target=stage, build_args=build_args, build_contexts=named,
                platforms=list(platforms), tags=list(tags), labels=dict(labels), load=load,
                output=dict(output or {}), metadata_file=metadata_file, progress="plain",
                provenance=dict(image.PROVENANCE) if provenance else False, stream_logs=True,
                cache_from=caching.get("cache_from"), cache_to=caching.get("cache_to")))
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


@dataclasses.dataclass(kw_only=True)
class Maker:
    """How a target's image is made and tested: the one build-then-smoke step.

    Tests swap the Dockerfiles (a tiny image built by the same code), the sources, the
    release checksum and the smoke test. A development snapshot is made the same way: its
    identity is its commit id, its context a git archive (sources.py).
    """

    sources: Sources
    out: Path
    image_name: str = "asterisk-pipeline"
    cache: str = ""
    smoke: SmokeFn | None = smoke.check_image
    dockerfiles: Path = image.DOCKERFILES
    provenance: Provenance = dataclasses.field(default_factory=Provenance)
    prepare: Callable[[Release | Snapshot, Sources, Path], Path] = prepare_sources
    checksum: Callable[[Release | Snapshot], str] = identity
    base_digest: Callable[[str], str] = lambda name: ""
    base_local: Callable[[str], bool] = lambda name: False   # the digest came from the local store
    inputs: Inputs = dataclasses.field(init=False)     # of its sources, Dockerfiles, checksum, base
    _contexts: dict[str, Path | PipelineError] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.inputs = Inputs(sources=self.sources, dockerfiles=self.dockerfiles, checksum=self.checksum,
                             base_digest=self.base_digest)

    def base_build(self, docker: DockerClient, target: Target) -> tuple[str, dict[str, str]]:
        """How a build gets exactly the decided base image: (the BASE_IMAGE build argument,
        named build contexts). A digest from a registry: NAME@DIGEST, which BuildKit pulls. A
        digest from the local image store: NAME, replaced by that image exported as an OCI
        layout, since BuildKit would look NAME@DIGEST up in the registry (bases.py)."""
        digest = self.base_digest(target.base_image)
        if not digest or not self.base_local(target.base_image):
            return self.inputs.base(target), {}
        name = target.base_image.split("@")[0]
        directory = bases.layout(docker, digest, self.out / "bases")
        return name, bases.build_context(name, digest, directory)

    def labels(self, target: Target) -> dict[str, str]:
        """The image's labels: computed once per target and run (Inputs)."""
        return image_labels(target, self.inputs.digest(target), self.provenance, base=self.inputs.base(target))

    def context(self, target: Target) -> Path:
        """The verified sources of target's release (fetched once per release and run)."""
        version = target.source_id
        if version not in self._contexts:
            try:
                with log.group(f"sources {version}"):
                    self._contexts[version] = self.prepare(target.release, self.sources,
                                                           self.out / "sources" / version)
            except PipelineError as error:
                self._contexts[version] = error
        found = self._contexts[version]
        if isinstance(found, PipelineError):
            raise found
        return found

    def logs(self, target: Target) -> Path:
        return self.out / "logs" / target.id

    def _packages(self, docker: DockerClient, target: Target, context: Path,
                  platforms: Sequence[str]) -> dict[str, Path]:
        """The whole build, exporting only each platform's dpkg database and os-release
        (the Dockerfile's `packages` stage): {platform: directory}. The image itself is
        made next, from the build cache, with its SBOM."""
        dest = self.out / "sbom" / target.id / "packages"
        shutil.rmtree(dest, ignore_errors=True)
        base, base_contexts = self.base_build(docker, target)
        build_image(docker, target, context, labels=self.labels(target), platforms=platforms,
                    cache=self.cache, base=base, contexts=base_contexts, stage=image.PACKAGES_STAGE,
                    output={"type": "local", "dest": str(dest)},
                    log_file=self.logs(target) / "build.log", dockerfiles=self.dockerfiles)
        # one platform: the files themselves; several: a directory per platform (linux_arm64)
        return {p: dest / p.replace("/", "_") if len(platforms) > 1 else dest for p in platforms}

    def _sboms(self, target: Target, context: Path, packages: Mapping[str, Path]) -> Path:
        """Each platform's SBOM (sbom.py) into the directory the image build copies it from."""
        directory = self.out / "sbom" / target.id / "cdx"
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        verified = recorded(context)
        for platform, found in packages.items():
            text = sbom.make(target, platform, status=found / "status",
                             release_file=found / "os-release", verified=verified,
                             labels=self.labels(target), tool_version=_version())
            (directory / sbom.file_name(platform)).write_text(text)
        return directory

    def make(self, docker: DockerClient, target: Target, platforms: Sequence[str], *,
             test: bool = True) -> Built:
        """Build target for platforms into the local engine, then smoke-test each platform.
        Never raises for a failed target: the result says what failed and why."""
        built = Built(target, local_name(self.image_name, target), tuple(platforms))
        start = time.monotonic()
        with log.group(f"{target.id} ({', '.join(platforms)})"):
            try:
                if test and self.smoke is None:
                    raise BuildError(f"{target.id}: no smoke test available; untested images "
                                     "are never pushed")
                context = self.context(target)
                step = time.monotonic()
                with log.step(f"build {built.image}"):
                    packages = self._packages(docker, target, context, platforms)
                built.steps["build"] = time.monotonic() - step
                step = time.monotonic()
                with log.step(f"add the SBOM to {built.image} ({image.SBOM_PATH})"):
                    base, base_contexts = self.base_build(docker, target)
                    build_image(docker, target, context, labels=self.labels(target),
                                platforms=platforms, tags=[built.image], load=True,
                                base=base, provenance=True, stage=image.IMAGE_STAGE,
                                contexts={image.SBOM_CONTEXT: self._sboms(target, context, packages),
                                          **base_contexts},
                                log_file=self.logs(target) / "build-image.log",
                                dockerfiles=self.dockerfiles)
                built.steps["sbom"] = time.monotonic() - step
                built.size = docker.image.inspect(built.image).size or 0
                built.status = "built"
                if test and self.smoke is not None:
                    step = time.monotonic()
                    for platform in platforms:
                        with log.step(f"smoke {built.image} ({platform})"):
                            self.smoke(docker, built.image, target, platform, self.logs(target))
                    built.steps["smoke"] = time.monotonic() - step
                    built.status = "tested"
            except PipelineError as error:
                log.error(str(error))
                built.status, built.reason = "failed", str(error)
        built.seconds = time.monotonic() - start
        return built


def summary(results: Sequence[Built]) -> None:
    """The build summary: a row per target, then the reasons of the failures."""
    rows = [[r.target.id, r.status, r.image, f"{r.size / 1e6:.0f} MB" if r.size else "-",
             " ".join(f"{k} {v:.0f}s" for k, v in r.steps.items()) or "-", report.cut(r.reason)]
            for r in results]
    report.summary("build summary", ["target", "status", "image", "size", "time", "reason"], rows,
                   [(r.target.id, r.reason) for r in results if not r.ok])


def local_name(image_name: str, target: Target) -> str:
    """Where a target's image is kept in the local engine: NAME:<target id>."""
    return f"{image_name}:{target.id}"


def ordered(targets: Iterable[Target]) -> list[Target]:
    """Per release, in the plan's order, the variants in their table's order (plain first:
    the opus variant is the plain image plus one layer)."""
    releases: dict[str, list[Target]] = {}
    for target in targets:
        releases.setdefault(target.source_id, []).append(target)
    rank = {name: index for index, name in enumerate(core.VARIANT_NAMES)}
    return [t for group in releases.values() for t in sorted(group, key=lambda t: rank[t.variant.name])]


def maker_for(matrix: Matrix, options: Options, docker: DockerClient, *,
              publishing: bool = False) -> Maker:
    """The Maker of a run: the matrix's sources, the run's options, this checkout's revision,
    base images pinned to their digests (publishing: read from their registries only, unless
    the run is offline by configuration; bases.Policy)."""
    resolver = bases.Resolver(docker, bases.Policy.for_run(os.environ, publishing=publishing))
    return Maker(sources=matrix.sources, out=options.out, image_name=options.image_name,
                 cache=options.cache, base_digest=resolver, base_local=resolver.is_local,
                 provenance=Provenance.from_environment(os.environ, revision()))



def run(matrix: Matrix, plan: Plan, options: Options) -> int:
    """`pipeline build`: build every target of the plan, smoke-test each, summarise."""
    native = engine.native_platform()

    def platforms(target: Target) -> tuple[str, ...]:
        return target.platforms if options.every_platform else (native,)

    if options.dry_run:
        for target in ordered(plan.targets):
            log.info(f"would build {local_name(options.image_name, target)} for "
                     f"{','.join(platforms(target))} from {target.origin}"
                     + ("" if options.smoke else " (no smoke test)"))
        return 0
    docker = engine.client()
    maker = maker_for(matrix, options, docker)
    results = [maker.make(docker, target, platforms(target), test=options.smoke)
               for target in ordered(plan.targets)]
    summary(results)
    failed = [r for r in results if not r.ok]
    if failed:
        raise BuildError(f"{len(failed)} of {len(results)} targets failed: "
                         + ", ".join(r.target.id for r in failed))
    return 0

