"""Deciding, before anything is built, what publishing does to a target in each registry:

1. its inputs digest and base image (inputs.Inputs), or, in the CI merge job, what its
   build jobs built (the labels of what they pushed: modes.built_by_jobs);
2. what each of its tags points at in each registry (registries.Session.current: HEAD
   requests, and the labels of digests not seen before), the registries side by side;
3. per tag: create, move, keep or up to date (tags.plan_tags).

A whole target is refused, before anything of it is pushed anywhere, when one of its tags
would lose a platform (exit 2), or would have to move in a repository whose tags are
immutable (an ECR repository's IMMUTABLE setting, learnt at login: registry_types.py).
`pipeline publish` (publish.py) and `pipeline plan --outdated` (outdated.py) decide alike.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime
from collections.abc import Callable, Mapping, Sequence

from . import log
from .core import Target
from .distribution import AuthError
from .errors import ConfigurationError, PipelineError
from .inputs import Inputs
from .labels import BASE_LABEL, CREATED_LABEL, INPUTS_LABEL
from .outcomes import Outcome
from .registries import Session
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

BuiltBy = Callable[[Target], Mapping[str, str] | None]
"""What this run's build jobs built of a target (the labels of what they pushed), or None."""


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

    def current_digest(self, session: Session) -> str:
        """The digest the full tag points at in session's registry (it exists: the full tag
        is up to date there)."""
        full = self.states[session.name][self.target.id]
        assert full is not None
        return full.digest


@dataclasses.dataclass(kw_only=True)
class Decider:
    """Decides each target against the registries of one run.

    dry_run: a registry that cannot be read without credentials is shown as a first publish;
    now: the instant ages (max_age) are judged at (default: the moment of deciding)."""

    sessions: Sequence[Session]
    inputs: Inputs
    dry_run: bool = False
    now: datetime.datetime | None = None
    built_by: BuiltBy = lambda target: None

    def decide(self, target: Target, outcomes: dict[str, Outcome]) -> Decision | None:
        """Read every tag in every registry (concurrently), then decide per tag."""
        if not self.sessions:
            return None
        try:
            with log.step(f"inputs of {target.id}"):
                known = self.built_by(target)
                inputs = known[INPUTS_LABEL] if known else self.inputs.digest(target)
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
        base = known.get(BASE_LABEL, "") if known else self.inputs.base(target)
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
