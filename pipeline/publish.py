"""Publishing: each smoke-tested target's image, under every tag of the plan, to every
registry of the matrix. Idempotent, never backwards, and safe when things fail.

Per target, before anything is built (`Publisher.decide`):

1. its inputs digest (inputs.py), also stored in the image as a label;
2. what each of its tags points at in each registry (registries.Session.current: HEAD
   requests, and the labels of digests not seen before);
3. per tag: create, move, keep or up to date (tags.plan_tags).

Nothing to change anywhere: done, nothing is built. Otherwise one of three run modes:

* `publish` (one machine builds every platform): build and smoke-test (build.Maker.make),
  push the tested image itself by digest (the bytes `docker save` gives: the registry's
  digest is the local image's), sign it and attach its SBOMs (signing.py), then point the
  full tag and the other tags at it;
* `by_digest` (CI build job, one platform per job): build and smoke-test that platform,
  push its manifest and provenance by digest (no tag), and write their descriptors (with
  the labels the registry holds for it) for the merge job;
* `merge` (CI merge job): make the multi-platform index from the descriptors, push it by
  digest, sign it and attach its SBOMs, then point the full tag and the other tags at it.
  A target its build jobs pushed is decided from what they built (the descriptors'
  labels), not from its inputs as they would be now: a base image pushed meanwhile is the
  next run's rebuild.

The CI jobs share the plan's time (`--created`): every platform's image is stamped with it,
and ages (max_age) are judged at that instant, so the jobs of one target agree.
What is pushed is read back into the manifest cache (Session.read_back).

No tag is created or moved before the image it points at is complete and signed.

A failure in one target or registry is recorded and the others go on; the summary shows
every target × registry, and the run fails when any did.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import datetime
import functools
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from . import digests, hub, log, registries
from .build import Built, Maker
from .core import Target
from .distribution import AuthError
from .errors import ConfigurationError, CredentialsError, PipelineError, PublishError
from .labels import BASE_LABEL, CREATED_LABEL, INPUTS_LABEL
from .matrix import Signing
from .outcomes import Outcome, check, failure, summary
from .plan import Plan
from .redaction import redact
from .registries import ManifestCache, Session
from .registry_types import Registry
from .signing import Signer
from .tags import (
    CURRENT,
    MOVE,
    REFUSE,
    Current,
    TagAction,
    describe,
    dropped_platforms,
    full_tag_changes,
    plan_tags,
)

MODES = ("publish", "by-digest", "merge")
UNSIGNED = Signing()


@dataclasses.dataclass(frozen=True, kw_only=True)
class Options:
    """`pipeline publish` (and `build --push`) as the command line asked for it."""

    registries: tuple[str, ...] = ()       # names from the matrix; () = all
    mode: str = "publish"                   # publish | by-digest | merge
    digests: Path | None = None             # by-digest: where to write; merge: where to read
    build_platform: str = ""                # by-digest: the one platform this job builds
    created: datetime.datetime | None = None   # by-digest, merge: the plan's time (else now)
    manifest_cache: Path | None = None
    dry_run: bool = False


@dataclasses.dataclass
class Decision:
    """What one target needs in each registry that could be read."""

    target: Target
    inputs: str
    states: dict[str, dict[str, Current | None]]
    actions: dict[str, list[TagAction]]

    def needs_image(self, session: Session) -> bool:
        return full_tag_changes(self.target, self.actions.get(session.name, []))

    def changes(self, session: Session) -> list[str]:
        return [a.tag for a in self.actions.get(session.name, []) if a.changes]


Handler = Callable[["Publisher", Decision, list[Session], dict[str, Outcome]], None]
BuiltBy = Callable[[Target], Mapping[str, str] | None]
"""What this run's build jobs built of a target (their descriptors' common labels), or None."""


class Publisher:
    """One publishing run: the registries it reaches, and one target at a time."""

    def __init__(self, docker: DockerClient, sessions: Sequence[Session], maker: Maker, *,
                 unreachable: Mapping[str, PipelineError] | None = None,
                 registries_: Sequence[Registry] = (), dry_run: bool = False,
                 signer: Signer | None = None, now: datetime.datetime | None = None,
                 built_by: BuiltBy = lambda target: None) -> None:
        self.docker, self.sessions, self.maker = docker, list(sessions), maker
        self.now, self.built_by = now, built_by    # the instant ages are judged at; see BuiltBy
        self.unreachable = dict(unreachable or {})
        names = {s.name for s in self.sessions} | set(self.unreachable)
        self.registries = [r for r in registries_ if r.name in names] or [s.registry for s in self.sessions]
        self.dry_run = dry_run
        self.signer = signer

    def run(self, plan: Plan, handle: Handler) -> list[Outcome]:
        results: list[Outcome] = []
        for target in plan.targets:
            start = time.monotonic()
            outcomes = {r.name: Outcome(target, r) for r in self.registries}
            for name, error in self.unreachable.items():
                if self.dry_run and isinstance(error, CredentialsError):   # shown, not failed
                    outcomes[name].status, outcomes[name].reason = "not checked", str(error)
                else:
                    outcomes[name].fail(str(error))
            with log.group(target.id):
                decision = self.decide(target, outcomes)
                todo = [s for s in self.sessions if decision and self._todo(decision, s, outcomes)]
                if decision and todo:
                    if self.dry_run:
                        self._would(decision, todo, outcomes)
                    else:
                        self._handle(handle, decision, todo, outcomes)
            for outcome in outcomes.values():
                outcome.seconds = time.monotonic() - start
            results += outcomes.values()
        return results

    def _handle(self, handle: Handler, decision: Decision, todo: list[Session],
                outcomes: dict[str, Outcome]) -> None:
        """The mode's work for one target. What escapes it (a `docker save` or `inspect` that
        failed, a registry error outside a registry's own step) fails this target in every
        registry it had not finished; the run goes on with the next target."""
        try:
            handle(self, decision, todo, outcomes)
        except (PipelineError, DockerException) as error:
            why = f"{decision.target.id}: {reason_of(error)}"
            log.error(redact(why))
            for session in todo:
                if outcomes[session.name].status == "pending":
                    outcomes[session.name].fail(why)

    def decide(self, target: Target, outcomes: dict[str, Outcome]) -> Decision | None:
        """Read every tag in every registry (concurrently), then decide per tag."""
        if not self.sessions:
            return None
        try:
            with log.step(f"inputs of {target.id}"):
                known = self.built_by(target)
                inputs = known[INPUTS_LABEL] if known else self.maker.inputs.digest(target)
        except PipelineError as error:
            log.error(str(error))
            for outcome in outcomes.values():
                if outcome.ok:
                    outcome.fail(str(error))
            return None
        if known:
            log.info(f"  as its build jobs built it: inputs {inputs[:12]}, base "
                     f"{known.get(BASE_LABEL) or '-'}, created {known.get(CREATED_LABEL)}")
        decision = Decision(target, inputs, {}, {})
        base = known.get(BASE_LABEL, "") if known else self.maker.inputs.base(target)
        now = self.now or datetime.datetime.now(datetime.UTC)

        def read(session: Session) -> dict[str, Current | None]:
            return {tag: session.current(tag) for tag in target.tags}

        # the registries side by side; one registry's requests one after the other
        with log.step(f"read {len(target.tags)} tags in {len(self.sessions)} registries"), \
                concurrent.futures.ThreadPoolExecutor(max(1, len(self.sessions))) as pool:
            futures = {s.name: pool.submit(read, s) for s in self.sessions}
            for session in self.sessions:
                try:
                    decision.states[session.name] = futures[session.name].result()
                except AuthError as error:
                    if not (self.dry_run and not session.api.username):
                        log.error(str(error))
                        outcomes[session.name].fail(f"{session.name}: {target.id}: {error}")
                        continue
                    log.warning(f"{session.name}: cannot read {session.registry.image} without "
                                "credentials; showing what a first publish would do")
                    decision.states[session.name] = dict.fromkeys(target.tags)
                except PipelineError as error:
                    log.error(str(error))
                    outcomes[session.name].fail(f"{session.name}: {target.id}: {error}")
        for session in self.sessions:
            if session.name not in decision.states:
                continue
            actions = plan_tags(target, inputs, decision.states[session.name], base=base, now=now)
            decision.actions[session.name] = outcomes[session.name].actions = actions
            log.info(f"  {session.name}: " + (f"all {len(actions)} tags up to date"
                                              if all(a.action == CURRENT for a in actions)
                                              else describe(actions)))
        self._refuse_dropping_platforms(decision, outcomes)
        self._refuse_immutable(decision, outcomes)
        return decision

    def _refuse_dropping_platforms(self, decision: Decision, outcomes: dict[str, Outcome]) -> None:
        """A tag never loses a platform (tags.plan_tags refuses such a move): the whole target
        is refused before anything of it is pushed anywhere, and the run exits 2."""
        target = decision.target
        refused = {(name, a.tag) for name, actions in decision.actions.items()
                   for a in actions if a.action == REFUSE}
        if not refused:
            return
        dropped = sorted({p for name, tag in refused if (current := decision.states[name][tag])
                          for p in dropped_platforms(target, current)})
        tags = [t for t in target.tags if any(tag == t for _, tag in refused)]
        names = [s.name for s in self.sessions if any(name == s.name for name, _ in refused)]
        why = (f"{target.id}: refused: publishing it for {', '.join(target.platforms)} only would "
               f"take {', '.join(dropped)} away from {', '.join(tags)} (in {', '.join(names)}); "
               f"nothing of {target.id} was pushed. Publish it for every platform its tags have: "
               f"leave out --platform, or put {', '.join(dropped)} back in matrix.yaml's platforms")
        log.error(why)
        for outcome in outcomes.values():
            if outcome.ok:
                outcome.fail(why, ConfigurationError)

    def _refuse_immutable(self, decision: Decision, outcomes: dict[str, Outcome]) -> None:
        """An ECR repository with immutable tags cannot move one: refuse the whole target
        before anything of it is pushed anywhere (no half-published target)."""
        for session in self.sessions:
            stuck = [a.tag for a in decision.actions.get(session.name, [])
                     if session.immutable and a.action == MOVE]
            if stuck:
                why = (f"{session.name}: the repository's tags are IMMUTABLE, so "
                       f"{', '.join(stuck)} cannot move to {decision.target.id}; nothing of "
                       f"{decision.target.id} was pushed (make the repository's tags MUTABLE, or "
                       "drop this registry)")
                log.error(why)
                for outcome in outcomes.values():
                    if outcome.ok:
                        outcome.fail(why)
                return

    def _todo(self, decision: Decision, session: Session, outcomes: dict[str, Outcome]) -> bool:
        outcome = outcomes[session.name]
        if not outcome.ok or session.name not in decision.actions:
            return False
        if not decision.changes(session):
            outcome.status = CURRENT
            full = decision.states[session.name].get(decision.target.id)
            outcome.digest = full.digest if full else ""
            return False
        return True

    def _would(self, decision: Decision, todo: list[Session], outcomes: dict[str, Outcome]) -> None:
        for session in todo:
            outcomes[session.name].status = "would publish"
            if self.signer and self.signer.enabled and decision.needs_image(session):
                log.info(f"  would sign the new image in {session.registry.image} and attach its "
                         f"SBOMs, with {self.signer.describe()}")
            for action in decision.actions[session.name]:
                if action.changes:
                    current = decision.states[session.name].get(action.tag)
                    was = f"{current.version or current.digest[:19]} " if current else ""
                    log.info(f"  would {action.action} {session.ref(action.tag)} "
                             f"({was}→ {decision.target.version})")

    def attach(self, session: Session, digest: str) -> None:
        """Sign the image digest, then attest each platform's SBOM on it (read back from
        the pushed image). Done before any tag points at it: a failure leaves no tag."""
        if not (self.signer and self.signer.enabled):
            return
        with log.step(f"sign {session.registry.image}@{digest}"):
            self.signer.sign(session, digest)
        documents = session.sboms(digest)
        with log.step(f"attest the SBOM of {', '.join(p or 'its platform' for p, _ in documents)}"):
            for _, document in documents:
                self.signer.attest_sbom(session, digest, document)

    def make(self, decision: Decision, platforms: Sequence[str], needing: Sequence[Outcome]) -> Built | None:
        """The tested local image, or None after recording why on every outcome in needing."""
        built = self.maker.make(self.docker, decision.target, platforms)
        if not built.ok:
            for outcome in needing:
                outcome.fail(f"not pushed: {built.reason}")
            return None
        return built


def attempt(outcome: Outcome, action: Callable[[], None]) -> None:
    """Run one registry's part of a target; a failure is recorded and the others go on."""
    try:
        action()
    except (PipelineError, DockerException) as error:
        reason = reason_of(error)
        log.error(redact(reason))
        outcome.fail(reason)


def reason_of(error: PipelineError | DockerException) -> str:
    """An error's message; a docker command's error output, else the command and its exit code."""
    if isinstance(error, DockerException):
        return error.stderr or str(error)
    return str(error)


@contextlib.contextmanager
def saved(docker: DockerClient, built: Built) -> Iterator[Path]:
    """The tested image as `docker save` writes it (an OCI image layout), by its id: what is
    pushed is exactly what was smoke-tested."""
    scratch = Path(tempfile.mkdtemp(prefix="pipeline-save-"))
    try:
        archive = scratch / "image.tar"
        with log.step(f"save {built.image}"):
            docker.image.save(docker.image.inspect(built.image).id, output=archive)
        yield archive
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# ----------------------------------------------------------------------------- the three modes

def publish_target(run: Publisher, decision: Decision, todo: list[Session],
                   outcomes: dict[str, Outcome]) -> None:
    """One machine: build every platform, smoke-test, push the tested image, move the tags."""
    target = decision.target
    need_image = [s for s in todo if decision.needs_image(s)]
    built = run.make(decision, target.platforms, [outcomes[s.name] for s in need_image]) \
        if need_image else None
    if need_image and built is None:
        todo = [s for s in todo if s not in need_image]
    with contextlib.ExitStack() as stack:
        archive = stack.enter_context(saved(run.docker, built)) if built else None
        local_id = run.docker.image.inspect(built.image).id if built else ""
        for session in todo:
            outcome = outcomes[session.name]

            def push_and_tag(session: Session = session, outcome: Outcome = outcome) -> None:
                changed = decision.changes(session)
                if archive is not None and session in need_image:
                    with log.step(f"push {session.registry.image} (by digest)"):
                        pushed = session.push_image(archive)
                    if pushed.digest != local_id:
                        raise PublishError(f"{session.name}: {target.id}: the registry holds "
                                           f"{pushed.digest} after pushing the tested {local_id}")
                    digest = pushed.digest
                    run.attach(session, digest)
                else:
                    full = decision.states[session.name][target.id]
                    assert full is not None   # the full tag is up to date, so it exists
                    digest = full.digest
                if changed:
                    with log.step(f"tag {session.registry.image}: {', '.join(changed)}"):
                        session.point(changed, digest)
                outcome.digest, outcome.status = digest, "published"

            attempt(outcome, push_and_tag)


def by_digest_target(run: Publisher, decision: Decision, todo: list[Session],
                     outcomes: dict[str, Outcome], *, platform: str, directory: Path) -> None:
    """CI build job: build and smoke one platform, push it by digest (no tag) to each registry
    whose full tag needs it, and write its descriptor for the merge job."""
    target = decision.target
    need_image = [s for s in todo if decision.needs_image(s)]
    for session in todo:
        if session not in need_image:
            outcomes[session.name].status = "tags only"
    if not need_image:
        return
    built = run.make(decision, [platform], [outcomes[s.name] for s in need_image])
    if built is None:
        return
    with saved(run.docker, built) as archive:
        for session in need_image:
            outcome = outcomes[session.name]

            def push(session: Session = session, outcome: Outcome = outcome) -> None:
                with log.step(f"push {platform} to {session.registry.image} by digest"):
                    pushed, held = session.push_platform(archive, platform)
                [labels] = held.labels.values()
                digests.write(directory, target, session.registry, digests.Pushed(pushed, labels))
                outcome.digest, outcome.status = pushed.manifest.digest, "pushed by digest"

            attempt(outcome, push)


def merge_target(run: Publisher, decision: Decision, todo: list[Session],
                 outcomes: dict[str, Outcome], *, directory: Path) -> None:
    """CI merge job: once every platform is pushed (a descriptor file each), make the index
    under the full tag and move the other tags. A target missing a platform is not tagged."""
    target = decision.target
    for session in todo:
        outcome = outcomes[session.name]

        def merge(session: Session = session, outcome: Outcome = outcome) -> None:
            changed = decision.changes(session)
            if decision.needs_image(session):
                found = digests.read(directory, target, session.registry)
                missing = [p for p in target.platforms if p not in found]
                if missing:
                    raise PublishError(f"{session.name}: {target.id}: no digest for {', '.join(missing)} "
                                       f"in {directory} (its build job failed or did not push); not tagged")
                with log.step(f"index {session.registry.image} (by digest)"):
                    children = [child for p in target.platforms for child in found[p].push.children]
                    digest = session.put_index(children)
                run.attach(session, digest)
            else:
                full = decision.states[session.name][target.id]
                assert full is not None
                digest = full.digest
            if changed:
                with log.step(f"tag {session.registry.image}: {', '.join(changed)}"):
                    session.point(changed, digest)
            outcome.digest, outcome.status = digest, "published"

        attempt(outcome, merge)


def built_by_jobs(directory: Path, registries_: Sequence[Registry]) -> BuiltBy:
    """The merge job's view of a target: the labels of what its build jobs pushed (every
    descriptor in directory, in every registry), None when they pushed nothing. The platforms
    of one target must agree on the labels the decisions read (inputs, created): jobs
    that resolved different base images, or were given different times, made different
    images, and none of them is tagged (the next run rebuilds the target)."""
    def built(target: Target) -> Mapping[str, str] | None:
        found = {(registry.name, platform): pushed.labels for registry in registries_
                 for platform, pushed in digests.read(directory, target, registry).items()}
        if not found:
            return None

        def one(key: str) -> bool:
            values = {labels.get(key, "") for labels in found.values()}
            return len(values) == 1 and "" not in values

        if not (one(INPUTS_LABEL) and one(CREATED_LABEL)):
            made = "; ".join(f"{platform} in {name}: inputs {labels.get(INPUTS_LABEL, 'none')[:12]}, "
                             f"base {labels.get(BASE_LABEL) or 'none'}, "
                             f"created {labels.get(CREATED_LABEL) or 'none'}"
                             for (name, platform), labels in sorted(found.items()))
            raise PublishError(f"{target.id}: its build jobs made different images ({made}): the "
                               "base image changed between the jobs, or they were given different "
                               "--created; not tagged (the next run rebuilds it)")
        return next(iter(found.values()))
    return built


# ----------------------------------------------------------------------------- connecting

@contextlib.contextmanager
def connected(registries_: Sequence[Registry], *, base_dir: Path, environ: Mapping[str, str],
              cache: ManifestCache, dry_run: bool = False
              ) -> Iterator[tuple[list[Session], dict[str, PipelineError]]]:
    """A session per registry that could be reached; yields (sessions, {unreachable: error}).
    A dry run goes on without a registry it has no credentials for (a warning, and that
    registry's outcome says so), so that it shows everything else and what is missing.
    The manifest cache is saved when the run ends, whatever happened."""
    sessions: list[Session] = []
    unreachable: dict[str, PipelineError] = {}
    for registry in registries_:
        try:
            sessions.append(registries.connect(registry, base_dir=base_dir, environ=environ,
                                               cache=cache, read_only=dry_run))
        except PipelineError as error:
            if dry_run and isinstance(error, CredentialsError):
                log.warning(f"{error} (this dry run cannot read {registry.image}; a real run would fail)")
            else:
                log.error(str(error))
            unreachable[registry.name] = error
    try:
        yield sessions, unreachable
    finally:
        cache.save()


def select_registries(all_registries: Sequence[Registry], names: Sequence[str]) -> list[Registry]:
    known = {r.name: r for r in all_registries}
    for name in names:
        if name not in known:
            raise ConfigurationError(f"--registry {name!r} is not in the matrix; "
                                     f"known: {', '.join(known) or 'none'}")
    return [r for r in all_registries if not names or r.name in names]


def run(plan: Plan, maker: Maker, options: Options, *, base_dir: Path,
        environ: Mapping[str, str], docker: DockerClient, signing: Signing = UNSIGNED,
        description: str = "") -> int:
    """`pipeline publish` (and `pipeline build --push`): the run, its summary, its verdict."""
    outcomes = execute(plan, maker, options, base_dir=base_dir, environ=environ, docker=docker,
                       signing=signing, description=description)
    summary(outcomes)
    return check(outcomes)


def execute(plan: Plan, maker: Maker, options: Options, *, base_dir: Path,
            environ: Mapping[str, str], docker: DockerClient,
            signing: Signing = UNSIGNED, description: str = "") -> list[Outcome]:
    """Connect, then publish every target in the chosen mode; the outcomes. Signing is
    checked first (the key and its password, or the OIDC token) by the modes that sign.
    description (the supported-tags page): then put into each Docker Hub repository
    reached, by the modes that tag (hub.py; a failure there is only a warning)."""
    chosen = select_registries(plan.registries, options.registries)
    if not chosen:
        raise ConfigurationError(f"{base_dir / 'matrix.yaml'}: no registries to publish to; "
                                 "add a 'registries:' list")
    signer = Signer(signing, base_dir=base_dir, environ=environ,
                    matrix_file=str(base_dir / "matrix.yaml"))
    if options.mode in ("publish", "merge") and not options.dry_run:
        if signing.enabled:
            signer.check()
        else:
            log.warning(f"{base_dir / 'matrix.yaml'}: no signing: section; the images are "
                        "published unsigned (docs/publish.md)")
    if options.created:     # the plan's time, for every image this run makes
        maker = dataclasses.replace(maker, provenance=dataclasses.replace(
            maker.provenance, created=options.created))
    directory = options.digests or Path("digests")
    cache = ManifestCache(options.manifest_cache)
    with connected(chosen, base_dir=base_dir, environ=environ, cache=cache,
                   dry_run=options.dry_run) as (sessions, unreachable):
        publisher = Publisher(docker, sessions, maker, unreachable=unreachable, registries_=chosen,
                              dry_run=options.dry_run, signer=signer, now=options.created,
                              built_by=built_by_jobs(directory, chosen)
                              if options.mode == "merge" else lambda target: None)
        handlers: dict[str, Handler] = {
            "publish": publish_target,
            "by-digest": functools.partial(by_digest_target, platform=options.build_platform,
                                           directory=directory),
            "merge": functools.partial(merge_target, directory=directory),
        }
        handle = handlers[options.mode]
        outcomes = publisher.run(plan, handle)
        if description and options.mode in ("publish", "merge"):
            describe_repositories(sessions, description, environ=environ, dry_run=options.dry_run)
        return outcomes


def describe_repositories(sessions: Sequence[Session], description: str, *,
                          environ: Mapping[str, str], dry_run: bool) -> None:
    """The supported-tags page as the description of each Docker Hub repository reached."""
    hubs = [s.registry for s in sessions if s.registry.kind.hub_api]
    if hubs:
        with log.group("Docker Hub description"):
            for registry in hubs:
                hub.update_description(registry, description, environ=environ, dry_run=dry_run)


def outdated(plan: Plan, maker: Maker, options: Options, *, base_dir: Path,
             environ: Mapping[str, str], docker: DockerClient) -> dict[str, tuple[bool, str]]:
    """The targets that need work, read-only: {target id: (needs a build, why)}. An
    up-to-date target is left out. For `pipeline plan --outdated` (the CI plan job)."""
    chosen = select_registries(plan.registries, options.registries)
    cache = ManifestCache(options.manifest_cache)
    needs: dict[str, tuple[bool, str]] = {}
    with connected(chosen, base_dir=base_dir, environ=environ, cache=cache,
                   dry_run=True) as (sessions, unreachable):
        publisher = Publisher(docker, sessions, maker, unreachable=unreachable, registries_=chosen,
                              now=plan.created)
        for target in plan.targets:
            outcomes = {r.name: Outcome(target, r) for r in publisher.registries}
            decision = publisher.decide(target, outcomes)
            failed = [f"{o.registry.name}: {o.reason}" for o in outcomes.values() if not o.ok]
            if failed or decision is None:
                error = failure([o for o in outcomes.values() if not o.ok])
                raise error(f"{target.id}: cannot tell whether it is up to date: "
                            + "; ".join(failed or ["no registry could be read"]))
            build = [s.name for s in sessions if decision.needs_image(s)]
            if build:
                full = next(a for s in sessions for a in decision.actions[s.name]
                            if s.name in build and a.tag == target.id)
                new = "new snapshot" if target.snapshot else "new release"
                why = new if full.action == "create" else full.reason
                needs[target.id] = (True, f"{why} ({', '.join(build)})")
            elif any(decision.changes(s) for s in sessions):
                needs[target.id] = (False, "; ".join(f"{s.name}: {describe([a for a in decision.actions[s.name] if a.changes])}"
                                                     for s in sessions if decision.changes(s)))
    return needs
