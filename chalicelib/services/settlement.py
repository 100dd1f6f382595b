"""Applies what providers say about our payments to the books, exactly once in effect.

Every path that learns something from a provider (webhooks, the owner's return, the
monthly charge, the daily run) ends here. Money moves only under a claim on the payment
(`collect`), and money that arrives for invoices that no longer need it goes back, once.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping

from chalicelib.domain.errors import ConflictError, PortalError
from chalicelib.domain.events import PaymentFailed, PaymentProviderEvent
from chalicelib.domain.payments import (
    PAID_STAGE,
    REFUNDED_STAGE,
    Payment,
    PaymentStatus,
    ProviderStatus,
    ProviderUpdate,
    can_move,
)
from chalicelib.services.payment_methods import PaymentMethodService
from chalicelib.services.ports import (
    NO_METRICS,
    Clock,
    EventPublisher,
    Metrics,
    PaymentLedger,
    SettleOutcome,
    StoreRepository,
)
from chalicelib.services.providers import ProviderRegistry

log = logging.getLogger("portal.settlement")
_FAILED = (ProviderStatus.FAILED, ProviderStatus.CANCELED)


@dataclasses.dataclass(frozen=True)
class Settlement:
    ledger: PaymentLedger
    providers: ProviderRegistry
    stores: StoreRepository
    methods: PaymentMethodService
    publisher: EventPublisher
    clock: Clock
    metrics: Metrics = NO_METRICS

    # provider news -------------------------------------------------------------------
    def apply(self, update: ProviderUpdate) -> Payment | None:
        """Applies one piece of provider news, forward only; returns the payment as it is
        afterwards (None for news about no payment of ours)."""
        payment = self.ledger.get(update.payment_id) if update.payment_id else None
        if payment is not None and payment.provider_ref is None and update.provider_ref:
            payment = self._adopt_ref(payment, update)
        if (
            payment is not None
            and update.status == ProviderStatus.REFUNDED
            and not payment.refund_due
        ):
            return payment  # a credit note's refund: recorded with the credit note
        if payment is None or not self._matches(payment, update):
            return payment
        if update.status == ProviderStatus.SUCCEEDED:
            if self._succeed(payment) == SettleOutcome.APPLIED:
                # Only when it happens: a late repeat must not bring back a card the owner
                # has replaced or removed since.
                self._keep_card(payment, update)
        elif update.status in _FAILED:
            self._fail(payment, update.status.payment_status, update.failure_code)
        elif update.status == ProviderStatus.READY_TO_COLLECT:
            # The payer approved at the provider: collect now (if the payment is still the
            # current one), even if the browser never comes back.
            self.collect(payment, {})
        elif update.status == ProviderStatus.REFUNDED:
            self._refunded(payment)
        elif payment.is_open and can_move(payment.status, update.status.payment_status):
            self.ledger.mark(payment, update.status.payment_status, self.clock.now())
        return self.ledger.get(payment.id)

    def apply_and_announce(self, update: ProviderUpdate) -> Payment | None:
        """For every path but the payment-events function: apply, and hand the news to that
        function, which sends the follow-ups (receipt, mails, events) exactly once."""
        payment = self.apply(update)
        if payment is not None and self.follow_ups_due(payment):
            self.announce(dataclasses.replace(update, event_id=None, event_type="observed"))
        return payment

    def announce(self, update: ProviderUpdate) -> None:
        self.publisher.publish([PaymentProviderEvent(update).to_event()])

    @staticmethod
    def follow_ups_due(payment: Payment) -> bool:
        if payment.status == PaymentStatus.SUCCEEDED:
            return payment.refund_due or PAID_STAGE not in payment.followed_up
        return (
            payment.status == PaymentStatus.REFUNDED and REFUNDED_STAGE not in payment.followed_up
        )

    # moving money ----------------------------------------------------------------------
    def collect(
        self, payment: Payment, details: Mapping[str, str]
    ) -> tuple[Payment, ProviderUpdate | None]:
        """Confirms or captures at the provider, but only under a claim that holds while
        the payment is the current one of every invoice it pays."""
        if not self.ledger.claim(payment, self.clock.now()):
            self.cancel_stale(payment)
            return self.ledger.get(payment.id) or payment, None
        provider = self.providers.named(payment.provider)
        result = provider.collect(payment, details)
        result = dataclasses.replace(result, payment_id=payment.id)
        if result.status != ProviderStatus.READY_TO_COLLECT:  # never collect in a loop
            self.apply(result)
        return self.ledger.get(payment.id) or payment, result

    def cancel_stale(self, payment: Payment) -> None:
        """A payment that lost its claim (another one was started, the invoice was paid or
        voided) must never collect: cancel it where the provider allows."""
        if payment.is_open:
            self.abandon(payment, "superseded")

    def abandon(self, payment: Payment, reason: str) -> bool:
        """Gives up an open payment once the provider confirms no money moved; returns
        True if money had moved after all (then it is applied instead)."""
        state = self.providers.named(payment.provider).cancel(payment)
        if state.moved_money:
            self.apply_and_announce(dataclasses.replace(state, payment_id=payment.id))
            return True
        self._fail(payment, PaymentStatus.CANCELED, reason)
        return False

    def reconcile(self, payment: Payment) -> Payment:
        """Settles a payment nobody finished from the provider's own state: money that
        moved is applied; otherwise it is cancelled and its invoices are open again. An
        approval the owner never returned from is not collected any more."""
        state = self.providers.named(payment.provider).read(payment)
        if state is not None and state.moved_money:
            self.apply_and_announce(dataclasses.replace(state, payment_id=payment.id))
        elif payment.is_open:
            self.abandon(payment, "abandoned")
        return self.ledger.get(payment.id) or payment

    def refund_if_due(self, payment: Payment) -> Payment:
        """Gives back money that came for invoices that no longer needed it, once
        (`refund-<payment id>` at the provider)."""
        if payment.status != PaymentStatus.SUCCEEDED or not payment.refund_due:
            return payment
        provider = self.providers.named(payment.provider)
        result = provider.refund(payment, f"refund-{payment.id}")
        if result.status == ProviderStatus.REFUNDED:
            self._refunded(payment)
        return self.ledger.get(payment.id) or payment

    # internals --------------------------------------------------------------------------
    def _succeed(self, payment: Payment) -> SettleOutcome:
        outcome = self.ledger.settle_success(payment, self.clock.now())
        if outcome == SettleOutcome.APPLIED:
            self.metrics.count("PaymentsSucceeded")
        elif outcome == SettleOutcome.UNWANTED:
            self.metrics.count("UnwantedPayments")
            log.error(
                "ALERT money arrived for invoices that are already settled; refunding it",
                extra={
                    "alert": "refund_needed",
                    "payment_id": payment.id,
                    "invoice_ids": list(payment.invoice_ids),
                },
            )
        current = self.ledger.get(payment.id)
        if current is None or not current.refund_due:
            return outcome
        try:
            self.refund_if_due(current)
        except PortalError:
            # The provider is not answering: the payment-events function retries the refund
            # until it is done (follow_ups_due stays true while a refund is due).
            log.warning("refund postponed", extra={"payment_id": payment.id})
        return outcome

    def _refunded(self, payment: Payment) -> None:
        if self.ledger.mark_refunded(payment, self.clock.now()):
            self.metrics.count("PaymentsRefunded")

    def _fail(self, payment: Payment, status: PaymentStatus, code: str | None) -> None:
        if not payment.is_open:
            return
        if self.ledger.settle_failure(payment, status, code, self.clock.now()):
            self.metrics.count("PaymentsFailed")
            event = PaymentFailed(
                store_id=payment.store_id,
                invoice_id=payment.invoice_id,
                payment_id=payment.id,
                failure_code=code,
                kind=payment.kind,
            )
            self.publisher.publish([event.to_event()])

    def _keep_card(self, payment: Payment, update: ProviderUpdate) -> None:
        """The owner asked to keep the card they just paid with for the monthly charge."""
        if not (payment.save_card and update.reusable_method):
            return
        store = self.stores.get(payment.store_id)
        if store is not None and (
            store.payment_method is None or store.payment_method.id != update.reusable_method
        ):
            self.methods.save(store, update.reusable_method)

    def _adopt_ref(self, payment: Payment, update: ProviderUpdate) -> Payment:
        """A crash can lose the provider's answer before we stored its id; the provider's
        own news about our payment (our id in its metadata) then supplies it."""
        if update.amount_cents != payment.amount_cents or update.currency != payment.currency:
            return payment  # _matches raises the alarm
        try:
            return self.ledger.set_provider_ref(payment.id, update.provider_ref or "", None)
        except ConflictError:
            return self.ledger.get(payment.id) or payment

    def _matches(self, payment: Payment, update: ProviderUpdate) -> bool:
        mismatches = [
            name
            for name, ours, theirs in (
                ("provider", payment.provider, update.provider),
                ("amount", payment.amount_cents, update.amount_cents),
                ("currency", payment.currency, update.currency),
                ("store", payment.store_id, update.store_id or payment.store_id),
                ("invoice", payment.invoice_id, update.invoice_id or payment.invoice_id),
                ("provider_ref", payment.provider_ref, update.provider_ref or payment.provider_ref),
            )
            if ours != theirs
        ]
        if mismatches:
            log.error(
                "ALERT provider news does not match its payment",
                extra={
                    "alert": "payment_mismatch",
                    "payment_id": payment.id,
                    "invoice_id": payment.invoice_id,
                    "event_id": update.event_id,
                    "fields": mismatches,
                },
            )
        return not mismatches
