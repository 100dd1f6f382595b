"""Corrections the German way: a Stornorechnung cancels an open invoice, a credit note
(Rechnungskorrektur) credits all or part of an open or paid invoice and gives back money
already paid through the provider it came from — each a numbered document of its own,
rendered, archived and mailed; a repeated command changes nothing."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol

from chalicelib.domain.archive import retain_until
from chalicelib.domain.documents import Document, DocumentKind, DocumentRef, Refund
from chalicelib.domain.einvoice import EInvoiceFiles
from chalicelib.domain.errors import (
    InvalidRequestError,
    InvoiceNotCreditableError,
    InvoiceNotFoundError,
    InvoiceNotVoidableError,
    ServiceUnavailableError,
    StoreNotFoundError,
)
from chalicelib.domain.events import StoreAccessChanged
from chalicelib.domain.invoices import Invoice, InvoiceLine, InvoiceStatus, compute_totals
from chalicelib.domain.money import format_eur
from chalicelib.domain.payments import ProviderStatus
from chalicelib.domain.periods import today_in_berlin
from chalicelib.domain.stores import Store
from chalicelib.domain.supplier import Supplier
from chalicelib.services import emails
from chalicelib.services.documents import xml_key
from chalicelib.services.ports import (
    Clock,
    CorrectionEffect,
    DocumentRepository,
    DocumentStore,
    EventPublisher,
    InvoiceRepository,
    Mailer,
    PaymentLedger,
    StoreRepository,
)
from chalicelib.services.providers import ProviderRegistry
from chalicelib.services.settlement import Settlement

log = logging.getLogger("portal.corrections")


class CorrectionRenderer(Protocol):
    def __call__(
        self, document: Document, invoice: Invoice, store: Store, supplier: Supplier
    ) -> EInvoiceFiles:
        """The correction as an e-invoice: hybrid PDF and XRechnung XML."""


@dataclasses.dataclass(frozen=True)
class Correction:
    invoice: Invoice
    document: Document
    sent_to: tuple[str, ...]


def reversed_lines(lines: Sequence[InvoiceLine]) -> tuple[InvoiceLine, ...]:
    """The corrected amounts with the opposite sign (VAT rounds half-up away from zero, so
    a full correction mirrors the invoice to the cent)."""
    return tuple(dataclasses.replace(line, unit_net_cents=-line.unit_net_cents) for line in lines)


@dataclasses.dataclass(frozen=True)
class CorrectionService:
    invoices: InvoiceRepository
    stores: StoreRepository
    ledger: PaymentLedger
    providers: ProviderRegistry
    settlement: Settlement
    documents: DocumentRepository
    files: DocumentStore
    render: CorrectionRenderer
    mailer: Mailer
    supplier: Supplier
    clock: Clock
    portal_url: str
    publisher: EventPublisher | None = None
    grace_days: int = 14

    def void(self, invoice_id: str, reason: str = "") -> Correction:
        """A Stornorechnung for an open invoice: it is void, nothing is owed any more."""
        invoice = self._invoice(invoice_id)
        self.supplier.require_valid()
        existing = self.documents.get(f"st_{invoice.id}")
        if existing is not None:
            return self._deliver(existing, self._invoice(invoice_id))
        invoice = self._without_running_payment(invoice, InvoiceNotVoidableError)
        if invoice.status != InvoiceStatus.OPEN or invoice.credited_cents:
            raise InvoiceNotVoidableError()
        document = self._draft(invoice, DocumentKind.CANCELLATION, f"st_{invoice.id}",
                               invoice.lines, reason)  # fmt: skip
        effect = CorrectionEffect(
            invoice_id=invoice.id,
            store_id=invoice.store_id,
            expected_status=InvoiceStatus.OPEN,
            credited_before=0,
            credited_after=0,
            void=True,
            open_item_after=0,
        )
        return self._deliver(self.documents.add_numbered(document, effect), invoice)

    def credit(
        self, invoice_id: str, lines: Sequence[InvoiceLine] | None = None, reason: str = ""
    ) -> Correction:
        """A credit note for all (no lines) or part of an open or paid invoice."""
        invoice = self._invoice(invoice_id)
        self.supplier.require_valid()
        credited = tuple(lines) if lines else invoice.lines
        document_id = self._credit_id(invoice, credited, reason)
        existing = self.documents.get(document_id)
        if existing is not None:
            return self._deliver(self._refund(existing, self._invoice(invoice_id)), invoice)
        # A credit note whose refund or delivery failed is finished before another one: the
        # books already count it, so its money must go back and its document must exist.
        self._finish_unfinished(invoice)
        invoice = self._without_running_payment(
            self._invoice(invoice_id), InvoiceNotCreditableError
        )
        amount = self._check_credit(invoice, credited, bool(lines))
        after = invoice.credited_cents + amount
        open_now = invoice.status == InvoiceStatus.OPEN
        effect = CorrectionEffect(
            invoice_id=invoice.id,
            store_id=invoice.store_id,
            expected_status=invoice.status,
            credited_before=invoice.credited_cents,
            credited_after=after,
            void=open_now and after >= invoice.totals.gross_cents,
            open_item_after=invoice.totals.gross_cents - after if open_now else None,
        )
        draft = dataclasses.replace(
            self._draft(invoice, DocumentKind.CREDIT_NOTE, document_id, credited, reason),
            refund_owed=invoice.status == InvoiceStatus.PAID,
        )
        document = self.documents.add_numbered(draft, effect)
        return self._deliver(self._refund(document, self._invoice(invoice_id)), invoice)

    # internals --------------------------------------------------------------------------
    def _invoice(self, invoice_id: str) -> Invoice:
        invoice = self.invoices.get(invoice_id)
        if invoice is None:
            raise InvoiceNotFoundError()
        return invoice

    def _without_running_payment(
        self, invoice: Invoice, error: type[InvoiceNotVoidableError | InvoiceNotCreditableError]
    ) -> Invoice:
        """A payment in progress is cancelled first (it must never collect for a corrected
        invoice); if it turns out to have moved money, the invoice is paid instead."""
        if invoice.status != InvoiceStatus.PROCESSING or not invoice.active_payment_id:
            return invoice
        running = self.ledger.get(invoice.active_payment_id)
        if running is not None and running.is_open:
            if self.settlement.abandon(running, "invoice_corrected"):
                raise error("Die Rechnung wurde gerade bezahlt; erstelle eine Gutschrift.")
        return self._invoice(invoice.id)

    def _check_credit(
        self, invoice: Invoice, lines: Sequence[InvoiceLine], lines_given: bool
    ) -> int:
        if invoice.status not in (InvoiceStatus.OPEN, InvoiceStatus.PAID):
            raise InvoiceNotCreditableError(
                "Nur offene oder bezahlte Rechnungen können gutgeschrieben werden."
            )
        field = "line" if lines_given else "invoice"
        invoiced = {rate: (net, tax) for rate, net, tax in invoice.totals.by_rate}
        if not lines_given and invoice.credited_cents:
            raise InvalidRequestError(
                "invoice: Die Rechnung ist schon teilweise gutgeschrieben "
                f"({format_eur(invoice.credited_cents)}); nenne die restlichen Positionen mit "
                "--line, dann wird genau das gutgeschrieben."
            )
        if any(line.tax_rate_percent not in invoiced for line in lines):
            raise InvalidRequestError(
                f"{field}: Eine Gutschrift kann nur Steuersätze der Rechnung enthalten."
            )
        # Per rate, what was credited before plus this credit never exceeds what was
        # invoiced at that rate: VAT is corrected only where it was charged.
        before = self._credited_by_rate(invoice)
        totals = compute_totals(lines)
        for rate, net, tax in totals.by_rate:
            done_net, done_tax, notes = before.get(rate, (0, 0, 0))
            # VAT is rounded per line on each document: split credits may round up by a
            # cent each, never more.
            if net + done_net > invoiced[rate][0] or tax + done_tax > invoiced[rate][1] + notes:
                left = invoiced[rate][0] - done_net
                raise InvalidRequestError(
                    f"{field}: Zum Steuersatz {rate} % sind netto noch {format_eur(left)} "
                    f"gutschreibbar; die Gutschrift nennt {format_eur(net)}."
                )
        amount = totals.gross_cents
        remaining = invoice.totals.gross_cents - invoice.credited_cents
        if amount <= 0 or amount > remaining:
            raise InvalidRequestError(
                f"{field}: Die Gutschrift ({format_eur(amount)}) muss größer als 0 sein und darf "
                f"den noch nicht gutgeschriebenen Betrag ({format_eur(remaining)}) nicht "
                "übersteigen."
            )
        return amount

    def _credit_notes(self, invoice: Invoice) -> list[Document]:
        notes = (
            self.documents.get(summary.id)
            for summary in invoice.documents
            if summary.kind == DocumentKind.CREDIT_NOTE
        )
        return [note for note in notes if note is not None]

    def _credited_by_rate(self, invoice: Invoice) -> dict[Decimal, tuple[int, int, int]]:
        """Per rate: net and VAT credited so far, and by how many credit notes."""
        credited: dict[Decimal, tuple[int, int, int]] = {}
        for note in self._credit_notes(invoice):
            for rate, net, tax in note.totals.by_rate:
                done_net, done_tax, notes = credited.get(rate, (0, 0, 0))
                # credit notes carry negative sums
                credited[rate] = (done_net - net, done_tax - tax, notes + 1)
        return credited

    def _finish_unfinished(self, invoice: Invoice) -> None:
        for note in self._credit_notes(invoice):
            if not note.ready or (note.refund_owed and note.refund is None):
                self._deliver(self._refund(note, self._invoice(invoice.id)), invoice)

    @staticmethod
    def _credit_id(invoice: Invoice, lines: Sequence[InvoiceLine], reason: str) -> str:
        """The same command (invoice, lines, reason) always means the same credit note."""
        described = sorted(
            (
                line.description.strip(),
                line.quantity,
                line.unit_net_cents,
                str(line.tax_rate_percent),
            )
            for line in lines
        )
        canonical = repr((described, " ".join(reason.split()).casefold()))
        return f"gs_{invoice.id}_{hashlib.sha256(canonical.encode()).hexdigest()[:16]}"

    def _draft(
        self,
        invoice: Invoice,
        kind: DocumentKind,
        document_id: str,
        lines: Sequence[InvoiceLine],
        reason: str,
    ) -> Document:
        now = self.clock.now()
        corrected = reversed_lines(lines)
        return Document(
            id=document_id,
            kind=kind,
            store_id=invoice.store_id,
            issue_date=today_in_berlin(now),
            gross_cents=compute_totals(corrected).gross_cents,
            currency=invoice.currency,
            refers_to=(DocumentRef(invoice.id, invoice.number),),
            created_at=now,
            lines=corrected,
            reason=reason.strip(),
            refers_to_date=invoice.issue_date,
        )

    def _refund(self, document: Document, invoice: Invoice) -> Document:
        """Money already paid for what the credit note credits goes back, once, through the
        provider it came from (`refund-<document id>`)."""
        if not document.refund_owed or document.refund is not None:
            return document
        if invoice.paid_by is None:
            return document  # paid outside the portal: the operator refunds by hand
        payment = self.ledger.get(invoice.paid_by)
        if payment is None:
            log.error("paid invoice without its payment", extra={"invoice_id": invoice.id})
            return document
        amount = -document.gross_cents
        provider = self.providers.named(payment.provider)
        result = provider.refund(payment, f"refund-{document.id}", amount)
        if result.status == ProviderStatus.REFUNDED:
            status = "succeeded"
        elif result.status == ProviderStatus.PROCESSING:
            status = "pending"
        else:
            # Refused: nothing is recorded, so the next command for this invoice tries again.
            raise ServiceUnavailableError(
                f"Die Erstattung zur Gutschrift {document.number} wurde abgelehnt; wiederhole "
                "den Befehl später."
            )
        return self.documents.record_refund(document, Refund(payment.id, amount, status))

    def _deliver(self, document: Document, invoice: Invoice) -> Correction:
        """Renders, archives and mails the document once (a crash before it is marked ready
        renders and mails again, never not at all)."""
        store = self.stores.get(document.store_id)
        if store is None:
            raise StoreNotFoundError()
        sent: tuple[str, ...] = ()
        if not document.ready:
            supplier = self.supplier.require_valid()
            files = self.render(document, invoice, store, supplier)
            keep_until = retain_until(document.issue_date)
            self.files.put_pdf(document.pdf_key, files.pdf, keep_until)
            self.files.put_xml(xml_key(document.pdf_key), files.xml, keep_until)
            sent = self._mail(document, invoice, store, files)
            self.documents.mark_ready(document)
            document = dataclasses.replace(document, ready=True)
        self._unlock_if_nothing_overdue(store.id)
        return Correction(self._invoice(invoice.id), document, sent)

    def _unlock_if_nothing_overdue(self, store_id: str) -> None:
        """A correction can settle the last overdue invoice: the till opens at once, as
        after a payment, not only with the next daily run."""
        store = self.stores.get(store_id)
        now = self.clock.now()
        if store is None or store.account_status != "blocked" or self.publisher is None:
            return
        if store.should_be_blocked(today_in_berlin(now), self.grace_days):
            return
        change = StoreAccessChanged(store.id, "active", "overdue_invoices_corrected", now)
        # Announce first, then record (as everywhere): never a silent unlock.
        self.publisher.publish([change.to_event()])
        self.stores.set_access(store.id, "active", now)

    def _mail(
        self, document: Document, invoice: Invoice, store: Store, files: EInvoiceFiles
    ) -> tuple[str, ...]:
        attachments = [
            emails.pdf_attachment(document.pdf_filename, files.pdf),
            emails.xml_attachment(document.pdf_filename.removesuffix(".pdf") + ".xml", files.xml),
        ]
        link = f"{self.portal_url}/#/rechnungen/{invoice.id}"
        recipients = emails.recipients(store)
        for address in recipients:
            self.mailer.send(
                emails.correction_mail(
                    address,
                    document.kind.label,
                    document.number,
                    invoice.number,
                    -document.gross_cents,
                    refunded=document.refund_owed,
                    link=link,
                    attachments=attachments,
                )
            )
        return recipients
