"""Use cases of invoices: issue (numbered and committed, then PDF archived and mailed),
resend, list, read, download."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

from chalicelib.domain.archive import retain_until
from chalicelib.domain.errors import (
    InvoiceNotFoundError,
    ServiceUnavailableError,
    StoreNotFoundError,
)
from chalicelib.domain.invoices import (
    Invoice,
    InvoiceLine,
    InvoiceStatus,
)
from chalicelib.domain.periods import today_in_berlin
from chalicelib.domain.stores import OpenItem, Store
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
    LINK_SECONDS,
    NO_METRICS,
    Clock,
    DocumentStore,
    DownloadLink,
    EInvoiceRenderer,
    InvoicePage,
    InvoiceRepository,
    Mailer,
    Metrics,
    PdfRenderer,
    StoreRepository,
)

# How long the issuer that committed an invoice has to store its files before a redelivery
# may take over (rendering takes well under a second; a Lambda dies after its timeout).
RENDER_LEASE = timedelta(seconds=120)
MAX_PAGE = 100


def pdf_key(invoice: Invoice) -> str:
    """Keyed by the committed number: the file under a key always carries that number."""
    return f"invoices/{invoice.store_id}/{invoice.number}.pdf"


def xml_key(invoice: Invoice) -> str:
    """The XRechnung stored next to the invoice's PDF."""
    return f"invoices/{invoice.store_id}/{invoice.number}.xml"


def xml_filename(invoice: Invoice) -> str:
    return invoice.pdf_filename.removesuffix(".pdf") + ".xml"


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


class RenderPendingError(ServiceUnavailableError):
    """Another worker is rendering this invoice's files right now: try again later."""


@dataclasses.dataclass(frozen=True)
class InvoiceIssuer:
    """Issues invoices in two steps (docs/adr/0006-issue-then-render.md): the number is
    taken and the invoice committed with its store's open item in one small transaction
    (no rendering, no upload inside), then its PDF (and e-invoice XML) are rendered for
    that committed number, stored under it and the invoice marked ready. Only a ready
    invoice is shown to the owner and mailed; a redelivery finishes one whose files are
    missing. Every new invoice goes to the owner by e-mail, with its PDF attached, whether
    or not they ever signed in to the portal."""

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
        store: Store | None = None,
        charge_follows: bool = False,
    ) -> Invoice:
        """`store`: the store as the caller just read it (saves reading it again);
        `charge_follows`: the monthly run charges a saved card right after (the mail says so)."""
        if due_days < 0 or due_days > 365:
            raise FieldError("Zahlungsziel", f"{due_days} Tage liegt nicht zwischen 0 und 365")
        if period is not None and (error := validate_period(period)):
            raise FieldError("Zeitraum", error)
        check_lines(lines, self.vat_rates, self.max_gross_cents)
        # A stage whose seller data is invalid issues nothing at all.
        supplier = self.supplier.require_valid()
        if store is None or store.id != store_id:
            store = self.stores.get(store_id)
        if store is None:
            raise StoreNotFoundError()
        now = self.clock.now()
        today = today_in_berlin(now)
        draft = Invoice(
            id=invoice_id or "inv_" + secrets.token_hex(10),
            store_id=store.id,
            number="",
            issue_date=today,
            due_date=today + timedelta(days=due_days),
            period=period,
            description=_describe(lines),
            lines=tuple(lines),
            status=InvoiceStatus.OPEN,
            created_at=now,
            ready=False,
        )
        invoice, new = self.invoices.issue(draft, render_until=now + RENDER_LEASE)
        if new:
            self.metrics.count("InvoicesIssued")
        # The run's licence invoice of a store with autopay is charged right after it is issued.
        charged = charge_follows and store.autopay and store.payment_method is not None
        return self._finish(invoice, store, supplier, leased=new, charged_automatically=charged)

    def finish(
        self, invoice: Invoice, store: Store, charged_automatically: bool = False
    ) -> Invoice:
        """Render, store and mail the files of a committed invoice whose files are missing
        (its issuer died after the commit); a ready invoice comes back unchanged."""
        if invoice.ready:
            return invoice
        return self._finish(
            invoice,
            store,
            self.supplier.require_valid(),
            leased=False,
            charged_automatically=charged_automatically,
        )

    def finish_committed(self, invoice_id: str, store: Store) -> Invoice | None:
        """The files of an invoice committed earlier whose files may be missing; None if no
        invoice with this id exists (nothing is issued here)."""
        invoice = self.invoices.get(invoice_id)
        if invoice is None or invoice.ready:
            return invoice
        return self.finish(invoice, store)

    def _finish(
        self,
        invoice: Invoice,
        store: Store,
        supplier: Supplier,
        leased: bool,
        charged_automatically: bool,
    ) -> Invoice:
        if invoice.ready:
            return invoice
        if not leased:
            # The committing issuer holds a short lease on rendering; after it ran out (that
            # issuer died), exactly one redelivery takes it over.
            now = self.clock.now()
            if not self.invoices.claim_render(invoice.id, now, now + RENDER_LEASE):
                current = self.invoices.get(invoice.id)
                if current is not None and current.ready:
                    return current
                raise RenderPendingError()
        retain = retain_until(invoice.issue_date)
        xml: bytes | None = None
        if self.render_einvoice is not None:
            files = self.render_einvoice(invoice, store, supplier)
            pdf, xml = files.pdf, files.xml
            self.documents.put_xml(xml_key(invoice), xml, retain)
        else:
            pdf = self.render_pdf(invoice, store, supplier)
        self.documents.put_pdf(pdf_key(invoice), pdf, retain)
        ready = self.invoices.mark_ready(invoice)
        self.metrics.count("InvoicesRendered")
        self._mail(store, ready, pdf, charged_automatically, xml=xml)
        return ready

    def resend(self, invoice_id: str) -> tuple[str, ...]:
        """Mail an issued invoice (its archived PDF) to the owner again; the addresses."""
        invoice = self.invoices.get(invoice_id)
        if invoice is None:
            raise InvoiceNotFoundError()
        store = self.stores.get(invoice.store_id)
        if store is None:
            raise StoreNotFoundError()
        if not invoice.ready:
            self.finish(invoice, store)  # mails it once its files exist
            return emails.recipients(store)
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
        # The store as read before the commit has no item for a new invoice yet: the
        # transaction wrote it exactly so (amount and due date, nothing else).
        item = next((i for i in store.open_items if i.invoice_id == invoice.id), None)
        if item is None:
            item = OpenItem(invoice.id, invoice.totals.gross_cents, invoice.due_date)
        if not item.mailed:
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
        # Another store's invoice answers exactly like one that does not exist, and so does
        # one whose files are still being stored.
        if invoice is None or invoice.store_id != store_id or not invoice.ready:
            raise InvoiceNotFoundError()
        return invoice

    def pdf_link(self, store_id: str, invoice_id: str) -> DownloadLink:
        invoice = self.get(store_id, invoice_id)
        url = self.documents.presigned_download(
            pdf_key(invoice), invoice.pdf_filename, LINK_SECONDS
        )
        return DownloadLink(url=url, expires_in=LINK_SECONDS, filename=invoice.pdf_filename)

    def xml_link(self, store_id: str, invoice_id: str) -> DownloadLink:
        """The invoice's XRechnung (stored next to its PDF since invoices are e-invoices)."""
        invoice = self.get(store_id, invoice_id)
        filename = xml_filename(invoice)
        url = self.documents.presigned_download(xml_key(invoice), filename, LINK_SECONDS)
        return DownloadLink(url=url, expires_in=LINK_SECONDS, filename=filename)
