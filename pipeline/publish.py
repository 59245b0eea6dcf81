"""Publishing: each smoke-tested target's multi-arch image, under every tag of the plan,
to every registry of the matrix. Idempotent, never backwards, and safe when things fail.

Per target, before anything is built:

1. `inputs`: the digest of everything that goes into the image (build.inputs_digest, from
   the plan and the release's published sha256), also stored in the image as a label;
2. read what each of the target's tags points at in each registry (imagetools inspect);
3. decide per tag (`plan_tags`, pure): create, move, keep (it points at a newer version:
   tags never go backwards) or up to date (same version built from the same inputs).

Nothing to change anywhere: done, nothing is built (a scheduled run over an up-to-date
matrix only reads). Otherwise, per registry that needs it:

4. build every platform and smoke-test; a target that fails is not pushed anywhere;
5. push the image: the registry takes the multi-platform index only once every platform
   is in, so no tag can point at an incomplete image;
6. move the other tags to that digest (one `imagetools create` per registry).

Three ways to run it (see docs/publish.md):

* `publish` (one machine builds every platform): steps 1-6 above;
* `by_digest` (CI build job, one platform per native runner): 1-4, then push that platform
  by digest (no tag) and write the digest to a file;
* `merge` (CI merge job): 1-3, then make each target's manifest list from the digest
  files and move the tags (step 6).

A failure in one target or registry is recorded and the others go on; the summary shows
every target × registry, and the run fails when any did.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import functools
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from . import build, log, registries, smoke, sources
from .errors import BuildError, ConfigurationError, PipelineError, PublishError
from .matrix import Matrix, Registry
from .plan import Plan, Target
from .registries import Remote, Session
from .releases import Release

CREATE, MOVE, KEEP, CURRENT = "create", "move", "keep", "up to date"
INSPECT_WORKERS = 8


# ----------------------------------------------------------------------------- decisions (pure)

@dataclasses.dataclass(frozen=True)
class TagAction:
    tag: str
    action: str        # create | move | keep | up to date
    reason: str = ""

    @property
    def changes(self) -> bool:
        return self.action in (CREATE, MOVE)


def plan_tags(target: Target, inputs: str, remote: Mapping[str, Remote | None]) -> list[TagAction]:
    """What to do with each of target's tags, given what they point at now.

    The full tag (the version itself) is up to date when it holds an image built from the
    same inputs for every platform, else it is (re)pushed. An alias (`22`, `lts`, ...)
    moves only forward: it is kept when it points at a newer version, or at an image
    without a readable version label (not made by this pipeline: left alone).
    """
    actions = []
    for tag in target.tags:
        current = remote.get(tag)
        if current is None:
            actions.append(TagAction(tag, CREATE))
        elif tag == target.id:
            actions.append(_full_tag(target, inputs, current))
        elif current.version is None:
            actions.append(TagAction(tag, KEEP, "points at an image without a version label"))
        elif current.version > target.version:
            actions.append(TagAction(tag, KEEP, f"points at newer {current.version}"))
        elif current.version < target.version:
            actions.append(TagAction(tag, MOVE, f"from {current.version}"))
        elif current.inputs == inputs:
            actions.append(TagAction(tag, CURRENT))
        else:
            actions.append(TagAction(tag, MOVE, "from an older build of the same version"))
    return actions


def _full_tag(target: Target, inputs: str, current: Remote) -> TagAction:
    missing = sorted(set(target.platforms) - set(current.platforms))
    if current.inputs == inputs and not missing:
        return TagAction(target.id, CURRENT)
    if current.inputs != inputs:
        return TagAction(target.id, MOVE, "rebuilt: its inputs changed")
    return TagAction(target.id, MOVE, f"adds {', '.join(missing)}")


def full_tag_changes(target: Target, actions: Sequence[TagAction]) -> bool:
    return any(a.changes for a in actions if a.tag == target.id)


def describe(actions: Sequence[TagAction]) -> str:
    """One line for a registry's decisions: '22.10.1 create, 22 move (from 22.9.0), lts keep'."""
    return ", ".join(f"{a.tag} {a.action}" + (f" ({a.reason})" if a.reason else "") for a in actions)


# ----------------------------------------------------------------------------- digest files

def digest_file(directory: Path, target: Target, registry: Registry, platform: str) -> Path:
    """Where a CI build job leaves a per-platform digest: DIR/<target>/<registry>/<os>-<arch>."""
    return directory / target.id / registry.name / platform.replace("/", "-")


def write_digest(directory: Path, target: Target, registry: Registry, platform: str,
                 digest: str) -> Path:
    path = digest_file(directory, target, registry, platform)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(digest + "\n")
    return path


def read_digests(directory: Path, target: Target, registry: Registry) -> dict[str, str]:
    """The per-platform digests that build jobs pushed, {platform: digest}."""
    found = {}
    for platform in target.platforms:
        path = digest_file(directory, target, registry, platform)
        if path.is_file():
            found[platform] = path.read_text().strip()
    return found


# ----------------------------------------------------------------------------- outcome

@dataclasses.dataclass
class Outcome:
    """One target in one registry."""

    target: Target
    registry: Registry
    status: str = "pending"     # published | up to date | would publish | pushed by digest | failed
    actions: list[TagAction] = dataclasses.field(default_factory=list)
    digest: str = ""
    reason: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def fail(self, reason: str) -> None:
        self.status, self.reason = "failed", registries.redact(" ".join(reason.split()))


def _clip(text: str, head: int = 70, tail: int = 110) -> str:
    """A long reason for a table cell: its start (what failed) and its end (the cause)."""
    return text if len(text) <= head + tail else f"{text[:head]} … {text[-tail:]}"


def report(outcomes: Sequence[Outcome]) -> None:
    rows = []
    for o in outcomes:
        changed = [a.tag for a in o.actions if a.changes and o.status in ("published", "would publish")]
        kept = [a.tag for a in o.actions if a.action == KEEP]
        tags = ", ".join(changed) or "-"
        if kept:
            tags += f" (kept: {', '.join(kept)})"
        rows.append([o.target.id, o.registry.name, o.status, tags, o.digest[:19] or "-",
                     f"{o.seconds:.0f}s", _clip(o.reason)])
    log.summary("publish summary", ["target", "registry", "status", "tags changed", "digest",
                                    "time", "reason"], rows)


def check(outcomes: Sequence[Outcome]) -> int:
    failed = [o for o in outcomes if not o.ok]
    if failed:
        raise PublishError(f"{len(failed)} of {len(outcomes)} target × registry publications failed: "
                           + ", ".join(f"{o.target.id} → {o.registry.name}" for o in failed))
    return 0


# ----------------------------------------------------------------------------- how images are made

@dataclasses.dataclass(kw_only=True)
class Builder:
    """How a target's image is made and tested. Tests swap the Dockerfiles (a tiny image
    built by the same code), the sources and the smoke test."""

    matrix: Matrix
    dockerfiles: Path = build.DOCKERFILES
    image_name: str = "asterisk-pipeline"
    cache: str = ""
    smoke: build.SmokeFn | None = None
    prepare: Callable[[Target], Path] | None = None     # the build's `sources` context
    checksum: Callable[[Release], str] = sources.release_sha256
    _checksums: dict = dataclasses.field(default_factory=dict)

    def inputs(self, target: Target) -> str:
        release = target.release
        if release.version not in self._checksums:
            self._checksums[release.version] = self.checksum(release)
        return build.inputs_digest(target, self.matrix.sources,
                                   self._checksums[release.version], self.dockerfiles)

    def context(self, target: Target) -> Path:
        if self.prepare:
            return self.prepare(target)
        return sources.prepare(target.release, self.matrix.sources,
                               build.OUT / "sources" / str(target.version))

    def local_image(self, target: Target) -> str:
        return build.local_image(self.image_name, target)

    def build_and_smoke(self, docker: DockerClient, target: Target, inputs: str,
                        platforms: Sequence[str]) -> str:
        """Build (all platforms into the local store) and smoke-test; the local image name."""
        if self.smoke is None:
            raise BuildError(f"{target.id}: no smoke test available (pipeline.smoke); "
                             "untested images are never pushed")
        image, logs = self.local_image(target), build.OUT / "logs" / target.id
        context = self.context(target)
        with log.step(f"build {image} ({', '.join(platforms)})"):
            build.build_image(docker, target, context, inputs=inputs, platforms=list(platforms),
                              tags=[image], load=True, cache=self.cache,
                              log_file=logs / "build.log", dockerfiles=self.dockerfiles)
        with log.step(f"smoke {image}"):
            self.smoke(docker, image, target, logs)
        return image


# ----------------------------------------------------------------------------- steps for both cases

def read_state(session: Session, target: Target) -> dict[str, Remote | None]:
    """What each of target's tags points at in session's registry."""
    return {tag: session.inspect(tag, f"{session.name}: {target.id}: read {session.ref(tag)}")
            for tag in target.tags}


def push_by_digest(docker: DockerClient, session: Session, target: Target, context: Path, *,
                   inputs: str, platforms: Sequence[str], dockerfiles: Path = build.DOCKERFILES,
                   cache: str = "") -> str:
    """Build (from cache) and push platforms by digest, with no tag; returns the digest.

    For CI build jobs on native runners: needs a builder that can push by digest (buildx's
    docker-container driver; the plain docker driver refuses, see docs/publish.md).
    """
    output = {"type": "image", "name": session.registry.image, "push-by-digest": "true",
              "name-canonical": "true", "push": "true"}
    what = f"{session.name}: {target.id}: push {','.join(platforms)} by digest"
    metadata = registries.retrying(what, lambda: build.build_image(
        docker, target, context, inputs=inputs, platforms=list(platforms), output=output,
        cache=cache, dockerfiles=dockerfiles,
        log_file=build.OUT / "logs" / target.id / f"push-{session.name}.log"))
    digest = metadata.get("containerimage.digest", "")
    if not digest:
        raise PublishError(f"{what}: buildx reported no digest")
    return digest


def tag(session: Session, target: Target, digests: Sequence[str], actions: Sequence[TagAction],
        state: Mapping[str, Remote | None]) -> str:
    """Point every tag that `actions` creates or moves at the image: the remote full tag's
    when that is up to date, else the one made of `digests` (one index, or one manifest per
    platform, all already pushed). Returns the digest the tags now point at."""
    changed = [a.tag for a in actions if a.changes]
    full = state.get(target.id)
    if not full_tag_changes(target, actions) and full is not None:
        digests = [full.digest]
    if changed:
        with log.step(f"tag {session.registry.image}: {', '.join(changed)}"):
            session.create_tags(changed, [session.at(d) for d in digests],
                                f"{session.name}: {target.id}: move tags {', '.join(changed)}")
    if len(digests) == 1:
        return digests[0]
    after = session.inspect(target.id, f"{session.name}: {target.id}: read back")
    return after.digest if after else ""


# ----------------------------------------------------------------------------- the three runs

class _Run:
    """One publishing run: the registries it reaches, and one target at a time."""

    def __init__(self, docker: DockerClient, sessions: Sequence[Session],
                 unreachable: Mapping[str, str], registries_: Sequence[Registry],
                 builder: Builder, dry_run: bool) -> None:
        self.docker, self.sessions, self.unreachable = docker, list(sessions), dict(unreachable)
        self.registries, self.builder, self.dry_run = list(registries_), builder, dry_run
        self.pool = concurrent.futures.ThreadPoolExecutor(INSPECT_WORKERS)

    def each_target(self, plan: Plan, handle) -> list[Outcome]:
        results: list[Outcome] = []
        try:
            for target in plan.targets:
                start = time.monotonic()
                outcomes = {r.name: Outcome(target, r) for r in self.registries}
                for name, why in self.unreachable.items():
                    outcomes[name].fail(why)
                with log.group(target.id):
                    self._handle(target, outcomes, handle)
                for outcome in outcomes.values():
                    outcome.seconds = time.monotonic() - start
                results += outcomes.values()
        finally:
            self.pool.shutdown()
        return results

    def _handle(self, target: Target, outcomes: dict[str, Outcome], handle) -> None:
        if not self.sessions:
            return      # every registry failed to connect: already recorded
        try:
            with log.step(f"inputs of {target.id}"):
                inputs = self.builder.inputs(target)
        except PipelineError as error:
            log.error(str(error))
            for outcome in outcomes.values():
                if outcome.ok:
                    outcome.fail(str(error))
            return
        states = self._states(target, inputs, outcomes)
        todo = [s for s in self.sessions if s.name in states
                and any(a.changes for a in outcomes[s.name].actions)]
        for session in self.sessions:
            if session.name in states and session not in todo:
                outcomes[session.name].status = CURRENT
                full = states[session.name].get(target.id)
                outcomes[session.name].digest = full.digest if full else ""
        if not todo:
            return
        if self.dry_run:
            for session in todo:
                self._print_would(session, outcomes[session.name], states[session.name])
            return
        handle(self, target, inputs, todo, states, outcomes)

    def _states(self, target, inputs, outcomes) -> dict[str, dict[str, Remote | None]]:
        """Every tag in every registry, read concurrently; then the decisions."""
        futures = {(s.name, tag): self.pool.submit(
                       s.inspect, tag, f"{s.name}: {target.id}: read {s.ref(tag)}")
                   for s in self.sessions for tag in target.tags}
        states: dict[str, dict[str, Remote | None]] = {}
        with log.step(f"read {len(target.tags)} tags in {len(self.sessions)} registries"):
            for session in self.sessions:
                try:
                    states[session.name] = {tag: futures[session.name, tag].result()
                                            for tag in target.tags}
                except PipelineError as error:
                    log.error(str(error))
                    outcomes[session.name].fail(str(error))
        for session in self.sessions:
            if session.name in states:
                actions = plan_tags(target, inputs, states[session.name])
                outcomes[session.name].actions = actions
                if all(a.action == CURRENT for a in actions):
                    log.info(f"  {session.name}: all {len(actions)} tags up to date")
                else:
                    log.info(f"  {session.name}: {describe(actions)}")
        return states

    def _print_would(self, session: Session, outcome: Outcome, state) -> None:
        outcome.status = "would publish"
        version = outcome.target.version
        for action in outcome.actions:
            if action.changes:
                current = state.get(action.tag)
                was = f"{current.version or current.digest[:19]} " if current else ""
                log.info(f"  would {action.action} {session.ref(action.tag)} ({was}→ {version})")

    def build_or_fail(self, target, inputs, platforms, needing: Sequence[Outcome]) -> str:
        """The tested local image, or "" after recording why on every outcome in needing."""
        try:
            return self.builder.build_and_smoke(self.docker, target, inputs, platforms)
        except (PipelineError, DockerException) as error:
            log.error(_why(error).splitlines()[0])
            for outcome in needing:
                outcome.fail(f"not pushed: {_why(error)}")
            return ""


def publish(docker: DockerClient, plan: Plan, sessions: Sequence[Session], builder: Builder, *,
            unreachable: Mapping[str, str] = {}, dry_run: bool = False) -> list[Outcome]:
    """One machine builds every platform of each target that needs it, smoke-tests it, pushes
    it (exactly the tested index, layers and all) and moves its tags."""
    run = _Run(docker, sessions, unreachable, _registries_of(plan, sessions, unreachable),
               builder, dry_run)
    return run.each_target(plan, _publish_target)


def _publish_target(run: _Run, target: Target, inputs: str, todo: list[Session],
                    states: Mapping[str, Mapping[str, Remote | None]],
                    outcomes: Mapping[str, Outcome]) -> None:
    need_image = [s for s in todo if full_tag_changes(target, outcomes[s.name].actions)]
    image = ""
    if need_image:
        image = run.build_or_fail(target, inputs, target.platforms,
                                  [outcomes[s.name] for s in need_image])
        if not image:
            todo = [s for s in todo if s not in need_image]
    for session in todo:
        outcome = outcomes[session.name]

        def push_and_tag() -> None:
            digests = [_push_tested(run.docker, session, target, image)] if session in need_image else []
            outcome.digest = tag(session, target, digests, outcome.actions, states[session.name])
            outcome.status = "published"

        _attempt(outcome, push_and_tag)


def _push_tested(docker: DockerClient, session: Session, target: Target, image: str) -> str:
    """Push the smoke-tested local image under the full tag; its digest, checked remotely."""
    local = docker.image.inspect(image).id
    with log.step(f"push {session.ref(target.id)}"):
        session.push_local(image, target.id, f"{session.name}: {target.id}: push")
    remote = session.inspect(target.id, f"{session.name}: {target.id}: read back")
    if remote is None or remote.digest != local:
        raise PublishError(f"{session.name}: {target.id}: the registry holds "
                           f"{remote.digest if remote else 'nothing'} after pushing {local}")
    missing = set(target.platforms) - set(remote.platforms)
    if missing:
        raise PublishError(f"{session.name}: {target.id}: pushed image lacks {', '.join(sorted(missing))}")
    return local


def by_digest(docker: DockerClient, plan: Plan, sessions: Sequence[Session], builder: Builder,
              platform: str, digests_dir: Path, *, unreachable: Mapping[str, str] = {},
              dry_run: bool = False) -> list[Outcome]:
    """CI build job: build and smoke one platform, push it by digest (no tag) to each registry
    whose full tag is not up to date, and write the digests for the merge job."""
    run = _Run(docker, sessions, unreachable, _registries_of(plan, sessions, unreachable),
               builder, dry_run)
    return run.each_target(plan, functools.partial(_push_platform, platform=platform,
                                                   digests_dir=digests_dir))


def _push_platform(run: _Run, target: Target, inputs: str, todo: list[Session], states,
                   outcomes: Mapping[str, Outcome], *, platform: str, digests_dir: Path) -> None:
    need_image = [s for s in todo if full_tag_changes(target, outcomes[s.name].actions)]
    for session in todo:
        if session not in need_image:
            outcomes[session.name].status = "tags only (merge)"
    if not need_image or not run.build_or_fail(target, inputs, [platform],
                                               [outcomes[s.name] for s in need_image]):
        return
    context = run.builder.context(target)
    for session in need_image:
        outcome = outcomes[session.name]

        def push() -> None:
            with log.step(f"push {platform} to {session.registry.image} by digest"):
                outcome.digest = push_by_digest(run.docker, session, target, context, inputs=inputs,
                                                platforms=[platform], cache=run.builder.cache,
                                                dockerfiles=run.builder.dockerfiles)
            write_digest(digests_dir, target, session.registry, platform, outcome.digest)
            outcome.status = "pushed by digest"

        _attempt(outcome, push)


def merge(docker: DockerClient, plan: Plan, sessions: Sequence[Session], builder: Builder,
          digests_dir: Path, *, unreachable: Mapping[str, str] = {},
          dry_run: bool = False) -> list[Outcome]:
    """CI merge job: once every platform is pushed (a digest file each), make the manifest
    list and move the tags. A target missing a platform is not tagged."""
    run = _Run(docker, sessions, unreachable, _registries_of(plan, sessions, unreachable),
               builder, dry_run)
    return run.each_target(plan, functools.partial(_merge_target, digests_dir=digests_dir))


def _merge_target(run: _Run, target: Target, inputs: str, todo: list[Session], states,
                  outcomes: Mapping[str, Outcome], *, digests_dir: Path) -> None:
    for session in todo:
        outcome = outcomes[session.name]

        def merge_and_tag() -> None:
            digests = read_digests(digests_dir, target, session.registry)
            missing = [p for p in target.platforms if p not in digests]
            if full_tag_changes(target, outcome.actions) and missing:
                raise PublishError(f"{session.name}: {target.id}: no digest for {', '.join(missing)} "
                                   f"in {digests_dir} (its build job failed or did not push); not tagged")
            outcome.digest = tag(session, target, [digests[p] for p in target.platforms if p in digests],
                                 outcome.actions, states[session.name])
            outcome.status = "published"

        _attempt(outcome, merge_and_tag)


def _attempt(outcome: Outcome, action: Callable[[], None]) -> None:
    """Run one registry's part of a target; a failure is recorded and the others go on."""
    try:
        action()
    except (PipelineError, DockerException) as error:
        log.error(_why(error))
        outcome.fail(_why(error))


def _why(error: Exception) -> str:
    """A failure in one line: a PipelineError's message, or what a Docker command said."""
    if isinstance(error, DockerException):
        output = f"{error.stderr or ''}\n{error.stdout or ''}"
        return f"docker: {registries.reason(output)}"
    return registries.redact(str(error))


def _registries_of(plan: Plan, sessions: Sequence[Session],
                   unreachable: Mapping[str, str]) -> list[Registry]:
    """The registries of this run, in the matrix's order (unreachable ones included)."""
    names = {s.name for s in sessions} | set(unreachable)
    return [r for r in plan.registries if r.name in names] or [s.registry for s in sessions]


# ----------------------------------------------------------------------------- connecting

@contextlib.contextmanager
def connected(docker: DockerClient, registries_: Sequence[Registry], *, base_dir: Path,
              environ: Mapping[str, str], dry_run: bool = False
              ) -> Iterator[tuple[DockerClient, list[Session], dict[str, str]]]:
    """Log in to every registry; yields (client, sessions, {unreachable name: why}).

    A dry run logs in with a throwaway copy of the Docker config, so that it changes
    nothing outside the run (no stored login, no certs.d file, no ECR repository).
    """
    scratch = Path(tempfile.mkdtemp(prefix="pipeline-publish-"))
    try:
        if dry_run:
            docker = _scratch_client(docker, scratch / "docker-config")
        sessions, unreachable = [], {}
        for registry in registries_:
            try:
                sessions.append(registries.connect(docker, registry, base_dir=base_dir,
                                                   scratch=scratch, environ=environ,
                                                   read_only=dry_run))
            except PipelineError as error:
                log.error(str(error))
                unreachable[registry.name] = str(error)
        yield docker, sessions, unreachable
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _scratch_client(docker: DockerClient, directory: Path) -> DockerClient:
    config = docker.client_config.config or os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker"
    directory.mkdir(parents=True)
    if (Path(config) / "config.json").is_file():
        shutil.copy(Path(config) / "config.json", directory / "config.json")
    return DockerClient(config=str(directory))


def select_registries(all_registries: Sequence[Registry], names: Sequence[str]) -> list[Registry]:
    known = {r.name: r for r in all_registries}
    for name in names:
        if name not in known:
            raise ConfigurationError(f"--registry {name!r} is not in the matrix; "
                                     f"known: {', '.join(known) or 'none'}")
    return [r for r in all_registries if not names or r.name in names]


# ----------------------------------------------------------------------------- CLI

def run(matrix: Matrix, plan: Plan, args, environ: Mapping[str, str] | None = None) -> int:
    """`pipeline publish` (and `pipeline build --push`)."""
    environ = os.environ if environ is None else environ
    merge_dir, digest_dir = getattr(args, "merge", None), getattr(args, "by_digest", None)
    build_platform = getattr(args, "build_platform", None)
    if digest_dir and not build_platform:
        raise ConfigurationError("--by-digest needs --build-platform OS/ARCH (the platform this job builds)")
    chosen = select_registries(plan.registries, getattr(args, "registry", []))
    if not chosen:
        raise ConfigurationError(f"{matrix.path}: no registries to publish to; add a 'registries:' list")
    builder = Builder(matrix=matrix, image_name=args.image, cache=args.cache,
                      smoke=smoke.check_image)
    with connected(build.client(), chosen, base_dir=matrix.path.parent, environ=environ,
                   dry_run=args.dry_run) as (docker, sessions, unreachable):
        options = dict(unreachable=unreachable, dry_run=args.dry_run)
        if merge_dir:
            outcomes = merge(docker, plan, sessions, builder, Path(merge_dir), **options)
        elif digest_dir:
            outcomes = by_digest(docker, plan, sessions, builder, build_platform, Path(digest_dir),
                                 **options)
        else:
            outcomes = publish(docker, plan, sessions, builder, **options)
    report(outcomes)
    return check(outcomes)
