"""Shared fixtures: the real upstream release lists."""

from pathlib import Path

import pytest

from pipeline.versions import parse_versions

ROOT = Path(__file__).resolve().parent.parent
# The real upstream release lists: ../shared/fixtures where the project's machines have it,
# else the copy in tests/fixtures (a GitHub checkout). test_versions checks they agree.
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures"
FIXTURES = SHARED_FIXTURES if SHARED_FIXTURES.is_dir() else ROOT / "tests" / "fixtures"
RELEASES_FILE = FIXTURES / "asterisk-releases.txt"
CERTIFIED_FILE = FIXTURES / "asterisk-certified-releases.txt"


@pytest.fixture(scope="session")
def releases():
    return parse_versions(RELEASES_FILE.read_text().splitlines())


@pytest.fixture(scope="session")
def certified():
    return parse_versions(CERTIFIED_FILE.read_text().splitlines())
