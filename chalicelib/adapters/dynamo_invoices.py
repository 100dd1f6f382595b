"""Invoices in DynamoDB: gap-free numbering, store balance and status moved in transactions."""

from __future__ import annotations

import dataclasses
import random
import secrets
import threading
import time
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo_models import (
    CounterRecord,
    InvoiceLineMap,
    InvoiceRecord,
    StoreRecord,
    connection,
)
from chalicelib.domain.documents import DocumentKind, DocumentSummary
from chalicelib.domain.errors import ConflictError, StoreNotFoundError
from chalicelib.domain.invoices import (
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    format_number,
    list_group,
)
from chalicelib.domain.payments import Payment, PaymentStatus
from chalicelib.services.ports import InvoicePage


def _counter_id(year: int) -> str:
    return f"invoice-number-{year}"


def _list_key(invoice: Invoice) -> str:
    return f"{invoice.issue_date.isoformat()}#{invoice.number}"


def _to_invoice(record: InvoiceRecord) -> Invoice:
    return Invoice(
        id=record.invoice_id,
        store_id=record.store_id,
        number=record.number,
        issue_date=date.fromisoformat(record.issue_date),
        due_date=date.fromisoformat(record.due_date),
        period=record.period,
        description=record.description,
        lines=tuple(
            InvoiceLine(
                description=line.description,
                quantity=int(line.quantity),
                unit_net_cents=int(line.unit_net_cents),
                tax_rate_percent=Decimal(line.tax_rate_percent),
            )
            for line in record.lines
        ),
        status=InvoiceStatus(record.status),
        paid_at=record.paid_at,
        created_at=record.created_at,
        currency=record.currency,
        active_payment_id=record.active_payment_id,
        payments=_payments(record),
        documents=_documents(record),
        paid_by=record.paid_by,
        credited_cents=int(record.credited_cents or 0),
        credit_refunded_cents=int(record.credit_refunded_cents or 0),
        # absent: written before files were rendered after the commit, so stored already
        ready=record.ready is not False,
    )


def _documents(record: InvoiceRecord) -> tuple[DocumentSummary, ...]:
    entries = record.documents.as_dict() if record.documents else {}
    documents = (
        DocumentSummary(
            id=document_id,
            kind=DocumentKind(entry["kind"]),
            number=entry["number"],
            issue_date=date.fromisoformat(entry["issue_date"]),
            gross_cents=int(entry["gross_cents"]),
            currency=entry["currency"],
            ready=bool(entry.get("ready")),
        )
        for document_id, entry in entries.items()
    )
    return tuple(sorted(documents, key=lambda d: (d.issue_date, d.number)))


def _payments(record: InvoiceRecord) -> tuple[Payment, ...]:
    log = record.payment_log.as_dict() if record.payment_log else {}
    payments = (
        Payment(
            id=payment_id,
            invoice_id=(entry.get("invoice_ids") or [record.invoice_id])[0],
            store_id=record.store_id,
            provider=entry["provider"],
            method=entry["method"],
            kind=entry["kind"],
            amount_cents=int(entry["amount_cents"]),
            currency=entry["currency"],
            status=PaymentStatus(entry["status"]),
            created_at=datetime.fromisoformat(entry["created_at"]),
            updated_at=datetime.fromisoformat(entry["updated_at"]),
            failure_code=entry.get("failure_code"),
            invoice_ids=tuple(entry.get("invoice_ids") or [record.invoice_id]),
        )
        for payment_id, entry in log.items()
    )
    return tuple(sorted(payments, key=lambda p: p.created_at))


def _to_record(invoice: Invoice) -> InvoiceRecord:
    totals = invoice.totals
    now = invoice.created_at
    return InvoiceRecord(
        invoice_id=invoice.id,
        store_id=invoice.store_id,
        number=invoice.number,
        issue_date=invoice.issue_date.isoformat(),
        due_date=invoice.due_date.isoformat(),
        period=invoice.period,
        description=invoice.description,
        lines=[
            InvoiceLineMap(
                description=line.description,
                quantity=line.quantity,
                unit_net_cents=line.unit_net_cents,
                tax_rate_percent=str(line.tax_rate_percent),
            )
            for line in invoice.lines
        ],
        net_cents=totals.net_cents,
        tax_cents=totals.tax_cents,
        gross_cents=totals.gross_cents,
        currency=invoice.currency,
        status=invoice.status.value,
        store_status=f"{invoice.store_id}#{list_group(invoice.status)}",
        # Listed (both list indexes are sparse on list_key) only once its files exist.
        list_key=_list_key(invoice) if invoice.ready else None,
        ready=invoice.ready,
        created_at=now,
        updated_at=now,
    )


def _open_item(invoice: Invoice) -> dict[str, Any]:
    return {"gross_cents": invoice.totals.gross_cents, "due_date": invoice.due_date.isoformat()}


# What the invoice list shows (presenters.invoice_summary): never the payment log or the
# documents map, which only the detail needs.
LIST_ATTRIBUTES = (
    "invoice_id",
    "store_id",
    "number",
    "issue_date",
    "due_date",
    "period",
    "description",
    "lines",
    "currency",
    "status",
    "store_status",
    "list_key",
    "paid_at",
    "credited_cents",
    "created_at",
)
# How often issue() tries again after another issuer took the number it tried; each try is
# one transaction (the failed one names the counter's current value), so this is a bound
# for a pathological pile-up, not a budget a normal run comes near.
ISSUE_ATTEMPTS = 200


def _reason_codes(exc: TransactWriteError) -> list[str]:
    reasons = getattr(exc, "cancellation_reasons", None) or []
    return [(getattr(reason, "code", None) or "") if reason else "" for reason in reasons]


def _reason_item(exc: TransactWriteError, index: int) -> dict[str, Any] | None:
    reasons = getattr(exc, "cancellation_reasons", None) or []
    if index < len(reasons) and reasons[index] is not None:
        item: dict[str, Any] | None = getattr(reasons[index], "raw_item", None)
        return item
    return None


class DynamoInvoiceRepository:
    """InvoiceRepository on DynamoDB."""

    def __init__(self) -> None:
        # The last counter value this container saw per year: the first guess of the next
        # issue, so a warm worker takes its number in one transaction and no read.
        self._last_seen: dict[int, int] = {}
        self._lock = threading.Lock()
        # transactions issue() sent and how many of them lost the number (for benches)
        self.issue_transactions = 0
        self.issue_conflicts = 0

    def get(self, invoice_id: str) -> Invoice | None:
        try:
            return _to_invoice(InvoiceRecord.get(invoice_id, consistent_read=True))
        except DoesNotExist:
            return None

    def next_number(self, year: int) -> int:
        try:
            counter = CounterRecord.get(_counter_id(year), consistent_read=True)
        except DoesNotExist:
            return 1
        return int(counter.value) + 1

    def add_numbered(self, invoice: Invoice, sequence: int) -> None:
        try:
            self._commit(invoice, sequence, None)
        except TransactWriteError as exc:
            raise ConflictError() from exc

    def _commit(
        self,
        invoice: Invoice,
        sequence: int,
        render_until: datetime | None,
        owner: str | None = None,
    ) -> None:
        """Counter, invoice and open item: the whole critical section, one round trip. A
        failed condition hands back the item as it is (ALL_OLD), so no read is needed."""
        year = invoice.issue_date.year
        counter = CounterRecord(counter_id=_counter_id(year), value=sequence)
        counter_condition = (
            CounterRecord.counter_id.does_not_exist()
            if sequence == 1
            else CounterRecord.value == sequence - 1
        )
        record = _to_record(invoice)
        record.render_until = render_until
        record.render_owner = owner
        with TransactWrite(connection=connection()) as transaction:
            transaction.save(counter, condition=counter_condition, return_values="ALL_OLD")
            transaction.save(
                record,
                condition=InvoiceRecord.invoice_id.does_not_exist(),
                return_values="ALL_OLD",
            )
            transaction.update(
                StoreRecord(store_id=invoice.store_id),
                actions=[StoreRecord.open_items[invoice.id].set(_open_item(invoice))],
                condition=StoreRecord.store_id.exists(),
            )

    def issue(self, invoice: Invoice, render_until: datetime) -> tuple[Invoice, bool]:
        year = invoice.issue_date.year
        with self._lock:
            guess = self._last_seen.get(year)
        sequence = guess + 1 if guess is not None else self.next_number(year)
        # Marks this call's commit: when the answer to a transaction that did commit is lost
        # and botocore sends it again, the invoice found is ours to render, not another's.
        owner = secrets.token_hex(8)
        for attempt in range(ISSUE_ATTEMPTS):
            numbered = dataclasses.replace(
                invoice, number=format_number(year, sequence), ready=False
            )
            self.issue_transactions += 1
            try:
                self._commit(numbered, sequence, render_until, owner)
            except TransactWriteError as exc:
                codes = _reason_codes(exc)
                if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
                    existing = _reason_item(exc, 1)
                    if existing is not None:
                        record = InvoiceRecord.from_raw_data(existing)
                        return _to_invoice(record), record.render_owner == owner
                    found = self.get(invoice.id)
                    if found is not None:
                        return found, False
                if len(codes) > 2 and codes[2] == "ConditionalCheckFailed":
                    raise StoreNotFoundError() from exc
                self.issue_conflicts += 1
                current = _reason_item(exc, 0) if codes and codes[0] else None
                if current is not None and "value" in current:
                    sequence = int(current["value"]["N"]) + 1
                elif codes and codes[0] == "ConditionalCheckFailed":
                    sequence = 1 if sequence != 1 else self.next_number(year)
                else:
                    # a transaction conflict (another issuer's transaction in flight on the
                    # counter): wait a little, then read where the counter is now
                    time.sleep(random.uniform(0, min(0.05, 0.002 * (attempt + 1))))
                    sequence = self.next_number(year)
                continue
            with self._lock:
                self._last_seen[year] = max(self._last_seen.get(year, 0), sequence)
            return numbered, True
        raise ConflictError()

    def claim_render(self, invoice_id: str, now: datetime, until: datetime) -> bool:
        try:
            InvoiceRecord(invoice_id=invoice_id).update(
                actions=[InvoiceRecord.render_until.set(until)],
                condition=(InvoiceRecord.ready == False)  # noqa: E712 (a DynamoDB condition)
                & (
                    InvoiceRecord.render_until.does_not_exist() | (InvoiceRecord.render_until < now)
                ),
            )
        except UpdateError:
            return False
        return True

    def mark_ready(self, invoice: Invoice) -> Invoice:
        ready = dataclasses.replace(invoice, ready=True)
        try:
            InvoiceRecord(invoice_id=invoice.id).update(
                actions=[
                    InvoiceRecord.ready.set(True),
                    InvoiceRecord.list_key.set(_list_key(ready)),
                    InvoiceRecord.render_until.remove(),
                ],
                condition=InvoiceRecord.number == invoice.number,
            )
        except UpdateError as exc:
            raise ConflictError() from exc
        return ready

    def list_for_store(
        self, store_id: str, group: str | None, limit: int, start_key: dict[str, Any] | None
    ) -> InvoicePage:
        # One item more than asked tells in the same single call whether a next page exists.
        if group is None:
            index: Any = InvoiceRecord.by_store
            hash_name, hash_value = "store_id", store_id
        else:
            index = InvoiceRecord.by_store_status
            hash_name, hash_value = "store_status", f"{store_id}#{group}"
        result = index.query(
            hash_value,
            scan_index_forward=False,
            limit=limit + 1,
            page_size=limit + 1,
            last_evaluated_key=start_key,
            attributes_to_get=list(LIST_ATTRIBUTES),
        )
        records = list(result)
        if len(records) <= limit:
            return InvoicePage(items=[_to_invoice(r) for r in records], last_key=None)
        last = records[limit - 1]
        last_key = {
            "invoice_id": {"S": last.invoice_id},
            hash_name: {"S": hash_value},
            "list_key": {"S": last.list_key},
        }
        return InvoicePage(items=[_to_invoice(r) for r in records[:limit]], last_key=last_key)

    def move(self, invoice: Invoice, target: InvoiceStatus, now: datetime) -> Invoice:
        record = InvoiceRecord(invoice_id=invoice.id)
        actions: list[Any] = [
            InvoiceRecord.status.set(target.value),
            InvoiceRecord.store_status.set(f"{invoice.store_id}#{list_group(target)}"),
            InvoiceRecord.updated_at.set(now),
        ]
        if target == InvoiceStatus.PAID:
            actions.append(InvoiceRecord.paid_at.set(now))
        settled = list_group(target) != "open"
        try:
            with TransactWrite(connection=connection()) as transaction:
                transaction.update(
                    record, actions=actions, condition=InvoiceRecord.status == invoice.status.value
                )
                if settled:
                    transaction.update(
                        StoreRecord(store_id=invoice.store_id),
                        actions=[StoreRecord.open_items[invoice.id].remove()],
                    )
        except TransactWriteError as exc:
            raise ConflictError() from exc
        paid_at = now if target == InvoiceStatus.PAID else invoice.paid_at
        return Invoice(**{**invoice.__dict__, "status": target, "paid_at": paid_at})
