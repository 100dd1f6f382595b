"""Stores (restaurants), their address and the open invoices they owe."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime


@dataclasses.dataclass(frozen=True)
class Address:
    street: str
    postal_code: str
    city: str
    country: str = "DE"


@dataclasses.dataclass(frozen=True)
class OpenItem:
    """An unsettled invoice as the store record keeps it, so balances need no query."""

    invoice_id: str
    gross_cents: int
    due_date: date


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
    stripe_customer_id: str | None = None

    def open_balance_cents(self) -> int:
        return sum(item.gross_cents for item in self.open_items)

    def overdue_balance_cents(self, today: date) -> int:
        return sum(item.gross_cents for item in self.open_items if today > item.due_date)


def normalize_email(email: str) -> str:
    return email.strip().lower()
