"""Documents in DynamoDB: numbered gap-free per kind and year, listed on their invoices."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

from pynamodb.attributes import MapAttribute
from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo_models import (
    CounterRecord,
    DocumentRecord,
    InvoiceRecord,
    connection,
)
from chalicelib.domain.documents import (
    Document,
    DocumentKind,
    DocumentRef,
    counter_id,
    format_document_number,
)
from chalicelib.domain.errors import ConflictError

NUMBER_ATTEMPTS = 20


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
    )


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

    def add_numbered(self, document: Document) -> Document:
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
                self._commit(numbered, sequence)
            except TransactWriteError:
                continue  # another document took the number (or wrote this one) first
            return numbered
        raise ConflictError()

    def _commit(self, document: Document, sequence: int) -> None:
        counter = CounterRecord(
            counter_id=counter_id(document.kind, document.issue_date.year), value=sequence
        )
        counter_condition = (
            CounterRecord.counter_id.does_not_exist()
            if sequence == 1
            else CounterRecord.value == sequence - 1
        )
        record = DocumentRecord(
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
        )
        with TransactWrite(connection=connection()) as transaction:
            transaction.save(counter, condition=counter_condition)
            transaction.save(record, condition=DocumentRecord.document_id.does_not_exist())
            for invoice_id in document.invoice_ids:
                transaction.update(
                    InvoiceRecord(invoice_id=invoice_id),
                    actions=[InvoiceRecord.documents[document.id].set(summary(document))],
                    condition=InvoiceRecord.invoice_id.exists(),
                )

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
