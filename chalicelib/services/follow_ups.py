"""What follows a payment's success or refund: events for the till, the unlock, the receipt
and the owner's mail — sent exactly once per stage, whatever repeats.

Runs in the payment-events function (it renders the receipt PDF); every other path hands
its news there (Settlement.apply_and_announce).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from chalicelib.domain.archive import retain_until
from chalicelib.domain.documents import Document, DocumentKind, DocumentRef
from chalicelib.domain.errors import ConflictError
from chalicelib.domain.events import InvoicePaid, PaymentRefunded, StoreAccessChanged
from chalicelib.domain.invoices import Invoice, InvoiceStatus
from chalicelib.domain.payments import PAID_STAGE, REFUNDED_STAGE, Payment, PaymentStatus
from chalicelib.domain.periods import today_in_berlin
from chalicelib.domain.stores import Store
from chalicelib.domain.supplier import Supplier
from chalicelib.services import emails
from chalicelib.services.ports import (
    Clock,
    DocumentRepository,
    DocumentStore,
    EventPublisher,
    InvoiceRepository,
    Mailer,
    PaymentLedger,
    ReceiptRenderer,
    StoreRepository,
)
from chalicelib.services.settlement import Settlement

log = logging.getLogger("portal.follow_ups")


@dataclasses.dataclass(frozen=True)
class ReceiptIssuer:
    """One receipt per successful payment: numbered, rendered, archived."""

    documents: DocumentRepository
    files: DocumentStore
    render: ReceiptRenderer
    supplier: Supplier
    clock: Clock

    def issue(
        self, payment: Payment, invoices: Sequence[Invoice], store: Store
    ) -> tuple[Document, bytes]:
        now = self.clock.now()
        draft = Document(
            id=f"rcpt_{payment.id}",
            kind=DocumentKind.RECEIPT,
            store_id=store.id,
            issue_date=today_in_berlin(now),
            gross_cents=payment.amount_cents,
            currency=payment.currency,
            refers_to=tuple(DocumentRef(i.id, i.number) for i in invoices),
            created_at=now,
            payment_id=payment.id,
        )
        supplier = self.supplier.require_valid()
        document = self.documents.add_numbered(draft)
        # Rendering is deterministic: a redelivery renders the same bytes for the mail.
        pdf = self.render(document, payment, invoices, store, supplier)
        if not document.ready:
            self.files.put_pdf(document.pdf_key, pdf, retain_until(document.issue_date))
            self.documents.mark_ready(document)
        return document, pdf


@dataclasses.dataclass(frozen=True)
class FollowUps:
    ledger: PaymentLedger
    invoices: InvoiceRepository
    stores: StoreRepository
    settlement: Settlement
    receipts: ReceiptIssuer
    publisher: EventPublisher
    mailer: Mailer
    clock: Clock
    grace_days: int = 14

    def run(self, payment_id: str) -> None:
        payment = self.ledger.get(payment_id)
        if payment is None:
            return
        if payment.status == PaymentStatus.SUCCEEDED and payment.refund_due:
            payment = self.settlement.refund_if_due(payment)  # retried until it is done
        if payment.status == PaymentStatus.SUCCEEDED and not payment.refund_due:
            self._stage(payment, PAID_STAGE)
        elif payment.status == PaymentStatus.REFUNDED:
            self._stage(payment, REFUNDED_STAGE)

    def _stage(self, payment: Payment, stage: str) -> None:
        if stage in payment.followed_up:
            return
        if not self.ledger.claim_follow_up(payment.id, stage, self.clock.now()):
            current = self.ledger.get(payment.id)
            if current is None or stage in current.followed_up:
                return
            # Another delivery holds the lease (or died holding it): try again later, so
            # the follow-ups are never dropped as "processed".
            raise ConflictError()
        store = self.stores.get(payment.store_id)
        invoices = [i for i in map(self.invoices.get, payment.invoice_ids) if i is not None]
        if store is None or len(invoices) != len(payment.invoice_ids):
            log.error("payment refers to unknown records", extra={"payment_id": payment.id})
            return
        if stage == PAID_STAGE:
            self._paid(payment, invoices, store)
        else:
            self._refunded(payment, invoices, store)
        self.ledger.mark_followed_up(payment.id, stage)

    def _paid(self, payment: Payment, invoices: list[Invoice], store: Store) -> None:
        now = self.clock.now()
        events = [
            InvoicePaid(
                store_id=store.id,
                invoice_id=invoice.id,
                number=invoice.number,
                gross_cents=invoice.totals.gross_cents,
                currency=invoice.currency,
                paid_at=invoice.paid_at or now,
                payment_id=payment.id,
            ).to_event()
            for invoice in invoices
        ]
        unblock = store.account_status == "blocked" and not store.should_be_blocked(
            today_in_berlin(now), self.grace_days
        )
        if unblock:
            change = StoreAccessChanged(store.id, "active", "overdue_invoices_paid", now)
            events.append(change.to_event())
        # Announce first, then record: a crash in between announces twice (the till
        # ignores a repeat), never not at all.
        self.publisher.publish(events)
        if unblock:
            self.stores.set_access(store.id, "active", now)
        receipt, pdf = self.receipts.issue(payment, invoices, store)
        attachment = emails.pdf_attachment(receipt.pdf_filename, pdf)
        current = self.stores.get(store.id) or store
        for address in emails.recipients(store):
            self.mailer.send(
                emails.payment_receipt_mail(
                    address,
                    [invoice.number for invoice in invoices],
                    payment.amount_cents,
                    now,
                    receipt.number,
                    autopay=current.autopay and current.payment_method is not None,
                    attachments=[attachment],
                )
            )

    def _refunded(self, payment: Payment, invoices: list[Invoice], store: Store) -> None:
        now = self.clock.now()
        event = PaymentRefunded(
            store_id=store.id,
            payment_id=payment.id,
            invoice_ids=payment.invoice_ids,
            amount_cents=payment.amount_cents,
            currency=payment.currency,
            reason="already_settled" if payment.refund_due else "refunded",
            refunded_at=now,
        )
        self.publisher.publish([event.to_event()])
        reason = _refund_reason(invoices)
        for address in emails.recipients(store):
            self.mailer.send(
                emails.refund_mail(
                    address, [i.number for i in invoices], payment.amount_cents, reason
                )
            )


def _refund_reason(invoices: Sequence[Invoice]) -> str:
    """Why money went back, in the owner's words: what was already settled, and what is
    still to pay."""
    settled = [i for i in invoices if i.status in (InvoiceStatus.PAID, InvoiceStatus.VOID)]
    still_open = [i.number for i in invoices if i not in settled]
    how = " und ".join(
        sorted({"storniert" if i.status == InvoiceStatus.VOID else "bezahlt" for i in settled})
    )
    if len(invoices) == 1:
        return f"obwohl sie schon {how or 'beglichen'} war"
    reason = (
        f"obwohl {'eine davon' if len(settled) == 1 else 'einige davon'} schon "
        f"{how or 'beglichen'} {'war' if len(settled) == 1 else 'waren'}"
    )
    if still_open:
        reason += f" (offen und weiter zu bezahlen: {', '.join(still_open)})"
    return reason
