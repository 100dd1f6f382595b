"""What happens after an automatic charge fails: retry, ask the owner, or stop."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import date, timedelta

from chalicelib.domain.stores import OpenItem

# Days after the first attempt on which a soft decline is tried again.
RETRY_AFTER_DAYS = (3, 7)
HARD_DECLINES = frozenset(
    {
        "expired_card",
        "lost_card",
        "stolen_card",
        "pickup_card",
        "incorrect_number",
        "invalid_account",
        "restricted_card",
        "card_not_supported",
        "invalid_expiry_year",
        "no_payment_method",
        "resource_missing",
        "invalid_request",
    }
)
AUTHENTICATION = frozenset({"authentication_required", "payment_intent_authentication_failure"})


class Outcome(enum.StrEnum):
    AUTHENTICATE = "authentication_required"  # owner pays on-session; never retried
    RETRY = "soft_decline"
    GIVE_UP = "hard_decline"


def classify(failure_code: str | None) -> Outcome:
    if failure_code in AUTHENTICATION:
        return Outcome.AUTHENTICATE
    if failure_code in HARD_DECLINES:
        return Outcome.GIVE_UP
    return Outcome.RETRY


def next_retry(first_attempt: date, attempts: int) -> date | None:
    """The day of the next try after `attempts` tries, or None when the schedule is used up."""
    if attempts < 1 or attempts > len(RETRY_AFTER_DAYS):
        return None
    return first_attempt + timedelta(days=RETRY_AFTER_DAYS[attempts - 1])


def period_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def next_period(period: str) -> str:
    year, month = int(period[:4]), int(period[5:])
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def lock_date(due_date: date, grace_days: int) -> date:
    """The first day the till is locked for an invoice due on `due_date` (the same rule as
    OpenItem.overdue_past: locked once today > due date + grace days)."""
    return due_date + timedelta(days=grace_days + 1)


def lock_warning(
    items: Sequence[OpenItem], today: date, grace_days: int
) -> tuple[date, int] | None:
    """When the till will be locked unless paid, and how much must be paid by then: from
    the first invoice that is overdue (reminded) until its lock day; None otherwise."""
    overdue = [item for item in items if today > item.due_date]
    if not overdue:
        return None
    day = min(lock_date(item.due_date, grace_days) for item in overdue)
    if day <= today:
        return None  # locked already (or today): the profile says so by its status
    amount = sum(item.gross_cents for item in items if lock_date(item.due_date, grace_days) <= day)
    return day, amount
