"""Development snapshots (`git:` specs): parsing, the version string, tags, the plan, labels
and the inputs digest. Pure: the repository is a stand-in whose resolve() answers from a
table (tests/integration/test_snapshots.py runs git against a real repository)."""

import dataclasses
import json
import textwrap

import pytest

from pipeline import registries
from pipeline.core import VARIANTS
from pipeline.distribution import ImageInfo
from pipeline.errors import ConfigurationError
from pipeline.inputs import inputs_digest
from pipeline.labels import GIT_COMMIT_LABEL, GIT_REPOSITORY_LABEL, INPUTS_LABEL, VERSION_LABEL, image_labels
from pipeline.matrix import load
from pipeline.plan import make_plan
from pipeline.provenance import Provenance
from pipeline.releases import ReleaseIndex
from pipeline.snapshots import GitSpec, GitVersion, Remote, Snapshot
from pipeline.tags import snapshot_tags
from tests.conftest import CERTIFIED_FILE, RELEASES_FILE, ROOT

FILES = f"file:{RELEASES_FILE},{CERTIFIED_FILE}"
A = "1a2b3c4d5e6f" + "0" * 28
B = "9f8e7d6c5b4a" + "1" * 28


# ----------------------------------------------------------------------------- specs

@pytest.mark.parametrize("text, branch, commit", [
    ("git:master", "master", ""),
    ("git:22", "22", ""),
    ("git:releases/22", "releases/22", ""),
    ("git:certified/22.8", "certified/22.8", ""),
    ("git:feature_x-1.2", "feature_x-1.2", ""),
    (" git:master ", "master", ""),
    ("git:1a2b3c4", "", "1a2b3c4"),                 # 7 to 40 lowercase hex digits: a commit
    (f"git:{A}", "", A),
    ("git:1a2b3c", "1a2b3c", ""),                   # 6 digits: a branch name
    ("git:ABCDEF1", "ABCDEF1", ""),                 # upper case: a branch name
    (f"git:master@{A}", "master", A),               # a branch pinned to a commit
    (f"git:releases/22@{B}", "releases/22", B),
])
def test_git_specs(text, branch, commit):
    spec = GitSpec.parse(text)
    assert (spec.branch, spec.commit) == (branch, commit)


@pytest.mark.parametrize("text, problem", [
    ("git:", "names no branch or commit"),
    ("git:master@1a2b3c4", "after '@' comes the full 40-digit commit id"),
    ("git:master@", "after '@' comes the full 40-digit commit id"),
    (f"git:@{A}", "'' is not a branch name"),
    ("git:a..b", "'a..b' is not a branch name"),
    ("git:-x", "'-x' is not a branch name"),
    ("git:a b", "'a b' is not a branch name"),
    ("git:x,y", "'x,y' is not a branch name"),      # a comma would break a buildx cache spec
    ("git:x:y", "'x:y' is not a branch name"),
    ("git:a//b", "'a//b' is not a branch name"),
    ("git:a/", "'a/' is not a branch name"),
    ("git:topic.lock", "'topic.lock' is not a branch name"),
    ("git:a/.hidden", "'a/.hidden' is not a branch name"),
    ("git:" + "b" * 101, "at most 100"),
])
def test_bad_git_specs_say_what_to_write(text, problem):
    with pytest.raises(ConfigurationError, match="use git:BRANCH") as error:
        GitSpec.parse(text)
    assert problem in str(error.value)


# ----------------------------------------------------------------------------- version and tags

@pytest.mark.parametrize("version, text, spec", [
    (GitVersion(A, "master"), "GIT-master-1a2b3c4", f"git:master@{A}"),
    (GitVersion(A, "releases/22"), "GIT-releases/22-1a2b3c4", f"git:releases/22@{A}"),
    (GitVersion(A), "GIT-1a2b3c4", f"git:{A}"),
])
def test_the_version_asterisk_reports_and_the_spec_that_names_it_again(version, text, spec):
    # make_version's form for a git checkout (GIT-<branch>-<describe>), with the short id
    assert str(version) == text
    assert version.spec == spec
    assert GitSpec.parse(version.spec) == GitSpec(text=spec, branch=version.branch, commit=A)


@pytest.mark.parametrize("version, variant, expected", [
    (GitVersion(A, "master"), "plain", ["git-1a2b3c4", "master-git"]),
    (GitVersion(A, "master"), "opus", ["git-1a2b3c4-opus", "master-git-opus"]),
    (GitVersion(A, "22"), "plain", ["git-1a2b3c4", "22-git"]),
    (GitVersion(A, "releases/22"), "plain", ["git-1a2b3c4", "releases-22-git"]),
    (GitVersion(A), "plain", ["git-1a2b3c4"]),      # named by commit: no branch to follow
    (GitVersion(A), "opus", ["git-1a2b3c4-opus"]),
])
def test_snapshot_tags(version, variant, expected):
    assert snapshot_tags(version, VARIANTS[variant]) == expected


# ----------------------------------------------------------------------------- the plan

class TableRemote(Remote):
    """The repository as a table of branch heads; a short commit expands by prefix."""

    def __init__(self, url="https://github.com/asterisk/asterisk", heads=None):
        super().__init__(url)
        self.heads = heads or {"master": A}
        self.asked = []

    def resolve(self, spec):
        self.asked.append(spec.text)
        commit = spec.commit or self.heads[spec.branch]
        commit = next(c for c in (A, B) if c.startswith(commit))
        return Snapshot(GitVersion(commit, spec.branch), self.url)


class NoReleases(ReleaseIndex):
    def releases(self, *, certified=False):
        raise AssertionError("a git-only plan read the release list")


@pytest.fixture
def matrix():
    return load(ROOT / "matrix.yaml", environ={"PIPELINE_RELEASES": FILES})


def test_a_branch_plans_both_variants_with_the_defaults(matrix):
    remote = TableRemote()
    plan = make_plan(matrix, NoReleases(matrix.releases, matrix.sources), ["git:master"], git=remote)
    assert remote.asked == ["git:master"]
    assert [(t.id, t.series, t.tags, t.platforms, t.base_image) for t in plan.targets] == [
        ("git-1a2b3c4", "git:master", ("git-1a2b3c4", "master-git"), matrix.defaults.platforms,
         matrix.defaults.base_image),
        ("git-1a2b3c4-opus", "git:master", ("git-1a2b3c4-opus", "master-git-opus"),
         matrix.defaults.platforms, matrix.defaults.base_image)]
    target = plan.targets[0]
    assert str(target.version) == "GIT-master-1a2b3c4"
    assert target.snapshot is not None and target.snapshot.version.commit == A
    assert target.origin == f"https://github.com/asterisk/asterisk at {A}"


def test_a_commit_and_a_release_side_by_side(matrix):
    plan = make_plan(matrix, ReleaseIndex(matrix.releases, matrix.sources), ["22.x", "git:9f8e7d6"],
                     variants=["plain"], git=TableRemote())
    assert [(t.id, t.series, t.tags) for t in plan.targets] == [
        ("22.10.1", "22.x", ("22.10.1", "22.10", "22", "lts")),
        ("git-9f8e7d6", "git:9f8e7d6", ("git-9f8e7d6",))]
    assert str(plan.targets[1].version) == "GIT-9f8e7d6"
    assert plan.targets[0].snapshot is None


def test_the_json_hands_the_pinned_commit_to_later_jobs(matrix):
    plan = make_plan(matrix, NoReleases(matrix.releases, matrix.sources), ["git:master"],
                     variants=["plain"], git=TableRemote(url="https://user:t0ken@example.org/ast.git"))
    entry = plan.as_json(per_platform=True)["include"][0]
    assert entry["version"] == f"git:master@{A}"
    assert entry["commit"] == A
    assert entry["repository"] == "https://example.org/ast.git"    # no credentials
    assert "t0ken" not in json.dumps(plan.as_json())
    assert entry["series"] == "git:master" and entry["platform_slug"] == "linux-amd64"
    # what a build job is handed names the same target, without asking the repository again
    remote = TableRemote(heads={"master": B})
    again = make_plan(matrix, NoReleases(matrix.releases, matrix.sources), [entry["version"]],
                      variants=["plain"], git=remote)
    assert [t.id for t in again.targets] == ["git-1a2b3c4"]
    assert again.targets[0].tags == ("git-1a2b3c4", "master-git")


def test_git_specs_are_not_matrix_series(tmp_path):
    path = tmp_path / "matrix.yaml"
    path.write_text("series:\n  - spec: git:master\n")
    with pytest.raises(ConfigurationError, match="series\\[0\\].spec"):
        load(path, environ={})


# ----------------------------------------------------------------------------- the repository setting

def test_the_repository_is_asterisks_unless_told(tmp_path):
    path = tmp_path / "matrix.yaml"
    path.write_text("series:\n  - spec: 22.x\n")
    assert load(path, environ={}).sources.git == "https://github.com/asterisk/asterisk"
    assert load(path, environ={"PIPELINE_GIT": "file:///srv/a.git"}).sources.git == "file:///srv/a.git"
    path.write_text(textwrap.dedent("""
        sources:
          git: /srv/asterisk
        series:
          - spec: 22.x
    """))
    assert load(path, environ={}).sources.git == "/srv/asterisk"


def test_a_bad_repository_is_named_with_its_fix(tmp_path):
    path = tmp_path / "matrix.yaml"
    path.write_text("sources:\n  git: github.com/asterisk/asterisk\nseries:\n  - spec: 22.x\n")
    with pytest.raises(ConfigurationError) as error:
        load(path, environ={})
    assert str(error.value).startswith(f"{path}: sources.git: 'github.com/asterisk/asterisk' is not a "
                                       "git repository URL; write one such as https://")
    path.write_text("series:\n  - spec: 22.x\n")
    with pytest.raises(ConfigurationError, match=r"^\$PIPELINE_GIT: 'relative/path' is not a git"):
        load(path, environ={"PIPELINE_GIT": "relative/path"})


# ----------------------------------------------------------------------------- labels and inputs

def snapshot_target(matrix, commit=A, branch="master", variant="plain"):
    remote = TableRemote(heads={"master": commit, "22": commit})
    plan = make_plan(matrix, NoReleases(matrix.releases, matrix.sources), [f"git:{branch}" if branch
                                                                            else f"git:{commit[:7]}"],
                     variants=[variant], git=remote)
    return plan.targets[0]


def test_labels_name_the_commit_and_the_version_asterisk_reports(matrix):
    target = snapshot_target(matrix)
    labels = image_labels(target, "f" * 64, Provenance())
    assert labels[VERSION_LABEL] == "GIT-master-1a2b3c4"
    assert labels[GIT_COMMIT_LABEL] == A
    assert labels[GIT_REPOSITORY_LABEL] == "https://github.com/asterisk/asterisk"
    assert labels["org.opencontainers.image.version"] == "git-1a2b3c4"
    release = make_plan(matrix, ReleaseIndex(matrix.releases, matrix.sources), ["22.x"],
                        variants=["plain"]).targets[0]
    assert GIT_COMMIT_LABEL not in image_labels(release, "f" * 64, Provenance())


def test_the_commit_is_the_input_and_the_branch_is_not(matrix):
    def inputs(target):
        return inputs_digest(target, matrix.sources, target.snapshot.version.commit)

    master = snapshot_target(matrix)
    assert inputs(master) == inputs(snapshot_target(matrix, branch="22"))
    assert inputs(master) == inputs(snapshot_target(matrix, branch=""))       # git:1a2b3c4
    assert inputs(master) != inputs(snapshot_target(matrix, commit=B))        # the branch moved
    assert inputs(master) != inputs(snapshot_target(matrix, variant="opus"))


def test_the_registry_copy_of_the_commit_label_is_read_back():
    labels = {VERSION_LABEL: "GIT-master-1a2b3c4", GIT_COMMIT_LABEL: A,
              INPUTS_LABEL: "f" * 64}
    current = registries.current_from(ImageInfo(digest="sha256:ab", platforms=("linux/amd64",),
                                                labels={"linux/amd64": labels}))
    assert current.commit == A
    assert current.version is None        # not a release: release aliases leave it alone
    cache = registries.ManifestCache()
    cache.put(ImageInfo(digest="sha256:ab", platforms=("linux/amd64",),
                        labels={"linux/amd64": {**labels, "other": "x"}}))
    assert cache.get("sha256:ab").labels["linux/amd64"][GIT_COMMIT_LABEL] == A


def test_the_url_shown_and_the_archive_directory():
    snapshot = Snapshot(GitVersion(A, "master"), "https://github.com/asterisk/asterisk")
    assert dataclasses.replace(snapshot, repository="https://u:p@h/r").url == "https://h/r"
    assert snapshot.top_directory == "asterisk-git-1a2b3c4"
