"""Asterisk versions: parsing, ordering and resolving specs. Pure: no I/O.

Modern Asterisk releases (10.0.0 onwards) are semantic versions (tests/unit/test_versions.py
checks this ordering against `semver` over every real release). Asterisk's scheme needs
more than semver in three places, handled here:

* old releases have four or five numbers (1.8.32.3, 1.6.2.16.2);
* certified releases are a separate stream named by a branch and a counter
  (22.8-cert3, pre-releases 22.8-cert1-rc1), downloaded from another directory;
* pre-release counters are numbers: semver compares "rc10" < "rc2" as text, so they are
  compared as (kind, number) instead (semver's own form would be "rc.10").

Specs (what matrix.yaml and the CLI accept):

| spec          | resolves to                                              |
|---------------|----------------------------------------------------------|
| `22.x`        | newest stable 22 release                                 |
| `22.10.x`     | newest stable 22.10 release (`1.8.x`, `1.8.32.x` alike)  |
| `22.10.1`     | exactly that release (also a pre-release: `23.4.0-rc1`)  |
| `latest`      | newest stable release of any series                      |
| `lts`         | newest stable release of the newest LTS series           |
| `22-cert`     | newest stable certified 22 release (`22.8-cert` alike)   |
| `22.8-cert3`  | exactly that certified release                           |

Pre-releases are only chosen when named exactly.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from .errors import ConfigurationError, ResolutionError

_VERSION_RE = re.compile(
    r"""^(?P<release>\d+(?:\.\d+){1,4})
        (?:-cert(?P<cert>\d+))?
        (?:-(?P<pre_kind>alpha|beta|rc)(?P<pre_num>\d+))?$""",
    re.VERBOSE,
)
_PRE_RANK = {"alpha": 0, "beta": 1, "rc": 2}


@dataclasses.dataclass(frozen=True)
class Version:
    """One Asterisk release, e.g. 22.10.1, 23.4.0-rc1, 1.8.32.3 or 22.8-cert3."""

    release: tuple[int, ...]
    cert: int | None = None
    pre: tuple[str, int] | None = None

    @classmethod
    def parse(cls, text: str) -> Version:
        match = _VERSION_RE.match(text.strip())
        if not match:
            raise ValueError(f"not an Asterisk version: {text!r}")
        release = tuple(int(part) for part in match["release"].split("."))
        cert = int(match["cert"]) if match["cert"] else None
        if cert is None and len(release) < 3:
            raise ValueError(f"not an Asterisk version: {text!r} (releases have 3+ numbers)")
        if cert is not None and len(release) != 2:
            raise ValueError(f"not an Asterisk version: {text!r} (certified: MAJOR.MINOR-certN)")
        pre = (match["pre_kind"], int(match["pre_num"])) if match["pre_kind"] else None
        return cls(release=release, cert=cert, pre=pre)

    def __str__(self) -> str:
        text = ".".join(map(str, self.release))
        if self.cert is not None:
            text += f"-cert{self.cert}"
        if self.pre:
            text += f"-{self.pre[0]}{self.pre[1]}"
        return text

    @property
    def is_prerelease(self) -> bool:
        return self.pre is not None

    @property
    def is_certified(self) -> bool:
        return self.cert is not None

    @property
    def series(self) -> tuple[int, ...]:
        """The release series: (22,) for 22.10.1; (1, 8) for the 1.x era."""
        return self.release[:2] if self.release[0] == 1 else self.release[:1]

    @property
    def major(self) -> int:
        return self.series[-1] if self.release[0] == 1 else self.release[0]

    def sort_key(self) -> tuple[tuple[int, ...], int, tuple[int, int]]:
        pre = (_PRE_RANK[self.pre[0]], self.pre[1]) if self.pre else (len(_PRE_RANK), 0)
        return (self.release, -1 if self.cert is None else self.cert, pre)

    def __lt__(self, other: Version) -> bool:
        return self.sort_key() < other.sort_key()

    def __le__(self, other: Version) -> bool:
        return self.sort_key() <= other.sort_key()

    def __gt__(self, other: Version) -> bool:
        return self.sort_key() > other.sort_key()

    def __ge__(self, other: Version) -> bool:
        return self.sort_key() >= other.sort_key()


def is_lts(series: tuple[int, ...]) -> bool:
    """Asterisk's long-term-support series: 1.4, 1.8, 11, 13, then every even major from 16."""
    if series[0] == 1:
        return series in {(1, 4), (1, 8)}
    major = series[0]
    return major in (11, 13) or (major >= 16 and major % 2 == 0)


def parse_versions(lines: Iterable[str]) -> list[Version]:
    """Parse a release list (one version a line); lines that are not versions are skipped."""
    versions = set()
    for line in lines:
        try:
            versions.add(Version.parse(line))
        except ValueError:
            continue  # e.g. "current" links in the upstream listing
    return sorted(versions)


# ----------------------------------------------------------------------------- specs

_SPEC_RE = re.compile(
    r"""^(?:(?P<keyword>latest|lts)
        |(?P<prefix>\d+(?:\.\d+){0,3})\.x
        |(?P<cert_prefix>\d+(?:\.\d+)?)-cert
        |(?P<exact>\d+(?:\.\d+){1,4}(?:-cert\d+)?(?:-(?:alpha|beta|rc)\d+)?))$""",
    re.VERBOSE,
)
SPEC_HELP = ("use '22.x', '22.10.x', '22.10.1', 'latest', 'lts', '22-cert' or '22.8-cert3'")


@dataclasses.dataclass(frozen=True)
class Spec:
    """A parsed version spec (see the module docstring for the forms)."""

    text: str
    keyword: str | None = None
    prefix: tuple[int, ...] = ()
    certified: bool = False
    exact: Version | None = None

    @classmethod
    def parse(cls, text: str) -> Spec:
        match = _SPEC_RE.match(str(text).strip())
        if not match:
            raise ConfigurationError(f"{text!r} is not a version spec; {SPEC_HELP}")
        if match["keyword"]:
            return cls(text=text, keyword=match["keyword"])
        if match["prefix"]:
            return cls(text=text, prefix=_numbers(match["prefix"]))
        if match["cert_prefix"]:
            return cls(text=text, prefix=_numbers(match["cert_prefix"]), certified=True)
        try:
            exact = Version.parse(match["exact"])
        except ValueError as error:
            raise ConfigurationError(f"{text!r} is not a version spec ({error}); {SPEC_HELP}") from None
        return cls(text=text, exact=exact, certified=exact.is_certified)

    def matches(self, version: Version) -> bool:
        """Whether a version is a candidate (stable only, except an exact name)."""
        if self.exact is not None:
            return version == self.exact
        if version.is_prerelease or version.is_certified != self.certified:
            return False
        if self.keyword == "latest":
            return True
        if self.keyword == "lts":
            return is_lts(version.series)
        return version.release[: len(self.prefix)] == self.prefix


def _numbers(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def resolve(spec: Spec | str, versions: Iterable[Version]) -> Version:
    """The release a spec names, from a list of known releases."""
    spec = Spec.parse(spec) if isinstance(spec, str) else spec
    known = sorted(versions)
    if spec.keyword == "lts":
        lts_series = {v.series for v in known if spec.matches(v)}
        if lts_series:
            newest = max(lts_series)
            known = [v for v in known if v.series == newest]
    candidates = [v for v in known if spec.matches(v)]
    if not candidates:
        raise ResolutionError(_no_match_message(spec, known))
    return candidates[-1]


def _no_match_message(spec: Spec, known: list[Version]) -> str:
    if not known:
        return f"no releases known to resolve {spec.text!r}: the release list is empty"
    stable = [v for v in known if not v.is_prerelease and v.is_certified == spec.certified]
    newest = max(stable) if stable else max(known)
    hint = f"newest known release is {newest}"
    if spec.exact is not None and spec.exact.is_prerelease is False:
        same_series = [v for v in known if v.series == spec.exact.series and not v.is_prerelease]
        if same_series:
            hint = f"newest {'.'.join(map(str, spec.exact.series))} release is {max(same_series)}"
    return f"no release matches {spec.text!r}; {hint}"


def newest_with_prefix(prefix: tuple[int, ...], versions: Iterable[Version],
                       *, certified: bool = False) -> Version | None:
    """The newest stable release whose numbers start with prefix (None when there is none)."""
    spec = Spec(text="", prefix=prefix, certified=certified)
    candidates = [v for v in versions if spec.matches(v)]
    return max(candidates) if candidates else None
