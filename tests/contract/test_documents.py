"""DocumentRepository: the same behaviour from fake and DynamoDB.

Documents (receipts, corrections) are numbered gap-free per kind and year; a number is
taken only together with the document, and the document is listed on its invoices.
"""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import pytest

from chalicelib.domain.documents import (
    Document,
    DocumentKind,
    DocumentRef,
    DocumentSummary,
    format_document_number,
)
from chalicelib.domain.errors import ConflictError
from chalicelib.domain.invoices import format_number
from tests.contract import fresh_year, race, repos_fixture  # noqa: F401
from tests.fakes import T0, make_invoice, unique


def _invoices(repos, store, year, count=1):
    invoices = []
    for index in range(count):
        sequence = repos.invoices.next_number(year)
        invoice = make_invoice(
            store_id=store.id,
            number=format_number(year, sequence),
            issue_date=date(year, 1, 1 + index),
        )
        repos.invoices.add_numbered(invoice, sequence)
        invoices.append(invoice)
    return invoices


def _draft(store, invoices, year, kind=DocumentKind.RECEIPT, day=15, **fields):
    values = {
        "id": unique("doc_"),
        "kind": kind,
        "store_id": store.id,
        "issue_date": date(year, 2, day),
        "gross_cents": sum(invoice.totals.gross_cents for invoice in invoices),
        "currency": "EUR",
        "refers_to": tuple(DocumentRef(i.id, i.number) for i in invoices),
        "created_at": T0,
        "payment_id": unique("pay_"),
    }
    values.update(fields)
    return Document(**values)


def _summary(document):
    return DocumentSummary(
        id=document.id,
        kind=document.kind,
        number=document.number,
        issue_date=document.issue_date,
        gross_cents=document.gross_cents,
        currency=document.currency,
        ready=document.ready,
    )


def test_add_numbered_gives_the_next_number_and_stores_the_document(repos):
    store, year = repos.new_store(), fresh_year()
    (invoice,) = _invoices(repos, store, year)
    # (a draft never counts as ready: its PDF is stored only after it has its number)
    draft = _draft(store, [invoice], year, ready=True)

    document = repos.document_records.add_numbered(draft)

    assert document == dataclasses.replace(draft, number=f"ZB-{year}-000001", ready=False)
    assert repos.document_records.get(document.id) == document


def test_get_of_an_unknown_document_is_none(repos):
    assert repos.document_records.get(unique("doc_missing_")) is None


def test_numbers_are_gap_free_per_kind_and_year(repos):
    store, year = repos.new_store(), fresh_year()
    (invoice,) = _invoices(repos, store, year)

    numbers = [
        repos.document_records.add_numbered(_draft(store, [invoice], year)).number for _ in range(3)
    ]
    next_year = repos.document_records.add_numbered(
        _draft(store, [invoice], year, issue_date=date(year + 1, 1, 2))
    )

    assert numbers == [format_document_number(DocumentKind.RECEIPT, year, n) for n in (1, 2, 3)]
    assert next_year.number == format_document_number(DocumentKind.RECEIPT, year + 1, 1)


def test_two_kinds_have_independent_sequences(repos):
    store, year = repos.new_store(), fresh_year()
    (invoice,) = _invoices(repos, store, year)

    receipt = repos.document_records.add_numbered(_draft(store, [invoice], year))
    credit = repos.document_records.add_numbered(
        _draft(store, [invoice], year, kind=DocumentKind.CREDIT_NOTE, gross_cents=-1000)
    )
    cancellation = repos.document_records.add_numbered(
        _draft(store, [invoice], year, kind=DocumentKind.CANCELLATION)
    )
    second_receipt = repos.document_records.add_numbered(_draft(store, [invoice], year))

    assert receipt.number == f"ZB-{year}-000001"
    assert credit.number == f"GS-{year}-000001"
    assert cancellation.number == f"ST-{year}-000001"
    assert second_receipt.number == f"ZB-{year}-000002"


def test_an_invoice_document_continues_the_invoices_own_sequence(repos):
    # Invoices and documents of kind "invoice" share one gap-free sequence per year.
    store, year = repos.new_store(), fresh_year()
    invoices = _invoices(repos, store, year, count=2)

    document = repos.document_records.add_numbered(
        _draft(store, invoices[:1], year, kind=DocumentKind.INVOICE)
    )

    assert document.number == format_number(year, 3) == f"RE-{year}-000003"
    assert repos.invoices.next_number(year) == 4


def test_the_same_document_twice_returns_the_first_unchanged(repos):
    store, year = repos.new_store(), fresh_year()
    (invoice,) = _invoices(repos, store, year)
    draft = _draft(store, [invoice], year)
    first = repos.document_records.add_numbered(draft)

    # a redelivery builds the same document again, a little later
    again = repos.document_records.add_numbered(
        dataclasses.replace(
            draft, created_at=T0 + timedelta(minutes=3), issue_date=date(year, 2, 16)
        )
    )

    assert again == first
    assert repos.document_records.get(draft.id) == first
    # and took no number, nor is it listed twice
    second = repos.document_records.add_numbered(_draft(store, [invoice], year))
    assert second.number == f"ZB-{year}-000002"
    assert repos.invoices.get(invoice.id).documents == (_summary(first), _summary(second))


def test_a_document_is_listed_on_each_of_its_invoices_until_and_after_ready(repos):
    # Given a receipt for two invoices
    store, year = repos.new_store(), fresh_year()
    first, second, other = _invoices(repos, store, year, count=3)

    document = repos.document_records.add_numbered(_draft(store, [first, second], year))

    # Then both invoices list it (not ready yet: its PDF is still being stored)
    for invoice in (first, second):
        assert repos.invoices.get(invoice.id).documents == (_summary(document),)
    assert repos.invoices.get(other.id).documents == ()
    assert not document.ready

    # When its PDF is stored
    repos.document_records.mark_ready(document)

    # Then the document and its listings are ready
    ready = repos.document_records.get(document.id)
    assert ready == dataclasses.replace(document, ready=True)
    for invoice in (first, second):
        assert repos.invoices.get(invoice.id).documents == (_summary(ready),)
    # and marking it again is harmless
    repos.document_records.mark_ready(ready)
    assert repos.document_records.get(document.id) == ready


def test_an_invoice_lists_its_documents_by_issue_date_then_number(repos):
    store, year = repos.new_store(), fresh_year()
    (invoice,) = _invoices(repos, store, year)
    late = repos.document_records.add_numbered(_draft(store, [invoice], year, day=20))
    early = repos.document_records.add_numbered(_draft(store, [invoice], year, day=3))
    credit = repos.document_records.add_numbered(
        _draft(store, [invoice], year, kind=DocumentKind.CREDIT_NOTE, day=3)
    )

    listed = repos.invoices.get(invoice.id).documents

    assert [d.number for d in listed] == [credit.number, early.number, late.number]
    assert listed == (_summary(credit), _summary(early), _summary(late))


def test_a_document_for_an_unknown_invoice_is_refused_and_takes_no_number(repos):
    store, year = repos.new_store(), fresh_year()
    (invoice,) = _invoices(repos, store, year)
    missing = make_invoice(store_id=store.id, issue_date=date(year, 1, 9))
    draft = _draft(store, [invoice, missing], year)

    with pytest.raises(ConflictError):
        repos.document_records.add_numbered(draft)

    assert repos.document_records.get(draft.id) is None
    assert repos.invoices.get(invoice.id).documents == ()
    assert repos.document_records.add_numbered(_draft(store, [invoice], year)).number == (
        f"ZB-{year}-000001"
    )


def test_mark_ready_of_an_unknown_document_is_a_conflict(repos):
    store, year = repos.new_store(), fresh_year()
    (invoice,) = _invoices(repos, store, year)
    never_added = dataclasses.replace(_draft(store, [invoice], year), number=f"ZB-{year}-000099")

    with pytest.raises(ConflictError):
        repos.document_records.mark_ready(never_added)

    assert repos.document_records.get(never_added.id) is None
    assert repos.invoices.get(invoice.id).documents == ()


def test_two_documents_numbered_at_the_same_moment_get_consecutive_numbers(repos):
    store, year = repos.new_store(), fresh_year()
    (invoice,) = _invoices(repos, store, year)
    a, b = _draft(store, [invoice], year), _draft(store, [invoice], year)

    results = race(
        lambda: repos.document_records.add_numbered(a),
        lambda: repos.document_records.add_numbered(b),
    )

    assert [kind for kind, _ in results] == ["ok", "ok"], results
    numbers = sorted(document.number for _, document in results)
    assert numbers == [f"ZB-{year}-000001", f"ZB-{year}-000002"]
    assert {repos.document_records.get(d.id).number for d in (a, b)} == set(numbers)
    assert len(repos.invoices.get(invoice.id).documents) == 2
    assert repos.document_records.add_numbered(_draft(store, [invoice], year)).number == (
        f"ZB-{year}-000003"
    )


def test_the_same_document_added_twice_at_once_is_numbered_once(repos):
    store, year = repos.new_store(), fresh_year()
    (invoice,) = _invoices(repos, store, year)
    draft = _draft(store, [invoice], year)

    results = race(
        lambda: repos.document_records.add_numbered(draft),
        lambda: repos.document_records.add_numbered(draft),
    )

    assert [kind for kind, _ in results] == ["ok", "ok"], results
    assert results[0][1] == results[1][1]
    assert results[0][1].number == f"ZB-{year}-000001"
    assert repos.document_records.add_numbered(_draft(store, [invoice], year)).number == (
        f"ZB-{year}-000002"
    )
