"""What publishing did to each target in each registry (an Outcome), the run's verdict
(check) and its summary table."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from . import report
from .core import Target
from .errors import ConfigurationError, PipelineError, PublishError
from .redaction import redact
from .registry_types import Registry
from .tags import KEEP, TagAction


@dataclasses.dataclass
class Outcome:
    """One target in one registry."""

    target: Target
    registry: Registry
    status: str = "pending"  # published | up to date | would publish | pushed by digest | tags only | not checked | failed
    actions: list[TagAction] = dataclasses.field(default_factory=list)
    digest: str = ""
    reason: str = ""
    seconds: float = 0.0
    error: type[PipelineError] = PublishError

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def fail(self, reason: str, error: type[PipelineError] = PublishError) -> None:
        """error: the kind of failure, whose exit code the run returns (check)."""
        self.status, self.reason = "failed", redact(" ".join(reason.split()))
        self.error = error


def check(outcomes: Sequence[Outcome]) -> int:
    """0, or the error of the failed outcomes: a refused target (ConfigurationError, exit 2)
    first, since the command itself must change; else PublishError (exit 9)."""
    failed = [o for o in outcomes if not o.ok]
    if failed:
        raise failure(failed)(f"{len(failed)} of {len(outcomes)} target × registry publications "
                              "failed: " + ", ".join(f"{o.target.id} → {o.registry.name}" for o in failed))
    return 0


def failure(failed: Sequence[Outcome]) -> type[PipelineError]:
    return ConfigurationError if any(o.error is ConfigurationError for o in failed) else PublishError


def summary(outcomes: Sequence[Outcome]) -> None:
    """The publish summary: a row per target and registry, then the reasons of the failures."""
    rows = []
    for o in outcomes:
        changed = [a.tag for a in o.actions if a.changes and o.status in ("published", "would publish")]
        kept = [a.tag for a in o.actions if a.action == KEEP]
        tags = ", ".join(changed) or "-"
        if kept:
            tags += f" (kept: {', '.join(kept)})"
        rows.append([o.target.id, o.registry.name, o.status, tags, o.digest[:19] or "-",
                     f"{o.seconds:.0f}s", report.cut(o.reason)])
    report.summary("publish summary", ["target", "registry", "status", "tags changed", "digest", "time",
                                       "reason"], rows,
                   [(f"{o.target.id} → {o.registry.name}", o.reason) for o in outcomes if not o.ok])
