"""Local git repositories standing in for github.com/asterisk/asterisk (not reachable here),
served as file:// URLs: git ls-remote, fetch by commit id and archive work on them as on
GitHub. Filters are allowed (uploadpack.allowFilter), as GitHub allows them.

- `tiny_repository`: a few files, for resolving and publishing (the tiny image does not
  read the tree).
- `asterisk_repository`: the Asterisk 22.10.1 tree of ../shared/sources (made from the
  upstream git tag) as a development branch: `.version` removed, as on a branch. Commit 1
  is that tree, naming upstream's pjproject md5; commit 2 rewrites that md5 to the stand-in
  mirror's pjproject tarball, as the mirror did for the release tarballs it serves
  (../shared/sources/README.md). The branch's head is commit 2.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import requests

from tests.conftest import ROOT

AUTHOR = {"GIT_AUTHOR_NAME": "Stand-in", "GIT_AUTHOR_EMAIL": "stand-in@localhost",
          "GIT_COMMITTER_NAME": "Stand-in", "GIT_COMMITTER_EMAIL": "stand-in@localhost"}
UPSTREAM_TARBALL = "downloads.asterisk.org/pub/telephony/asterisk/releases/asterisk-22.10.1.tar.gz"
PJPROJECT = "raw.githubusercontent.com/asterisk/third-party/master/pjproject/2.17/pjproject-2.17.tar.bz2"
MD5_FILE = "third-party/pjproject/pjproject-2.17.tar.bz2.md5"


def git(directory: Path, *args: str, date: str = "2026-08-01T12:00:00Z") -> str:
    """git in directory; commits get fixed names and dates, so the same content gives the
    same commit ids in every run (and the build cache can recognise it)."""
    env = {**os.environ, **AUTHOR, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    return subprocess.run(["git", "-C", str(directory), *args], env=env, capture_output=True,
                          text=True, check=True).stdout.strip()


def init(directory: Path, branch: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    git(directory, "init", "--quiet", "-b", branch)
    git(directory, "config", "uploadpack.allowFilter", "true")


def commit(directory: Path, message: str, *, date: str = "2026-08-01T12:00:00Z") -> str:
    """Commit everything in the work tree (also what .gitignore names: the tree is the
    upstream tree as it is); the new commit's id."""
    git(directory, "add", "--all", "--force")
    git(directory, "commit", "--quiet", "-m", message, date=date)
    return git(directory, "rev-parse", "HEAD")


def tiny_repository(directory: Path, branch: str = "master") -> tuple[str, str]:
    """(file:// URL, first commit id)."""
    init(directory, branch)
    (directory / "README").write_text("a stand-in for Asterisk's repository\n")
    return f"file://{directory}", commit(directory, "first")


def move(directory: Path, message: str, *, date: str = "2026-08-02T12:00:00Z") -> str:
    """One more commit on the current branch: the branch moves; its new head."""
    with (directory / "CHANGES").open("a") as changes:
        changes.write(f"{message}\n")
    return commit(directory, message, date=date)


def shared_sources() -> Path:
    """../shared/sources of this checkout (or of a directory above it: a worktree)."""
    for directory in ROOT.parents:
        if (directory / "shared" / "sources" / UPSTREAM_TARBALL).is_file():
            return directory / "shared" / "sources"
    raise AssertionError(f"no shared/sources/{UPSTREAM_TARBALL} above {ROOT}: this project's "
                         "machines have it (see ENVIRONMENT.md)")


def asterisk_repository(directory: Path, mirror: str) -> tuple[str, str, str]:
    """(file:// URL, commit naming upstream's pjproject md5, head naming the mirror's)."""
    init(directory, "master")
    subprocess.run(["tar", "-xzf", str(shared_sources() / UPSTREAM_TARBALL), "-C", str(directory),
                    "--strip-components=1"], check=True)
    (directory / ".version").unlink()           # a branch has none: make_version asks git
    upstream = commit(directory, "Asterisk 22.10.1's tree, as a development branch")
    response = requests.get(f"{mirror}/{PJPROJECT}", timeout=60)
    response.raise_for_status()
    md5 = hashlib.md5(response.content).hexdigest()
    (directory / MD5_FILE).write_text(f"{md5}  pjproject-2.17.tar.bz2\n")
    head = commit(directory, "stand-in: the md5 of the mirror's pjproject-2.17.tar.bz2",
                  date="2026-08-01T12:01:00Z")
    return f"file://{directory}", upstream, head
