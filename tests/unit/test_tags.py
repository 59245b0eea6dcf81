import pytest

from pipeline.tags import tags_for
from pipeline.versions import Version, parse_versions


@pytest.mark.parametrize("version, variant, expected", [
    ("22.10.1", "plain", ["22.10.1", "22.10", "22", "lts"]),
    ("22.10.1", "opus", ["22.10.1-opus", "22.10-opus", "22-opus", "lts-opus"]),
    ("23.4.1", "plain", ["23.4.1", "23.4", "23", "latest"]),
    ("23.4.1", "opus", ["23.4.1-opus", "23.4-opus", "23-opus", "latest-opus"]),
    ("20.20.1", "plain", ["20.20.1", "20.20", "20"]),
    ("18.26.4", "plain", ["18.26.4", "18.26", "18"]),
    # an older patch keeps only what it is still newest of: `22` never moves back
    ("22.9.0", "plain", ["22.9.0", "22.9"]),
    ("22.10.0", "plain", ["22.10.0"]),
    # a pre-release gets only its full version
    ("23.4.0-rc1", "plain", ["23.4.0-rc1"]),
    ("23.4.0-rc1", "opus", ["23.4.0-rc1-opus"]),
    # the 1.x era: series are two numbers
    ("1.8.32.3", "plain", ["1.8.32.3", "1.8.32", "1.8"]),
])
def test_tags(releases, version, variant, expected):
    assert tags_for(Version.parse(version), variant, releases) == expected


@pytest.mark.parametrize("version, expected", [
    ("22.8-cert3", ["22.8-cert3", "22.8-cert", "22-cert"]),
    ("22.8-cert2", ["22.8-cert2"]),
    ("22.8-cert1-rc1", ["22.8-cert1-rc1"]),
    ("20.7-cert11", ["20.7-cert11", "20.7-cert", "20-cert"]),
])
def test_certified_tags(certified, version, expected):
    assert tags_for(Version.parse(version), "plain", certified) == expected


def test_latest_is_not_given_to_a_release_candidate_series():
    known = parse_versions(["24.0.0-rc1", "23.4.1", "22.10.1"])
    assert tags_for(Version.parse("24.0.0-rc1"), "plain", known) == ["24.0.0-rc1"]
    assert "latest" in tags_for(Version.parse("23.4.1"), "plain", known)


def test_a_new_lts_takes_lts_from_the_old_one():
    known = parse_versions(["24.0.0", "23.4.1", "22.10.1"])
    assert tags_for(Version.parse("24.0.0"), "plain", known) == ["24.0.0", "24.0", "24", "lts", "latest"]
    assert tags_for(Version.parse("22.10.1"), "plain", known) == ["22.10.1", "22.10", "22"]


def test_a_version_missing_from_the_list_is_still_tagged_fully():
    assert tags_for(Version.parse("22.11.0"), "plain", parse_versions(["22.10.1"])) == \
        ["22.11.0", "22.11", "22", "lts", "latest"]
