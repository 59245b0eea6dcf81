"""Shared fixtures: the real upstream release lists."""

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
