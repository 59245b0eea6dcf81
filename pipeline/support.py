"""Asterisk's published support dates per major release, and a version's status on a date.

Pure: no I/O. The table is Asterisk's own "Asterisk Versions" page
(https://docs.asterisk.org/About-the-Project/Asterisk-Versions/, source
asterisk/documentation docs/About-the-Project/Asterisk-Versions.md, as of its commit
382db781 of 2026-06-01). Policy stated there: an LTS release is fully supported for 4
years, then gets security fixes only for 1 more; a standard release for at least 1 year,
then 1 more of security fixes. A major missing from the table (a newer one, or the 1.x
era) has status "unknown": add its row when Asterisk publishes it.

Certified releases (22.8-cert3) are Sangoma's own stream and have no rows of their own;
they are shown with the dates of the major they are cut from.
"""

from __future__ import annotations

import dataclasses
import datetime

from .snapshots import GitVersion
from .versions import Version

SUPPORTED = "supported"
SECURITY_ONLY = "security fixes only"
END_OF_LIFE = "end of life"
UNKNOWN = "unknown"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Series:
    major: int
    kind: str                        # "LTS" or "standard"
    released: datetime.date
    security_only: datetime.date     # from this day: security fixes only
    end_of_life: datetime.date       # from this day: no fixes at all


def _row(major: int, kind: str, released: str, security_only: str, end_of_life: str) -> Series:
    day = datetime.date.fromisoformat
    return Series(major=major, kind=kind, released=day(released),
                  security_only=day(security_only), end_of_life=day(end_of_life))


SERIES = {row.major: row for row in (
    _row(10, "standard", "2011-12-15", "2012-12-15", "2013-12-15"),
    _row(11, "LTS", "2012-10-25", "2016-10-25", "2017-10-25"),
    _row(12, "standard", "2013-12-20", "2014-12-20", "2015-12-20"),
    _row(13, "LTS", "2014-10-24", "2020-10-24", "2021-10-24"),
    _row(14, "standard", "2016-09-26", "2017-09-26", "2018-09-26"),
    _row(15, "standard", "2017-10-03", "2018-10-03", "2019-10-03"),
    _row(16, "LTS", "2018-10-09", "2022-10-09", "2023-10-09"),
    _row(17, "standard", "2019-10-28", "2020-10-28", "2021-10-28"),
    _row(18, "LTS", "2020-10-20", "2024-10-20", "2025-10-20"),
    _row(19, "standard", "2021-11-02", "2022-11-02", "2023-11-02"),
    _row(20, "LTS", "2022-10-19", "2026-10-19", "2027-10-19"),
    _row(21, "standard", "2023-10-18", "2025-10-18", "2026-10-18"),
    _row(22, "LTS", "2024-10-16", "2028-10-16", "2029-10-16"),
    _row(23, "standard", "2025-10-15", "2026-10-15", "2027-10-15"),
)}


@dataclasses.dataclass(frozen=True)
class Status:
    status: str                      # SUPPORTED, SECURITY_ONLY, END_OF_LIFE or UNKNOWN
    series: Series | None = None

    def __str__(self) -> str:
        """For the plan table: 'end of life since 2025-10-20', 'LTS, supported until 2028-10-16'."""
        row = self.series
        if row is None:
            return UNKNOWN
        if self.status == END_OF_LIFE:
            return f"{END_OF_LIFE} since {row.end_of_life}"
        if self.status == SECURITY_ONLY:
            return f"{row.kind}, {SECURITY_ONLY} until {row.end_of_life}"
        return f"{row.kind}, {SUPPORTED} until {row.security_only}"

    def as_json(self) -> dict[str, str | None]:
        row = self.series
        return {"status": self.status, "type": row.kind if row else None,
                "security_fix_only": row.security_only.isoformat() if row else None,
                "end_of_life": row.end_of_life.isoformat() if row else None}


def status(version: Version | GitVersion, on: datetime.date) -> Status:
    """Where a release's major stands on a given day (a development snapshot: unknown)."""
    if not isinstance(version, Version):
        return Status(UNKNOWN)
    row = SERIES.get(version.major) if version.release[0] != 1 else None
    if row is None:
        return Status(UNKNOWN)
    if on >= row.end_of_life:
        return Status(END_OF_LIFE, row)
    if on >= row.security_only:
        return Status(SECURITY_ONLY, row)
    return Status(SUPPORTED, row)
