"""`pipeline plan --outdated` (CI's plan job): which targets need work, read from the
registries without changing anything. The decisions are publishing's own (decide.py), made
from the inputs the plan's targets would have (inputs.py): nothing is built, so neither the
build nor the publishing modes take part.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

from .connect import connected, select
from .decide import Decider
from .inputs import Inputs
from .outcomes import Outcome, failure
from .plan import Plan
from .registries import ManifestCache
from .tags import CREATE, describe


@dataclasses.dataclass(frozen=True, kw_only=True)
class Options:
    """`pipeline plan --outdated` as the command line asked for it."""

    registries: tuple[str, ...] = ()       # names from the matrix; () = all
    manifest_cache: Path | None = None


def needs(plan: Plan, inputs: Inputs, options: Options, *, base_dir: Path,
          environ: Mapping[str, str]) -> dict[str, tuple[bool, str]]:
    """The targets that need work, {target id: (needs a build, why)}; an up-to-date target
    is left out. Ages are judged at the plan's time. A target that cannot be decided (a
    registry that cannot be read) is an error: CI must not take it for up to date."""
    chosen = select(plan.registries, options.registries)
    found: dict[str, tuple[bool, str]] = {}
    with connected(chosen, base_dir=base_dir, environ=environ, cache=ManifestCache(options.manifest_cache),
                   dry_run=True) as (sessions, _):
        decider = Decider(sessions=sessions, inputs=inputs, now=plan.created)
        for target in plan.targets:
            outcomes = {r.name: Outcome(target, r) for r in chosen}
            decision = decider.decide(target, outcomes)
            failed = [o for o in outcomes.values() if not o.ok]
            if failed or decision is None:
                raise failure(failed)(f"{target.id}: cannot tell whether it is up to date: " + "; ".join(
                    [f"{o.registry.name}: {o.reason}" for o in failed] or ["no registry could be read"]))
            build = [s.name for s in sessions if decision.needs_image(s)]
            if build:
                full = next(a for s in sessions for a in decision.actions[s.name]
                            if s.name in build and a.tag == target.id)
                new = "new snapshot" if target.snapshot else "new release"
                why = new if full.action == CREATE else full.reason
                found[target.id] = (True, f"{why} ({', '.join(build)})")
            elif any(decision.changes(s) for s in sessions):
                found[target.id] = (False, "; ".join(
                    f"{s.name}: {describe([a for a in decision.actions[s.name] if a.changes])}"
                    for s in sessions if decision.changes(s)))
    return found
