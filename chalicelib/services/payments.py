"""The owner's payment use cases: start (one or several invoices), card step, complete,
resume and cancel. Provider news is applied by the Settlement."""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Sequence

from chalicelib.domain.errors import (
    InvalidRequestError,
    InvoiceNotPayableError,
    PaymentNotFoundError,
    PortalError,
    RateLimitedError,
)
from chalicelib.domain.invoices import Invoice, InvoiceStatus
from chalicelib.domain.money import format_eur
from chalicelib.domain.payments import (
    MAX_INVOICES_PER_PAYMENT,
    Payment,
    PaymentKind,
    PaymentStatus,
    ProviderStatus,
    ProviderUpdate,
)
from chalicelib.services.activity import ActivityRecorder
from chalicelib.services.invoices import InvoiceReader
from chalicelib.services.payment_methods import PaymentMethodService
from chalicelib.services.ports import (
    Clock,
    PaymentLedger,
    PaymentRequest,
    RateLimiter,
)
from chalicelib.services.providers import ProviderRegistry
from chalicelib.services.settlement import Settlement

log = logging.getLogger("portal.payments")
STARTS_PER_WINDOW = 30
STARTS_WINDOW_S = 15 * 60
ALREADY_PAID = "Diese Rechnung ist bereits bezahlt."


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


@dataclasses.dataclass(frozen=True)
class PaymentService:
    ledger: PaymentLedger
    reader: InvoiceReader
    providers: ProviderRegistry
    settlement: Settlement
    methods: PaymentMethodService
    clock: Clock
    portal_url: str
    limiter: RateLimiter | None = None
    activity: ActivityRecorder | None = None  # the owner's activity log (services/activity)

    # starting ---------------------------------------------------------------------------
    def start(
        self, store_id: str, invoice_ids: Sequence[str], method: str, save_card: bool = False
    ) -> PaymentStart:
        """One payment for the sum of the listed invoices: all are paid by it, or none."""
        provider = self.providers.for_method(method)
        if save_card and method != self.providers.saved_method:
            raise InvalidRequestError("save_card: Nur eine Kreditkarte kann gespeichert werden.")
        ids = list(dict.fromkeys(invoice_ids))
        if not 1 <= len(ids) <= MAX_INVOICES_PER_PAYMENT or len(ids) != len(invoice_ids):
            raise InvalidRequestError(
                f"Gib 1 bis {MAX_INVOICES_PER_PAYMENT} verschiedene Rechnungen an."
            )
        self._limit_starts(store_id)
        invoices = [self.reader.get(store_id, invoice_id) for invoice_id in ids]
        settled = [i for i in invoices if i.status in (InvoiceStatus.PAID, InvoiceStatus.VOID)]
        if settled:
            # Refused before anything changes: a payment running for the others stays.
            raise InvoiceNotPayableError(
                f"Die Rechnung {settled[0].number} ist schon bezahlt oder storniert."
            )
        running = self._running(invoices)
        if (
            len(running) == 1
            and running[0].method == method
            and set(running[0].invoice_ids) == set(ids)
        ):
            return self._resume(running[0])
        for payment in running:
            # The owner chose another way (or other invoices): the old payment must never
            # collect. Where the provider had already moved money, it counts instead.
            if self.settlement.abandon(payment, "superseded"):
                raise InvoiceNotPayableError(ALREADY_PAID)
        invoices = [self.reader.get(store_id, invoice_id) for invoice_id in ids]
        if any(invoice.status != InvoiceStatus.OPEN for invoice in invoices):
            raise InvoiceNotPayableError()
        payment = self._new_payment(store_id, invoices, method, provider.name, save_card)
        self.ledger.open(payment)
        try:
            started = provider.start(self._request(payment, invoices))
        except PortalError:
            # Nothing can have moved money yet: give the invoices back to the owner.
            self.ledger.settle_failure(
                payment, PaymentStatus.FAILED, "provider_unavailable", self.clock.now()
            )
            raise
        stored = self._remember_ref(payment, started)
        if self.activity is not None:
            self.activity.record(
                store_id,
                "payment_started",
                f"Zahlung über {format_eur(payment.amount_cents)} gestartet.",
            )
        return PaymentStart(stored, started.client_secret, started.approve_url)

    def _new_payment(
        self, store_id: str, invoices: list[Invoice], method: str, provider: str, save_card: bool
    ) -> Payment:
        now = self.clock.now()
        return Payment(
            id="pay_" + secrets.token_hex(10),
            invoice_id=invoices[0].id,
            invoice_ids=tuple(invoice.id for invoice in invoices),
            store_id=store_id,
            provider=provider,
            method=method,
            kind=PaymentKind.MANUAL.value,
            amount_cents=sum(invoice.amount_due_cents for invoice in invoices),
            currency=invoices[0].currency,
            status=PaymentStatus.PENDING,
            created_at=now,
            updated_at=now,
            save_card=save_card and method == self.providers.saved_method,
        )

    def _request(self, payment: Payment, invoices: list[Invoice]) -> PaymentRequest:
        numbers = [invoice.number for invoice in invoices]
        description = (
            f"Rechnung {numbers[0]}"
            if len(numbers) == 1
            else f"{len(numbers)} Rechnungen: {', '.join(numbers)}"
        )
        back = f"{self.portal_url}/?payment={payment.id}"
        store_id = payment.store_id
        return PaymentRequest(
            payment_id=payment.id,
            amount_cents=payment.amount_cents,
            currency=payment.currency,
            description=description,
            reference=f"{numbers[0]}-{payment.id}" if len(numbers) > 1 else numbers[0],
            metadata={
                "payment_id": payment.id,
                "invoice_id": payment.invoice_id,
                "invoice_ids": ",".join(payment.invoice_ids),
                "store_id": store_id,
                "invoice_number": numbers[0],
            },
            return_url=back,
            cancel_url=back,
            customer=lambda: self.methods.customer_of_id(store_id),
        )

    def _remember_ref(self, payment: Payment, started: ProviderUpdate) -> Payment:
        if not started.provider_ref:
            return payment
        try:
            return self.ledger.set_provider_ref(
                payment.id, started.provider_ref, started.approve_url
            )
        except PortalError as exc:
            raise InvoiceNotPayableError() from exc

    def _running(self, invoices: list[Invoice]) -> list[Payment]:
        """The unfinished payments of these invoices; a settled payment still marked as
        current (a crash interrupted its settling) lets go of its invoice first."""
        running: dict[str, Payment] = {}
        for invoice in invoices:
            if invoice.status != InvoiceStatus.PROCESSING or not invoice.active_payment_id:
                continue
            payment = self.ledger.get(invoice.active_payment_id)
            if payment is None:
                raise InvoiceNotPayableError()
            if payment.is_open:
                running[payment.id] = payment
            elif payment.status == PaymentStatus.SUCCEEDED:
                raise InvoiceNotPayableError(ALREADY_PAID)
            else:
                now = self.clock.now()
                self.ledger.release(payment, invoice.id, payment.status, None, now)
        return list(running.values())

    def _resume(self, payment: Payment) -> PaymentStart:
        if payment.provider_ref is None:
            raise InvoiceNotPayableError()  # its start is still on the way
        state = self.providers.named(payment.provider).read(payment)
        if state is not None and state.moved_money:
            self.settlement.apply_and_announce(state)
            raise InvoiceNotPayableError(ALREADY_PAID)
        secret = state.client_secret if state is not None else None
        return PaymentStart(payment, secret, payment.approve_url)

    def _limit_starts(self, store_id: str) -> None:
        if self.limiter is None:
            return
        key = f"pay:store:{store_id}"
        if self.limiter.blocked([(key, STARTS_PER_WINDOW)], STARTS_WINDOW_S):
            raise RateLimitedError()
        self.limiter.hit([key], STARTS_WINDOW_S)

    # the owner's next steps -------------------------------------------------------------
    def card(self, store_id: str, payment_id: str, token: str) -> CardStep:
        payment = self._own(store_id, payment_id)
        if payment.method != self.providers.saved_method or payment.provider_ref is None:
            raise InvoiceNotPayableError()
        if not payment.is_open:
            return CardStep(payment, None, False)
        current, result = self.settlement.collect(payment, {"token": token})
        if result is not None and self.settlement.follow_ups_due(current):
            self.settlement.announce(result)
        needs_action = result is not None and result.status == ProviderStatus.REQUIRES_ACTION
        return CardStep(current, result.client_secret if result else None, needs_action)

    def complete(self, store_id: str, payment_id: str) -> Payment:
        """Asks the provider where the payment stands and applies it (captures an approved
        payment only while it is the current one)."""
        payment = self._own(store_id, payment_id)
        state = self.providers.named(payment.provider).read(payment)
        if state is not None:
            self.settlement.apply_and_announce(dataclasses.replace(state, payment_id=payment.id))
        return self._own(store_id, payment_id)

    def cancel(self, store_id: str, payment_id: str) -> Payment:
        payment = self._own(store_id, payment_id)
        if payment.is_open and self.settlement.abandon(payment, "payer_canceled"):
            current = self._own(store_id, payment_id)
            if self.settlement.follow_ups_due(current):
                observed = ProviderUpdate.about(
                    current, ProviderStatus.SUCCEEDED, event_type="observed"
                )
                self.settlement.announce(observed)
        return self._own(store_id, payment_id)

    def get(self, store_id: str, payment_id: str) -> Payment:
        return self._own(store_id, payment_id)

    def _own(self, store_id: str, payment_id: str) -> Payment:
        payment = self.ledger.get(payment_id)
        # Another store's payment answers like one that does not exist.
        if payment is None or payment.store_id != store_id:
            raise PaymentNotFoundError()
        return payment
