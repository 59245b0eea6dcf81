"""Development snapshots: images built from one commit of Asterisk's git repository.

Specs (the CLI accepts them beside release specs; matrix.yaml's series are releases only):

| spec               | builds                                                                 |
|--------------------|------------------------------------------------------------------------|
| `git:master`       | the commit branch master points at now (`git ls-remote`)               |
| `git:1a2b3c4`      | that commit: 7 to 40 lowercase hex digits (a short id is expanded)     |
| `git:master@SHA`   | branch master taken to be at commit SHA (40 digits): the plan's JSON   |
|                    | hands this to CI's later jobs, so they build what the plan decided on  |

A snapshot is identified by its full commit id, as a release by its tarball's published
sha256: git checks every object it fetches against the ids that name it, so the commit id
stands for the whole tree (and the tree names the bundled pjproject's md5, as a release
tarball does).

A development tree has no `.version` file, and Asterisk's build_tools/make_version then
asks git, which the source archive does not have ("UNKNOWN__and_probably_unsupported").
The archive therefore gets a `.version` saying what it is, in make_version's own form for
a git checkout: `GIT-<branch>-<sha7>` (`GIT-<sha7>` for a commit named by its id), which
is what `asterisk -V` prints and what the image's version label holds.

The types are pure (GitSpec, GitVersion, Snapshot); Remote resolves and fetches through
git.py.
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
from pathlib import Path

from . import git, log
from .errors import ConfigurationError, ResolutionError, SourceError

PREFIX = "git:"
DEFAULT_REPOSITORY = "https://github.com/asterisk/asterisk"
SPEC_HELP = ("use git:BRANCH (e.g. git:master), git:COMMIT (7 to 40 lowercase hex digits) "
             "or git:BRANCH@COMMIT (a full 40-digit commit)")
_COMMIT_RE = re.compile(r"[0-9a-f]{7,40}")
_FULL_RE = re.compile(r"[0-9a-f]{40}")
# A conservative subset of git's branch names (git-check-ref-format): what a tag, a cache
# key and a command line can all carry as they are.
_BRANCH_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.-]*)*")
MAX_BRANCH = 100


def is_spec(text: str) -> bool:
    return text.strip().startswith(PREFIX)


@dataclasses.dataclass(frozen=True)
class GitSpec:
    """A parsed `git:` spec: a branch to follow, a commit, or both (a pinned branch)."""

    text: str
    branch: str = ""
    commit: str = ""

    @classmethod
    def parse(cls, text: str) -> GitSpec:
        body = text.strip().removeprefix(PREFIX)
        branch, _, commit = body.partition("@")
        if not body:
            raise ConfigurationError(f"{text!r} names no branch or commit; {SPEC_HELP}")
        if "@" in body:
            if not _FULL_RE.fullmatch(commit):
                raise ConfigurationError(f"{text!r}: after '@' comes the full 40-digit commit id; "
                                         f"{SPEC_HELP}")
            return cls(text=text, branch=_branch(branch, text), commit=commit)
        if _COMMIT_RE.fullmatch(body):
            return cls(text=text, commit=body)
        return cls(text=text, branch=_branch(body, text))


def _branch(name: str, text: str) -> str:
    if (not _BRANCH_RE.fullmatch(name) or len(name) > MAX_BRANCH or ".." in name
            or name.endswith((".", ".lock")) or "/." in name):
        raise ConfigurationError(f"{text!r}: {name!r} is not a branch name this pipeline builds "
                                 f"(letters, digits, '_', '.', '-' and '/', at most {MAX_BRANCH}); "
                                 f"{SPEC_HELP}")
    return name


@dataclasses.dataclass(frozen=True)
class GitVersion:
    """What a snapshot is, as a Version is what a release is: a commit, and the branch it
    was the head of ("" when it was named by its id). Not ordered: commits are not versions."""

    commit: str            # the full 40-digit commit id
    branch: str = ""

    def __str__(self) -> str:
        """The version Asterisk reports: GIT-master-1a2b3c4 (GIT-1a2b3c4 without a branch)."""
        return f"GIT-{self.branch}-{self.short}" if self.branch else f"GIT-{self.short}"

    @property
    def short(self) -> str:
        return self.commit[:7]

    @property
    def spec(self) -> str:
        """The spec that names exactly this snapshot again: git:master@<commit>."""
        return f"{PREFIX}{self.branch}@{self.commit}" if self.branch else f"{PREFIX}{self.commit}"


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """A commit of a git repository to build, as a Release is a tarball to build."""

    version: GitVersion
    repository: str        # the git URL it is fetched from

    @property
    def url(self) -> str:
        """The repository as shown in logs and labels (no credentials)."""
        return git.redact(self.repository)

    @property
    def top_directory(self) -> str:
        """The source archive's one top directory: asterisk-git-1a2b3c4."""
        return f"asterisk-git-{self.version.short}"


class Remote:
    """One git repository: branches resolved to commits, commits fetched and archived."""

    def __init__(self, url: str) -> None:
        self.url = url

    def resolve(self, spec: GitSpec) -> Snapshot:
        """The snapshot a spec names now: a branch's head, or a commit (a short id expanded)."""
        if spec.commit and _FULL_RE.fullmatch(spec.commit):
            commit = spec.commit
        elif spec.commit:
            commit = self._expand(spec.commit)
        else:
            commit = self._head(spec.branch)
        return Snapshot(GitVersion(commit=commit, branch=spec.branch), self.url)

    def _head(self, branch: str) -> str:
        ref = f"refs/heads/{branch}"
        with log.step(f"resolve branch {branch} of {git.redact(self.url)}"):
            listed = git.run(["ls-remote", "--heads", self.url, ref], error=ResolutionError,
                             timeout=120)
        for line in listed.splitlines():
            commit, _, name = line.partition("\t")
            if name == ref:
                return commit
        raise ResolutionError(f"{git.redact(self.url)} has no branch {branch!r}; check the name "
                              "(git ls-remote --heads URL lists them) or PIPELINE_GIT / sources.git")

    def _expand(self, short: str) -> str:
        """A short commit id made full: the commits of every branch (no trees, no files) are
        fetched and git finds the one commit that starts with it."""
        with tempfile.TemporaryDirectory(prefix="pipeline-git-") as scratch, \
                log.step(f"expand commit {short} from {git.redact(self.url)}"):
            git.run(["init", "--quiet", "--bare", scratch], error=ResolutionError)
            git.run(["fetch", "--quiet", "--no-tags", "--filter=tree:0", self.url,
                     "+refs/heads/*:refs/heads/*"], cwd=Path(scratch), error=ResolutionError)
            try:
                return git.run(["rev-parse", "--verify", "--quiet", f"{short}^{{commit}}"],
                               cwd=Path(scratch), error=ResolutionError).strip()
            except ResolutionError:
                raise ResolutionError(
                    f"git:{short}: no single commit of a branch of {git.redact(self.url)} starts "
                    f"with {short}; give more digits, or the full 40-digit commit id") from None

    def archive(self, snapshot: Snapshot, dest: Path) -> None:
        """The commit's tree as dest (tar.gz, one top directory) with a `.version` file added.
        Fetched by its full id, so git verifies that every object is the one the id names."""
        commit = snapshot.version.commit
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="pipeline-git-") as scratch:
            repository, extra = Path(scratch) / "repository.git", Path(scratch) / "extra"
            git.run(["init", "--quiet", "--bare", str(repository)], error=SourceError)
            git.run(["fetch", "--quiet", "--no-tags", "--depth", "1", self.url, commit],
                    cwd=repository, error=SourceError)
            fetched = git.run(["rev-parse", "--verify", f"{commit}^{{commit}}"], cwd=repository,
                              error=SourceError).strip()
            if fetched != commit:
                raise SourceError(f"{git.redact(self.url)}: fetching {commit} gave {fetched}; "
                                  "nothing was built from it")
            extra.mkdir()
            (extra / ".version").write_text(f"{snapshot.version}\n")
            # Deterministic: git stamps every entry with the commit's date and gzips with -n.
            # A `.version` the tree may carry (a release tag's commit) is replaced by ours.
            git.run(["archive", "--format=tar.gz", f"--prefix={snapshot.top_directory}/",
                     f"--add-file={extra / '.version'}", f"--output={dest.resolve()}", commit,
                     "--", ":(exclude).version"], cwd=repository, error=SourceError)
