"""Stornorechnung and credit notes on fakes: numbers, signs and rounding, the invoice's
state, refunds exactly once, mails with the PDF."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from chalicelib.domain.documents import DocumentKind
from chalicelib.domain.errors import (
    InvalidRequestError,
    InvoiceNotCreditableError,
    InvoiceNotVoidableError,
    ServiceUnavailableError,
)
from chalicelib.domain.invoices import InvoiceLine, InvoiceStatus
from chalicelib.services.corrections import reversed_lines
from tests.fakes import make_container, make_line, make_store


@pytest.fixture()
def c():
    return make_container()


def issued(c, lines=None):
    store = make_store()
    c.stores.add(store)
    return c.invoice_issuer.issue(store.id, lines or [make_line()])


def paid_by_card(c, invoice):
    started = c.payments.start(invoice.store_id, [invoice.id], "card")
    c.cards.behaviours["tok_ok"] = "succeed"
    c.payments.card(invoice.store_id, started.payment.id, "tok_ok")
    assert c.invoices.get(invoice.id).status == InvoiceStatus.PAID
    return c.ledger.get(started.payment.id)


def test_void_issues_a_numbered_stornorechnung_mirroring_the_invoice(c):
    invoice = issued(c, [make_line(unit_net_cents=4900), make_line("Support", 2, 1250, 7)])

    result = c.corrections.void(invoice.id, reason="Doppelt berechnet")

    doc = result.document
    assert doc.kind == DocumentKind.CANCELLATION and doc.number == "ST-2026-000001"
    assert doc.gross_cents == -invoice.totals.gross_cents
    assert [(r, -n, -t) for r, n, t in doc.totals.by_rate] == list(invoice.totals.by_rate)
    assert doc.refers_to[0].number == invoice.number and doc.refers_to_date == invoice.issue_date
    assert doc.ready and c.documents.objects[doc.pdf_key].startswith(b"%PDF")
    assert c.documents.objects[doc.pdf_key.removesuffix(".pdf") + ".xml"].startswith(b"<xml>")
    voided = c.invoices.get(invoice.id)
    assert voided.status == InvoiceStatus.VOID and voided.correction_state == "cancelled"
    assert [d.id for d in voided.documents] == [doc.id]
    assert c.stores.get(invoice.store_id).open_items == ()
    mails = [m for m in c.mailer.sent if doc.number in m.subject]
    xml_name = doc.pdf_filename.removesuffix(".pdf") + ".xml"
    assert len(mails) == 1
    assert [a.filename for a in mails[0].attachments] == [doc.pdf_filename, xml_name]


def test_voiding_twice_changes_nothing_and_paid_invoices_cannot_be_voided(c):
    invoice = issued(c)
    first = c.corrections.void(invoice.id)
    again = c.corrections.void(invoice.id)
    assert again.document == first.document and len(c.document_records.documents) == 1
    other = issued(c)
    paid_by_card(c, other)
    with pytest.raises(InvoiceNotVoidableError):
        c.corrections.void(other.id)


def test_void_cancels_a_running_payment_first(c):
    invoice = issued(c)
    started = c.payments.start(invoice.store_id, [invoice.id], "card")
    c.corrections.void(invoice.id)
    assert c.ledger.get(started.payment.id).status == "canceled"
    assert c.cards.intents[started.payment.provider_ref].status == "canceled"


def test_partial_credit_of_an_open_invoice_lowers_what_is_due(c):
    invoice = issued(c, [make_line(quantity=3, unit_net_cents=1999)])
    part = [make_line(quantity=1, unit_net_cents=1999)]

    result = c.corrections.credit(invoice.id, part, reason="Ein Terminal zurückgegeben")

    credited = result.invoice
    assert result.document.number == "GS-2026-000001"
    assert result.document.gross_cents == -2379  # 1999 net + 380 VAT (379.81 rounded half-up)
    assert credited.credited_cents == 2379 and credited.correction_state == "partially_credited"
    assert credited.status == InvoiceStatus.OPEN
    assert credited.amount_due_cents == invoice.totals.gross_cents - 2379
    item = c.stores.get(invoice.store_id).open_items[0]
    assert item.gross_cents == credited.amount_due_cents
    started = c.payments.start(invoice.store_id, [invoice.id], "card")
    assert started.payment.amount_cents == credited.amount_due_cents


def test_vat_of_a_credit_rounds_like_the_invoice_with_the_opposite_sign():
    lines = [InvoiceLine("x", 1, 1, Decimal(19)), InvoiceLine("y", 3, 333, Decimal(7))]
    from chalicelib.domain.invoices import compute_totals

    ours, theirs = compute_totals(lines), compute_totals(reversed_lines(lines))
    assert (theirs.net_cents, theirs.tax_cents, theirs.gross_cents) == (
        -ours.net_cents,
        -ours.tax_cents,
        -ours.gross_cents,
    )


def test_crediting_the_rest_of_an_open_invoice_leaves_nothing_due(c):
    invoice = issued(c, [make_line(quantity=2)])
    c.corrections.credit(invoice.id, [make_line(quantity=1)])
    result = c.corrections.credit(invoice.id, [make_line(quantity=1)], reason="Rest")
    assert result.invoice.status == InvoiceStatus.VOID
    assert result.invoice.correction_state == "credited"
    assert c.stores.get(invoice.store_id).open_items == ()
    with pytest.raises(InvoiceNotCreditableError):
        c.corrections.credit(invoice.id, [make_line()], reason="noch einmal anders")


def test_the_whole_invoice_after_a_partial_credit_asks_for_the_rest_by_line(c):
    invoice = issued(c, [make_line(quantity=2)])
    c.corrections.credit(invoice.id, [make_line(quantity=1)])

    with pytest.raises(InvalidRequestError, match="schon teilweise gutgeschrieben.*--line"):
        c.corrections.credit(invoice.id, reason="alles")
    assert len(c.invoices.get(invoice.id).documents) == 1  # still the one credit note


def test_full_credit_of_a_paid_invoice_refunds_once_through_its_provider(c):
    invoice = issued(c)
    payment = paid_by_card(c, invoice)

    first = c.corrections.credit(invoice.id, reason="Kulanz")
    again = c.corrections.credit(invoice.id, reason="Kulanz")

    assert again.document.id == first.document.id
    refund = first.document.refund
    assert refund is not None and refund.payment_id == payment.id
    assert refund.amount_cents == invoice.totals.gross_cents
    assert c.cards.kept_cents(payment.id) == 0
    assert list(c.cards.refunds) == [f"refund-{first.document.id}"]
    detail = c.invoices.get(invoice.id)
    assert detail.status == InvoiceStatus.PAID and detail.correction_state == "credited"
    assert detail.refunded_cents == detail.credited_cents == invoice.totals.gross_cents
    assert len([m for m in c.mailer.sent if first.document.number in m.subject]) == 1


def test_partial_credit_of_a_paypal_payment_refunds_that_part(c):
    invoice = issued(c, [make_line(quantity=2, unit_net_cents=2500)])
    started = c.payments.start(invoice.store_id, [invoice.id], "paypal")
    c.paypal.approve(started.payment.provider_ref)
    c.payments.complete(invoice.store_id, started.payment.id)

    result = c.corrections.credit(invoice.id, [make_line(unit_net_cents=2500)])

    assert result.document.refund.amount_cents == 2975
    assert c.paypal.kept_cents(started.payment.id) == invoice.totals.gross_cents - 2975
    assert c.ledger.get(started.payment.id).status == "succeeded"  # part of it stays


@pytest.mark.parametrize(
    "lines",
    [
        [make_line(unit_net_cents=5000)],  # more than the invoice
        [make_line(tax_rate_percent=7)],  # a rate the invoice does not have
    ],
)
def test_a_credit_that_does_not_fit_the_invoice_is_refused(c, lines):
    invoice = issued(c)
    with pytest.raises(InvalidRequestError):
        c.corrections.credit(invoice.id, lines)
    assert c.document_records.documents == {}
    assert c.invoices.get(invoice.id).credited_cents == 0


def test_two_corrections_at_once_get_two_consecutive_numbers(c):
    first, second = issued(c), issued(c)
    results = []
    threads = [
        threading.Thread(target=lambda i=i: results.append(c.corrections.void(i.id)))
        for i in (first, second)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.document.number for r in results) == ["ST-2026-000001", "ST-2026-000002"]


# what a review found -----------------------------------------------------------------


def test_credits_are_capped_per_vat_rate(c):
    invoice = issued(c, [make_line(unit_net_cents=4900), make_line("Papier", 2, 1995, 7)])
    paid_by_card(c, invoice)
    with pytest.raises(InvalidRequestError, match="7"):
        c.corrections.credit(invoice.id, [make_line("Papier", 1, 5000, 7)])
    c.corrections.credit(invoice.id, [make_line("Papier", 1, 1995, 7)], reason="erste Rolle")
    c.corrections.credit(invoice.id, [make_line("Papier", 1, 1995, 7)], reason="zweite Rolle")
    with pytest.raises(InvalidRequestError):
        c.corrections.credit(invoice.id, [make_line("Papier", 1, 1995, 7)], reason="dritte")
    assert c.invoices.get(invoice.id).credited_cents == 2 * 2135


def test_a_credit_note_whose_refund_failed_is_finished_before_the_next(c):
    invoice = issued(c, [make_line(quantity=2)])
    payment = paid_by_card(c, invoice)
    c.cards.faults.fail_next("refund", when="before")
    with pytest.raises(ServiceUnavailableError):
        c.corrections.credit(invoice.id, [make_line()], reason="Ausfall A")
    (first,) = c.document_records.of_kind(DocumentKind.CREDIT_NOTE)
    assert first.refund is None and not first.ready

    c.corrections.credit(invoice.id, [make_line()], reason="Ausfall B")

    notes = {d.reason: d for d in c.document_records.of_kind(DocumentKind.CREDIT_NOTE)}
    assert all(d.ready and d.refund is not None for d in notes.values())
    assert c.cards.kept_cents(payment.id) == 0
    assert c.invoices.get(invoice.id).refunded_cents == invoice.totals.gross_cents


def test_the_same_credit_in_another_order_is_the_same_credit_note(c):
    invoice = issued(c, [make_line(quantity=3), make_line("Papier", 3, 1995, 7)])
    paid_by_card(c, invoice)
    lines = [make_line(), make_line("Papier", 1, 1995, 7)]
    first = c.corrections.credit(invoice.id, lines, reason="Rückgabe")
    again = c.corrections.credit(invoice.id, list(reversed(lines)), reason=" rückgabe ")
    assert again.document.id == first.document.id
    assert len(c.cards.refunds) == 1


def test_a_paid_invoice_without_a_portal_payment_is_credited_without_an_automatic_refund(c):
    invoice = issued(c)
    c.invoices.move(invoice, InvoiceStatus.PAID, c.clock.now())  # paid by bank transfer
    result = c.corrections.credit(invoice.id, reason="Kulanz")
    assert result.document.refund_owed and result.document.refund is None
    mail = next(m for m in c.mailer.sent if result.document.number in m.subject)
    assert "erstatten wir dir" in mail.text


def test_a_refused_payment_for_several_invoices_leaves_the_running_payment_alone(c):
    first, second = issued(c), None
    second = c.invoice_issuer.issue(first.store_id, [make_line()])
    paid_by_card(c, second)
    running = c.payments.start(first.store_id, [first.id], "card").payment
    from chalicelib.domain.errors import InvoiceNotPayableError

    with pytest.raises(InvoiceNotPayableError, match=second.number):
        c.payments.start(first.store_id, [first.id, second.id], "card")
    assert c.ledger.get(running.id).is_open
    assert c.invoices.get(first.id).active_payment_id == running.id


def test_voiding_the_last_overdue_invoice_opens_the_till_at_once(c):
    invoice = issued(c)
    c.stores.set_access(invoice.store_id, "blocked", c.clock.now())
    c.corrections.void(invoice.id)
    assert c.stores.get(invoice.store_id).account_status == "active"
    assert [e["status"] for e in c.publisher.of_type("StoreAccessChanged")] == ["active"]


def test_the_daily_run_goes_on_past_a_store_whose_provider_refuses(c):
    from datetime import timedelta

    from chalicelib.domain.errors import ProviderError

    stuck = issued(c)
    c.payments.start(stuck.store_id, [stuck.id], "card")  # left unfinished
    overdue = issued(c)
    c.stores.set_access(overdue.store_id, "blocked", c.clock.now())
    c.corrections.void(overdue.id)
    c.stores.set_access(overdue.store_id, "blocked", c.clock.now())  # as if nobody noticed
    c.clock.advance(hours=1)
    c.cards.faults.fail_next("get_intent", when="before", error=ProviderError)

    c.dunning.run(c.clock.now().date() + timedelta(days=0))

    assert c.stores.get(overdue.store_id).account_status == "active"  # the other store's run
    assert c.metrics.counts.get("DunningStoresFailed") == 1
