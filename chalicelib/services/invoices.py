"""Use cases of invoices: issue (numbered, PDF archived, mailed), resend, void, list, read,
download."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from chalicelib.domain.archive import retain_until
from chalicelib.domain.errors import (
    ConflictError,
    InvoiceNotFoundError,
    ServiceUnavailableError,
    StoreNotFoundError,
)
from chalicelib.domain.invoices import (
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    format_number,
)
from chalicelib.domain.stores import Store
from chalicelib.domain.supplier import Supplier
from chalicelib.domain.validation import (
    DEFAULT_MAX_INVOICE_GROSS_CENTS,
    DEFAULT_VAT_RATES,
    FieldError,
    check_lines,
    validate_period,
)
from chalicelib.services import emails
from chalicelib.services.cursors import CursorCodec
from chalicelib.services.ports import (
    NO_METRICS,
    Clock,
    DocumentStore,
    EInvoiceRenderer,
    InvoicePage,
    InvoiceRepository,
    Mailer,
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


def xml_key(invoice: Invoice) -> str:
    """The XRechnung stored next to the invoice's PDF."""
    return f"invoices/{invoice.store_id}/{invoice.id}.xml"


def xml_filename(invoice: Invoice) -> str:
    return invoice.pdf_filename.removesuffix(".pdf") + ".xml"


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
    its PDF and no number is skipped. Every new invoice goes to the owner by e-mail, with
    its PDF attached, whether or not they ever signed in to the portal."""

    invoices: InvoiceRepository
    stores: StoreRepository
    documents: DocumentStore
    render_pdf: PdfRenderer
    supplier: Supplier
    clock: Clock
    metrics: Metrics = NO_METRICS
    mailer: Mailer | None = None
    portal_url: str = ""
    vat_rates: tuple[Decimal, ...] = DEFAULT_VAT_RATES
    max_gross_cents: int = DEFAULT_MAX_INVOICE_GROSS_CENTS
    # With it every invoice is an e-invoice: the hybrid PDF, and its XRechnung stored and
    # mailed next to it (docs/adr/0005-e-invoices.md).
    render_einvoice: EInvoiceRenderer | None = None

    def issue(
        self,
        store_id: str,
        lines: Sequence[InvoiceLine],
        period: str | None = None,
        due_days: int = 14,
        invoice_id: str | None = None,
    ) -> Invoice:
        if due_days < 0 or due_days > 365:
            raise FieldError("Zahlungsziel", f"{due_days} Tage liegt nicht zwischen 0 und 365")
        if period is not None and (error := validate_period(period)):
            raise FieldError("Zeitraum", error)
        check_lines(lines, self.vat_rates, self.max_gross_cents)
        # A stage whose seller data is invalid issues nothing at all.
        supplier = self.supplier.require_valid()
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
            xml: bytes | None = None
            if self.render_einvoice is not None:
                files = self.render_einvoice(invoice, store, supplier)
                pdf, xml = files.pdf, files.xml
                self.documents.put_xml(xml_key(invoice), xml, retain_until(invoice.issue_date))
            else:
                pdf = self.render_pdf(invoice, store, supplier)
            self.documents.put_pdf(pdf_key(invoice), pdf, retain_until(invoice.issue_date))
            try:
                self.invoices.add_numbered(invoice, sequence)
            except ConflictError:
                existing = self.invoices.get(invoice_id) if invoice_id else None
                if existing is not None:
                    return existing  # someone issued this very invoice meanwhile
                continue
            self.metrics.count("InvoicesIssued")
            # A licence invoice of a store with autopay is charged right after the run.
            charged = invoice_id is not None and store.autopay and store.payment_method is not None
            self._mail(store, invoice, pdf, charged_automatically=charged, xml=xml)
            return invoice
        raise ConflictError()

    def resend(self, invoice_id: str) -> tuple[str, ...]:
        """Mail an issued invoice (its archived PDF) to the owner again; the addresses."""
        invoice = self.invoices.get(invoice_id)
        if invoice is None:
            raise InvoiceNotFoundError()
        store = self.stores.get(invoice.store_id)
        if store is None:
            raise StoreNotFoundError()
        xml = self.documents.get_xml(xml_key(invoice)) if self.render_einvoice else None
        return self._send(store, invoice, self.documents.get_pdf(pdf_key(invoice)), False, xml)

    def _mail(
        self,
        store: Store,
        invoice: Invoice,
        pdf: bytes,
        charged_automatically: bool,
        xml: bytes | None = None,
    ) -> None:
        """The one mail of a new invoice; remembered on the open item so the charge worker
        does not send it a second time. The invoice is issued whether or not the mail goes
        out: a mail that fails (SES throttled or down) leaves the item unmailed, and the
        charge worker or `portal invoices resend` sends it later."""
        try:
            sent = self._send(store, invoice, pdf, charged_automatically, xml)
        except ServiceUnavailableError:
            self.metrics.count("InvoiceMailsFailed")
            return
        if not sent:
            return
        current = self.stores.get(store.id)
        items = current.open_items if current is not None else ()
        item = next((i for i in items if i.invoice_id == invoice.id), None)
        if item is not None and not item.mailed:
            self.stores.update_open_item(store.id, dataclasses.replace(item, mailed=True))

    def _send(
        self,
        store: Store,
        invoice: Invoice,
        pdf: bytes,
        charged_automatically: bool,
        xml: bytes | None = None,
    ) -> tuple[str, ...]:
        if self.mailer is None:
            return ()
        sent_to = emails.recipients(store)
        link = f"{self.portal_url}/#/rechnungen/{invoice.id}"
        for address in sent_to:
            self.mailer.send(
                emails.invoice_mail(
                    address,
                    invoice,
                    link,
                    pdf=pdf,
                    charged_automatically=charged_automatically,
                    xml=xml,
                )
            )
        if sent_to:
            self.metrics.count("InvoiceMailsSent", len(sent_to))
        return sent_to


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

    def xml_link(self, store_id: str, invoice_id: str) -> PdfLink:
        """The invoice's XRechnung (stored next to its PDF since invoices are e-invoices)."""
        invoice = self.get(store_id, invoice_id)
        filename = xml_filename(invoice)
        url = self.documents.presigned_download(xml_key(invoice), filename, PDF_LINK_SECONDS)
        return PdfLink(url=url, expires_in=PDF_LINK_SECONDS, filename=filename)
