import pytest

from pipeline.core import VARIANTS, Release, Target
from pipeline.tags import Current, describe, full_tag_changes, plan_tags, tags_for
from pipeline.versions import Version, parse_versions

PLAIN = VARIANTS["plain"]


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
    assert tags_for(Version.parse(version), VARIANTS[variant], releases) == expected


@pytest.mark.parametrize("version, expected", [
    ("22.8-cert3", ["22.8-cert3", "22.8-cert", "22-cert"]),
    ("22.8-cert2", ["22.8-cert2"]),
    ("22.8-cert1-rc1", ["22.8-cert1-rc1"]),
    ("20.7-cert11", ["20.7-cert11", "20.7-cert", "20-cert"]),
])
def test_certified_tags(certified, version, expected):
    assert tags_for(Version.parse(version), PLAIN, certified) == expected


def test_latest_is_not_given_to_a_release_candidate_series():
    known = parse_versions(["24.0.0-rc1", "23.4.1", "22.10.1"])
    assert tags_for(Version.parse("24.0.0-rc1"), PLAIN, known) == ["24.0.0-rc1"]
    assert "latest" in tags_for(Version.parse("23.4.1"), PLAIN, known)


def test_a_new_lts_takes_lts_from_the_old_one():
    known = parse_versions(["24.0.0", "23.4.1", "22.10.1"])
    assert tags_for(Version.parse("24.0.0"), PLAIN, known) == ["24.0.0", "24.0", "24", "lts", "latest"]
    assert tags_for(Version.parse("22.10.1"), PLAIN, known) == ["22.10.1", "22.10", "22"]


def test_a_version_missing_from_the_list_is_still_tagged_fully():
    assert tags_for(Version.parse("22.11.0"), PLAIN, parse_versions(["22.10.1"])) == \
        ["22.11.0", "22.11", "22", "lts", "latest"]


# ----------------------------------------------------------------------------- tag decisions

INPUTS, OTHER = "a" * 64, "b" * 64
BOTH = ("linux/amd64", "linux/arm64")


def target(version="22.10.1", tags=("22.10.1", "22.10", "22", "lts", "latest"), variant="plain"):
    release = Release(version=Version.parse(version), tarball_url="https://x/a.tar.gz", checksum_urls=())
    return Target(series="22.x", release=release, variant=VARIANTS[variant], platforms=BOTH,
                  base_image="debian:trixie-slim", tags=tuple(tags))


def remote(version, inputs=INPUTS, platforms=BOTH, digest="sha256:" + "1" * 64, base=""):
    return Current(digest=digest, platforms=platforms,
                   version=Version.parse(version) if version else None, inputs=inputs, base=base)



@pytest.mark.parametrize("state, expected", [
    # nothing in the registry: every tag is created
    ({}, {"22.10.1": "create", "22.10": "create", "22": "create", "lts": "create", "latest": "create"}),
    # everything already there, same inputs: nothing to do (a second run changes nothing)
    ({t: remote("22.10.1") for t in ("22.10.1", "22.10", "22", "lts", "latest")},
     {"22.10.1": "up to date", "22.10": "up to date", "22": "up to date", "lts": "up to date",
      "latest": "up to date"}),
    # the previous patch holds the aliases: they move forward
    ({"22": remote("22.9.0"), "lts": remote("22.9.0"), "latest": remote("22.9.0")},
     {"22.10.1": "create", "22.10": "create", "22": "move", "lts": "move", "latest": "move"}),
    # a newer release already holds them: kept, never moved back
    ({"22": remote("22.11.0"), "lts": remote("22.11.0"), "latest": remote("23.0.0")},
     {"22.10.1": "create", "22.10": "create", "22": "keep", "lts": "keep", "latest": "keep"}),
    # the same version rebuilt from other inputs (e.g. a Dockerfile change): all move
    ({t: remote("22.10.1", inputs=OTHER) for t in ("22.10.1", "22.10", "22", "lts", "latest")},
     {"22.10.1": "move", "22.10": "move", "22": "move", "lts": "move", "latest": "move"}),
    # the full tag lacks a platform: it is pushed again
    ({"22.10.1": remote("22.10.1", platforms=("linux/amd64",))},
     {"22.10.1": "move", "22.10": "create", "22": "create", "lts": "create", "latest": "create"}),
    # an alias on an image without a version label (not ours): left alone
    ({"latest": remote(None, inputs="")},
     {"22.10.1": "create", "22.10": "create", "22": "create", "lts": "create", "latest": "keep"}),
    # only an alias is missing (e.g. a new registry entry was half-filled): just that one
    ({t: remote("22.10.1") for t in ("22.10.1", "22.10", "22", "lts")},
     {"22.10.1": "up to date", "22.10": "up to date", "22": "up to date", "lts": "up to date",
      "latest": "create"}),
])
def test_plan_tags(state, expected):
    actions = plan_tags(target(), INPUTS, state)
    assert {a.tag: a.action for a in actions} == expected


AMD64, ARM64 = ("linux/amd64",), ("linux/arm64",)
DROPS_ARM64 = ("refuse", "would drop linux/arm64: it has linux/amd64, linux/arm64, this run builds "
                         "linux/amd64")


@pytest.mark.parametrize("platforms, state, expected", [
    # `publish 22.x --platform linux/amd64` over two-platform tags of the same version: every
    # tag would move to an amd64-only image (the platform list is an input); all refused
    (AMD64, {t: remote("22.10.1", inputs=OTHER) for t in ("22.10.1", "22.10", "22", "lts")},
     {"22.10.1": DROPS_ARM64, "22.10": DROPS_ARM64, "22": DROPS_ARM64, "lts": DROPS_ARM64,
      "latest": ("create", "")}),
    # a new patch built for amd64 only: its own tags are created; the aliases the previous
    # patch holds for both platforms are refused
    (AMD64, {"22": remote("22.9.0"), "lts": remote("22.9.0")},
     {"22.10.1": ("create", ""), "22.10": ("create", ""), "22": DROPS_ARM64, "lts": DROPS_ARM64,
      "latest": ("create", "")}),
    # tags that never had arm64: an amd64-only run moves them as before
    (AMD64, {"22": remote("22.9.0", platforms=AMD64), "lts": remote("22.9.0", platforms=AMD64)},
     {"22.10.1": ("create", ""), "22.10": ("create", ""), "22": ("move", "from 22.9.0"),
      "lts": ("move", "from 22.9.0"), "latest": ("create", "")}),
    # more platforms than the tag has: a move that adds one is fine
    (BOTH, {"22.10.1": remote("22.10.1", platforms=AMD64), "22": remote("22.9.0", platforms=AMD64)},
     {"22.10.1": ("move", "adds linux/arm64"), "22.10": ("create", ""), "22": ("move", "from 22.9.0"),
      "lts": ("create", ""), "latest": ("create", "")}),
    # another platform instead of the one the tag has: refused, naming what it would lose
    (ARM64, {"22": remote("22.9.0", platforms=AMD64)},
     {"22.10.1": ("create", ""), "22.10": ("create", ""),
      "22": ("refuse", "would drop linux/amd64: it has linux/amd64, this run builds linux/arm64"),
      "lts": ("create", ""), "latest": ("create", "")}),
    # a tag kept or up to date is never refused: nothing of it changes
    (AMD64, {"22": remote("22.11.0"), "22.10.1": remote("22.10.1", platforms=AMD64),
             "22.10": remote("22.10.1", platforms=AMD64)},
     {"22.10.1": ("up to date", ""), "22.10": ("up to date", ""),
      "22": ("keep", "points at newer 22.11.0"), "lts": ("create", ""), "latest": ("create", "")}),
    # the arm64 variant v8 is arm64 (containerd's normalisation): nothing dropped
    (BOTH, {"22": remote("22.9.0", platforms=("linux/amd64", "linux/arm64/v8"))},
     {"22.10.1": ("create", ""), "22.10": ("create", ""), "22": ("move", "from 22.9.0"),
      "lts": ("create", ""), "latest": ("create", "")}),
])
def test_a_tag_never_loses_a_platform(platforms, state, expected):
    """A run may only move a tag to an image with at least the platforms the tag has now."""
    import dataclasses

    narrowed = dataclasses.replace(target(), platforms=platforms)
    actions = plan_tags(narrowed, INPUTS, state)
    assert {a.tag: (a.action, a.reason) for a in actions} == expected
    assert not any(a.changes for a in actions if a.action == "refuse")


def test_a_snapshot_branch_tag_never_loses_a_platform():
    import dataclasses

    narrowed = dataclasses.replace(snapshot(), platforms=AMD64)
    actions = plan_tags(narrowed, INPUTS, {"master-git": built(EARLIER)})
    assert {a.tag: a.action for a in actions} == {"git-1a2b3c4": "create", "master-git": "refuse"}


def test_an_older_patch_moves_no_alias_of_a_newer_one():
    old = target("22.9.0", tags=("22.9.0", "22.9", "22", "lts"))
    state = {"22": remote("22.10.1"), "lts": remote("22.10.1")}
    actions = plan_tags(old, INPUTS, state)
    assert [(a.tag, a.action, a.reason) for a in actions] == [
        ("22.9.0", "create", ""), ("22.9", "create", ""),
        ("22", "keep", "points at newer 22.10.1"), ("lts", "keep", "points at newer 22.10.1")]
    assert not full_tag_changes(target(), plan_tags(
        target(), INPUTS, {"22.10.1": remote("22.10.1")}))


def test_versions_compare_as_versions_not_text():
    # "22.9.0" > "22.10.1" as text; as versions 22.10.1 is newer and 22 moves forward
    actions = plan_tags(target(), INPUTS, {"22": remote("22.9.0")})
    assert {a.tag: a.action for a in actions}["22"] == "move"
    pre = plan_tags(target("23.0.0", tags=("23.0.0", "23")), INPUTS,
                            {"23": remote("23.0.0-rc10")})
    assert {a.tag: a.action for a in pre}["23"] == "move"


def test_describe():
    actions = plan_tags(target(), INPUTS, {"22": remote("22.9.0"), "lts": remote("22.11.0")})
    assert describe(actions) == ("22.10.1 create, 22.10 create, 22 move (from 22.9.0), "
                                         "lts keep (points at newer 22.11.0), latest create")


def test_a_new_base_image_is_named_as_the_reason():
    before = remote("22.10.1", inputs=OTHER, base="debian:trixie-slim@sha256:" + "3" * 64)
    actions = plan_tags(target(), INPUTS, {"22.10.1": before},
                        base="debian:trixie-slim@sha256:" + "4" * 64)
    assert (actions[0].action, actions[0].reason) == ("move", "rebuilt: new base image (sha256:444444444444)")


def test_max_age_rebuilds_what_is_older():
    import dataclasses
    import datetime

    now = datetime.datetime(2026, 11, 28, tzinfo=datetime.UTC)
    week = dataclasses.replace(target(), max_age=datetime.timedelta(days=7))
    fresh = {t: dataclasses.replace(remote("22.10.1"), created=now - datetime.timedelta(days=2))
             for t in week.tags}
    assert {a.action for a in plan_tags(week, INPUTS, fresh, now=now)} == {"up to date"}
    stale = {t: dataclasses.replace(r, created=now - datetime.timedelta(days=8)) for t, r in fresh.items()}
    actions = plan_tags(week, INPUTS, stale, now=now)
    assert (actions[0].action, actions[0].reason) == (
        "move", "rebuilt: too old (built 2026-11-20; max_age 7d)")
    assert {a.action for a in actions[1:]} == {"move"}
    # without max_age, age does not matter
    assert {a.action for a in plan_tags(target(), INPUTS, stale, now=now)} == {"up to date"}


# ----------------------------------------------------------------------------- git snapshots

COMMIT, NEXT, EARLIER = "1a2b3c4" + "0" * 33, "5d6e7f8" + "1" * 33, "0f0f0f0" + "2" * 33


def snapshot(commit=COMMIT, branch="master", variant="plain"):
    from pipeline.snapshots import GitVersion, Snapshot
    from pipeline.tags import snapshot_tags

    version = GitVersion(commit, branch)
    return Target(series=f"git:{branch}", release=Snapshot(version, "https://github.com/asterisk/asterisk"),
                  variant=VARIANTS[variant], platforms=BOTH, base_image="debian:trixie-slim",
                  tags=tuple(snapshot_tags(version, VARIANTS[variant])))


def built(commit, inputs=INPUTS, version="", platforms=BOTH):
    """A tag's image: a snapshot of commit (a release when version is given instead)."""
    return Current(digest="sha256:" + "2" * 64, platforms=platforms, inputs=inputs, commit=commit,
                   version=Version.parse(version) if version else None)


@pytest.mark.parametrize("state, expected", [
    # first build of the branch
    ({}, {"git-1a2b3c4": ("create", ""), "master-git": ("create", "")}),
    # built before, same inputs: nothing to do
    ({"git-1a2b3c4": built(COMMIT), "master-git": built(COMMIT)},
     {"git-1a2b3c4": ("up to date", ""), "master-git": ("up to date", "")}),
    # the branch moved on: the new commit gets its tag, the branch tag follows it
    ({"master-git": built(EARLIER)},
     {"git-1a2b3c4": ("create", ""), "master-git": ("move", "from git-0f0f0f0")}),
    # the branch went back (a force-push upstream): the branch tag follows it there too
    ({"git-1a2b3c4": built(COMMIT), "master-git": built(NEXT)},
     {"git-1a2b3c4": ("up to date", ""), "master-git": ("move", "from git-5d6e7f8")}),
    # the same commit built again from other inputs (a Dockerfile change): both move
    ({"git-1a2b3c4": built(COMMIT, inputs=OTHER), "master-git": built(COMMIT, inputs=OTHER)},
     {"git-1a2b3c4": ("move", "rebuilt: its inputs changed"),
      "master-git": ("move", "from an older build of the same commit")}),
    # a missing platform: the fixed tag is pushed again, the branch tag is already there
    ({"git-1a2b3c4": built(COMMIT, platforms=("linux/amd64",)), "master-git": built(COMMIT)},
     {"git-1a2b3c4": ("move", "adds linux/arm64"), "master-git": ("up to date", "")}),
    # the branch tag holds something that is not a snapshot (a release, or by hand): left alone
    ({"master-git": built("", version="22.10.1")},
     {"git-1a2b3c4": ("create", ""), "master-git": ("keep", "points at an image that is not a git snapshot")}),
])
def test_snapshot_tag_decisions(state, expected):
    actions = plan_tags(snapshot(), INPUTS, state)
    assert {a.tag: (a.action, a.reason) for a in actions} == expected


def test_release_aliases_never_take_a_snapshot_and_snapshots_never_name_a_release_tag(releases):
    # a release alias that somehow points at a snapshot is left alone (no version label)
    actions = plan_tags(target(), INPUTS, {"lts": built(COMMIT), "22": built(COMMIT)})
    assert {a.tag: a.action for a in actions} == {
        "22.10.1": "create", "22.10": "create", "22": "keep", "lts": "keep", "latest": "create"}
    # and no snapshot tag can be a release tag: git-..., ...-git(-opus), never a version
    recent = [v for v in releases if v.major >= 20]
    release_tags = {tag for version in recent for variant in ("plain", "opus")
                    for tag in tags_for(version, VARIANTS[variant], recent)}
    assert {"22.10.1", "22", "lts", "latest-opus", "23.4.0-rc1"} <= release_tags
    for branch in ("master", "22", "20", "latest", "lts", "certified/22.8"):
        for variant in ("plain", "opus"):
            assert not set(snapshot(branch=branch, variant=variant).tags) & release_tags
