"""Development snapshots from git, against local repositories made here (gitrepo.py: the
stand-ins for github.com/asterisk/asterisk) and the local mirror (pjproject, sounds):

- a branch resolves to its head with git ls-remote and follows it; a short commit id is
  expanded; what does not exist is refused with the repository named;
- `pipeline plan git:master` prints the target and its tags;
- the source archive: the commit's tree, one top directory, a `.version` saying
  GIT-master-<sha7>, the same bytes every time; pjproject verified against the md5 the
  commit's tree names (a tree naming another md5 is refused);
- `pipeline build git:master` compiles it and passes the smoke suite (slow);
- publishing (the tiny image of test_publish.py): git-<sha7> and <branch>-git, a moved
  branch moves only its tag, a commit already published is skipped, release tags are
  never touched; CI's jobs build the commit the plan pinned, even when the branch moved.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
from pathlib import Path

import pytest
import yaml

from pipeline import distribution, publish, sources
from pipeline.build import Maker
from pipeline.cli import main
from pipeline.errors import ResolutionError, SourceError
from pipeline.labels import GIT_COMMIT_LABEL, VERSION_LABEL
from pipeline.matrix import load
from pipeline.outcomes import summary
from pipeline.plan import make_plan
from pipeline.releases import ReleaseIndex
from pipeline.snapshots import GitSpec, GitVersion, Remote, Snapshot
from tests.integration import gitrepo
from tests.integration.conftest import BASE_IMAGE, REPO_MATRIX, TEST_IMAGE, require
from tests.integration.registry import start_registry
from tests.integration.test_publish import oci_entry, statuses, version_smoke
from tests.integration.tiny_image import remove_images, tiny_prepare, tiny_sources

PLATFORMS = ["linux/amd64", "linux/arm64"]
REPO = "asterisk"
IMAGE = f"git-{TEST_IMAGE}"                 # the local images of this module: git-...
TINY_IMAGE = f"git-{TEST_IMAGE}-tiny"


@pytest.fixture(scope="module")
def asterisk_repository(tmp_path_factory, mirror):
    """(URL, commit naming upstream's pjproject md5, head of master naming the mirror's)."""
    return gitrepo.asterisk_repository(tmp_path_factory.mktemp("asterisk-git") / "asterisk", mirror)


@pytest.fixture
def tiny_repo(tmp_path):
    directory = tmp_path / "tiny-asterisk"
    url, first = gitrepo.tiny_repository(directory)
    return directory, url, first


# ----------------------------------------------------------------------------- resolving

def test_a_branch_resolves_to_its_head_and_follows_it(tiny_repo):
    directory, url, first = tiny_repo
    remote = Remote(url)
    assert remote.resolve(GitSpec.parse("git:master")) == Snapshot(GitVersion(first, "master"), url)
    second = gitrepo.move(directory, "second")
    assert remote.resolve(GitSpec.parse("git:master")).version.commit == second
    # a commit is taken as it is named; a short id is expanded to the full one
    assert remote.resolve(GitSpec.parse(f"git:{first[:9]}")).version == GitVersion(first)
    assert remote.resolve(GitSpec.parse(f"git:master@{first}")).version == GitVersion(first, "master")


def test_what_does_not_exist_is_refused_naming_the_repository(tiny_repo, tmp_path):
    directory, url, first = tiny_repo
    remote = Remote(url)
    with pytest.raises(ResolutionError, match=f"{url} has no branch 'nosuch'"):
        remote.resolve(GitSpec.parse("git:nosuch"))
    missing = "0123456" if not first.startswith("0123456") else "6543210"
    with pytest.raises(ResolutionError, match=f"no single commit of a branch of {url} starts with {missing}"):
        remote.resolve(GitSpec.parse(f"git:{missing}"))
    with pytest.raises(ResolutionError, match="ls-remote") as error:
        Remote(f"file://user:Pa55w0rd@localhost{tmp_path}/nowhere").resolve(GitSpec.parse("git:master"))
    assert "Pa55w0rd" not in str(error.value)
    with pytest.raises(SourceError, match="fetch"):          # a commit the repository does not have
        Remote(url).archive(Snapshot(GitVersion("f" * 40, "master"), url), tmp_path / "a.tar.gz")
    assert not (tmp_path / "a.tar.gz").exists()


def test_pipeline_plan_prints_the_target_and_its_tags(tiny_repo, monkeypatch, capsys):
    directory, url, first = tiny_repo
    monkeypatch.setenv("PIPELINE_GIT", url)
    assert main(["plan", "git:master", "--matrix", str(REPO_MATRIX)]) == 0
    out = capsys.readouterr().out
    short = first[:7]
    assert f"| git-{short}      | git:master | linux/amd64, linux/arm64 |" in out
    assert f"git-{short}, master-git " in out and f"git-{short}-opus, master-git-opus" in out
    assert f"GIT-master-{short}: commit {first} of {url}" in out
    for release_tag in ("22.10.1", "lts", "latest"):
        assert release_tag not in out
    assert main(["plan", "git:nosuch", "--matrix", str(REPO_MATRIX)]) == 4


# ----------------------------------------------------------------------------- the source archive

def members(tarball: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(tarball) as tar:
        return {member.name: member for member in tar}


def test_the_source_is_the_commit_s_tree_with_a_version_file(asterisk_repository, mirror, tmp_path):
    url, upstream, head = asterisk_repository
    matrix = load(REPO_MATRIX, environ={"PIPELINE_MIRROR": mirror, "PIPELINE_GIT": url})
    [target] = make_plan(matrix, ReleaseIndex(matrix.releases, matrix.sources), ["git:master"],
                         variants=["plain"]).targets
    assert target.snapshot is not None and target.snapshot.version.commit == head
    context = sources.prepare(target.release, matrix.sources, tmp_path / "context")
    tarball = context / "asterisk.tar.gz"
    found = members(tarball)
    top = f"asterisk-git-{head[:7]}"
    assert {name.split("/", 1)[0] for name in found} == {top}          # one top directory
    with tarfile.open(tarball) as tar:
        version = tar.extractfile(f"{top}/.version")
        assert version is not None and version.read() == f"GIT-master-{head[:7]}\n".encode()
    assert f"{top}/third-party/versions.mak" in found and f"{top}/main/asterisk.c" in found
    # pjproject: fetched from the mirror and verified against the md5 the tree names
    pjproject = context / "externals" / "pjproject-2.17.tar.bz2"
    named = (Path(url.removeprefix("file://")) / gitrepo.MD5_FILE).read_text().split()[0]
    assert hashlib.md5(pjproject.read_bytes()).hexdigest() == named
    # no .asc for a snapshot: signatures are on (matrix.yaml), the commit is what is verified
    assert matrix.sources.verify_signatures
    [asterisk] = [v for v in sources.recorded(context) if v.part == "asterisk"]
    assert asterisk.signed_by == "" and asterisk.checked_against.startswith(f"git archive of commit {head}")
    # the same commit gives the same bytes (the build cache recognises it)
    again = sources.prepare(target.release, matrix.sources, tmp_path / "again")
    assert sources.file_sha256(again / "asterisk.tar.gz") == sources.file_sha256(tarball)


def test_a_tree_naming_another_pjproject_md5_is_refused(asterisk_repository, mirror, tmp_path):
    """The first commit names upstream's md5; the mirror's stand-in pjproject is not
    upstream's tarball: refused, nothing kept to build from."""
    url, upstream, head = asterisk_repository
    matrix = load(REPO_MATRIX, environ={"PIPELINE_MIRROR": mirror, "PIPELINE_GIT": url})
    [target] = make_plan(matrix, ReleaseIndex(matrix.releases, matrix.sources), [f"git:{upstream}"],
                         variants=["plain"]).targets
    with pytest.raises(SourceError, match="pjproject-2.17.tar.bz2: md5 checksum mismatch"):
        sources.prepare(target.release, matrix.sources, tmp_path / "context")
    assert not (tmp_path / "context" / "externals" / "pjproject-2.17.tar.bz2").exists()


# ----------------------------------------------------------------------------- the real build (slow)

@pytest.mark.slow
def test_build_a_snapshot_and_smoke_test_it(asterisk_repository, docker, mirror, tmp_path, monkeypatch):
    """`pipeline build git:master`: Asterisk compiled from the branch's head, both variants
    smoke-tested with real calls; `asterisk -V` in the image says GIT-master-<sha7>."""
    url, upstream, head = asterisk_repository
    for name, value in {"PIPELINE_GIT": url, "PIPELINE_MIRROR": mirror,
                        "PIPELINE_OUT": str(tmp_path / "out")}.items():
        monkeypatch.setenv(name, value)
    code = main(["build", "git:master", "--platform", "linux/amd64", "--image", IMAGE,
                 "--matrix", str(REPO_MATRIX)])
    assert code == 0, f"see {tmp_path / 'out' / 'logs'}"
    short = head[:7]
    for suffix in ("", "-opus"):
        ref = f"{IMAGE}:git-{short}{suffix}"
        said = docker.run(ref, ["asterisk", "-V"], remove=True)
        assert said.strip() == f"Asterisk GIT-master-{short}"
        labels = docker.image.inspect(ref).config.labels
        assert labels[VERSION_LABEL] == f"GIT-master-{short}"
        assert labels[GIT_COMMIT_LABEL] == head
        docker.image.remove(ref, force=True)


# ----------------------------------------------------------------------------- publishing (tiny image)

@pytest.fixture
def registry(tmp_path):
    require("docker-registry")
    registry = start_registry(tmp_path / "registry")
    yield registry
    registry.stop()


@pytest.fixture(autouse=True, scope="module")
def remove_tiny_images(docker):
    yield
    remove_images(docker, TINY_IMAGE)


def write_matrix(directory: Path, registry, git_url: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "releases.txt").write_text("22.9.0\n22.10.1\n")
    (directory / "matrix.yaml").write_text(yaml.safe_dump({
        "releases": {"source": "file", "files": ["releases.txt"]},
        "sources": {"mirror": "http://127.0.0.1:9/unused", "git": git_url},
        "defaults": {"base_image": BASE_IMAGE, "platforms": PLATFORMS},
        "series": [{"spec": "22.x"}],
        "registries": [oci_entry(registry)],
    }, sort_keys=False))
    return directory / "matrix.yaml"


def tiny_maker(matrix, work: Path) -> Maker:
    """The tiny image's Maker: a release's context is the tiny one; a snapshot's holds the
    real git archive of its commit (so each commit is its own image)."""
    dockerfiles, context, digest = tiny_sources(work / "tiny")
    for_releases = tiny_prepare(context, digest)

    def prepare(release, sources_, dest):
        if isinstance(release, Snapshot):
            dest.mkdir(parents=True, exist_ok=True)
            Remote(release.repository).archive(release, dest / "asterisk.tar.gz")
            sources.record(dest, [sources.snapshot_record(release, dest / "asterisk.tar.gz")])
            return dest
        return for_releases(release, sources_, dest)

    def checksum(release):
        return sources.identity(release) if isinstance(release, Snapshot) else digest

    return Maker(sources=matrix.sources, out=work / "out", image_name=TINY_IMAGE, smoke=version_smoke,
                 dockerfiles=dockerfiles, prepare=prepare, checksum=checksum)


def publish_specs(docker, matrix_path: Path, specs, maker: Maker, variants=(), **options):
    matrix = load(matrix_path, environ={})
    plan = make_plan(matrix, ReleaseIndex(matrix.releases, matrix.sources), list(specs), variants=variants)
    outcomes = publish.execute(plan, maker, publish.Options(**options), base_dir=matrix_path.parent,
                               environ={}, docker=docker)
    summary(outcomes)
    return outcomes


def test_publish_snapshots_beside_releases(docker, registry, tiny_repo, tmp_path):
    directory, url, first = tiny_repo
    matrix = write_matrix(tmp_path / "m", registry, url)
    maker = tiny_maker(load(matrix, environ={}), tmp_path)
    release_tags = ["22", "22-opus", "22.10", "22.10-opus", "22.10.1", "22.10.1-opus",
                    "latest", "latest-opus", "lts", "lts-opus"]
    assert set(statuses(publish_specs(docker, matrix, ["22.x"], maker)).values()) == {"published"}
    assert registry.tags(REPO) == release_tags
    releases_before = {tag: registry.complete(REPO, tag)[0] for tag in release_tags}

    def snapshot_digests() -> dict[str, str]:
        return {tag: registry.complete(REPO, tag)[0] for tag in registry.tags(REPO) if "git" in tag}

    a = first[:7]
    outcomes = publish_specs(docker, matrix, ["git:master"], maker)
    assert statuses(outcomes) == {(f"git-{a}", "local"): "published", (f"git-{a}-opus", "local"): "published"}
    assert registry.tags(REPO) == sorted(release_tags + [f"git-{a}", f"git-{a}-opus", "master-git",
                                                         "master-git-opus"])
    assert registry.complete(REPO, "master-git")[1] == PLATFORMS
    first_publication = snapshot_digests()
    assert first_publication["master-git"] == first_publication[f"git-{a}"]
    info = distribution.Client(registry.host).image_info(REPO, "master-git")
    assert info is not None
    for labels in info.labels.values():
        assert labels[VERSION_LABEL] == f"GIT-master-{a}"
        assert labels[GIT_COMMIT_LABEL] == first

    # again: nothing to do
    assert set(statuses(publish_specs(docker, matrix, ["git:master"], maker)).values()) == {"up to date"}

    # the branch moves: the new commit gets its own tag, only master-git follows it
    second = gitrepo.move(directory, "second")
    b = second[:7]
    outcomes = publish_specs(docker, matrix, ["git:master"], maker)
    assert statuses(outcomes) == {(f"git-{b}", "local"): "published", (f"git-{b}-opus", "local"): "published"}
    assert [(a_.tag, a_.action, a_.reason) for a_ in outcomes[0].actions] == [
        (f"git-{b}", "create", ""), ("master-git", "move", f"from git-{a}")]
    after = snapshot_digests()
    assert after[f"git-{a}"] == first_publication[f"git-{a}"]           # fixed: never moves
    assert after["master-git"] == after[f"git-{b}"] != first_publication["master-git"]

    # a commit already published, named by its id: skipped (its identity is the commit)
    assert set(statuses(publish_specs(docker, matrix, [f"git:{a}"], maker)).values()) == {"up to date"}
    # and the release tags were never touched
    assert {tag: registry.complete(REPO, tag)[0] for tag in release_tags} == releases_before


def test_ci_jobs_publish_the_commit_the_plan_pinned(docker, registry, tiny_repo, tmp_path):
    """As publish.yml runs it: the plan job resolves git:master and hands its build and merge
    jobs the pinned spec (git:master@SHA); the branch moving meanwhile changes nothing of
    that run. One `--by-digest` job per platform, then `--merge`."""
    directory, url, first = tiny_repo
    matrix_path = write_matrix(tmp_path / "m", registry, url)
    matrix = load(matrix_path, environ={})
    plan = make_plan(matrix, ReleaseIndex(matrix.releases, matrix.sources), ["git:master"], variants=["plain"])
    [version] = {entry["version"] for entry in plan.as_json()["include"]}
    assert version == f"git:master@{first}"
    gitrepo.move(directory, "pushed while the build jobs run")
    maker = tiny_maker(matrix, tmp_path)
    digests = tmp_path / "digests"
    for platform in PLATFORMS:
        [job] = publish_specs(docker, matrix_path, [version], maker, ["plain"], mode="by-digest",
                              digests=digests, build_platform=platform, created=plan.created)
        assert job.status == "pushed by digest", job.reason
    assert registry.tags(REPO) == []
    [merged] = publish_specs(docker, matrix_path, [version], maker, ["plain"], mode="merge",
                             digests=digests, created=plan.created)
    assert merged.status == "published", merged.reason
    assert registry.tags(REPO) == [f"git-{first[:7]}", "master-git"]
    info = distribution.Client(registry.host).image_info(REPO, "master-git")
    assert info is not None
    for labels in info.labels.values():
        assert labels[GIT_COMMIT_LABEL] == first
    shutil.rmtree(digests)
