"""The automatic charge of one store's licence invoice with its saved card, at most once
per attempt, and what the owner is told when it does not go through."""

from __future__ import annotations

import dataclasses
import enum
import logging

from chalicelib.domain import dunning
from chalicelib.domain.errors import InvoiceNotPayableError
from chalicelib.domain.invoices import Invoice, InvoiceStatus
from chalicelib.domain.payments import (
    Payment,
    PaymentKind,
    PaymentStatus,
    ProviderStatus,
    ProviderUpdate,
)
from chalicelib.domain.stores import Store
from chalicelib.services import emails
from chalicelib.services.billing import licence_key, licence_payment_id
from chalicelib.services.payment_methods import PaymentMethodService
from chalicelib.services.ports import (
    ChargeRequest,
    Clock,
    InvoiceRepository,
    Mailer,
    PaymentLedger,
    StoreRepository,
)
from chalicelib.services.providers import ProviderRegistry
from chalicelib.services.settlement import Settlement

log = logging.getLogger("portal.charging")


class ChargeOutcome(enum.StrEnum):
    CHARGED = "charged"  # the money moved
    FAILED = "failed"  # declined (the owner was told, a retry planned where it helps)
    NOT_CHARGED = "not_charged"  # no autopay: the invoice went out by mail instead
    SKIPPED = "skipped"  # nothing to do: paid, void, being paid, or unknown


@dataclasses.dataclass(frozen=True)
class ChargeService:
    stores: StoreRepository
    invoices: InvoiceRepository
    ledger: PaymentLedger
    providers: ProviderRegistry
    settlement: Settlement
    methods: PaymentMethodService
    mailer: Mailer
    clock: Clock
    portal_url: str

    def charge(self, request: ChargeRequest) -> ChargeOutcome:
        store = self.stores.get(request.store_id)
        invoice = self.invoices.get(request.invoice_id)
        if store is None or invoice is None or invoice.store_id != store.id:
            return ChargeOutcome.SKIPPED
        existing = self.ledger.get(licence_payment_id(store.id, request.period, request.attempt))
        if existing is not None:
            # A redelivery, or a run resumed after a crash: finish this attempt, never
            # start a second one.
            return self._finish(store, invoice, existing, request, resumed=True)
        if invoice.status != InvoiceStatus.OPEN:
            return ChargeOutcome.SKIPPED  # paid, void, or the owner is paying right now
        if not store.autopay or store.payment_method is None:
            if request.attempt == 1:
                self._mail_invoice_once(store, invoice)
            return ChargeOutcome.NOT_CHARGED
        payment = self._open_payment(store, invoice, request)
        if payment is None:
            return ChargeOutcome.SKIPPED
        return self._finish(store, invoice, payment, request, resumed=False)

    def _finish(
        self,
        store: Store,
        invoice: Invoice,
        payment: Payment,
        request: ChargeRequest,
        resumed: bool,
    ) -> ChargeOutcome:
        if payment.status in (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED):
            return ChargeOutcome.CHARGED
        if not payment.is_open:
            self._follow_up_decline(store, invoice, request, payment.failure_code)
            return ChargeOutcome.FAILED
        result = self._charge_once(store, invoice, payment, request, resumed)
        if result is None:
            return ChargeOutcome.SKIPPED  # the payment lost its claim: someone else pays
        self.settlement.apply_and_announce(result)
        if result.moved_money:
            return ChargeOutcome.CHARGED
        self._follow_up_decline(store, invoice, request, result.failure_code)
        return ChargeOutcome.FAILED

    def _mail_invoice_once(self, store: Store, invoice: Invoice) -> None:
        """A redelivered message or a second run must not send the same invoice again."""
        item = next((i for i in store.open_items if i.invoice_id == invoice.id), None)
        if item is None or item.mailed:
            return
        for address in emails.recipients(store):
            self.mailer.send(emails.invoice_mail(address, invoice, self._link(invoice)))
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
            provider=self.providers.for_saved_methods().name,
            method=self.providers.saved_method,
            kind=PaymentKind.AUTOPAY.value,
            amount_cents=invoice.amount_due_cents,
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
    ) -> ProviderUpdate | None:
        provider = self.providers.named(payment.provider)
        if payment.provider_ref or resumed:
            # The charge may have gone through before the crash that lost its answer.
            found = provider.read(payment)
            if found is not None and found.provider_ref:
                if payment.provider_ref is None:
                    self.ledger.set_provider_ref(payment.id, found.provider_ref, None)
                return dataclasses.replace(found, payment_id=payment.id)
        if store.payment_method is None:
            return ProviderUpdate.about(
                payment, ProviderStatus.FAILED, provider_ref=None, failure_code="no_payment_method"
            )
        # Money moves only while this payment is the invoice's current one.
        if not self.ledger.claim(payment, self.clock.now()):
            self.settlement.cancel_stale(payment)
            return None
        result = provider.charge_saved(
            payment,
            customer=self.methods.customer_of(store),
            method_ref=store.payment_method.id,
            metadata={
                "payment_id": payment.id,
                "invoice_id": invoice.id,
                "store_id": store.id,
                "period": request.period,
            },
            idempotency_key=licence_key(store.id, request.period, request.attempt),
        )
        if result.provider_ref:
            self.ledger.set_provider_ref(payment.id, result.provider_ref, None)
        return dataclasses.replace(result, payment_id=payment.id)

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
        for address in emails.recipients(store):
            if outcome == dunning.Outcome.AUTHENTICATE:
                mail = emails.authenticate_mail(address, invoice, link)
            elif outcome == dunning.Outcome.GIVE_UP:
                mail = emails.update_card_mail(address, invoice, link)
            else:
                mail = emails.declined_mail(address, invoice, link, retry_on)
            # Mail first: a crash in between sends it twice rather than never.
            self.mailer.send(mail)
        self.stores.update_open_item(
            store.id, dataclasses.replace(item, attempts=request.attempt, retry_on=retry_on)
        )

    def _link(self, invoice: Invoice) -> str:
        return f"{self.portal_url}/#/rechnungen/{invoice.id}"
