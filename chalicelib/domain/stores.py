"""Stores (restaurants), their address and the open invoices they owe."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta


@dataclasses.dataclass(frozen=True)
class Address:
    street: str
    postal_code: str
    city: str
    country: str = "DE"


@dataclasses.dataclass(frozen=True)
class OpenItem:
    """An unsettled invoice as the store record keeps it, so balances and dunning need
    no invoice query."""

    invoice_id: str
    gross_cents: int
    due_date: date
    attempts: int = 0  # automatic charge attempts so far
    retry_on: date | None = None  # next automatic attempt, if any
    reminded: int = 0  # payment reminders sent
    mailed: bool = False  # the invoice itself went out by e-mail (stores without autopay)

    def overdue_past(self, today: date, grace_days: int) -> bool:
        return today > self.due_date + timedelta(days=grace_days)


@dataclasses.dataclass(frozen=True)
class SavedCard:
    id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int

    def expires_before(self, day: date) -> bool:
        """A card is valid through the last day of its expiry month."""
        return (self.exp_year, self.exp_month) < (day.year, day.month)


@dataclasses.dataclass(frozen=True)
class Store:
    id: str
    name: str
    billing_email: str
    address: Address
    vat_id: str | None
    monthly_fee_cents: int
    account_status: str = "active"
    blocked_since: datetime | None = None
    open_items: tuple[OpenItem, ...] = ()
    autopay: bool = False
    created_at: datetime | None = None
    card_customer_id: str | None = None  # the store as a customer of the card vault
    payment_method: SavedCard | None = None
    closed_at: datetime | None = None
    # The buyer reference (BT-10) of its e-invoices when the operator set one (public-sector
    # buyers); else the e-invoices name the store id.
    leitweg_id: str | None = None
    # The owner's account: where every new document is forwarded, and whether sign-in
    # asks for a one-time code (TOTP).
    accountant_email: str | None = None
    mfa_enabled: bool = False

    def open_balance_cents(self) -> int:
        return sum(item.gross_cents for item in self.open_items)

    def overdue_balance_cents(self, today: date) -> int:
        return sum(item.gross_cents for item in self.open_items if today > item.due_date)

    def should_be_blocked(self, today: date, grace_days: int) -> bool:
        """Blocked exactly while an invoice is overdue past the grace period."""
        return any(item.overdue_past(today, grace_days) for item in self.open_items)


def normalize_email(email: str) -> str:
    return email.strip().lower()
