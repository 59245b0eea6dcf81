"""Matrix × resolved versions × variants → targets, each with its tags per registry.

The plan is pure given the release list (and, for `git:` specs, the commits their branches
point at): `pipeline plan` prints it and exits, and CI's job matrix is its JSON
(`{"include": [...]}`, usable directly as `strategy.matrix`).
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from . import support
from . import tags as tag_rules
from .core import Target, variant
from .errors import NothingToDoError, ResolutionError
from .labels import created_text
from .matrix import DEFAULT_RUNNERS, Defaults, Matrix, Series, runner_platform
from .registry_types import Registry
from .releases import ReleaseIndex
from .snapshots import GitSpec, Remote, Snapshot
from .snapshots import is_spec as is_git_spec
from .versions import Spec, Version, resolve


def target_json(target: Target, registries: Sequence[Registry], on: datetime.date,
                created: datetime.datetime) -> dict[str, Any]:
    """One target as CI's job matrix has it. `version` is the exact spec of the target, which
    CI's later jobs pass to `pipeline publish`: the release (22.10.1), or the pinned snapshot
    (git:master@SHA); `created` the plan's time, which they pass as `--created`."""
    if isinstance(target.release, Snapshot):
        version = target.release.version.spec
        source = {"commit": target.release.version.commit, "repository": target.release.url}
    else:
        version = str(target.version)
        source = {"tarball_url": target.release.tarball_url}
    return {
        "id": target.id,
        "series": target.series,
        "version": version,
        "variant": target.variant.name,
        "build_target": target.variant.stage,
        "platforms": ",".join(target.platforms),
        "base_image": target.base_image,
        "tags": list(target.tags),
        "images": [f"{registry.image}:{tag}" for registry in registries for tag in target.tags],
        **source,
        "support": support.status(target.version, on).as_json(),
        "created": created_text(created),
    }


@dataclasses.dataclass(frozen=True)
class Plan:
    targets: tuple[Target, ...]
    registries: tuple[Registry, ...]
    on: datetime.date = dataclasses.field(default_factory=datetime.date.today)  # for support status
    # when the plan was made: every image it leads to is stamped with this creation time, and
    # CI's later jobs judge ages (max_age) at this instant, so the platforms of a target,
    # built by different jobs, agree on it
    created: datetime.datetime = dataclasses.field(
        default_factory=lambda: datetime.datetime.now(datetime.UTC).replace(microsecond=0))
    runners: Mapping[str, str] = dataclasses.field(default_factory=lambda: dict(DEFAULT_RUNNERS))

    def as_json(self, *, per_platform: bool = False) -> dict[str, list[dict[str, Any]]]:
        """`{"include": [...]}`: one entry per target, or per target and platform (each with
        the runner that builds it, from the matrix's `runners`, and whether that runner
        is another platform: then the image is cross-compiled and smoke-tested under
        emulation)."""
        entries = [target_json(target, self.registries, self.on, self.created) for target in self.targets]
        if per_platform:
            entries = [{**entry, "platform": platform, "runner": self.runners[platform],
                        "emulated": runner_platform(self.runners[platform]) != platform,
                        "platform_slug": platform.replace("/", "-")}
                       for entry in entries for platform in entry["platforms"].split(",")]
        return {"include": entries}


def make_plan(matrix: Matrix, index: ReleaseIndex, selection: Sequence[str] = (), *,
              variants: Sequence[str] = (), platforms: Sequence[str] = (),
              git: Remote | None = None) -> Plan:
    """The targets for the whole matrix, or for the specs in selection.

    A selected spec uses the settings (variants, platforms, base image) of the matrix
    series that resolves to the same release, or the matrix defaults if none does. A `git:`
    spec (a development snapshot) uses the defaults; git is the repository it resolves in
    (default: sources.git of the matrix). variants and platforms name the ones to keep (all
    when empty).
    """
    wanted = {variant(name) for name in variants}
    remote = git or Remote(matrix.sources.git)
    resolved: list[tuple[Defaults, str, Version | Snapshot]]
    if selection:
        resolved = [_snapshot(GitSpec.parse(text), remote, matrix.defaults) if is_git_spec(text)
                    else _selected(Spec.parse(text), matrix, index) for text in selection]
    else:
        resolved = [(series, series.spec.text, _resolve(series.spec, index)) for series in matrix.series]
    targets: dict[str, Target] = {}
    for settings, series_name, found in resolved:
        release = found if isinstance(found, Snapshot) else index.get(found)
        for kind in settings.variants:
            if wanted and kind not in wanted:
                continue
            chosen_platforms = tuple(p for p in settings.platforms if not platforms or p in platforms)
            if not chosen_platforms:
                continue
            if isinstance(found, Snapshot):
                tags = tag_rules.snapshot_tags(found.version, kind)
            else:
                tags = tag_rules.tags_for(found, kind, index.versions(certified=found.is_certified))
            target = Target(series=series_name, release=release, variant=kind,
                            platforms=chosen_platforms,
                            base_image=settings.base_image, max_age=settings.max_age,
                            tags=tuple(tags))
            targets.setdefault(target.id, target)  # two specs may name one release
    if not targets:
        raise NothingToDoError("the selection matched no target; check the spec, --variant "
                               "and --platform against matrix.yaml")
    return Plan(tuple(targets.values()), matrix.registries, runners=matrix.runners)


def _snapshot(spec: GitSpec, remote: Remote, defaults: Defaults) -> tuple[Defaults, str, Snapshot]:
    """A snapshot gets the matrix defaults; its series is git:master for every commit of
    master (CI's build cache scope), git:1a2b3c4 for a commit named by its id."""
    snapshot = remote.resolve(spec)
    return defaults, f"git:{snapshot.version.branch or snapshot.version.short}", snapshot


def _resolve(spec: Spec, index: ReleaseIndex) -> Version:
    return resolve(spec, index.versions(certified=spec.certified))


def _selected(spec: Spec, matrix: Matrix, index: ReleaseIndex) -> tuple[Series, str, Version]:
    version = _resolve(spec, index)
    for series in matrix.series:
        if series.spec.certified == spec.certified:
            try:
                if _resolve(series.spec, index) == version:
                    return series, series.spec.text, version
            except ResolutionError:
                continue  # e.g. a mirror that carries only some series
    # a release the matrix does not list: the defaults apply
    defaults = {field.name: getattr(matrix.defaults, field.name) for field in dataclasses.fields(Defaults)}
    return Series(spec=spec, **defaults), spec.text, version
