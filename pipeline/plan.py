"""Matrix × resolved versions × variants → targets, each with its tags per registry.

The plan is pure given the release list: `pipeline plan` prints it and exits, and CI's job
matrix is its JSON (`{"include": [...]}`, usable directly as `strategy.matrix`).
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Sequence

from . import support
from . import tags as tag_rules
from .errors import NothingToDoError, ResolutionError
from .matrix import Matrix, Registry, Series
from .releases import Release, ReleaseIndex
from .versions import Spec, Version, resolve

# Native GitHub-hosted runners per platform (no emulation in CI).
RUNNERS = {"linux/amd64": "ubuntu-24.04", "linux/arm64": "ubuntu-24.04-arm"}

# The Dockerfile stage that makes each variant.
BUILD_TARGET = {"plain": "runtime", "opus": "runtime-opus"}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Target:
    series: str
    release: Release
    variant: str
    platforms: tuple[str, ...]
    base_image: str
    tags: tuple[str, ...]

    @property
    def version(self) -> Version:
        return self.release.version

    @property
    def id(self) -> str:
        return f"{self.version}{tag_rules.VARIANT_SUFFIX[self.variant]}"

    def images(self, registry: Registry) -> list[str]:
        return [f"{registry.image}:{tag}" for tag in self.tags]

    def as_json(self, registries: Sequence[Registry], on: datetime.date) -> dict:
        return {
            "id": self.id,
            "series": self.series,
            "version": str(self.version),
            "variant": self.variant,
            "build_target": BUILD_TARGET[self.variant],
            "platforms": ",".join(self.platforms),
            "base_image": self.base_image,
            "tags": list(self.tags),
            "images": [image for registry in registries for image in self.images(registry)],
            "tarball_url": self.release.tarball_url,
            "support": support.status(self.version, on).as_json(),
        }


@dataclasses.dataclass(frozen=True)
class Plan:
    targets: tuple[Target, ...]
    registries: tuple[Registry, ...]
    on: datetime.date = dataclasses.field(default_factory=datetime.date.today)  # for support status

    def as_json(self, *, per_platform: bool = False) -> dict:
        """`{"include": [...]}`: one entry per target, or per target and platform (each with
        the GitHub-hosted runner that builds that platform natively)."""
        entries = [target.as_json(self.registries, self.on) for target in self.targets]
        if per_platform:
            entries = [{**entry, "platform": platform, "runner": RUNNERS[platform],
                        "platform_slug": platform.replace("/", "-")}
                       for entry in entries for platform in entry["platforms"].split(",")]
        return {"include": entries}


def make_plan(matrix: Matrix, index: ReleaseIndex, selection: Sequence[str] = (), *,
              variants: Sequence[str] = (), platforms: Sequence[str] = ()) -> Plan:
    """The targets for the whole matrix, or for the specs in selection.

    A selected spec uses the settings (variants, platforms, base image) of the matrix
    series that resolves to the same release, or the matrix defaults if none does.
    """
    if selection:
        resolved = [_selected(Spec.parse(text), matrix, index) for text in selection]
    else:
        resolved = [(series, _resolve(series.spec, index)) for series in matrix.series]
    targets: dict[str, Target] = {}
    for series, version in resolved:
        release = index.get(version)
        known = index.versions(certified=version.is_certified)
        for variant in series.variants:
            if variants and variant not in variants:
                continue
            chosen_platforms = tuple(p for p in series.platforms if not platforms or p in platforms)
            if not chosen_platforms:
                continue
            target = Target(series=series.spec.text, release=release, variant=variant,
                            platforms=chosen_platforms,
                            base_image=series.base_image,
                            tags=tuple(tag_rules.tags_for(version, variant, known)))
            targets.setdefault(target.id, target)  # two specs may name one release
    if not targets:
        raise NothingToDoError("the selection matched no target; check the spec, --variant "
                               "and --platform against matrix.yaml")
    return Plan(tuple(targets.values()), matrix.registries)


def _resolve(spec: Spec, index: ReleaseIndex) -> Version:
    return resolve(spec, index.versions(certified=spec.certified))


def _selected(spec: Spec, matrix: Matrix, index: ReleaseIndex) -> tuple[Series, Version]:
    version = _resolve(spec, index)
    for series in matrix.series:
        if series.spec.certified == spec.certified:
            try:
                if _resolve(series.spec, index) == version:
                    return series, version
            except ResolutionError:
                continue  # e.g. a mirror that carries only some series
    # a release the matrix does not list: the defaults apply
    return Series(spec=spec, **dataclasses.asdict(matrix.defaults)), version
