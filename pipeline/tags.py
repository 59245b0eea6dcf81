"""The tag rules and the tag decisions. Pure: no I/O. Documented as tables in docs/tags.md.

Which tags an image gets (`tags_for`):

A version gets its full tag, plus each shorter alias only while it is the newest stable
release under that alias, so a tag never moves to an older version:

| version      | newest of...                 | tags (plain variant)               |
|--------------|------------------------------|------------------------------------|
| 22.10.1      | 22.10.x, 22.x, LTS           | 22.10.1, 22.10, 22, lts            |
| 23.4.1       | 23.4.x, 23.x, all releases   | 23.4.1, 23.4, 23, latest           |
| 22.9.0       | 22.9.x only                  | 22.9.0, 22.9                       |
| 23.4.0-rc1   | (pre-release)                | 23.4.0-rc1                         |
| 1.8.32.3     | 1.8.32.x, 1.8.x              | 1.8.32.3, 1.8.32, 1.8              |
| 22.8-cert3   | 22.8-cert, 22-cert           | 22.8-cert3, 22.8-cert, 22-cert     |

The Opus variant gets the same tags with `-opus` appended (`22.10.1-opus`, `lts-opus`).

A development snapshot (`snapshot_tags`, a commit of the git repository) gets
`git-<sha7>`, which never moves to another commit, and, when built from a branch,
`<branch>-git` ('/' written '-'), which follows the branch. Neither can be a release tag.

What to do with each tag, given what it points at in a registry (`plan_tags`): create,
move, keep (it points at a newer version, or at an image not made here) or up to date;
refuse when the move would take a platform away from the tag (`_keeps_platforms`).
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable, Mapping, Sequence

from .core import Target, Variant, snapshot_tag
from .errors import ResolutionError
from .snapshots import GitVersion
from .versions import Spec, Version, newest_with_prefix, resolve

CREATE, MOVE, KEEP, CURRENT, REFUSE = "create", "move", "keep", "up to date", "refuse"


def tags_for(version: Version, variant: Variant, releases: Iterable[Version]) -> list[str]:
    """All tags for one image, most specific first."""
    known = sorted(set(releases) | {version})
    names = [str(version)]
    if not version.is_prerelease:
        names += _aliases(version, known)
    return [name + variant.suffix for name in names]


def snapshot_tags(version: GitVersion, variant: Variant) -> list[str]:
    """A snapshot's tags: git-<sha7>, then <branch>-git when it was built from a branch."""
    names = [snapshot_tag(version)]
    if version.branch:
        names.append(version.branch.replace("/", "-") + "-git")
    return [name + variant.suffix for name in names]


def _aliases(version: Version, known: list[Version]) -> list[str]:
    aliases = []
    if version.is_certified:
        for length in (2, 1):
            prefix = version.release[:length]
            if newest_with_prefix(prefix, known, certified=True) == version:
                aliases.append(".".join(map(str, prefix)) + "-cert")
        return aliases
    for length in range(len(version.release) - 1, len(version.series) - 1, -1):
        prefix = version.release[:length]
        if newest_with_prefix(prefix, known) == version:
            aliases.append(".".join(map(str, prefix)))
    for keyword in ("lts", "latest"):
        if _resolves_to(keyword, known) == version:
            aliases.append(keyword)
    return aliases


def _resolves_to(keyword: str, known: list[Version]) -> Version | None:
    try:
        return resolve(Spec.parse(keyword), known)
    except ResolutionError:  # no LTS / no stable release in the list
        return None


# ----------------------------------------------------------------------------- decisions

@dataclasses.dataclass(frozen=True, kw_only=True)
class Current:
    """What a tag points at in a registry, as far as the decisions need it."""

    digest: str
    platforms: tuple[str, ...]
    version: Version | None   # its version label (None: missing, unreadable, or platforms disagree)
    inputs: str = ""          # its inputs label ("" when missing)
    base: str = ""            # its base image label, NAME@DIGEST
    commit: str = ""          # its git commit label: a snapshot's commit ("" for a release)
    created: datetime.datetime | None = None   # its org.opencontainers.image.created label


@dataclasses.dataclass(frozen=True)
class TagAction:
    tag: str
    action: str        # create | move | keep | up to date | refuse
    reason: str = ""

    @property
    def changes(self) -> bool:
        return self.action in (CREATE, MOVE)


def plan_tags(target: Target, inputs: str, remote: Mapping[str, Current | None], *,
              base: str = "", now: datetime.datetime | None = None) -> list[TagAction]:
    """What to do with each of an image's tags, given what they point at now.

    The full tag (the version itself) is up to date when it holds an image built from the
    same inputs for every platform and not older than the target's max_age (at `now`),
    else it is (re)pushed, with the reason. An alias
    (`22`, `lts`, ...) moves only forward: it is kept when it points at a newer version,
    or at an image without a readable version label (not made here: left alone). A
    snapshot's branch tag follows its branch (`_branch_tag`). No tag moves to an image with
    fewer platforms than the one it points at now: refuse, naming them (`_keeps_platforms`).
    """
    actions = []
    version = target.version
    for tag in target.tags:
        current = remote.get(tag)
        if current is None:
            actions.append(TagAction(tag, CREATE))
        elif tag == target.id:
            actions.append(_full_tag(target, inputs, base, current, now))
        elif isinstance(version, GitVersion):
            actions.append(_branch_tag(target, tag, version, inputs, current, now))
        elif current.version is None:
            actions.append(TagAction(tag, KEEP, "points at an image without a version label"))
        elif current.version > version:
            actions.append(TagAction(tag, KEEP, f"points at newer {current.version}"))
        elif current.version < version:
            actions.append(TagAction(tag, MOVE, f"from {current.version}"))
        elif current.inputs == inputs and not _too_old(target, current, now):
            actions.append(TagAction(tag, CURRENT))
        else:
            actions.append(TagAction(tag, MOVE, "from an older build of the same version"))
    return [_keeps_platforms(target, action, remote.get(action.tag)) for action in actions]


def _keeps_platforms(target: Target, action: TagAction, current: Current | None) -> TagAction:
    """A tag moves only to an image with at least the platforms it has now (a run narrowed
    by --platform, or a matrix that lost a platform, must not strip them from a tag)."""
    if action.action != MOVE or current is None:
        return action
    dropped = dropped_platforms(target, current)
    if not dropped:
        return action
    return TagAction(action.tag, REFUSE, f"would drop {', '.join(dropped)}: it has "
                     f"{', '.join(sorted(current.platforms))}, this run builds "
                     f"{', '.join(sorted(target.platforms))}")


def dropped_platforms(target: Target, current: Current) -> list[str]:
    """The platforms the image a tag points at has and target's image would not."""
    return sorted({_platform(p) for p in current.platforms} - {_platform(p) for p in target.platforms})


def _platform(name: str) -> str:
    """linux/arm64/v8 is linux/arm64 (containerd's platforms.Normalize: v8 is arm64's default)."""
    return name.removesuffix("/v8") if name.startswith("linux/arm64/") else name


def _branch_tag(target: Target, tag: str, version: GitVersion, inputs: str, current: Current,
                now: datetime.datetime | None) -> TagAction:
    """`<branch>-git` goes wherever the branch went: commits are not ordered like versions,
    and a branch is what its repository says it is. The plan resolved the branch when the
    run started, and runs never overlap (CI's concurrency group), so a later run always
    resolved a later state of the branch."""
    if not current.commit:
        return TagAction(tag, KEEP, "points at an image that is not a git snapshot")
    if current.commit != version.commit:
        return TagAction(tag, MOVE, f"from git-{current.commit[:7]}")
    if current.inputs == inputs and not _too_old(target, current, now):
        return TagAction(tag, CURRENT)
    return TagAction(tag, MOVE, "from an older build of the same commit")


def _too_old(target: Target, current: Current, now: datetime.datetime | None) -> bool:
    if target.max_age is None or now is None:
        return False
    return current.created is None or now - current.created > target.max_age


def _full_tag(target: Target, inputs: str, base: str, current: Current,
              now: datetime.datetime | None) -> TagAction:
    tag, missing = target.id, sorted(set(target.platforms) - set(current.platforms))
    old = _too_old(target, current, now)
    if current.inputs == inputs and not missing and not old:
        return TagAction(tag, CURRENT)
    if current.inputs == inputs and old:
        built = current.created.strftime("%Y-%m-%d") if current.created else "at an unknown date"
        return TagAction(tag, MOVE, f"rebuilt: too old (built {built}; max_age {_age(target.max_age)})")
    if current.inputs != inputs:
        if base and current.base and current.base != base:
            return TagAction(tag, MOVE, f"rebuilt: new base image ({base.rsplit('@', 1)[-1][:19]})")
        return TagAction(tag, MOVE, "rebuilt: its inputs changed")
    return TagAction(tag, MOVE, f"adds {', '.join(missing)}")


def _age(age: datetime.timedelta | None) -> str:
    if age is None:
        return "-"
    hours = int(age.total_seconds() // 3600)
    return f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"


def full_tag_changes(target: Target, actions: Sequence[TagAction]) -> bool:
    return any(a.changes for a in actions if a.tag == target.id)


def describe(actions: Sequence[TagAction]) -> str:
    """One line for a registry's decisions: '22.10.1 create, 22 move (from 22.9.0), lts keep'."""
    return ", ".join(f"{a.tag} {a.action}" + (f" ({a.reason})" if a.reason else "") for a in actions)
