"""Shared fixtures: the real upstream release lists; and the checkout stays as it was (no
test writes into it)."""

import subprocess
from pathlib import Path

import pytest

from pipeline.versions import parse_versions

ROOT = Path(__file__).resolve().parent.parent
# The real upstream release lists, copied from ../shared/fixtures (which only this
# project's machines have) into tests/fixtures; test_versions checks the copy.
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures"
FIXTURES = ROOT / "tests" / "fixtures"
RELEASES_FILE = FIXTURES / "asterisk-releases.txt"
CERTIFIED_FILE = FIXTURES / "asterisk-certified-releases.txt"


@pytest.fixture(scope="session")
def releases():
    return parse_versions(RELEASES_FILE.read_text().splitlines())


@pytest.fixture(scope="session")
def certified():
    return parse_versions(CERTIFIED_FILE.read_text().splitlines())


@pytest.fixture(scope="session", autouse=True)
def out_of_the_checkout(tmp_path_factory):
    """What the `pipeline` commands of the tests write (sources, logs, the manifest cache:
    PIPELINE_OUT, by default ./out) goes to a temporary directory unless a test names its
    own, never into the checkout."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PIPELINE_OUT", str(tmp_path_factory.mktemp("pipeline-out")))
        yield


@pytest.fixture(scope="session", autouse=True)
def checkout_untouched():
    """A file the tests leave in the checkout (as docs/out/manifest-cache.json once was,
    committed by accident) fails the run: tests write into tmp_path."""
    before = untracked_files()
    yield
    left = sorted(untracked_files() - before)
    assert not left, f"the tests left files in the checkout: {left}; write them under tmp_path"


def untracked_files() -> set[str]:
    """The files of the checkout git neither tracks nor ignores (none outside a git checkout)."""
    try:
        done = subprocess.run(["git", "-C", str(ROOT), "ls-files", "--others", "--exclude-standard"],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return set()
    return set(done.stdout.splitlines()) if done.returncode == 0 else set()
