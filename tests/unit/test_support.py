import datetime

import pytest

from pipeline import support
from pipeline.versions import Version

DAY = datetime.date.fromisoformat


@pytest.mark.parametrize(("version", "on", "status", "shown"), [
    ("18.26.4", "2026-11-28", support.END_OF_LIFE, "end of life since 2025-10-20"),
    ("18.26.4", "2025-10-19", support.SECURITY_ONLY, "LTS, security fixes only until 2025-10-20"),
    ("18.26.4", "2025-10-20", support.END_OF_LIFE, "end of life since 2025-10-20"),
    ("20.20.1", "2026-10-18", support.SUPPORTED, "LTS, supported until 2026-10-19"),
    ("20.20.1", "2026-11-28", support.SECURITY_ONLY, "LTS, security fixes only until 2027-10-19"),
    ("21.12.3", "2026-11-28", support.END_OF_LIFE, "end of life since 2026-10-18"),
    ("22.10.1", "2026-11-28", support.SUPPORTED, "LTS, supported until 2028-10-16"),
    ("22.10.1", "2029-10-16", support.END_OF_LIFE, "end of life since 2029-10-16"),
    ("23.4.1", "2026-08-01", support.SUPPORTED, "standard, supported until 2026-10-15"),
    ("23.4.1", "2026-11-28", support.SECURITY_ONLY, "standard, security fixes only until 2027-10-15"),
    # a certified release follows the major it is cut from
    ("22.8-cert3", "2026-11-28", support.SUPPORTED, "LTS, supported until 2028-10-16"),
    # not (yet) in Asterisk's table
    ("24.0.0", "2026-11-28", support.UNKNOWN, "unknown"),
    ("1.8.32.3", "2026-11-28", support.UNKNOWN, "unknown"),
])
def test_status_on_a_date(version, on, status, shown):
    result = support.status(Version.parse(version), DAY(on))
    assert result.status == status
    assert str(result) == shown


def test_json_form():
    assert support.status(Version.parse("18.26.4"), DAY("2026-11-28")).as_json() == {
        "status": "end of life", "type": "LTS", "security_fix_only": "2024-10-20",
        "end_of_life": "2025-10-20"}
    assert support.status(Version.parse("24.0.0"), DAY("2026-11-28")).as_json() == {
        "status": "unknown", "type": None, "security_fix_only": None, "end_of_life": None}


def test_the_table_follows_the_published_policy():
    """LTS: 4 years of full support, then 1 of security fixes; standard: at least 1 + 1."""
    for row in support.SERIES.values():
        assert row.released < row.security_only < row.end_of_life, row
        assert (row.kind == "LTS") == (row.major in (11, 13) or (row.major >= 16 and row.major % 2 == 0))
        security_years = round((row.end_of_life - row.security_only).days / 365.25)
        assert security_years == 1, row
        if row.kind == "LTS" and row.major >= 16:
            assert round((row.security_only - row.released).days / 365.25) == 4, row
