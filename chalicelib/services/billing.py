"""The monthly licence run, fanned out: the run lists the billable stores and queues one
message per store; the per-store worker issues that store's licence invoice (and then the
worker charges it, functions/issue_store)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from chalicelib.domain.invoices import Invoice, InvoiceLine, InvoiceStatus
from chalicelib.domain.periods import BillingPeriod, licence_invoice_id, today_in_berlin
from chalicelib.services.invoices import InvoiceIssuer
from chalicelib.services.ports import (
    ChargeRequest,
    Clock,
    IssueQueue,
    IssueRequest,
    StoreDirectory,
    StoreRepository,
)

log = logging.getLogger("portal.billing")
LICENCE_VAT = Decimal(19)
# Requests handed to the queue at once (it sends them in SQS batches of ten).
ENQUEUE_CHUNK = 500


def licence_payment_id(store_id: str, period: str, attempt: int) -> str:
    return f"pay_lic_{store_id}_{BillingPeriod.parse(period).compact}_{attempt}"


def licence_key(store_id: str, period: str, attempt: int) -> str:
    base = f"lic-{store_id}-{BillingPeriod.parse(period)}"
    return base if attempt == 1 else f"{base}-{attempt}"


class _BillingFields(Protocol):
    @property
    def monthly_fee_cents(self) -> int: ...
    @property
    def created_at(self) -> datetime | None: ...
    @property
    def closed_at(self) -> datetime | None: ...


def billable(store: _BillingFields, cutoff: datetime, period: BillingPeriod) -> bool:
    """Stores opened after the run started are billed next period, and never for a month
    before the one they opened in; closed ones never."""
    return not (
        (store.created_at and store.created_at > cutoff)
        or (store.created_at and period < opened_in(store.created_at))
        or (store.closed_at and store.closed_at <= cutoff)
        or store.monthly_fee_cents <= 0
    )


def opened_in(created_at: datetime) -> BillingPeriod:
    return BillingPeriod.of(today_in_berlin(created_at))


def licence_charge(invoice: Invoice) -> ChargeRequest | None:
    """The charge that follows a licence invoice, unless it is settled. An invoice being
    paid goes to the charge too: it finishes its own automatic payment that a crash
    interrupted, and stays away from a payment the owner started."""
    if invoice.status in (InvoiceStatus.PAID, InvoiceStatus.VOID) or invoice.period is None:
        return None
    return ChargeRequest(invoice.store_id, invoice.id, invoice.period)


@dataclasses.dataclass(frozen=True)
class RunResult:
    period: str
    # the stores whose licence invoice this run queued, in the order they were listed
    store_ids: tuple[str, ...]

    @property
    def queued(self) -> int:
        return len(self.store_ids)


@dataclasses.dataclass(frozen=True)
class BillingService:
    """Queues every billable store once per run; issues one store's licence invoice once per
    period however often (or however late) its message comes."""

    stores: StoreRepository
    directory: StoreDirectory
    issuer: InvoiceIssuer
    queue: IssueQueue
    clock: Clock

    def run(self, period: str) -> RunResult:
        billed = BillingPeriod.parse(period)  # a bad period fails the run, not 100,000 messages
        cutoff = self.clock.now()
        store_ids: list[str] = []
        pending: list[IssueRequest] = []
        for store in self.directory.billing_candidates():
            if not billable(store, cutoff, billed):
                continue
            store_ids.append(store.store_id)
            pending.append(IssueRequest(store.store_id, period, cutoff))
            if len(pending) >= ENQUEUE_CHUNK:
                self.queue.enqueue(pending)
                pending = []
        if pending:
            self.queue.enqueue(pending)
        return RunResult(period, tuple(store_ids))

    def issue(self, request: IssueRequest) -> Invoice | None:
        """The store's licence invoice of the period, issued once (its files stored and
        mailed); None for a store that is gone, closed, free or newer than the run. Reads
        the store once and hands it on: the issuer neither reads it again nor reads the
        invoice or the counter before its transaction."""
        store = self.stores.get(request.store_id)
        if store is None:
            return None
        if not billable(store, request.cutoff, BillingPeriod.parse(request.period)):
            # Not billed (any more): but an invoice committed for it before (the store was
            # closed between its commit and its files) still gets its files.
            invoice_id = licence_invoice_id(store.id, request.period)
            return self.issuer.finish_committed(invoice_id, store)
        line = InvoiceLine(
            f"SIDES Kassenlizenz {BillingPeriod.parse(request.period).label}",
            1,
            store.monthly_fee_cents,
            LICENCE_VAT,
        )
        return self.issuer.issue(
            store.id,
            [line],
            period=request.period,
            invoice_id=licence_invoice_id(store.id, request.period),
            store=store,
            charge_follows=True,
        )

    def bill_store(
        self, request: IssueRequest, charge: Callable[[ChargeRequest], object]
    ) -> tuple[Invoice | None, object]:
        """The per-store worker: issue the licence invoice, then charge it (`charge` is the
        charge use case; a charge that is not due answers None)."""
        invoice = self.issue(request)
        due = licence_charge(invoice) if invoice is not None else None
        return invoice, (charge(due) if due is not None else None)
