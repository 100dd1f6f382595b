"""Invoices in DynamoDB: gap-free numbering, store balance and status moved in transactions."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo_models import (
    CounterRecord,
    InvoiceLineMap,
    InvoiceRecord,
    StoreRecord,
    connection,
)
from chalicelib.domain.documents import DocumentKind, DocumentSummary
from chalicelib.domain.errors import ConflictError
from chalicelib.domain.invoices import Invoice, InvoiceLine, InvoiceStatus, list_group
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
        list_key=_list_key(invoice),
        created_at=now,
        updated_at=now,
    )


def _open_item(invoice: Invoice) -> dict[str, Any]:
    return {"gross_cents": invoice.totals.gross_cents, "due_date": invoice.due_date.isoformat()}


class DynamoInvoiceRepository:
    """InvoiceRepository on DynamoDB."""

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
        year = invoice.issue_date.year
        counter = CounterRecord(counter_id=_counter_id(year), value=sequence)
        counter_condition = (
            CounterRecord.counter_id.does_not_exist()
            if sequence == 1
            else CounterRecord.value == sequence - 1
        )
        try:
            with TransactWrite(connection=connection()) as transaction:
                transaction.save(counter, condition=counter_condition)
                transaction.save(
                    _to_record(invoice), condition=InvoiceRecord.invoice_id.does_not_exist()
                )
                transaction.update(
                    StoreRecord(store_id=invoice.store_id),
                    actions=[StoreRecord.open_items[invoice.id].set(_open_item(invoice))],
                    condition=StoreRecord.store_id.exists(),
                )
        except TransactWriteError as exc:
            raise ConflictError() from exc

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
