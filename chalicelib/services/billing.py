"""The monthly licence run: one invoice per active store and period, then its charge queued."""

from __future__ import annotations

import dataclasses
import logging
from decimal import Decimal

from chalicelib.domain.invoices import Invoice, InvoiceLine, InvoiceStatus
from chalicelib.domain.periods import BillingPeriod
from chalicelib.domain.stores import Store
from chalicelib.services.invoices import InvoiceIssuer
from chalicelib.services.ports import (
    ChargeQueue,
    ChargeRequest,
    Clock,
    InvoiceRepository,
    StoreRepository,
)

log = logging.getLogger("portal.billing")
LICENCE_VAT = Decimal(19)
ENQUEUE_CHUNK = 50


def licence_invoice_id(store_id: str, period: str) -> str:
    """Deterministic, so a second run (or a resumed one) finds the invoice it already made."""
    return f"lic_{store_id}_{BillingPeriod.parse(period).compact}"


def licence_payment_id(store_id: str, period: str, attempt: int) -> str:
    return f"pay_lic_{store_id}_{BillingPeriod.parse(period).compact}_{attempt}"


def licence_key(store_id: str, period: str, attempt: int) -> str:
    base = f"lic-{store_id}-{BillingPeriod.parse(period)}"
    return base if attempt == 1 else f"{base}-{attempt}"


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
            f"SIDES Kassenlizenz {BillingPeriod.parse(period).label}",
            1,
            store.monthly_fee_cents,
            LICENCE_VAT,
        )
        return self.issuer.issue(store.id, [line], period=period, invoice_id=invoice_id), True
