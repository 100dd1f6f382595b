"""Documents in DynamoDB: numbered gap-free per kind and year, listed on their invoices."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal
from typing import Any

from pynamodb.attributes import MapAttribute
from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo_models import (
    CounterRecord,
    DocumentRecord,
    InvoiceLineMap,
    InvoiceRecord,
    StoreRecord,
    connection,
)
from chalicelib.domain.documents import (
    Document,
    DocumentKind,
    DocumentRef,
    Refund,
    counter_id,
    format_document_number,
)
from chalicelib.domain.errors import ConflictError
from chalicelib.domain.invoices import InvoiceLine, InvoiceStatus
from chalicelib.services.ports import CorrectionEffect

NUMBER_ATTEMPTS = 20


def _plain(value: Any) -> dict[str, Any]:
    return dict(value.as_dict()) if isinstance(value, MapAttribute) else dict(value)


def _lines(record: DocumentRecord) -> tuple[InvoiceLine, ...]:
    return tuple(
        InvoiceLine(
            description=line.description,
            quantity=int(line.quantity),
            unit_net_cents=int(line.unit_net_cents),
            tax_rate_percent=Decimal(line.tax_rate_percent),
        )
        for line in record.lines or []
    )


def _refund(record: DocumentRecord) -> Refund | None:
    if not record.refund:
        return None
    data = _plain(record.refund)
    return Refund(str(data["payment_id"]), int(data["amount_cents"]), str(data["status"]))


def _to_document(record: DocumentRecord) -> Document:
    return Document(
        id=record.document_id,
        kind=DocumentKind(record.kind),
        number=record.number,
        store_id=record.store_id,
        issue_date=date.fromisoformat(record.issue_date),
        gross_cents=int(record.gross_cents),
        currency=record.currency,
        refers_to=tuple(
            DocumentRef(str(ref["invoice_id"]), str(ref["number"]))
            for ref in (r.as_dict() if isinstance(r, MapAttribute) else r for r in record.refers_to)
        ),
        created_at=record.created_at,
        payment_id=record.payment_id,
        ready=bool(record.ready),
        lines=_lines(record),
        reason=record.reason or "",
        refers_to_date=date.fromisoformat(record.refers_to_date) if record.refers_to_date else None,
        refund=_refund(record),
        refund_owed=bool(record.refund_owed),
    )


def _to_record(document: Document) -> DocumentRecord:
    return DocumentRecord(
        document_id=document.id,
        kind=document.kind.value,
        number=document.number,
        store_id=document.store_id,
        issue_date=document.issue_date.isoformat(),
        gross_cents=document.gross_cents,
        currency=document.currency,
        refers_to=[
            {"invoice_id": ref.invoice_id, "number": ref.number} for ref in document.refers_to
        ],
        payment_id=document.payment_id,
        ready=False,
        created_at=document.created_at,
        lines=[
            InvoiceLineMap(
                description=line.description,
                quantity=line.quantity,
                unit_net_cents=line.unit_net_cents,
                tax_rate_percent=str(line.tax_rate_percent),
            )
            for line in document.lines
        ]
        or None,
        reason=document.reason or None,
        refers_to_date=document.refers_to_date.isoformat() if document.refers_to_date else None,
        refund_owed=document.refund_owed or None,
    )


def _effect_actions(effect: CorrectionEffect) -> list[Any]:
    actions: list[Any] = [InvoiceRecord.credited_cents.set(effect.credited_after)]
    if effect.void:
        actions += [
            InvoiceRecord.status.set(InvoiceStatus.VOID.value),
            InvoiceRecord.store_status.set(f"{effect.store_id}#void"),
        ]
    return actions


def _effect_condition(effect: CorrectionEffect) -> Any:
    # The invoice is exactly as the correction was computed from: same status, same credits.
    credited = (
        InvoiceRecord.credited_cents.does_not_exist() | (InvoiceRecord.credited_cents == 0)
        if effect.credited_before == 0
        else InvoiceRecord.credited_cents == effect.credited_before
    )
    return (InvoiceRecord.status == effect.expected_status.value) & credited


def _reasons(exc: TransactWriteError) -> list[str]:
    reasons = getattr(exc, "cancellation_reasons", None) or []
    return [(getattr(reason, "code", None) or "") if reason else "" for reason in reasons]


def summary(document: Document) -> dict[str, Any]:
    """What an invoice keeps of a document of its own."""
    return {
        "kind": document.kind.value,
        "number": document.number,
        "issue_date": document.issue_date.isoformat(),
        "gross_cents": document.gross_cents,
        "currency": document.currency,
        "ready": document.ready,
    }


class DynamoDocumentRepository:
    """DocumentRepository on DynamoDB (the counters table holds one sequence per kind/year)."""

    def get(self, document_id: str) -> Document | None:
        try:
            return _to_document(DocumentRecord.get(document_id, consistent_read=True))
        except DoesNotExist:
            return None

    def _next(self, kind: DocumentKind, year: int) -> int:
        try:
            counter = CounterRecord.get(counter_id(kind, year), consistent_read=True)
        except DoesNotExist:
            return 1
        return int(counter.value) + 1

    def add_numbered(self, document: Document, effect: CorrectionEffect | None = None) -> Document:
        year = document.issue_date.year
        for _ in range(NUMBER_ATTEMPTS):
            existing = self.get(document.id)
            if existing is not None:
                return existing
            sequence = self._next(document.kind, year)
            numbered = dataclasses.replace(
                document, number=format_document_number(document.kind, year, sequence), ready=False
            )
            try:
                self._commit(numbered, sequence, effect)
            except TransactWriteError as exc:
                reasons = _reasons(exc)
                if len(reasons) > 2 and "ConditionalCheckFailed" in reasons[2:]:
                    if self.get(document.id) is None:
                        raise ConflictError() from exc  # the invoice moved meanwhile
                continue  # another document took the number (or wrote this one) first
            return numbered
        raise ConflictError()

    def _commit(self, document: Document, sequence: int, effect: CorrectionEffect | None) -> None:
        counter = CounterRecord(
            counter_id=counter_id(document.kind, document.issue_date.year), value=sequence
        )
        counter_condition = (
            CounterRecord.counter_id.does_not_exist()
            if sequence == 1
            else CounterRecord.value == sequence - 1
        )
        with TransactWrite(connection=connection()) as transaction:
            transaction.save(counter, condition=counter_condition)
            transaction.save(
                _to_record(document), condition=DocumentRecord.document_id.does_not_exist()
            )
            for invoice_id in document.invoice_ids:
                actions: list[Any] = [InvoiceRecord.documents[document.id].set(summary(document))]
                condition: Any = InvoiceRecord.invoice_id.exists()
                if effect is not None and effect.invoice_id == invoice_id:
                    actions.extend(_effect_actions(effect))
                    condition = _effect_condition(effect)
                transaction.update(
                    InvoiceRecord(invoice_id=invoice_id), actions=actions, condition=condition
                )
            if effect is not None and effect.open_item_after is not None:
                item = StoreRecord.open_items[effect.invoice_id]
                action = (
                    item.remove()
                    if effect.open_item_after <= 0
                    else item["gross_cents"].set(effect.open_item_after)
                )
                transaction.update(StoreRecord(store_id=effect.store_id), actions=[action])

    def record_refund(self, document: Document, refund: Refund) -> Document:
        """Remembers a credit note's refund once and adds it to its invoice."""
        try:
            with TransactWrite(connection=connection()) as transaction:
                transaction.update(
                    DocumentRecord(document_id=document.id),
                    actions=[
                        DocumentRecord.refund.set(
                            {
                                "payment_id": refund.payment_id,
                                "amount_cents": refund.amount_cents,
                                "status": refund.status,
                            }
                        )
                    ],
                    condition=DocumentRecord.refund.does_not_exist(),
                )
                for invoice_id in document.invoice_ids:
                    transaction.update(
                        InvoiceRecord(invoice_id=invoice_id),
                        actions=[InvoiceRecord.credit_refunded_cents.add(refund.amount_cents)],
                        condition=InvoiceRecord.invoice_id.exists(),
                    )
        except TransactWriteError:
            pass  # recorded before
        return self.get(document.id) or document

    def mark_ready(self, document: Document) -> None:
        ready = dataclasses.replace(document, ready=True)
        try:
            DocumentRecord(document_id=document.id).update(
                actions=[DocumentRecord.ready.set(True)],
                condition=DocumentRecord.document_id.exists(),
            )
        except UpdateError as exc:
            raise ConflictError() from exc
        for invoice_id in document.invoice_ids:
            InvoiceRecord(invoice_id=invoice_id).update(
                actions=[InvoiceRecord.documents[document.id].set(summary(ready))],
                condition=InvoiceRecord.invoice_id.exists(),
            )
