"""The cheap store path of bench/monthly_run.py: the ports the monthly run uses, in memory.

For telling the provider's share of the run from the store's: the real BillingService,
InvoiceIssuer, ChargeService, PaymentService and StripeCardGateway run unchanged (wired by
chalicelib.bootstrap.Container) against the rate-limited provider, while stores, invoices,
the number counter and the payment ledger are dicts behind one lock with the same
conditional moves as the DynamoDB adapters (gap-free numbers, an invoice id only once, open
only OPEN invoices of that store, money moves only under a claim, a provider ref only once,
a success pays all of a payment's invoices or none, follow-ups once per stage). Only the
methods the monthly run calls are here.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from chalicelib.domain.errors import ConflictError, InvoiceNotPayableError, StoreNotFoundError
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.invoices import Invoice, InvoiceStatus, format_number
from chalicelib.domain.payments import OPEN_STATUSES, Payment, PaymentStatus
from chalicelib.domain.stores import OpenItem, Store
from chalicelib.services.cursors import CursorCodec
from chalicelib.services.ports import BillingCandidate, Mail, SettleOutcome


class MemoryBooks:
    """Stores, invoices and payments, each move checked under one lock."""

    def __init__(self, stores: Iterable[Store] = ()) -> None:
        self.lock = threading.Lock()
        self.stores = {store.id: store for store in stores}
        self.invoices: dict[str, Invoice] = {}
        self.payments: dict[str, Payment] = {}

    def add_stores(self, stores: Iterable[Store]) -> None:
        with self.lock:
            self.stores.update((store.id, store) for store in stores)

    def _set_open_item(self, invoice: Invoice) -> None:
        store = self.stores[invoice.store_id]
        item = OpenItem(invoice.id, invoice.totals.gross_cents, invoice.due_date)
        items = tuple(i for i in store.open_items if i.invoice_id != invoice.id) + (item,)
        self.stores[store.id] = dataclasses.replace(store, open_items=items)

    def _drop_open_item(self, store_id: str, invoice_id: str) -> None:
        store = self.stores[store_id]
        items = tuple(i for i in store.open_items if i.invoice_id != invoice_id)
        self.stores[store_id] = dataclasses.replace(store, open_items=items)


class MemoryStores:
    def __init__(self, books: MemoryBooks) -> None:
        self.books = books

    def get(self, store_id: str) -> Store | None:
        return self.books.stores.get(store_id)

    def list_all(self) -> list[Store]:
        return list(self.books.stores.values())

    def billing_candidates(self) -> Iterator[BillingCandidate]:
        for store in self.list_all():
            yield BillingCandidate(
                store.id, store.monthly_fee_cents, store.created_at, store.closed_at
            )

    def set_customer_id(self, store_id: str, customer_id: str) -> str:
        with self.books.lock:
            store = self.books.stores[store_id]
            if store.card_customer_id:
                return store.card_customer_id
            self.books.stores[store_id] = dataclasses.replace(store, card_customer_id=customer_id)
            return customer_id

    def update_open_item(self, store_id: str, item: OpenItem) -> bool:
        with self.books.lock:
            store = self.books.stores[store_id]
            if not any(i.invoice_id == item.invoice_id for i in store.open_items):
                return False
            items = tuple(item if i.invoice_id == item.invoice_id else i for i in store.open_items)
            self.books.stores[store_id] = dataclasses.replace(store, open_items=items)
            return True

    def set_access(self, store_id: str, status: str, now: datetime) -> bool:
        with self.books.lock:
            store = self.books.stores[store_id]
            if store.account_status == status:
                return False
            blocked = now if status == "blocked" else None
            self.books.stores[store_id] = dataclasses.replace(
                store, account_status=status, blocked_since=blocked
            )
            return True


class MemoryInvoices:
    def __init__(self, books: MemoryBooks) -> None:
        self.books = books
        self.counters: dict[int, int] = {}

    def get(self, invoice_id: str) -> Invoice | None:
        return self.books.invoices.get(invoice_id)

    def next_number(self, year: int) -> int:
        return self.counters.get(year, 0) + 1

    def add_numbered(self, invoice: Invoice, sequence: int) -> None:
        with self.books.lock:
            if self.counters.get(invoice.issue_date.year, 0) != sequence - 1:
                raise ConflictError()
            if invoice.id in self.books.invoices or invoice.store_id not in self.books.stores:
                raise ConflictError()
            self.counters[invoice.issue_date.year] = sequence
            self.books.invoices[invoice.id] = invoice
            self.books._set_open_item(invoice)

    def issue(self, invoice: Invoice, render_until: datetime) -> tuple[Invoice, bool]:
        while True:
            existing = self.books.invoices.get(invoice.id)
            if existing is not None:
                return existing, False
            if invoice.store_id not in self.books.stores:
                raise StoreNotFoundError()
            year = invoice.issue_date.year
            sequence = self.counters.get(year, 0) + 1
            numbered = dataclasses.replace(
                invoice, number=format_number(year, sequence), ready=False
            )
            try:
                self.add_numbered(numbered, sequence)  # conditional, under the books' lock
            except ConflictError:
                continue  # another worker took the number or this very invoice
            return numbered, True

    def claim_render(self, invoice_id: str, now: datetime, until: datetime) -> bool:
        return False  # the bench's issuer never dies between commit and render

    def mark_ready(self, invoice: Invoice) -> Invoice:
        with self.books.lock:
            ready = dataclasses.replace(self.books.invoices[invoice.id], ready=True)
            self.books.invoices[invoice.id] = ready
            return ready

    def move(self, invoice: Invoice, target: InvoiceStatus, now: datetime) -> Invoice:
        with self.books.lock:
            stored = self.books.invoices.get(invoice.id)
            if stored is None or stored.status != invoice.status:
                raise ConflictError()
            paid_at = now if target == InvoiceStatus.PAID else stored.paid_at
            moved = dataclasses.replace(stored, status=target, paid_at=paid_at)
            self.books.invoices[invoice.id] = moved
            if target not in (InvoiceStatus.OPEN, InvoiceStatus.PROCESSING):
                self.books._drop_open_item(invoice.store_id, invoice.id)
            return moved


class MemoryLedger:
    """PaymentLedger with the DynamoDB adapter's conditions: open only OPEN invoices of the
    store, all or none; claim only while open and current for every invoice; a success pays
    every invoice or none (then a refund is due); a failure gives back the invoices it held;
    follow-ups leased per payment and marked once per stage."""

    LEASE = timedelta(seconds=60)

    def __init__(self, books: MemoryBooks) -> None:
        self.books = books
        self.leases: dict[str, datetime] = {}

    def get(self, payment_id: str) -> Payment | None:
        return self.books.payments.get(payment_id)

    def list_for_invoice(self, invoice_id: str) -> list[Payment]:
        return [p for p in self.books.payments.values() if p.invoice_id == invoice_id]

    def open(self, payment: Payment) -> None:
        with self.books.lock:
            invoices = [self.books.invoices.get(i) for i in payment.invoice_ids]
            if payment.id in self.books.payments or any(
                invoice is None
                or invoice.status != InvoiceStatus.OPEN
                or invoice.store_id != payment.store_id
                for invoice in invoices
            ):
                raise InvoiceNotPayableError()
            self.books.payments[payment.id] = payment
            for invoice in invoices:
                assert invoice is not None
                self.books.invoices[invoice.id] = dataclasses.replace(
                    invoice, status=InvoiceStatus.PROCESSING, active_payment_id=payment.id
                )

    def set_provider_ref(self, payment_id: str, ref: str, approve_url: str | None) -> Payment:
        with self.books.lock:
            payment = self.books.payments.get(payment_id)
            if payment is None:
                raise LookupError(f"unknown payment {payment_id}")
            if payment.provider_ref not in (None, ref):
                raise ConflictError()
            payment = dataclasses.replace(
                payment, provider_ref=ref, approve_url=approve_url or payment.approve_url
            )
            self.books.payments[payment_id] = payment
            return payment

    def mark(self, payment: Payment, status: PaymentStatus, now: datetime) -> Payment:
        with self.books.lock:
            current = self.books.payments[payment.id]
            if current.status not in OPEN_STATUSES:
                return current
            moved = dataclasses.replace(current, status=status, updated_at=now)
            self.books.payments[payment.id] = moved
            return moved

    def _current(self, payment: Payment, invoice_id: str) -> bool:
        invoice = self.books.invoices.get(invoice_id)
        return (
            invoice is not None
            and invoice.status == InvoiceStatus.PROCESSING
            and invoice.active_payment_id == payment.id
        )

    def claim(self, payment: Payment, now: datetime) -> bool:
        with self.books.lock:
            current = self.books.payments.get(payment.id)
            return (
                current is not None
                and current.status in OPEN_STATUSES
                and all(self._current(current, i) for i in current.invoice_ids)
            )

    def settle_success(self, payment: Payment, now: datetime) -> SettleOutcome:
        with self.books.lock:
            current = self.books.payments.get(payment.id)
            if current is None or current.status in (
                PaymentStatus.SUCCEEDED,
                PaymentStatus.REFUNDED,
            ):
                return SettleOutcome.ALREADY
            invoices = [self.books.invoices.get(i) for i in current.invoice_ids]
            payable = all(
                invoice is not None
                and invoice.status in (InvoiceStatus.OPEN, InvoiceStatus.PROCESSING)
                and invoice.store_id == current.store_id
                for invoice in invoices
            )
            self.books.payments[payment.id] = dataclasses.replace(
                current,
                status=PaymentStatus.SUCCEEDED,
                failure_code=None,
                updated_at=now,
                refund_due=not payable,
            )
            if not payable:
                return SettleOutcome.UNWANTED
            for invoice in invoices:
                assert invoice is not None
                self.books.invoices[invoice.id] = dataclasses.replace(
                    invoice, status=InvoiceStatus.PAID, paid_at=now, active_payment_id=None
                )
                self.books._drop_open_item(invoice.store_id, invoice.id)
            return SettleOutcome.APPLIED

    def settle_failure(
        self, payment: Payment, status: PaymentStatus, failure_code: str | None, now: datetime
    ) -> bool:
        with self.books.lock:
            current = self.books.payments.get(payment.id)
            if current is None or current.status not in OPEN_STATUSES:
                return False
            moved = dataclasses.replace(
                current,
                status=status,
                failure_code=failure_code or current.failure_code,
                updated_at=now,
            )
            self.books.payments[payment.id] = moved
            for invoice_id in moved.invoice_ids:
                self.release(moved, invoice_id, status, failure_code, now)
            return True

    def release(
        self,
        payment: Payment,
        invoice_id: str,
        status: PaymentStatus,
        failure_code: str | None,
        now: datetime,
    ) -> None:
        with self.books.lock:
            if self._current(payment, invoice_id):
                invoice = self.books.invoices[invoice_id]
                self.books.invoices[invoice_id] = dataclasses.replace(
                    invoice, status=InvoiceStatus.OPEN, active_payment_id=None
                )

    def mark_refunded(self, payment: Payment, now: datetime) -> bool:
        with self.books.lock:
            current = self.books.payments.get(payment.id)
            if current is None or current.status != PaymentStatus.SUCCEEDED:
                return False
            self.books.payments[payment.id] = dataclasses.replace(
                current, status=PaymentStatus.REFUNDED, updated_at=now
            )
            return True

    def claim_follow_up(self, payment_id: str, stage: str, now: datetime) -> bool:
        with self.books.lock:
            current = self.books.payments.get(payment_id)
            until = self.leases.get(payment_id)
            if current is None or stage in current.followed_up or (until and until >= now):
                return False
            self.leases[payment_id] = now + self.LEASE
            return True

    def mark_followed_up(self, payment_id: str, stage: str) -> bool:
        with self.books.lock:
            current = self.books.payments.get(payment_id)
            if current is None or stage in current.followed_up:
                return False
            self.books.payments[payment_id] = dataclasses.replace(
                current, followed_up=current.followed_up | {stage}
            )
            self.leases.pop(payment_id, None)
            return True


class NullPublisher:
    def publish(self, events: Sequence[DomainEvent]) -> None:
        pass


class NullMailer:
    def send(self, mail: Mail) -> None:
        pass


class NullDocuments:
    def put_pdf(self, key: str, body: bytes, retain_until: date | None = None) -> None:
        pass

    def get_pdf(self, key: str) -> bytes:
        raise LookupError(key)

    def put_xml(self, key: str, body: bytes, retain_until: date | None = None) -> None:
        pass

    def get_xml(self, key: str) -> bytes | None:
        return None

    def presigned_download(self, key: str, filename: str, expires_in: int) -> str:
        return f"memory://{key}"


def overrides(books: MemoryBooks) -> dict[str, Any]:
    """Container overrides that put the monthly run's storage, mail and events in memory."""
    return {
        "cursors": CursorCodec(b"bench-cursor-key-not-a-secret-32"),  # read paths only
        "stores": MemoryStores(books),
        "store_directory": MemoryStores(books),
        "invoices": MemoryInvoices(books),
        "ledger": MemoryLedger(books),
        "documents": NullDocuments(),
        "mailer": NullMailer(),
        "publisher": NullPublisher(),
    }
