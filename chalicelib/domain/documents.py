"""Documents issued for invoices: the invoice itself, Stornorechnung, credit note, receipt.

An issued document never changes; each kind has its own gap-free number sequence per year
(docs/adr/0004-document-numbers.md).
"""

from __future__ import annotations

import dataclasses
import enum
from datetime import date, datetime

from chalicelib.domain.invoices import InvoiceLine, Totals, compute_totals


class DocumentKind(enum.StrEnum):
    INVOICE = "invoice"
    CANCELLATION = "cancellation"  # Stornorechnung
    CREDIT_NOTE = "credit_note"  # Rechnungskorrektur / Gutschrift
    RECEIPT = "receipt"  # Zahlungsbestätigung

    @property
    def prefix(self) -> str:
        return _PREFIX[self]

    @property
    def label(self) -> str:
        """The document's name as printed on it and shown to the owner."""
        return _TITLE[self]

    @property
    def file_stem(self) -> str:
        return _FILE_STEM[self]


_PREFIX = {
    DocumentKind.INVOICE: "RE",
    DocumentKind.CANCELLATION: "ST",
    DocumentKind.CREDIT_NOTE: "GS",
    DocumentKind.RECEIPT: "ZB",
}
_TITLE = {
    DocumentKind.INVOICE: "Rechnung",
    DocumentKind.CANCELLATION: "Stornorechnung",
    DocumentKind.CREDIT_NOTE: "Gutschrift",
    DocumentKind.RECEIPT: "Zahlungsbestätigung",
}
_FILE_STEM = {
    DocumentKind.INVOICE: "Rechnung",
    DocumentKind.CANCELLATION: "Storno",
    DocumentKind.CREDIT_NOTE: "Gutschrift",
    DocumentKind.RECEIPT: "Zahlungsbestaetigung",
}


def format_document_number(kind: DocumentKind, year: int, sequence: int) -> str:
    return f"{kind.prefix}-{year}-{sequence:06d}"


def counter_id(kind: DocumentKind, year: int) -> str:
    """The sequence a number is taken from (invoices keep their original counter name)."""
    return f"{kind.value.replace('_', '-')}-number-{year}"


@dataclasses.dataclass(frozen=True)
class Refund:
    """Money a credit note gave back: through which payment, how much, and its state."""

    payment_id: str
    amount_cents: int
    status: str  # "succeeded" | "pending"


@dataclasses.dataclass(frozen=True)
class DocumentRef:
    """The invoice a document refers to."""

    invoice_id: str
    number: str


@dataclasses.dataclass(frozen=True)
class Document:
    """A numbered document belonging to one or more invoices of one store.

    `number` is empty until add_numbered gave it one; `ready` once its PDF is stored."""

    id: str
    kind: DocumentKind
    store_id: str
    issue_date: date
    gross_cents: int
    currency: str
    refers_to: tuple[DocumentRef, ...]
    created_at: datetime
    number: str = ""
    payment_id: str | None = None
    ready: bool = False
    lines: tuple[InvoiceLine, ...] = ()  # corrections: the corrected amounts, sign reversed
    reason: str = ""
    refers_to_date: date | None = None  # the corrected invoice's issue date
    refund: Refund | None = None  # a credit note's money given back, once it is
    refund_owed: bool = False  # issued for a paid invoice: money goes back with it

    @property
    def totals(self) -> Totals:
        return compute_totals(self.lines)

    @property
    def invoice_ids(self) -> tuple[str, ...]:
        return tuple(ref.invoice_id for ref in self.refers_to)

    @property
    def pdf_key(self) -> str:
        return f"documents/{self.store_id}/{self.id}.pdf"

    @property
    def pdf_filename(self) -> str:
        return f"{self.kind.file_stem}-{self.number}.pdf"


@dataclasses.dataclass(frozen=True)
class DocumentSummary:
    """What an invoice keeps of each document that belongs to it (its detail needs no query)."""

    id: str
    kind: DocumentKind
    number: str
    issue_date: date
    gross_cents: int
    currency: str
    ready: bool
