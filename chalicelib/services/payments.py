"""Use cases of paying an invoice: start, card step, complete, cancel, apply provider news."""

from __future__ import annotations

import dataclasses
import logging
import secrets
from datetime import datetime

from chalicelib.domain.errors import (
    ConflictError,
    InvalidMethodError,
    InvoiceNotPayableError,
    PaymentNotFoundError,
    PortalError,
    RateLimitedError,
)
from chalicelib.domain.invoices import Invoice, InvoiceStatus
from chalicelib.domain.payments import (
    OPEN_STATUSES,
    Payment,
    PaymentStatus,
    ProviderUpdate,
    can_move,
)
from chalicelib.services import emails
from chalicelib.services.invoices import InvoiceReader, today_in_berlin
from chalicelib.services.payment_methods import PaymentMethodService
from chalicelib.services.ports import (
    NO_METRICS,
    CardGateway,
    Clock,
    DomainEvent,
    EventPublisher,
    InvoiceRepository,
    Mailer,
    Metrics,
    PaymentLedger,
    PayPalGateway,
    ProviderPayment,
    RateLimiter,
    StoreRepository,
)

log = logging.getLogger("portal.payments")
PORTAL_SOURCE = "sides.portal"
METHODS = {"card": "stripe", "paypal": "paypal"}
STARTS_PER_WINDOW = 30
STARTS_WINDOW_S = 15 * 60


@dataclasses.dataclass(frozen=True)
class PaymentStart:
    payment: Payment
    client_secret: str | None
    approve_url: str | None


@dataclasses.dataclass(frozen=True)
class CardStep:
    payment: Payment
    client_secret: str | None
    requires_authentication: bool


def update_from(payment: Payment, provider: ProviderPayment, source: str) -> ProviderUpdate:
    """A provider read turned into the same kind of update a webhook brings."""
    return ProviderUpdate(
        provider=payment.provider,
        event_id=f"{source}:{payment.id}:{provider.status}",
        event_type=source,
        payment_id=payment.id,
        provider_ref=provider.provider_ref,
        status=PaymentStatus(provider.status),
        amount_cents=provider.amount_cents,
        currency=provider.currency.upper(),
        invoice_id=payment.invoice_id,
        store_id=payment.store_id,
        failure_code=provider.failure_code,
    )


@dataclasses.dataclass(frozen=True)
class PaymentService:
    ledger: PaymentLedger
    invoices: InvoiceRepository
    reader: InvoiceReader
    stores: StoreRepository
    cards: CardGateway
    paypal: PayPalGateway
    publisher: EventPublisher
    mailer: Mailer
    clock: Clock
    portal_url: str
    grace_days: int = 14
    methods: PaymentMethodService | None = None
    metrics: Metrics = NO_METRICS
    limiter: RateLimiter | None = None

    # owner actions -------------------------------------------------------------------
    def start(
        self, store_id: str, invoice_id: str, method: str, save_card: bool = False
    ) -> PaymentStart:
        if method not in METHODS:
            raise InvalidMethodError()
        self._limit_starts(store_id)
        invoice = self.reader.get(store_id, invoice_id)
        running = self._running_payment(invoice)
        if running is not None and running.method == method:
            return self._resume(running)
        if running is not None:
            self._abandon(running)
            invoice = self.reader.get(store_id, invoice_id)
        if invoice.status != InvoiceStatus.OPEN:
            raise InvoiceNotPayableError()
        now = self.clock.now()
        payment = Payment(
            id="pay_" + secrets.token_hex(10),
            invoice_id=invoice.id,
            store_id=store_id,
            provider=METHODS[method],
            method=method,
            kind="manual",
            amount_cents=invoice.totals.gross_cents,
            currency=invoice.currency,
            status=PaymentStatus.PENDING,
            created_at=now,
            updated_at=now,
            save_card=save_card and method == "card",
        )
        self.ledger.open(payment)
        try:
            return self._create_at_provider(payment, invoice)
        except PortalError:
            # Nothing can have moved money yet: give the invoice back to the owner.
            self.ledger.settle_failure(payment, PaymentStatus.FAILED, "provider_unavailable", now)
            raise

    def card(self, store_id: str, payment_id: str, token: str) -> CardStep:
        payment = self._own(store_id, payment_id)
        if payment.method != "card" or payment.provider_ref is None:
            raise InvoiceNotPayableError()
        if payment.status not in OPEN_STATUSES:
            return CardStep(payment, None, False)
        customer = self._customer(store_id)
        result = self.cards.attach_card_and_confirm(
            payment.provider_ref, customer, token, idempotency_key=f"pay-{payment.id}-confirm"
        )
        self.apply(update_from(payment, result, "card"))
        self._maybe_save_card(payment, result)
        current = self._own(store_id, payment_id)
        return CardStep(
            current, result.client_secret, result.status == PaymentStatus.REQUIRES_ACTION
        )

    def complete(self, store_id: str, payment_id: str) -> Payment:
        payment = self._own(store_id, payment_id)
        if payment.provider_ref is not None:
            state = self._provider_state(payment)
            self.apply(update_from(payment, state, "complete"))
            self._maybe_save_card(payment, state)
        return self._own(store_id, payment_id)

    def _maybe_save_card(self, payment: Payment, state: ProviderPayment) -> None:
        """The owner asked to keep the card they just paid with for the monthly charge."""
        if not (payment.save_card and self.methods and state.payment_method_id):
            return
        if state.status != PaymentStatus.SUCCEEDED:
            return
        store = self.stores.get(payment.store_id)
        if store is not None and (
            store.payment_method is None or store.payment_method.id != state.payment_method_id
        ):
            self.methods.save(store, state.payment_method_id)

    def cancel(self, store_id: str, payment_id: str) -> Payment:
        payment = self._own(store_id, payment_id)
        if payment.status in OPEN_STATUSES:
            self._abandon(payment, owner_gave_up=True)
        return self._own(store_id, payment_id)

    def get(self, store_id: str, payment_id: str) -> Payment:
        return self._own(store_id, payment_id)

    def _limit_starts(self, store_id: str) -> None:
        if self.limiter is None:
            return
        key = f"pay:store:{store_id}"
        if self.limiter.blocked([(key, STARTS_PER_WINDOW)], STARTS_WINDOW_S):
            raise RateLimitedError()
        self.limiter.hit([key], STARTS_WINDOW_S)

    # provider news --------------------------------------------------------------------
    def apply(self, update: ProviderUpdate) -> None:
        """Applies one provider update exactly once in effect, forward only."""
        payment = self.ledger.get(update.payment_id) if update.payment_id else None
        if payment is not None and payment.provider_ref is None:
            payment = self._adopt_ref(payment, update)
        if payment is None or not self._matches(payment, update):
            return
        if update.status == PaymentStatus.SUCCEEDED:
            self._succeed(payment)
        elif update.status in (PaymentStatus.FAILED, PaymentStatus.CANCELED):
            self._fail(payment, update.status, update.failure_code)
        elif update.status == PaymentStatus.REQUIRES_ACTION and payment.provider == "paypal":
            # The owner approved at PayPal: capture now, even if the browser never returns.
            self._capture(payment)
        elif can_move(payment.status, update.status):
            self.ledger.mark(payment, update.status, self.clock.now())

    def _adopt_ref(self, payment: Payment, update: ProviderUpdate) -> Payment:
        """A crash can lose the provider's answer before we stored its id; the provider's
        own news about our payment (our id in its metadata) then supplies it."""
        if update.amount_cents != payment.amount_cents or update.currency != payment.currency:
            return payment  # _matches raises the alarm
        try:
            return self.ledger.set_provider_ref(payment.id, update.provider_ref, None)
        except ConflictError:
            return self.ledger.get(payment.id) or payment

    def _matches(self, payment: Payment, update: ProviderUpdate) -> bool:
        mismatches = [
            name
            for name, ours, theirs in (
                ("amount", payment.amount_cents, update.amount_cents),
                ("currency", payment.currency, update.currency),
                ("store", payment.store_id, update.store_id or payment.store_id),
                ("invoice", payment.invoice_id, update.invoice_id or payment.invoice_id),
                ("provider_ref", payment.provider_ref, update.provider_ref),
            )
            if ours != theirs
        ]
        if mismatches:
            log.error(
                "ALERT provider event does not match its payment",
                extra={
                    "alert": "payment_mismatch",
                    "payment_id": payment.id,
                    "invoice_id": payment.invoice_id,
                    "event_id": update.event_id,
                    "fields": mismatches,
                },
            )
        return not mismatches

    def _succeed(self, payment: Payment) -> None:
        now = self.clock.now()
        if payment.status != PaymentStatus.SUCCEEDED and self.ledger.settle_success(payment, now):
            self.metrics.count("PaymentsSucceeded")
        current = self.ledger.get(payment.id)
        if current is not None and current.status == PaymentStatus.SUCCEEDED:
            if not current.notified:
                self._after_success(current, now)

    def _after_success(self, payment: Payment, now: datetime) -> None:
        invoice = self.invoices.get(payment.invoice_id)
        store = self.stores.get(payment.store_id)
        if invoice is None or store is None:
            return
        events = [
            DomainEvent(
                "InvoicePaid",
                {
                    "store_id": store.id,
                    "invoice_id": invoice.id,
                    "number": invoice.number,
                    "gross_cents": payment.amount_cents,
                    "currency": payment.currency,
                    "paid_at": (invoice.paid_at or now).isoformat(),
                    "payment_id": payment.id,
                },
            )
        ]
        today = today_in_berlin(now)
        unblock = store.account_status == "blocked" and not store.should_be_blocked(
            today, self.grace_days
        )
        if unblock:
            events.append(
                DomainEvent(
                    "StoreAccessChanged",
                    {
                        "store_id": store.id,
                        "status": "active",
                        "reason": "overdue_invoices_paid",
                        "changed_at": now.isoformat(),
                    },
                )
            )
        # Announce first, then record: a crash in between announces twice (the till
        # ignores a repeat), never not at all.
        self.publisher.publish(events, source=PORTAL_SOURCE)
        if unblock:
            self.stores.set_access(store.id, "active", now)
        # Receipt before the marker: a failed send is retried with the event, at worst twice.
        self.mailer.send(
            emails.receipt_mail(store.billing_email, invoice, payment.amount_cents, now)
        )
        self.ledger.mark_notified(payment.id)

    def _fail(self, payment: Payment, status: PaymentStatus, code: str | None) -> None:
        if not can_move(payment.status, status) or payment.status not in OPEN_STATUSES:
            return
        if self.ledger.settle_failure(payment, status, code, self.clock.now()):
            self.metrics.count("PaymentsFailed")
            self.publisher.publish(
                [
                    DomainEvent(
                        "PaymentFailed",
                        {
                            "store_id": payment.store_id,
                            "invoice_id": payment.invoice_id,
                            "payment_id": payment.id,
                            "failure_code": code,
                            "kind": payment.kind,
                        },
                    )
                ],
                source=PORTAL_SOURCE,
            )

    def _capture(self, payment: Payment) -> None:
        if payment.provider_ref is None or payment.status not in OPEN_STATUSES:
            return
        result = self.paypal.capture_order(payment.provider_ref, request_id=f"cap-{payment.id}")
        self.apply(update_from(payment, result, "capture"))

    # helpers --------------------------------------------------------------------------
    def _own(self, store_id: str, payment_id: str) -> Payment:
        payment = self.ledger.get(payment_id)
        # Another store's payment answers like one that does not exist.
        if payment is None or payment.store_id != store_id:
            raise PaymentNotFoundError()
        return payment

    def _running_payment(self, invoice: Invoice) -> Payment | None:
        if invoice.status != InvoiceStatus.PROCESSING or not invoice.active_payment_id:
            return None
        payment = self.ledger.get(invoice.active_payment_id)
        if payment is None or payment.status not in OPEN_STATUSES:
            raise InvoiceNotPayableError()
        return payment

    def _resume(self, payment: Payment) -> PaymentStart:
        if payment.provider_ref is None:
            raise InvoiceNotPayableError()  # its start is still on the way
        secret = None
        if payment.provider == "stripe":
            secret = self.cards.get_intent(payment.provider_ref).client_secret
        return PaymentStart(payment, secret, payment.approve_url)

    def _provider_state(self, payment: Payment) -> ProviderPayment:
        assert payment.provider_ref is not None
        if payment.provider == "stripe":
            return self.cards.get_intent(payment.provider_ref)
        order = self.paypal.get_order(payment.provider_ref)
        if order.status == PaymentStatus.REQUIRES_ACTION:
            return self.paypal.capture_order(payment.provider_ref, request_id=f"cap-{payment.id}")
        return order

    def _abandon(self, payment: Payment, owner_gave_up: bool = False) -> None:
        """Give up an attempt, but only once the provider confirms no money moved."""
        state = self._provider_state(payment) if payment.provider_ref else None
        if state is not None and state.status == PaymentStatus.SUCCEEDED:
            self.apply(update_from(payment, state, "abandon"))
            raise InvoiceNotPayableError("Diese Rechnung ist bereits bezahlt.")
        if state is not None and payment.provider == "stripe":
            state = self.cards.cancel_intent(payment.provider_ref or "")
            if state.status == PaymentStatus.SUCCEEDED:
                self.apply(update_from(payment, state, "abandon"))
                raise InvoiceNotPayableError("Diese Rechnung ist bereits bezahlt.")
        code = "paypal_canceled" if payment.provider == "paypal" else "canceled"
        self._fail(payment, PaymentStatus.CANCELED, code if owner_gave_up else "canceled")

    def _customer(self, store_id: str) -> str:
        store = self.stores.get(store_id)
        if store is None:
            raise PaymentNotFoundError()
        if store.stripe_customer_id:
            return store.stripe_customer_id
        created = self.cards.ensure_customer(store.id, store.billing_email, store.name)
        return self.stores.set_customer_id(store.id, created)

    def _create_at_provider(self, payment: Payment, invoice: Invoice) -> PaymentStart:
        if payment.provider == "stripe":
            intent = self.cards.create_intent(
                payment_id=payment.id,
                amount_cents=payment.amount_cents,
                currency=payment.currency,
                customer=self._customer(payment.store_id),
                metadata={
                    "payment_id": payment.id,
                    "invoice_id": invoice.id,
                    "store_id": payment.store_id,
                    "invoice_number": invoice.number,
                },
                idempotency_key=f"pay-{payment.id}",
            )
            stored = self._remember_ref(payment, intent.provider_ref, None)
            return PaymentStart(stored, intent.client_secret, None)
        back = f"{self.portal_url}/?payment={payment.id}"
        order = self.paypal.create_order(
            payment_id=payment.id,
            invoice_number=invoice.number,
            amount_cents=payment.amount_cents,
            currency=payment.currency,
            return_url=f"{back}&paypal=return",
            cancel_url=f"{back}&paypal=cancel",
        )
        stored = self._remember_ref(payment, order.provider_ref, order.approve_url)
        return PaymentStart(stored, None, order.approve_url)

    def _remember_ref(self, payment: Payment, ref: str, approve_url: str | None) -> Payment:
        try:
            return self.ledger.set_provider_ref(payment.id, ref, approve_url)
        except ConflictError as exc:
            raise InvoiceNotPayableError() from exc
