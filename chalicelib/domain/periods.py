"""Billing periods (YYYY-MM) and the Europe/Berlin calendar the business runs on."""

from __future__ import annotations

import dataclasses
import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")
MONTHS = (
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
)
_PERIOD = re.compile(r"^(\d{4})-(\d{2})$")


def today_in_berlin(now: datetime) -> date:
    """The business day of a moment: invoices and dunning count days in Berlin."""
    return now.astimezone(BERLIN).date()


@dataclasses.dataclass(frozen=True, order=True)
class BillingPeriod:
    """One calendar month of licence billing."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not (1 <= self.month <= 12 and 2000 <= self.year <= 9999):
            raise ValueError(f"no such billing period: {self.year}-{self.month:02d}")

    @classmethod
    def parse(cls, text: str) -> BillingPeriod:
        """`YYYY-MM` of a month that exists; ValueError otherwise."""
        match = _PERIOD.match(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"not a billing period (YYYY-MM): {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, day: date) -> BillingPeriod:
        return cls(day.year, day.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def compact(self) -> str:
        """`YYYYMM`, for ids derived from the period."""
        return f"{self.year:04d}{self.month:02d}"

    @property
    def label(self) -> str:
        """The German name of the month: `November 2026`."""
        return f"{MONTHS[self.month - 1]} {self.year}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def next(self) -> BillingPeriod:
        return BillingPeriod(self.year + self.month // 12, self.month % 12 + 1)


def period_label(period: str) -> str:
    return BillingPeriod.parse(period).label


def licence_invoice_id(store_id: str, period: str) -> str:
    """The id of a store's one invoice for a service period (its monthly licence), whoever
    issues it: the monthly run, a repeated or resumed run, or the operator by hand. One id
    per store and month is what keeps the month from being billed twice."""
    return f"lic_{store_id}_{BillingPeriod.parse(period).compact}"
