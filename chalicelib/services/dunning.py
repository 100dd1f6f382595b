"""The daily dunning run: due retries, reminders, and locking or unlocking the till."""

from __future__ import annotations

import dataclasses
import logging
from datetime import date, datetime, timedelta

from chalicelib.domain.dunning import lock_warning
from chalicelib.domain.errors import ProviderError
from chalicelib.domain.events import StoreAccessChanged
from chalicelib.domain.invoices import Invoice, InvoiceStatus
from chalicelib.domain.payments import PaymentKind
from chalicelib.domain.stores import OpenItem, Store
from chalicelib.services import emails
from chalicelib.services.ports import (
    NO_METRICS,
    ChargeQueue,
    ChargeRequest,
    Clock,
    EventPublisher,
    InvoiceRepository,
    Mailer,
    Metrics,
    PaymentLedger,
    StoreRepository,
)
from chalicelib.services.settlement import Settlement

log = logging.getLogger("portal.dunning")
STALL_AFTER = timedelta(hours=12)  # an automatic charge whose worker died
ABANDONED_AFTER = timedelta(minutes=30)  # a payment the owner started and never finished


@dataclasses.dataclass(frozen=True)
class DunningResult:
    retried: int = 0
    reminded: int = 0
    blocked: int = 0

    def __add__(self, other: DunningResult) -> DunningResult:
        return DunningResult(
            self.retried + other.retried,
            self.reminded + other.reminded,
            self.blocked + other.blocked,
        )


@dataclasses.dataclass(frozen=True)
class DunningService:
    stores: StoreRepository
    invoices: InvoiceRepository
    queue: ChargeQueue
    publisher: EventPublisher
    mailer: Mailer
    clock: Clock
    portal_url: str
    ledger: PaymentLedger
    settlement: Settlement
    grace_days: int = 14
    metrics: Metrics = NO_METRICS

    def run(self, today: date) -> DunningResult:
        """Every store, each on its own: a provider refusing to tell about one store's old
        payment is logged and never keeps the others from their run. Passing trouble
        (a dependency not answering) fails the run, which the scheduler retries."""
        total = DunningResult()
        failed = 0
        for store in self.stores.list_all():
            try:
                total = total + self.for_store(store, today)
            except ProviderError as exc:
                failed += 1
                log.error(
                    "ALERT the daily run skipped a store",
                    extra={"alert": "dunning_store_failed", "store_id": store.id,
                           "error": type(exc).__name__},
                )  # fmt: skip
        if failed:
            self.metrics.count("DunningStoresFailed", failed)
        return total

    def for_store(self, store: Store, today: date) -> DunningResult:
        reminded = 0
        requests: list[ChargeRequest] = []
        due: list[OpenItem] = []
        for item in store.open_items:
            invoice = self.invoices.get(item.invoice_id)
            if invoice is None:
                continue
            stalled = self._unfinished_payment(invoice, item)
            if stalled is not None:
                requests.append(stalled)
            elif invoice.status != InvoiceStatus.OPEN:
                continue
            elif self._retry_due(store, item, today):
                requests.append(
                    ChargeRequest(store.id, invoice.id, invoice.period or "", item.attempts + 1)
                )
                due.append(item)
            elif today > item.due_date and item.reminded == 0:
                # Reminders go exactly where the invoice mails go.
                self._remind(store, invoice, today)
                self.stores.update_open_item(store.id, dataclasses.replace(item, reminded=1))
                reminded += 1
        if requests:
            # Queue first, then clear the retry dates: a crash in between queues a retry
            # twice (the charge of an attempt is idempotent), never loses it.
            self.queue.enqueue(requests)
            self.metrics.count("ChargesRetried", len(requests))
        for item in due:
            self.stores.update_open_item(store.id, dataclasses.replace(item, retry_on=None))
        retried = len(requests)
        # Settling an unfinished payment may have paid invoices: decide on the fresh record.
        blocked = self._set_access(self.stores.get(store.id) or store, today)
        return DunningResult(retried, reminded, blocked)

    def _remind(self, store: Store, invoice: Invoice, today: date) -> None:
        """Reminders go exactly where the invoice mails go, and say when the till will be
        locked unless paid (the same rule that locks it)."""
        warning = lock_warning(store.open_items, today, self.grace_days)
        for address in emails.recipients(store):
            mail = emails.reminder_mail(address, invoice, self._link(invoice))
            if warning is not None:
                mail = emails.with_lock_warning(mail, *warning)
            self.mailer.send(mail)

    def _unfinished_payment(self, invoice: Invoice, item: OpenItem) -> ChargeRequest | None:
        """Settles what was left unfinished: an automatic charge whose worker died goes
        back to the charge queue (which resumes it); a payment the owner started and left
        is settled from the provider's own state (applied if money moved, else cancelled)."""
        active = invoice.active_payment_id
        if invoice.status != InvoiceStatus.PROCESSING or not active:
            return None
        payment = self.ledger.get(active)
        if payment is None or not payment.is_open:
            return None
        age = self.clock.now() - payment.created_at
        if payment.kind == PaymentKind.AUTOPAY and invoice.period:
            if age < STALL_AFTER:
                return None
            return ChargeRequest(invoice.store_id, invoice.id, invoice.period, item.attempts + 1)
        if age >= ABANDONED_AFTER:
            self.settlement.reconcile(payment)
            self.metrics.count("UnfinishedPaymentsSettled")
        return None

    def _retry_due(self, store: Store, item: OpenItem, today: date) -> bool:
        return (
            item.retry_on is not None
            and item.retry_on <= today
            and store.autopay
            and store.payment_method is not None
        )

    def _set_access(self, store: Store, today: date) -> int:
        """Blocked exactly while an invoice is overdue past the grace period."""
        should_block = store.should_be_blocked(today, self.grace_days)
        wanted = "blocked" if should_block else "active"
        if store.account_status == wanted:
            return 0
        now = self.clock.now()
        # Announce first, then record (see PaymentService): never a silent lock or unlock.
        self._announce(store.id, wanted, now)
        if not self.stores.set_access(store.id, wanted, now):
            return 0
        if should_block:
            overdue = [
                invoice
                for item in store.open_items
                if item.overdue_past(today, self.grace_days)
                and (invoice := self.invoices.get(item.invoice_id)) is not None
            ]
            for address in emails.recipients(store):
                self.mailer.send(emails.blocked_mail(address, store.name, overdue, self._home()))
            return 1
        return 0

    def _announce(self, store_id: str, status: str, now: datetime) -> None:
        reason = "overdue_invoices" if status == "blocked" else "no_overdue_invoices"
        self.publisher.publish([StoreAccessChanged(store_id, status, reason, now).to_event()])

    def _link(self, invoice: Invoice) -> str:
        return f"{self.portal_url}/#/rechnungen/{invoice.id}"

    def _home(self) -> str:
        return f"{self.portal_url}/#/rechnungen?status=open"
