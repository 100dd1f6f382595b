"""Use cases of invoices: issue (numbered, PDF stored), void, list, read, download."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from chalicelib.domain.errors import (
    ConflictError,
    InvalidRequestError,
    InvoiceNotFoundError,
    InvoiceNotVoidableError,
    StoreNotFoundError,
)
from chalicelib.domain.invoices import (
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    can_move,
    format_number,
)
from chalicelib.domain.supplier import Supplier
from chalicelib.services.cursors import CursorCodec
from chalicelib.services.ports import (
    NO_METRICS,
    Clock,
    DocumentStore,
    InvoicePage,
    InvoiceRepository,
    Metrics,
    PdfRenderer,
    StoreRepository,
)

BERLIN = ZoneInfo("Europe/Berlin")
PDF_LINK_SECONDS = 300
NUMBER_ATTEMPTS = 20
MAX_PAGE = 100


def pdf_key(invoice: Invoice) -> str:
    return f"invoices/{invoice.store_id}/{invoice.id}.pdf"


def today_in_berlin(now: datetime) -> date:
    return now.astimezone(BERLIN).date()


@dataclasses.dataclass(frozen=True)
class PdfLink:
    url: str
    expires_in: int
    filename: str


@dataclasses.dataclass(frozen=True)
class InvoiceList:
    items: Sequence[Invoice]
    next_cursor: str | None


def _describe(lines: Sequence[InvoiceLine]) -> str:
    first = lines[0].description
    if len(lines) == 1:
        return first
    more = len(lines) - 1
    return f"{first} und {more} weitere Position{'en' if more > 1 else ''}"


@dataclasses.dataclass(frozen=True)
class InvoiceIssuer:
    """Issues invoices: renders the PDF for the number it is about to take, then commits
    number, invoice and store balance in one transaction, so no invoice exists without
    its PDF and no number is skipped."""

    invoices: InvoiceRepository
    stores: StoreRepository
    documents: DocumentStore
    render_pdf: PdfRenderer
    supplier: Supplier
    clock: Clock
    metrics: Metrics = NO_METRICS

    def issue(
        self,
        store_id: str,
        lines: Sequence[InvoiceLine],
        period: str | None = None,
        due_days: int = 14,
        invoice_id: str | None = None,
    ) -> Invoice:
        if not lines or due_days < 0 or due_days > 365:
            raise InvalidRequestError(
                "Eine Rechnung braucht Positionen und ein gültiges Zahlungsziel."
            )
        store = self.stores.get(store_id)
        if store is None:
            raise StoreNotFoundError()
        now = self.clock.now()
        today = today_in_berlin(now)
        for _ in range(NUMBER_ATTEMPTS):
            sequence = self.invoices.next_number(today.year)
            invoice = Invoice(
                id=invoice_id or "inv_" + secrets.token_hex(10),
                store_id=store.id,
                number=format_number(today.year, sequence),
                issue_date=today,
                due_date=today + timedelta(days=due_days),
                period=period,
                description=_describe(lines),
                lines=tuple(lines),
                status=InvoiceStatus.OPEN,
                created_at=now,
            )
            self.documents.put_pdf(pdf_key(invoice), self.render_pdf(invoice, store, self.supplier))
            try:
                self.invoices.add_numbered(invoice, sequence)
            except ConflictError:
                existing = self.invoices.get(invoice_id) if invoice_id else None
                if existing is not None:
                    return existing  # someone issued this very invoice meanwhile
                continue
            self.metrics.count("InvoicesIssued")
            return invoice
        raise ConflictError()

    def void(self, invoice_id: str) -> Invoice:
        invoice = self.invoices.get(invoice_id)
        if invoice is None:
            raise InvoiceNotFoundError()
        if not can_move(invoice.status, InvoiceStatus.VOID):
            raise InvoiceNotVoidableError()
        return self.invoices.move(invoice, InvoiceStatus.VOID, self.clock.now())


@dataclasses.dataclass(frozen=True)
class InvoiceReader:
    """What a signed-in owner may read: only the invoices of their own store."""

    invoices: InvoiceRepository
    documents: DocumentStore
    cursors: CursorCodec

    def list(self, store_id: str, status: str, limit: int, cursor: str | None) -> InvoiceList:
        group = None if status == "all" else status
        scope = f"{store_id}|{status}"
        start_key = self.cursors.decode(scope, cursor) if cursor else None
        page: InvoicePage = self.invoices.list_for_store(store_id, group, limit, start_key)
        next_cursor = self.cursors.encode(scope, page.last_key) if page.last_key else None
        return InvoiceList(items=page.items, next_cursor=next_cursor)

    def get(self, store_id: str, invoice_id: str) -> Invoice:
        invoice = self.invoices.get(invoice_id)
        # Another store's invoice answers exactly like one that does not exist.
        if invoice is None or invoice.store_id != store_id:
            raise InvoiceNotFoundError()
        return invoice

    def pdf_link(self, store_id: str, invoice_id: str) -> PdfLink:
        invoice = self.get(store_id, invoice_id)
        url = self.documents.presigned_download(
            pdf_key(invoice), invoice.pdf_filename, PDF_LINK_SECONDS
        )
        return PdfLink(url=url, expires_in=PDF_LINK_SECONDS, filename=invoice.pdf_filename)
