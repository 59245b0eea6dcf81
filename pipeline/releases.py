"""Discovering Asterisk releases and their checksum files.

Three sources, chosen by matrix.yaml `releases.source` (or PIPELINE_RELEASES):

* `listing`: the upstream download directory (an HTML index). One fetch per directory and
  run; the certified directory is read only when a spec asks for a certified release.
* `github`: the releases of asterisk/asterisk, through github3.py (GITHUB_TOKEN is used
  when set, against rate limits).
* `file`: text files, one version a line; for air-gapped builds. Tarball URLs are then
  derived from the configured download directories.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterable

import requests

from . import http, log
from .core import Release
from .errors import ResolutionError, SourceError
from .matrix import Releases, Sources
from .versions import Version, parse_versions

_TARBALL_RE = re.compile(r"^asterisk-(?:certified-)?(?P<version>[0-9][0-9a-z.\-]*?)\.tar\.gz$")
_HREF_RE = re.compile(r"""href\s*=\s*["']([^"'?#]+)["']""", re.IGNORECASE)


def tarball_name(version: Version) -> str:
    prefix = "asterisk-certified-" if version.is_certified else "asterisk-"
    return f"{prefix}{version}.tar.gz"


def _checksum_names(tarball: str) -> tuple[str, ...]:
    return (tarball.removesuffix(".tar.gz") + ".sha256", tarball + ".sha256")


def _directory(certified: bool, sources: Sources) -> str:
    """The download directory (mirrored when a mirror is set)."""
    return sources.url((sources.certified if certified else sources.asterisk).rstrip("/"))


def release_in(directory: str, version: Version, present: set[str] | None = None) -> Release:
    tarball = tarball_name(version)
    names = _checksum_names(tarball)
    if present is not None:
        names = tuple(name for name in names if name in present)
    return Release(version=version, tarball_url=f"{directory}/{tarball}",
                   checksum_urls=tuple(f"{directory}/{name}" for name in names))


def parse_listing(page: str, directory: str) -> dict[Version, Release]:
    """Releases in a directory index page: every asterisk-VERSION.tar.gz it links to."""
    names = {os.path.basename(html.unescape(href)) for href in _HREF_RE.findall(page)}
    if not names:
        raise SourceError(f"{directory}/ is not a directory listing (no links found)")
    found = {}
    for name in names:
        match = _TARBALL_RE.match(name)
        if not match:
            continue
        try:
            version = Version.parse(match["version"])
        except ValueError:
            continue  # asterisk-22-current.tar.gz and the like
        found[version] = release_in(directory, version, names)
    return found


class ReleaseIndex:
    """The known releases, read lazily: each source is fetched at most once per run."""

    def __init__(self, releases: Releases, sources: Sources) -> None:
        self.config = releases
        self.sources = sources
        self._cache: dict[bool, dict[Version, Release]] = {}

    def releases(self, *, certified: bool = False) -> dict[Version, Release]:
        if certified not in self._cache:
            self._cache[certified] = self._discover(certified)
        return self._cache[certified]

    def versions(self, *, certified: bool = False) -> list[Version]:
        return sorted(self.releases(certified=certified))

    def get(self, version: Version) -> Release:
        found = self.releases(certified=version.is_certified).get(version)
        if found is None:
            raise ResolutionError(f"release {version} is not in the release list "
                                  f"({self.describe(version.is_certified)})")
        return found

    def describe(self, certified: bool) -> str:
        if self.config.source == "file":
            return "files " + ", ".join(map(str, self.config.files))
        if self.config.source == "github":
            return f"GitHub {self.config.github_repository}"
        return _directory(certified, self.sources)

    def _discover(self, certified: bool) -> dict[Version, Release]:
        kind = "certified releases" if certified else "releases"
        with log.step(f"read {kind} from {self.describe(certified)}"):
            if self.config.source == "file":
                found = self._from_files(certified)
            elif self.config.source == "github":
                found = self._from_github(certified)
            else:
                found = self._from_listing(certified)
        log.debug(f"{len(found)} {kind} known")
        return found

    def _from_listing(self, certified: bool) -> dict[Version, Release]:
        directory = _directory(certified, self.sources)
        try:
            found = parse_listing(http.get_text(directory + "/"), directory)
        except SourceError as error:
            raise ResolutionError(f"cannot read the release list: {error}") from None
        return {v: r for v, r in found.items() if v.is_certified == certified}

    def _from_files(self, certified: bool) -> dict[Version, Release]:
        lines: list[str] = []
        for path in self.config.files:
            try:
                lines += path.read_text().splitlines()
            except OSError as error:
                raise ResolutionError(f"{path}: cannot read the release list ({error.strerror}); "
                                      "check releases.files or PIPELINE_RELEASES") from None
        return _derived(parse_versions(lines), self.sources, certified)

    def _from_github(self, certified: bool) -> dict[Version, Release]:
        import github3  # imported here: only this source needs it

        owner, _, name = self.config.github_repository.partition("/")
        token = os.environ.get("GITHUB_TOKEN") or None
        try:
            if self.config.github_url.rstrip("/") == "https://github.com":
                client = github3.GitHub(token=token)
            else:
                client = github3.GitHubEnterprise(self.config.github_url, token=token)
            repository = client.repository(owner, name)
            if repository is None:
                raise ResolutionError(f"GitHub repository {self.config.github_repository} not found")
            found = {}
            for release in repository.releases():
                version = _github_version(release.tag_name)
                if version is None or version.is_certified != certified:
                    continue
                assets = {a.name: a.browser_download_url for a in release.original_assets}
                tarball = tarball_name(version)
                if tarball not in assets:
                    continue
                checksums = tuple(assets[n] for n in _checksum_names(tarball) if n in assets)
                found[version] = Release(version, assets[tarball], checksums)
        except (github3.exceptions.GitHubException, requests.RequestException) as error:
            raise ResolutionError(f"cannot read releases of {self.config.github_repository} "
                                  f"on GitHub: {error}") from None
        return found


def _github_version(tag: str) -> Version | None:
    try:
        return Version.parse(tag.removeprefix("certified-").removeprefix("v"))
    except ValueError:
        return None


def _derived(versions: Iterable[Version], sources: Sources, certified: bool) -> dict[Version, Release]:
    return {v: release_in(_directory(certified, sources), v)
            for v in versions if v.is_certified == certified}
