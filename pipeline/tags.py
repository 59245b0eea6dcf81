"""The tag rules. Pure: no I/O. Documented as a table in docs/tags.md.

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
"""

from __future__ import annotations

from collections.abc import Iterable

from .errors import ResolutionError
from .versions import Spec, Version, newest_with_prefix, resolve

VARIANT_SUFFIX = {"plain": "", "opus": "-opus"}


def tags_for(version: Version, variant: str, releases: Iterable[Version]) -> list[str]:
    """All tags for one image, most specific first."""
    known = sorted(set(releases) | {version})
    names = [str(version)]
    if not version.is_prerelease:
        names += _aliases(version, known)
    suffix = VARIANT_SUFFIX[variant]
    return [name + suffix for name in names]


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
