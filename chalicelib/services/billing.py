"""The monthly licence run and the automatic charge of one store's invoice."""

from __future__ import annotations

import dataclasses
import logging
from decimal import Decimal

from chalicelib.domain import dunning
from chalicelib.domain.errors import InvoiceNotPayableError
from chalicelib.domain.invoices import Invoice, InvoiceLine, InvoiceStatus
from chalicelib.domain.payments import OPEN_STATUSES, Payment, PaymentStatus
from chalicelib.domain.stores import Store
from chalicelib.services import emails
from chalicelib.services.invoices import InvoiceIssuer
from chalicelib.services.payment_methods import PaymentMethodService
from chalicelib.services.payments import PaymentService, update_from
from chalicelib.services.ports import (
    CardGateway,
    ChargeQueue,
    ChargeRequest,
    Clock,
    InvoiceRepository,
    Mailer,
    PaymentLedger,
    ProviderPayment,
    StoreRepository,
)

log = logging.getLogger("portal.billing")
LICENCE_VAT = Decimal(19)
MONTHS = (
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
)
ENQUEUE_CHUNK = 50


def licence_invoice_id(store_id: str, period: str) -> str:
    """Deterministic, so a second run (or a resumed one) finds the invoice it already made."""
    return f"lic_{store_id}_{period.replace('-', '')}"


def licence_payment_id(store_id: str, period: str, attempt: int) -> str:
    return f"pay_lic_{store_id}_{period.replace('-', '')}_{attempt}"


def licence_key(store_id: str, period: str, attempt: int) -> str:
    base = f"lic-{store_id}-{period}"
    return base if attempt == 1 else f"{base}-{attempt}"


def period_label(period: str) -> str:
    return f"{MONTHS[int(period[5:]) - 1]} {period[:4]}"


@dataclasses.dataclass(frozen=True)
class RunResult:
    period: str
    invoiced: int
    skipped: int
    invoice_ids: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class BillingService:
    """Issues every active store's licence invoice once per period and queues its charge."""

    stores: StoreRepository
    invoices: InvoiceRepository
    issuer: InvoiceIssuer
    queue: ChargeQueue
    clock: Clock

    def run(self, period: str) -> RunResult:
        started = self.clock.now()
        invoiced = skipped = 0
        invoice_ids: list[str] = []
        pending: list[ChargeRequest] = []
        for store in self.stores.list_all():
            # Stores opened after the run started are billed next period; closed ones never.
            if (
                (store.created_at and store.created_at > started)
                or (store.closed_at and store.closed_at <= started)
                or store.monthly_fee_cents <= 0
            ):
                continue
            invoice, new = self.licence_invoice(store, period)
            invoiced, skipped = invoiced + new, skipped + (not new)
            invoice_ids.append(invoice.id)
            if invoice.status == InvoiceStatus.OPEN:
                pending.append(ChargeRequest(store.id, invoice.id, period))
            if len(pending) >= ENQUEUE_CHUNK:
                self.queue.enqueue(pending)
                pending = []
        if pending:
            self.queue.enqueue(pending)
        return RunResult(period, invoiced, skipped, tuple(invoice_ids))

    def licence_invoice(self, store: Store, period: str) -> tuple[Invoice, bool]:
        invoice_id = licence_invoice_id(store.id, period)
        existing = self.invoices.get(invoice_id)
        if existing is not None:
            return existing, False
        line = InvoiceLine(
            f"SIDES Kassenlizenz {period_label(period)}", 1, store.monthly_fee_cents, LICENCE_VAT
        )
        return self.issuer.issue(store.id, [line], period=period, invoice_id=invoice_id), True


@dataclasses.dataclass(frozen=True)
class ChargeService:
    """Charges one store's licence invoice off-session, at most once per attempt."""

    stores: StoreRepository
    invoices: InvoiceRepository
    ledger: PaymentLedger
    cards: CardGateway
    payments: PaymentService
    methods: PaymentMethodService
    mailer: Mailer
    clock: Clock
    portal_url: str

    def charge(self, request: ChargeRequest) -> str:
        store = self.stores.get(request.store_id)
        invoice = self.invoices.get(request.invoice_id)
        if store is None or invoice is None or invoice.store_id != store.id:
            return "skipped"
        existing = self.ledger.get(licence_payment_id(store.id, request.period, request.attempt))
        if existing is not None:
            # A redelivery, or a run resumed after a crash: finish this attempt, never
            # start a second one.
            return self._finish(store, invoice, existing, request, resumed=True)
        if invoice.status != InvoiceStatus.OPEN:
            return "skipped"  # paid, void, or the owner is paying right now
        if not store.autopay or store.payment_method is None:
            if request.attempt == 1:
                self._mail_invoice_once(store, invoice)
            return "not_charged"
        payment = self._open_payment(store, invoice, request)
        if payment is None:
            return "skipped"
        return self._finish(store, invoice, payment, request, resumed=False)

    def _finish(
        self,
        store: Store,
        invoice: Invoice,
        payment: Payment,
        request: ChargeRequest,
        resumed: bool,
    ) -> str:
        if payment.status == PaymentStatus.SUCCEEDED:
            return "charged"
        if payment.status not in OPEN_STATUSES:
            self._follow_up_decline(store, invoice, request, payment.failure_code)
            return "failed"
        result = self._charge_once(store, invoice, payment, request, resumed)
        self.payments.apply(update_from(payment, result, "autopay"))
        if result.status == PaymentStatus.SUCCEEDED:
            return "charged"
        self._follow_up_decline(store, invoice, request, result.failure_code)
        return "failed"

    def _mail_invoice_once(self, store: Store, invoice: Invoice) -> None:
        """A redelivered message or a second run must not send the same invoice again."""
        item = next((i for i in store.open_items if i.invoice_id == invoice.id), None)
        if item is None or item.mailed:
            return
        self.mailer.send(emails.invoice_mail(store.billing_email, invoice, self._link(invoice)))
        self.stores.update_open_item(store.id, dataclasses.replace(item, mailed=True))

    def _open_payment(
        self, store: Store, invoice: Invoice, request: ChargeRequest
    ) -> Payment | None:
        payment_id = licence_payment_id(store.id, request.period, request.attempt)
        now = self.clock.now()
        payment = Payment(
            id=payment_id,
            invoice_id=invoice.id,
            store_id=store.id,
            provider="stripe",
            method="card",
            kind="autopay",
            amount_cents=invoice.totals.gross_cents,
            currency=invoice.currency,
            status=PaymentStatus.PENDING,
            created_at=now,
            updated_at=now,
        )
        try:
            # Conditional on the invoice still being open: a manual payment that started
            # meanwhile wins, and this charge never happens.
            self.ledger.open(payment)
        except InvoiceNotPayableError:
            return self.ledger.get(payment_id)
        return payment

    def _charge_once(
        self,
        store: Store,
        invoice: Invoice,
        payment: Payment,
        request: ChargeRequest,
        resumed: bool,
    ) -> ProviderPayment:
        ref = payment.provider_ref
        if ref and ref.startswith("declined:"):
            code = ref.split(":")[1] or None
            return ProviderPayment(
                ref,
                PaymentStatus.FAILED.value,
                payment.amount_cents,
                payment.currency,
                failure_code=code,
            )
        if ref:
            return self.cards.get_intent(ref)
        if resumed:
            # The charge may have gone through before the crash that lost its answer.
            found = self.cards.find_intent(payment.id)
            if found is not None:
                self.ledger.set_provider_ref(payment.id, found.provider_ref, None)
                return found
        if store.payment_method is None:
            return ProviderPayment(
                f"declined:no_payment_method:{payment.id}",
                PaymentStatus.FAILED.value,
                payment.amount_cents,
                payment.currency,
                failure_code="no_payment_method",
            )
        result = self.cards.charge_off_session(
            customer=self.methods.customer_of(store),
            method_id=store.payment_method.id,
            amount_cents=payment.amount_cents,
            currency=payment.currency,
            metadata={
                "payment_id": payment.id,
                "invoice_id": invoice.id,
                "store_id": store.id,
                "period": request.period,
            },
            idempotency_key=licence_key(store.id, request.period, request.attempt),
        )
        # A decline may come without an intent id (the error carries none); the synthetic
        # reference still ties the attempt, and its reason, to this payment.
        self.ledger.set_provider_ref(payment.id, result.provider_ref, None)
        return result

    def _follow_up_decline(
        self, store: Store, invoice: Invoice, request: ChargeRequest, code: str | None
    ) -> None:
        """Once per attempt: plan the retry (soft decline) and tell the owner what to do.
        The open item's attempt counter is the marker that this was done."""
        current = self.stores.get(store.id)
        items = current.open_items if current else ()
        item = next((i for i in items if i.invoice_id == invoice.id), None)
        if item is None or item.attempts >= request.attempt:
            return
        outcome = dunning.classify(code)
        retry_on = (
            dunning.next_retry(invoice.issue_date, request.attempt)
            if outcome == dunning.Outcome.RETRY
            else None
        )
        link = self._link(invoice)
        if outcome == dunning.Outcome.AUTHENTICATE:
            mail = emails.authenticate_mail(store.billing_email, invoice, link)
        elif outcome == dunning.Outcome.GIVE_UP:
            mail = emails.update_card_mail(store.billing_email, invoice, link)
        else:
            mail = emails.declined_mail(store.billing_email, invoice, link, retry_on)
        # Mail first: a crash in between sends it twice rather than never.
        self.mailer.send(mail)
        self.stores.update_open_item(
            store.id, dataclasses.replace(item, attempts=request.attempt, retry_on=retry_on)
        )

    def _link(self, invoice: Invoice) -> str:
        return f"{self.portal_url}/#/rechnungen/{invoice.id}"
