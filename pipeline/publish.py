"""Publishing: each smoke-tested target's image, under every tag of the plan, to every
registry of the matrix. Idempotent, never backwards, and safe when things fail.

A run connects to the registries it publishes to (connect.py), then, target by target,
decides what each registry needs (decide.py): nothing to change anywhere, and nothing is
built; else a dry run says what it would do, and a real run hands the target to its mode
(modes.py: `publish` on one machine, or CI's `by-digest` build jobs and `merge` job). The
modes that tag then make the supported-tags page each Docker Hub repository's description
(hub.py).

The CI jobs share the plan's time (`--created`): every platform's image is stamped with it,
and ages (max_age) are judged at that instant, so the jobs of one target agree.

A failure in one target or registry is recorded and the others go on; the summary shows
every target × registry (outcomes.py), and the run fails when any did.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from . import hub, log, modes
from .build import Maker
from .connect import connected, select
from .core import Target
from .decide import Decider, Decision
from .errors import ConfigurationError, CredentialsError, PipelineError
from .matrix import Signing
from .outcomes import Outcome, check, summary
from .plan import Plan
from .redaction import redact
from .registries import ManifestCache, Session
from .registry_types import Registry
from .signing import Signer
from .tags import CURRENT

UNSIGNED = Signing()


@dataclasses.dataclass(frozen=True, kw_only=True)
class Options:
    """`pipeline publish` (and `build --push`) as the command line asked for it."""

    registries: tuple[str, ...] = ()       # names from the matrix; () = all
    mode: str = "publish"                   # one of modes.NAMES: publish | by-digest | merge
    digests: Path | None = None             # by-digest: where to write; merge: where to read
    build_platform: str = ""                # by-digest: the one platform this job builds
    created: datetime.datetime | None = None   # by-digest, merge: the plan's time (else now)
    manifest_cache: Path | None = None
    dry_run: bool = False


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
    chosen = select(plan.registries, options.registries)
    if not chosen:
        raise ConfigurationError(f"{base_dir / 'matrix.yaml'}: no registries to publish to; "
                                 "add a 'registries:' list")
    signer = Signer(signing, base_dir=base_dir, environ=environ,
                    matrix_file=str(base_dir / "matrix.yaml"))
    tagging = options.mode in ("publish", "merge")
    if tagging and not options.dry_run:
        if signing.enabled:
            signer.check()
        else:
            log.warning(f"{base_dir / 'matrix.yaml'}: no signing: section; the images are "
                        "published unsigned (docs/publish.md)")
    if options.created:     # the plan's time, for every image this run makes
        maker = dataclasses.replace(maker, provenance=dataclasses.replace(
            maker.provenance, created=options.created))
    directory = options.digests or Path("digests")
    mode = modes.mode(options.mode, platform=options.build_platform, directory=directory)
    with connected(chosen, base_dir=base_dir, environ=environ, cache=ManifestCache(options.manifest_cache),
                   dry_run=options.dry_run) as (sessions, unreachable):
        decider = Decider(sessions=sessions, inputs=maker.inputs, dry_run=options.dry_run, now=options.created,
                          built_by=modes.built_by_jobs(directory, chosen) if options.mode == "merge"
                          else lambda target: None)
        publisher = Publisher(decider, mode, modes.Tools(docker, maker, signer), registries=chosen,
                              unreachable=unreachable, dry_run=options.dry_run)
        outcomes = [outcome for target in plan.targets for outcome in publisher.publish(target)]
        if description and tagging:
            hub.describe([s.registry for s in sessions], description, environ=environ,
                         dry_run=options.dry_run)
        return outcomes


class Publisher:
    """One publishing run, one target at a time: decide, then say what would be done (a dry
    run) or hand the target to the run's mode."""

    def __init__(self, decider: Decider, mode: modes.Mode, tools: modes.Tools, *,
                 registries: Sequence[Registry], unreachable: Mapping[str, PipelineError],
                 dry_run: bool = False) -> None:
        self.decider, self.mode, self.tools = decider, mode, tools
        self.sessions = list(decider.sessions)
        self.registries, self.unreachable = list(registries), dict(unreachable)
        self.dry_run = dry_run

    def publish(self, target: Target) -> list[Outcome]:
        """Its outcome in each registry of the run."""
        start = time.monotonic()
        outcomes = {r.name: Outcome(target, r) for r in self.registries}
        for name, error in self.unreachable.items():
            if self.dry_run and isinstance(error, CredentialsError):   # shown, not failed
                outcomes[name].status, outcomes[name].reason = "not checked", str(error)
            else:
                outcomes[name].fail(str(error))
        with log.group(target.id):
            decision = self.decider.decide(target, outcomes)
            todo = [s for s in self.sessions if decision and self._todo(decision, s, outcomes)]
            if decision and todo:
                if self.dry_run:
                    self._would(decision, todo, outcomes)
                else:
                    self._handle(decision, todo, outcomes)
        for outcome in outcomes.values():
            outcome.seconds = time.monotonic() - start
        return list(outcomes.values())

    def _handle(self, decision: Decision, todo: list[Session],
                outcomes: dict[str, Outcome]) -> None:
        """The mode's work for one target. What escapes it (a `docker save` or `inspect` that
        failed, a registry error outside a registry's own step) fails this target in every
        registry it had not finished; the run goes on with the next target."""
        try:
            self.mode(self.tools, decision, todo, outcomes)
        except (PipelineError, DockerException) as error:
            why = f"{decision.target.id}: {modes.reason_of(error)}"
            log.error(redact(why))
            for session in todo:
                if outcomes[session.name].status == "pending":
                    outcomes[session.name].fail(why)

    def _todo(self, decision: Decision, session: Session, outcomes: dict[str, Outcome]) -> bool:
        """Whether session's registry needs anything of this target (else it is up to date)."""
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
        """A dry run: what the mode would push, sign and tag."""
        for session in todo:
            outcomes[session.name].status = "would publish"
            if self.tools.signer and self.tools.signer.enabled and decision.needs_image(session):
                log.info(f"  would sign the new image in {session.registry.image} and attach its "
                         f"SBOMs, with {self.tools.signer.describe()}")
            for action in decision.actions[session.name]:
                if action.changes:
                    current = decision.states[session.name].get(action.tag)
                    was = f"{current.version or current.digest[:19]} " if current else ""
                    log.info(f"  would {action.action} {session.ref(action.tag)} "
                             f"({was}→ {decision.target.version})")
