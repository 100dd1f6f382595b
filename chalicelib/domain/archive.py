"""How long the archive must keep a document (§14b UStG, §147 AO)."""

from __future__ import annotations

from datetime import UTC, date, datetime

RETENTION_YEARS = 8


def retain_until(issue_date: date) -> date:
    """The retention period starts at the end of the calendar year in which the document
    was issued and lasts 8 years: kept through 31 December of issue year + 8, released on
    the day after."""
    return date(issue_date.year + RETENTION_YEARS + 1, 1, 1)


def retain_until_moment(day: date) -> datetime:
    """The object lock's retain-until timestamp for a release day: its start in UTC, which
    is 01:00 in Berlin, so the whole last day of the period stays covered."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
