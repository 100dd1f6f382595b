"""Invoices: lines, totals, numbering and the forward-only status machine."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from chalicelib.domain.money import CURRENCY, vat_cents
from chalicelib.domain.payments import Payment, PaymentStatus

if TYPE_CHECKING:  # documents build on invoices; an invoice only lists their summaries
    from chalicelib.domain.documents import DocumentSummary


class InvoiceStatus(enum.StrEnum):
    OPEN = "open"
    PROCESSING = "processing"
    PAID = "paid"
    VOID = "void"


# Which status may follow which; `paid` and `void` are final.
_ALLOWED_MOVES = {
    InvoiceStatus.OPEN: {InvoiceStatus.PROCESSING, InvoiceStatus.PAID, InvoiceStatus.VOID},
    InvoiceStatus.PROCESSING: {InvoiceStatus.OPEN, InvoiceStatus.PAID},
    InvoiceStatus.PAID: set(),
    InvoiceStatus.VOID: set(),
}


def can_move(current: InvoiceStatus, target: InvoiceStatus) -> bool:
    return target in _ALLOWED_MOVES[current]


def list_group(status: InvoiceStatus) -> str:
    """The filter bucket of the invoice list: open covers everything not yet settled."""
    if status in (InvoiceStatus.OPEN, InvoiceStatus.PROCESSING):
        return "open"
    return str(status.value)


@dataclasses.dataclass(frozen=True)
class InvoiceLine:
    description: str
    quantity: int
    unit_net_cents: int
    tax_rate_percent: Decimal

    @property
    def net_cents(self) -> int:
        return self.quantity * self.unit_net_cents

    @property
    def tax_cents(self) -> int:
        return vat_cents(self.net_cents, self.tax_rate_percent)


@dataclasses.dataclass(frozen=True)
class Totals:
    net_cents: int
    tax_cents: int
    gross_cents: int
    # net and tax per tax rate, as §14 Abs. 4 Nr. 8 UStG asks
    by_rate: tuple[tuple[Decimal, int, int], ...]


def compute_totals(lines: Sequence[InvoiceLine]) -> Totals:
    per_rate: dict[Decimal, list[int]] = {}
    for line in lines:
        bucket = per_rate.setdefault(line.tax_rate_percent, [0, 0])
        bucket[0] += line.net_cents
        bucket[1] += line.tax_cents
    net = sum(line.net_cents for line in lines)
    tax = sum(line.tax_cents for line in lines)
    by_rate = tuple((rate, n, t) for rate, (n, t) in sorted(per_rate.items()))
    return Totals(net_cents=net, tax_cents=tax, gross_cents=net + tax, by_rate=by_rate)


def format_number(year: int, sequence: int) -> str:
    return f"RE-{year}-{sequence:06d}"


@dataclasses.dataclass(frozen=True)
class Invoice:
    id: str
    store_id: str
    number: str
    issue_date: date
    due_date: date
    period: str | None
    description: str
    lines: tuple[InvoiceLine, ...]
    status: InvoiceStatus
    paid_at: datetime | None = None
    created_at: datetime | None = None
    currency: str = CURRENCY
    active_payment_id: str | None = None
    payments: tuple[Payment, ...] = ()
    documents: tuple[DocumentSummary, ...] = ()
    paid_by: str | None = None  # the payment that paid it
    credited_cents: int = 0  # gross of the credit notes issued for it
    credit_refunded_cents: int = 0  # money given back for those credit notes
    # Its PDF (and XML) are stored: only then is it shown to the owner and mailed.
    ready: bool = True

    @property
    def totals(self) -> Totals:
        return compute_totals(self.lines)

    @property
    def refunded_cents(self) -> int:
        """Money given back for this invoice: every payment settles each of its invoices in
        full, so a refunded payment gave back this invoice's gross; credit notes give back
        what they credit of a paid invoice."""
        refunded = sum(1 for p in self.payments if p.status == PaymentStatus.REFUNDED)
        return refunded * self.totals.gross_cents + self.credit_refunded_cents

    @property
    def amount_due_cents(self) -> int:
        """What a payment of this invoice collects: its gross less what was credited."""
        return self.totals.gross_cents - self.credited_cents

    @property
    def correction_state(self) -> str | None:
        """How corrections left it: storniert, gutgeschrieben, teilweise gutgeschrieben."""
        if self.status == InvoiceStatus.VOID and self.credited_cents == 0:
            return "cancelled"
        if self.credited_cents >= self.totals.gross_cents > 0:
            return "credited"
        if self.credited_cents > 0:
            return "partially_credited"
        return None

    def is_overdue(self, today: date) -> bool:
        return list_group(self.status) == "open" and today > self.due_date

    @property
    def pdf_filename(self) -> str:
        return f"Rechnung-{self.number}.pdf"
