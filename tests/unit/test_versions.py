import pytest
import semver

from pipeline.errors import ConfigurationError, ResolutionError
from pipeline.versions import Spec, Version, is_lts, parse_versions, resolve


@pytest.mark.parametrize("text, release, cert, pre", [
    ("22.10.1", (22, 10, 1), None, None),
    ("22.10.0-rc1", (22, 10, 0), None, ("rc", 1)),
    ("1.8.32.3", (1, 8, 32, 3), None, None),
    ("1.6.2.16.2", (1, 6, 2, 16, 2), None, None),
    ("12.0.0-alpha1", (12, 0, 0), None, ("alpha", 1)),
    ("13.0.0-beta3", (13, 0, 0), None, ("beta", 3)),
    ("22.8-cert3", (22, 8), 3, None),
    ("22.8-cert1-rc1", (22, 8), 1, ("rc", 1)),
])
def test_parse_round_trips(text, release, cert, pre):
    version = Version.parse(text)
    assert (version.release, version.cert, version.pre) == (release, cert, pre)
    assert str(version) == text


@pytest.mark.parametrize("text", ["", "22", "22.x", "current", "22.10.1-foo", "v22.10.1",
                                  "22.8.1-cert3", "22-cert3", "22.10.1 extra"])
def test_parse_rejects(text):
    with pytest.raises(ValueError, match="not an Asterisk version"):
        Version.parse(text)


@pytest.mark.parametrize("older, newer", [
    ("20.5.0", "20.10.0"),          # numbers, not text
    ("22.10.0-rc1", "22.10.0"),     # rc before the release
    ("22.10.0-rc2", "22.10.0-rc10"),  # rc counters are numbers
    ("13.0.0-beta3", "13.0.0-rc1"),
    ("12.0.0-alpha1", "12.0.0-beta1"),
    ("1.8.32.3", "10.0.0"),
    ("1.8.32.0-rc2", "1.8.32.0"),
    ("1.6.2.16", "1.6.2.16.1"),
    ("22.8-cert1-rc1", "22.8-cert1"),
    ("22.8-cert2", "22.8-cert10"),
    ("20.7-cert11", "22.8-cert1"),
])
def test_ordering(older, newer):
    assert Version.parse(older) < Version.parse(newer)
    assert Version.parse(newer) > Version.parse(older)


def as_semver(version: Version) -> semver.Version | None:
    """The semver form of a modern, non-certified release; None where semver does not fit."""
    if version.cert is not None or len(version.release) != 3:
        return None
    prerelease = f"{version.pre[0]}.{version.pre[1]}" if version.pre else None
    return semver.Version(*version.release, prerelease=prerelease)


def test_ordering_agrees_with_semver_for_modern_releases(releases):
    modern = [v for v in releases if as_semver(v) is not None]
    assert len(modern) > 500
    assert sorted(modern) == sorted(modern, key=as_semver)


def test_release_lists_parse_completely(releases, certified):
    assert len(releases) == 1298  # every line of the upstream list is a version
    assert len(certified) == 88   # all but the "current" link


@pytest.mark.parametrize("series, lts", [
    ((1, 8), True), ((1, 6), False), ((11,), True), ((12,), False), ((13,), True),
    ((14,), False), ((16,), True), ((17,), False), ((18,), True), ((20,), True),
    ((21,), False), ((22,), True), ((23,), False), ((24,), True),
])
def test_lts_series(series, lts):
    assert is_lts(series) is lts


@pytest.mark.parametrize("spec, expected", [
    ("18.x", "18.26.4"),
    ("20.x", "20.20.1"),
    ("21.x", "21.12.3"),
    ("22.x", "22.10.1"),
    ("23.x", "23.4.1"),
    ("22.10.x", "22.10.1"),
    ("22.9.x", "22.9.0"),
    ("22.10.1", "22.10.1"),
    ("23.4.0-rc1", "23.4.0-rc1"),   # a pre-release when named exactly
    ("1.8.x", "1.8.32.3"),
    ("1.8.32.x", "1.8.32.3"),
    ("1.6.2.x", "1.6.2.24"),
    ("latest", "23.4.1"),
    ("lts", "22.10.1"),
])
def test_resolve_against_the_real_release_list(releases, spec, expected):
    assert str(resolve(spec, releases)) == expected


@pytest.mark.parametrize("spec, expected", [
    ("22-cert", "22.8-cert3"),
    ("22.8-cert", "22.8-cert3"),
    ("20-cert", "20.7-cert11"),
    ("18-cert", "18.9-cert18"),
    ("22.8-cert1-rc1", "22.8-cert1-rc1"),
])
def test_resolve_certified(certified, spec, expected):
    assert str(resolve(spec, certified)) == expected


def test_prereleases_only_by_name():
    versions = parse_versions(["24.0.0-rc1", "23.4.1", "22.10.1"])
    assert str(resolve("latest", versions)) == "23.4.1"
    assert str(resolve("lts", versions)) == "22.10.1"   # 24 has no stable release yet
    with pytest.raises(ResolutionError):
        resolve("24.x", versions)


@pytest.mark.parametrize("spec, message", [
    ("24.x", "no release matches '24.x'; newest known release is 23.4.1"),
    ("22.10.9", "no release matches '22.10.9'; newest 22 release is 22.10.1"),
    ("19.99.x", "no release matches '19.99.x'"),
])
def test_resolve_nothing_matches(releases, spec, message):
    with pytest.raises(ResolutionError, match=message.replace(".", r"\.")):
        resolve(spec, releases)


def test_resolve_empty_list():
    with pytest.raises(ResolutionError, match="release list is empty"):
        resolve("22.x", [])


@pytest.mark.parametrize("spec", ["22", "22.x.1", "x", "lts2", "22.10.1.x.x", "22-cert3", "abc",
                                  "22.x-opus", ""])
def test_malformed_specs(spec):
    with pytest.raises(ConfigurationError, match="is not a version spec; use '22.x'"):
        Spec.parse(spec)


def test_the_repository_copy_of_the_release_lists_is_current():
    """The copy in tests/fixtures is what SHA256SUMS names; where ../shared/fixtures exists
    (this project's machines), the copy equals it."""
    import hashlib

    from tests.conftest import FIXTURES, SHARED_FIXTURES
    sums = dict(line.split()[::-1] for line in (FIXTURES / "SHA256SUMS").read_text().splitlines())
    assert set(sums) == {"asterisk-releases.txt", "asterisk-certified-releases.txt"}
    for name, expected in sums.items():
        copy = (FIXTURES / name).read_bytes()
        assert hashlib.sha256(copy).hexdigest() == expected, f"tests/fixtures/{name} changed"
        if SHARED_FIXTURES.is_dir():
            assert copy == (SHARED_FIXTURES / name).read_bytes(), f"tests/fixtures/{name} is stale"
