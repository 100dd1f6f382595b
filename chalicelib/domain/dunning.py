"""What happens after an automatic charge fails: retry, ask the owner, or stop."""

from __future__ import annotations

import enum
from datetime import date, timedelta

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
