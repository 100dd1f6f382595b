"""BillingService, ChargeService, DunningService and PaymentMethodService on fakes."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, timedelta

import pytest

from chalicelib.domain.documents import DocumentKind
from chalicelib.domain.errors import (
    NoPaymentMethodError,
    ServiceUnavailableError,
    SetupNotSucceededError,
)
from chalicelib.domain.events import PaymentProviderEvent
from chalicelib.domain.invoices import InvoiceStatus
from chalicelib.domain.payments import PAID_STAGE, PaymentStatus
from chalicelib.domain.periods import licence_invoice_id, today_in_berlin
from chalicelib.services.billing import licence_key, licence_payment_id
from chalicelib.services.charging import ChargeOutcome
from chalicelib.services.ports import ChargeRequest, IssueRequest
from tests.fakes import (
    AUTHENTICATE,
    T0,
    InjectedFault,
    make_container,
    make_store,
    unique,
)

PERIOD = "2026-03"
ISSUED = date(2026, 3, 2)  # T0 in Berlin
DUE = ISSUED + timedelta(days=14)


def _store(c, *, fee=4900, created_at=None, **fields):
    store = make_store(
        monthly_fee_cents=fee, created_at=created_at or T0 - timedelta(days=30), **fields
    )
    c.stores.add(store)
    return c.stores.get(store.id)


def _save_card(c, store_id, behaviour="succeed", autopay=True):
    """The owner saves a card through a SetupIntent (which turns autopay on); with
    autopay=False they switch it off again afterwards."""
    secret = c.payment_methods.start_setup(store_id)
    method_id = unique("pm_")
    setup_id = c.cards.complete_setup(secret, method_id, behaviour)
    c.payment_methods.confirm_setup(store_id, setup_id)
    if not autopay:
        c.payment_methods.set_autopay(store_id, False)
    return method_id


def _payment_events(c):
    """The payment-events function behind the bus: every provider news published since the
    last delivery, in order, handled like functions/payment_events (skip what was processed,
    apply, run the follow-ups, remember). A message whose handling raised stays on the
    queue and is delivered again next time."""
    delivered = c.__dict__.setdefault("_payment_news_delivered", [0])
    while True:
        news = [d for kind, d in c.publisher.published if kind == "PaymentProviderEvent"]
        if delivered[0] >= len(news):
            return
        detail = json.loads(json.dumps(news[delivered[0]]))  # as SQS hands it over
        update = PaymentProviderEvent.from_detail(detail).update
        if not c.processed_events.seen(update.key()):
            payment = c.settlement.apply(update)
            if payment is not None:
                c.follow_ups.run(payment.id)
            c.processed_events.remember(update.key(), c.clock.now())
        delivered[0] += 1


def _charge_all(c):
    """The charge function drains the queue; the news it announced reaches the
    payment-events function."""
    outcomes = c.charge_queue.drain(c.charges.charge)
    _payment_events(c)
    return outcomes


def _deliver_webhooks(c, since=0):
    """Stripe delivers its events (signed) to the webhook endpoint, which puts them on the
    bus; the payment-events function handles them."""
    for event in c.cards.events[since:]:
        body = json.dumps(event).encode("utf-8")
        c.webhooks.receive("stripe", {"Stripe-Signature": c.cards.webhook_signature}, body)
    _payment_events(c)


def _unwanted_money(c):
    """Money that arrived for invoices that no longer needed it (refund_needed alerts)."""
    due = [p.id for p in c.ledger.payments.values() if p.refund_due]
    refunded = list(c.cards.refunds)
    counted = ["UnwantedPayments"] if c.metrics.counts.get("UnwantedPayments") else []
    return due + refunded + counted


def _follow_ups(c, store):
    """The mails after the invoice mail that issuing sends (tested in test_invoice_mail)."""
    return [
        m for m in c.mailer.to(store.billing_email) if not m.subject.startswith("Deine Rechnung")
    ]


def _subjects(c, store):
    return [mail.subject for mail in _follow_ups(c, store)]


def _item(c, store_id, invoice_id):
    return next(i for i in c.stores.get(store_id).open_items if i.invoice_id == invoice_id)


# BillingService.run -----------------------------------------------------------------------


def test_a_run_issues_one_invoice_per_store_and_queues_its_charge():
    # Given three active stores
    c = make_container()
    stores = [_store(c) for _ in range(3)]

    # When the month is billed
    result = c.billing.run(PERIOD)

    # Then each store has exactly its licence invoice, open, numbered without gaps
    ids = {licence_invoice_id(s.id, PERIOD) for s in stores}
    assert set(result.store_ids) == {s.id for s in stores} and result.queued == 3
    assert set(c.invoices.invoices) == ids
    numbers = sorted(i.number for i in c.invoices.invoices.values())
    assert numbers == ["RE-2026-000001", "RE-2026-000002", "RE-2026-000003"]
    for store in stores:
        invoice = c.invoices.get(licence_invoice_id(store.id, PERIOD))
        assert invoice.status == InvoiceStatus.OPEN and invoice.period == PERIOD
        assert invoice.totals.gross_cents == 5831  # 4900 + 19 % VAT
        assert c.stores.get(store.id).open_balance_cents() == 5831
    # and one charge request per store
    assert sorted(c.charge_queue.sent, key=lambda r: r.store_id) == sorted(
        (ChargeRequest(s.id, licence_invoice_id(s.id, PERIOD), PERIOD) for s in stores),
        key=lambda r: r.store_id,
    )


def test_a_second_run_issues_nothing_and_queues_only_invoices_still_open():
    # Given a billed month in which one store paid automatically
    c = make_container()
    payer, other, third = _store(c), _store(c), _store(c)
    _save_card(c, payer.id)
    c.billing.run(PERIOD)
    _charge_all(c)
    assert c.invoices.get(licence_invoice_id(payer.id, PERIOD)).status == InvoiceStatus.PAID
    sent_before = len(c.charge_queue.sent)

    # When the same month is run again
    result = c.billing.run(PERIOD)

    # Then nothing new is issued and only the still open invoices are queued again
    assert result.queued == 3
    assert len(c.invoices.invoices) == 3 and c.invoices.counters == {2026: 3}
    again = c.charge_queue.sent[sent_before:]
    assert {r.store_id for r in again} == {other.id, third.id}
    # and the paid store is not charged again
    _charge_all(c)
    assert len(c.cards.charges) == 1


def test_a_store_created_after_the_run_started_is_billed_next_time():
    c = make_container()
    early = _store(c)
    late = _store(c, created_at=c.clock.now() + timedelta(seconds=1))

    result = c.billing.run(PERIOD)

    assert result.store_ids == (early.id,)
    assert c.invoices.get(licence_invoice_id(late.id, PERIOD)) is None


def test_a_store_is_never_billed_for_a_month_before_it_opened():
    # Given a store opened on 2 March 2026 (T0) and one opened long before
    c = make_container()
    new, old = _store(c, created_at=T0), _store(c)

    # When February is billed late, and then March
    february = c.billing.run("2026-02")
    c.billing.run("2026-03")

    # Then February bills only the older store; March bills both
    assert february.store_ids == (old.id,)
    assert c.invoices.get(licence_invoice_id(new.id, "2026-02")) is None
    assert c.invoices.get(licence_invoice_id(new.id, "2026-03")) is not None
    # and a message for February that reaches the worker anyway issues nothing
    request = IssueRequest(new.id, "2026-02", c.clock.now())
    assert c.billing.issue(request) is None


def test_a_closed_store_is_not_billed():
    c = make_container()
    open_store, closed = _store(c), _store(c)
    assert c.stores.close(closed.id, c.clock.now() - timedelta(hours=1))

    result = c.billing.run(PERIOD)

    assert result.store_ids == (open_store.id,)
    assert [r.store_id for r in c.charge_queue.sent] == [open_store.id]


def test_each_store_is_issued_by_its_own_message_and_a_redelivery_issues_nothing_new():
    # Given the run queued its stores and nobody has worked on them yet
    c = make_container()
    c.issue_queue.deliver = None
    stores = [_store(c), _store(c)]
    c.billing.run(PERIOD)
    assert c.invoices.invoices == {} and len(c.issue_queue.waiting) == 2

    # When each message is delivered, one of them twice (late, after the first was done)
    first = c.issue_queue.waiting[0]
    results = [c.billing.bill_store(r, c.charges.charge) for r in list(c.issue_queue.waiting)]
    again = c.billing.bill_store(first, c.charges.charge)

    # Then each store has its one invoice, ready, and the late copy changed nothing
    assert {invoice.store_id for invoice, _ in results} == {s.id for s in stores}
    assert all(invoice.ready for invoice, _ in results)
    assert again[0] == c.invoices.get(licence_invoice_id(first.store_id, PERIOD))
    assert c.invoices.counters == {2026: 2}


def test_a_store_closed_between_commit_and_files_still_gets_its_invoice_files():
    # Given the issuer died right after committing a store's invoice
    c = make_container()
    c.issue_queue.deliver = None
    store = _store(c)
    c.billing.run(PERIOD)
    (request,) = c.issue_queue.waiting
    c.invoices.faults.fail_next("issue", when="after")
    with pytest.raises(InjectedFault):
        c.billing.bill_store(request, c.charges.charge)
    # and the store was closed before the message came again (its lease ran out)
    assert c.stores.close(store.id, request.cutoff)
    c.clock.advance(minutes=15)

    invoice, _ = c.billing.bill_store(request, c.charges.charge)

    # Then the committed invoice is finished (files, ready), and no other one is issued
    assert invoice is not None and invoice.ready and invoice.number == "RE-2026-000001"
    assert len(c.invoices.invoices) == 1 and c.invoices.counters == {2026: 1}


def test_a_store_without_a_fee_is_skipped():
    c = make_container()
    free = _store(c, fee=0)

    result = c.billing.run(PERIOD)

    assert result.store_ids == () and result.queued == 0
    assert c.invoices.invoices == {} and c.charge_queue.sent == []
    assert c.stores.get(free.id).open_items == ()


# ChargeService.charge -----------------------------------------------------------------------


def test_autopay_success_pays_the_invoice_announces_it_and_sends_a_receipt():
    # Given a store with a saved card and autopay
    c = make_container()
    store = _store(c)
    method_id = _save_card(c, store.id)
    c.billing.run(PERIOD)
    invoice_id = licence_invoice_id(store.id, PERIOD)

    # When its charge request is delivered
    assert _charge_all(c) == [ChargeOutcome.CHARGED]

    # Then the card was charged once, with the period's idempotency key
    invoice = c.invoices.get(invoice_id)
    assert [(ch.invoice_id, ch.amount_cents) for ch in c.cards.charges] == [(invoice_id, 5831)]
    (call,) = c.cards.charge_calls
    assert call.idempotency_key == licence_key(store.id, PERIOD, 1) == f"lic-{store.id}-{PERIOD}"
    assert call.method_id == method_id
    # and the invoice is paid, the store owes nothing
    assert invoice.status == InvoiceStatus.PAID and invoice.paid_at == c.clock.now()
    assert c.stores.get(store.id).open_items == ()
    payment = c.ledger.get(licence_payment_id(store.id, PERIOD, 1))
    assert payment.status == PaymentStatus.SUCCEEDED and PAID_STAGE in payment.followed_up
    # and InvoicePaid went out, and the owner got a receipt
    (paid,) = c.publisher.of_type("InvoicePaid")
    assert paid["invoice_id"] == invoice_id and paid["gross_cents"] == 5831
    assert paid["payment_id"] == payment.id
    assert _subjects(c, store) == [f"Zahlung erhalten – Rechnung {invoice.number}"]
    # which is a numbered Zahlungsbestätigung, attached and listed on the invoice
    (receipt,) = c.document_records.of_kind(DocumentKind.RECEIPT)
    assert receipt.number == "ZB-2026-000001" and receipt.ready
    assert receipt.payment_id == payment.id and receipt.invoice_ids == (invoice_id,)
    assert receipt.gross_cents == 5831
    (mail,) = _follow_ups(c, store)
    (attachment,) = mail.attachments
    assert attachment.filename == "Zahlungsbestaetigung-ZB-2026-000001.pdf"
    assert attachment.body == c.documents.objects[receipt.pdf_key]
    assert "automatisch von deiner gespeicherten Karte" in mail.text
    assert [d.id for d in c.invoices.get(invoice_id).documents] == [receipt.id]


def test_the_receipt_of_a_charge_is_sent_by_the_payment_events_function_once():
    # Given a store whose card was charged: the charge pays the invoice at once
    c = make_container()
    store = _store(c)
    _save_card(c, store.id)
    c.billing.run(PERIOD)
    request = c.charge_queue.take()
    assert c.charges.charge(request) == ChargeOutcome.CHARGED
    c.charge_queue.done(request)
    assert c.invoices.get(request.invoice_id).status == InvoiceStatus.PAID
    # but the follow-ups wait for the news it put on the bus
    assert _follow_ups(c, store) == [] and c.publisher.of_type("InvoicePaid") == []
    assert len(c.publisher.of_type("PaymentProviderEvent")) == 1

    # When the payment-events function handles it, and Stripe's webhook for the same
    # charge arrives later (twice)
    _payment_events(c)
    _deliver_webhooks(c)
    _deliver_webhooks(c)

    # Then there is one InvoicePaid, one receipt mail and one receipt document
    assert len(c.publisher.of_type("InvoicePaid")) == 1
    assert len(_follow_ups(c, store)) == 1
    assert len(c.document_records.of_kind(DocumentKind.RECEIPT)) == 1
    assert len(c.cards.charges) == 1 and _unwanted_money(c) == []


def test_without_a_card_nothing_is_charged_and_the_invoice_is_mailed_with_its_link():
    c = make_container()
    store = _store(c)
    c.billing.run(PERIOD)
    invoice = c.invoices.get(licence_invoice_id(store.id, PERIOD))

    assert _charge_all(c) == [ChargeOutcome.NOT_CHARGED]

    assert c.cards.charge_calls == [] and c.ledger.payments == {}
    assert c.invoices.get(invoice.id).status == InvoiceStatus.OPEN
    (mail,) = c.mailer.to(store.billing_email)
    assert mail.subject == f"Deine Rechnung {invoice.number}"
    assert f"https://portal.test/#/rechnungen/{invoice.id}" in mail.text


def test_a_saved_card_without_autopay_is_not_charged():
    c = make_container()
    store = _store(c)
    _save_card(c, store.id, autopay=False)
    c.billing.run(PERIOD)

    assert _charge_all(c) == [ChargeOutcome.NOT_CHARGED]
    assert c.cards.charge_calls == []


def test_authentication_required_leaves_the_invoice_open_asks_the_owner_and_never_retries():
    # Given a card whose bank wants 3-D Secure for every charge
    c = make_container()
    store = _store(c)
    _save_card(c, store.id, behaviour=AUTHENTICATE)
    c.billing.run(PERIOD)
    invoice_id = licence_invoice_id(store.id, PERIOD)

    # When it is charged
    assert _charge_all(c) == [ChargeOutcome.FAILED]

    # Then the invoice is open again, the owner is asked to pay in the portal
    assert c.invoices.get(invoice_id).status == InvoiceStatus.OPEN
    assert c.cards.charges == []
    mails = _follow_ups(c, store)
    assert [m.subject for m in mails] == ["Bitte bestätige deine Zahlung"]
    assert f"/#/rechnungen/{invoice_id}" in mails[0].text
    # and no retry is planned, not even after days of dunning
    assert _item(c, store.id, invoice_id).retry_on is None
    for day in range(1, 12):
        c.dunning.run(ISSUED + timedelta(days=day))
    assert len(c.charge_queue.sent) == 1 and len(c.cards.charge_calls) == 1


@pytest.mark.parametrize("code", ["insufficient_funds", "card_declined"])
def test_a_soft_decline_is_retried_after_3_and_7_days_with_a_mail_each_time(code):
    # Given a card that is declined for lack of funds
    c = make_container()
    store = _store(c)
    _save_card(c, store.id, behaviour=code)
    c.billing.run(PERIOD)
    invoice_id = licence_invoice_id(store.id, PERIOD)

    # When the first attempt fails
    assert _charge_all(c) == [ChargeOutcome.FAILED]

    # Then a retry is planned three days after the invoice date, and the owner is told
    item = _item(c, store.id, invoice_id)
    assert (item.attempts, item.retry_on) == (1, ISSUED + timedelta(days=3))
    assert "05.03.2026" in c.mailer.sent[-1].text
    assert c.invoices.get(invoice_id).status == InvoiceStatus.OPEN

    # When dunning runs the day before, nothing happens; on the day, attempt 2 is queued
    c.dunning.run(ISSUED + timedelta(days=2))
    assert len(c.charge_queue.sent) == 1
    c.dunning.run(ISSUED + timedelta(days=3))
    assert c.charge_queue.sent[-1] == ChargeRequest(store.id, invoice_id, PERIOD, 2)
    assert _charge_all(c) == [ChargeOutcome.FAILED]
    item = _item(c, store.id, invoice_id)
    assert (item.attempts, item.retry_on) == (2, ISSUED + timedelta(days=7))
    assert "09.03.2026" in c.mailer.sent[-1].text

    # And after the third attempt the schedule is used up
    c.dunning.run(ISSUED + timedelta(days=7))
    assert c.charge_queue.sent[-1].attempt == 3
    assert _charge_all(c) == [ChargeOutcome.FAILED]
    assert _item(c, store.id, invoice_id).retry_on is None
    assert "nicht noch einmal" in c.mailer.sent[-1].text
    for day in range(8, 14):
        c.dunning.run(ISSUED + timedelta(days=day))
    # one key per attempt, one decline mail per attempt, nothing charged
    keys = [call.idempotency_key for call in c.cards.charge_calls]
    base = f"lic-{store.id}-{PERIOD}"
    assert keys == [base, f"{base}-2", f"{base}-3"]
    declined = [s for s in _subjects(c, store) if s.startswith("Abbuchung fehlgeschlagen")]
    assert len(declined) == 3 and c.cards.charges == []


def test_a_hard_decline_is_not_retried_and_asks_for_a_new_card():
    c = make_container()
    store = _store(c)
    _save_card(c, store.id, behaviour="expired_card")
    c.billing.run(PERIOD)
    invoice_id = licence_invoice_id(store.id, PERIOD)

    assert _charge_all(c) == [ChargeOutcome.FAILED]

    assert _item(c, store.id, invoice_id).retry_on is None
    (mail,) = _follow_ups(c, store)
    assert mail.subject == "Bitte hinterlege eine neue Karte"
    assert "neue Karte" in mail.text
    for day in range(1, 12):
        c.dunning.run(ISSUED + timedelta(days=day))
    assert len(c.cards.charge_calls) == 1 and len(c.charge_queue.sent) == 1


def test_a_manual_payment_in_progress_wins_and_the_charge_is_skipped():
    # Given an owner who started paying by card before the charge request arrives
    c = make_container()
    store = _store(c)
    _save_card(c, store.id)
    c.billing.run(PERIOD)
    invoice_id = licence_invoice_id(store.id, PERIOD)
    started = c.payments.start(store.id, [invoice_id], "card")

    # When the charge request is delivered
    assert _charge_all(c) == [ChargeOutcome.SKIPPED]

    # Then nothing was charged off-session, the owner's payment is untouched
    assert c.cards.charge_calls == []
    invoice = c.invoices.get(invoice_id)
    assert invoice.status == InvoiceStatus.PROCESSING
    assert invoice.active_payment_id == started.payment.id


def test_the_same_request_twice_charges_once():
    c = make_container()
    store = _store(c)
    _save_card(c, store.id)
    c.billing.run(PERIOD)
    request = c.charge_queue.sent[0]

    first = c.charges.charge(request)
    second = c.charges.charge(request)
    _payment_events(c)
    _deliver_webhooks(c)

    assert first == ChargeOutcome.CHARGED
    assert second in (ChargeOutcome.CHARGED, ChargeOutcome.SKIPPED)
    assert len(c.cards.charges) == 1 and len(c.cards.charge_calls) == 1
    assert len(c.publisher.of_type("InvoicePaid")) == 1
    assert len(_follow_ups(c, store)) == 1  # one receipt


def test_a_crash_between_charge_and_recording_never_charges_twice():
    # Given a charge that went through at Stripe and was remembered (provider_ref), but
    # the process died before the success was recorded
    c = make_container()
    store = _store(c)
    _save_card(c, store.id)
    c.billing.run(PERIOD)
    request = c.charge_queue.sent[0]
    c.ledger.faults.fail_next("settle_success")
    with pytest.raises(InjectedFault):
        c.charges.charge(request)
    payment = c.ledger.get(licence_payment_id(store.id, PERIOD, 1))
    assert payment.provider_ref is not None and payment.status == PaymentStatus.PENDING

    # When SQS delivers the request again
    c.charges.charge(request)

    # Then the card is not charged a second time
    assert len(c.cards.charges) == 1
    assert len({call.idempotency_key for call in c.cards.charge_calls}) == 1
    # and Stripe's webhook for the charge settles the invoice exactly once
    _deliver_webhooks(c)
    assert c.invoices.get(request.invoice_id).status == InvoiceStatus.PAID
    assert len(c.publisher.of_type("InvoicePaid")) == 1
    assert len(_follow_ups(c, store)) == 1  # one receipt
    assert _unwanted_money(c) == []


def test_a_charge_that_hit_a_stripe_outage_is_tried_again_on_redelivery():
    c = make_container()
    store = _store(c)
    _save_card(c, store.id)
    c.billing.run(PERIOD)
    request = c.charge_queue.sent[0]
    c.cards.faults.fail_next("charge_off_session", error=ServiceUnavailableError)
    with pytest.raises(ServiceUnavailableError):
        c.charges.charge(request)

    assert c.charges.charge(request) == ChargeOutcome.CHARGED
    assert c.invoices.get(request.invoice_id).status == InvoiceStatus.PAID


def test_a_charge_whose_answer_was_lost_still_pays_the_invoice():
    c = make_container()
    store = _store(c)
    _save_card(c, store.id)
    c.billing.run(PERIOD)
    request = c.charge_queue.sent[0]
    c.cards.faults.fail_next("charge_off_session", when="after", error=ServiceUnavailableError)
    with pytest.raises(ServiceUnavailableError):
        c.charges.charge(request)
    assert len(c.cards.charges) == 1  # the money moved

    c.charges.charge(request)  # SQS redelivers
    _deliver_webhooks(c)  # and Stripe's webhook arrives

    assert len(c.cards.charges) == 1
    assert c.invoices.get(request.invoice_id).status == InvoiceStatus.PAID


# DunningService.run ---------------------------------------------------------------------------


def _billed_store(c, **fields):
    store = _store(c, **fields)
    c.billing.run(PERIOD)
    c.charge_queue.waiting.clear()
    return store, licence_invoice_id(store.id, PERIOD)


def test_dunning_queues_due_retries_only_for_stores_with_autopay_and_a_card():
    c = make_container()
    store, invoice_id = _billed_store(c)
    _save_card(c, store.id)
    item = _item(c, store.id, invoice_id)
    c.stores.update_open_item(
        store.id, dataclasses.replace(item, attempts=1, retry_on=ISSUED + timedelta(days=3))
    )

    # not due yet
    assert c.dunning.run(ISSUED + timedelta(days=2)).retried == 0
    # due: queued once, and the plan is cleared so the next run does not queue it again
    assert c.dunning.run(ISSUED + timedelta(days=3)).retried == 1
    assert c.dunning.run(ISSUED + timedelta(days=4)).retried == 0
    assert c.charge_queue.waiting == [ChargeRequest(store.id, invoice_id, PERIOD, 2)]
    assert _item(c, store.id, invoice_id).retry_on is None

    # a due retry of a store that switched autopay off is not queued
    c.charge_queue.waiting.clear()
    c.stores.update_open_item(
        store.id, dataclasses.replace(item, attempts=1, retry_on=ISSUED + timedelta(days=3))
    )
    c.payment_methods.set_autopay(store.id, False)
    assert c.dunning.run(ISSUED + timedelta(days=5)).retried == 0
    assert c.charge_queue.waiting == []


def test_dunning_reminds_once_per_overdue_invoice():
    c = make_container()
    store, invoice_id = _billed_store(c)
    number = c.invoices.get(invoice_id).number

    assert c.dunning.run(DUE).reminded == 0  # due today is not overdue
    assert c.dunning.run(DUE + timedelta(days=1)).reminded == 1
    assert c.dunning.run(DUE + timedelta(days=2)).reminded == 0
    assert c.dunning.run(DUE + timedelta(days=3)).reminded == 0

    assert _subjects(c, store) == [f"Zahlungserinnerung – Rechnung {number}"]
    assert _item(c, store.id, invoice_id).reminded == 1


def test_dunning_blocks_a_store_past_the_grace_period_and_tells_pos_and_owner():
    c = make_container()
    store, invoice_id = _billed_store(c)
    number = c.invoices.get(invoice_id).number
    last_grace_day = DUE + timedelta(days=c.settings.dunning_grace_days)

    assert c.dunning.run(last_grace_day).blocked == 0
    assert c.stores.get(store.id).account_status == "active"

    assert c.dunning.run(last_grace_day + timedelta(days=1)).blocked == 1

    assert c.stores.get(store.id).account_status == "blocked"
    (event,) = c.publisher.of_type("StoreAccessChanged")
    assert event["store_id"] == store.id and event["status"] == "blocked"
    assert event["reason"] == "overdue_invoices"
    mail = c.mailer.sent[-1]
    assert mail.subject == "Deine Kasse ist gesperrt – so schaltest du sie frei"
    assert number in mail.text
    # a second run changes nothing and announces nothing
    assert c.dunning.run(last_grace_day + timedelta(days=2)).blocked == 0
    assert len(c.publisher.of_type("StoreAccessChanged")) == 1


def test_dunning_unblocks_a_store_once_nothing_is_overdue_past_grace():
    c = make_container()
    store, invoice_id = _billed_store(c)
    late = DUE + timedelta(days=c.settings.dunning_grace_days + 1)
    c.dunning.run(late)
    assert c.stores.get(store.id).account_status == "blocked"

    # the overdue invoice is voided (corrected) by the operator: the till opens at once
    c.clock.set(T0 + (late - ISSUED))
    c.corrections.void(invoice_id)
    assert c.stores.get(store.id).account_status == "active"
    c.dunning.run(late + timedelta(days=1))  # and the daily run has nothing left to do

    assert c.stores.get(store.id).account_status == "active"
    assert c.stores.get(store.id).blocked_since is None
    events = c.publisher.of_type("StoreAccessChanged")
    assert [(e["status"], e["reason"]) for e in events] == [
        ("blocked", "overdue_invoices"),
        ("active", "overdue_invoices_corrected"),
    ]


def test_paying_the_last_overdue_invoice_unblocks_at_once():
    c = make_container()
    store, invoice_id = _billed_store(c)
    late = DUE + timedelta(days=c.settings.dunning_grace_days + 1)
    c.clock.set(T0 + (late - ISSUED))
    c.dunning.run(today_in_berlin(c.clock.now()))
    assert c.stores.get(store.id).account_status == "blocked"

    started = c.payments.start(store.id, [invoice_id], "card")
    c.payments.card(store.id, started.payment.id, "tok_visa")
    assert c.invoices.get(invoice_id).status == InvoiceStatus.PAID
    _payment_events(c)  # the news of the card step, handled right after it

    assert c.stores.get(store.id).account_status == "active"
    assert c.publisher.of_type("StoreAccessChanged")[-1]["status"] == "active"


# PaymentMethodService -------------------------------------------------------------------------


def test_only_a_succeeded_setup_intent_saves_the_card():
    c = make_container()
    store = _store(c)
    secret = c.payment_methods.start_setup(store.id)
    setup_id = secret.split("_secret_")[0]

    # not finished yet, or failed (e.g. 3-D Secure aborted): refused
    with pytest.raises(SetupNotSucceededError):
        c.payment_methods.confirm_setup(store.id, setup_id)
    c.cards.complete_setup(setup_id, "pm_failed", succeed=False)
    with pytest.raises(SetupNotSucceededError):
        c.payment_methods.confirm_setup(store.id, setup_id)
    # an unknown one, or another store's, is refused as well
    with pytest.raises(SetupNotSucceededError):
        c.payment_methods.confirm_setup(store.id, "seti_unknown")
    other = _store(c)
    other_setup = c.cards.complete_setup(c.payment_methods.start_setup(other.id), "pm_other")
    with pytest.raises(SetupNotSucceededError):
        c.payment_methods.confirm_setup(store.id, other_setup)
    assert c.stores.get(store.id).payment_method is None
    assert c.stores.get(store.id).autopay is False

    # succeeded: the card is saved with its details, and saving it means paying
    # automatically
    c.cards.complete_setup(setup_id, "pm_good")
    saved = c.payment_methods.confirm_setup(store.id, setup_id)
    assert saved.payment_method is not None and saved.payment_method.id == "pm_good"
    assert saved.payment_method.last4 == "4242"
    assert saved.autopay is True


def test_saving_a_new_card_removes_the_previous_one_at_stripe():
    c = make_container()
    store = _store(c)
    first = _save_card(c, store.id, autopay=False)
    second = _save_card(c, store.id, autopay=False)

    assert c.stores.get(store.id).payment_method.id == second
    assert [method for _, method in c.cards.removed] == [first]


def test_removing_the_card_turns_autopay_off():
    c = make_container()
    store = _store(c)
    method_id = _save_card(c, store.id)
    assert c.stores.get(store.id).autopay is True

    after = c.payment_methods.remove(store.id)

    assert after.payment_method is None and after.autopay is False
    assert [method for _, method in c.cards.removed] == [method_id]


def test_autopay_needs_a_card():
    c = make_container()
    store = _store(c)

    with pytest.raises(NoPaymentMethodError):
        c.payment_methods.set_autopay(store.id, True)

    assert c.stores.get(store.id).autopay is False
    # switching it off is always possible
    assert c.payment_methods.set_autopay(store.id, False).autopay is False


# crashes in the middle of dunning -----------------------------------------------------------


def test_a_failed_announcement_of_a_block_is_made_by_the_next_run():
    c = make_container()
    store, _ = _billed_store(c)
    late = DUE + timedelta(days=c.settings.dunning_grace_days + 1)
    c.publisher.faults.fail_next("publish:StoreAccessChanged")
    with pytest.raises(ServiceUnavailableError):
        c.dunning.run(late)

    c.dunning.run(late)  # the scheduler retries

    assert c.stores.get(store.id).account_status == "blocked"
    assert [e["status"] for e in c.publisher.of_type("StoreAccessChanged")] == ["blocked"]


def test_a_failed_unblock_announcement_is_made_when_the_event_is_redelivered():
    c = make_container()
    store, invoice_id = _billed_store(c)
    late = DUE + timedelta(days=c.settings.dunning_grace_days + 1)
    c.clock.set(T0 + (late - ISSUED))
    c.dunning.run(late)
    started = c.payments.start(store.id, [invoice_id], "card")
    c.cards.add_card("tok_3ds", AUTHENTICATE)
    c.payments.card(store.id, started.payment.id, "tok_3ds")
    seen = len(c.cards.events)
    c.cards.authenticate(started.payment.provider_ref)  # paid at the bank, webhook follows
    c.publisher.faults.fail_next("publish:StoreAccessChanged")
    with pytest.raises(ServiceUnavailableError):
        _deliver_webhooks(c, since=seen)

    # The event queue redelivers after its visibility timeout (the follow-up lease of the
    # failed delivery has run out by then)
    c.clock.advance(seconds=180)
    _payment_events(c)

    assert c.stores.get(store.id).account_status == "active"
    assert c.publisher.of_type("StoreAccessChanged")[-1]["status"] == "active"


def test_a_retry_whose_enqueue_failed_is_queued_by_the_next_run():
    c = make_container()
    store = _store(c)
    _save_card(c, store.id, behaviour="insufficient_funds")
    c.billing.run(PERIOD)
    _charge_all(c)
    retry_day = ISSUED + timedelta(days=3)
    c.charge_queue.faults.fail_next("enqueue")
    with pytest.raises(ServiceUnavailableError):
        c.dunning.run(retry_day)

    c.dunning.run(retry_day)  # the scheduler retries

    assert [r.attempt for r in c.charge_queue.waiting] == [2]


def test_a_decline_interrupted_by_a_crash_still_plans_the_retry_and_tells_the_owner():
    c = make_container()
    store = _store(c)
    _save_card(c, store.id, behaviour="insufficient_funds")
    c.billing.run(PERIOD)
    request = c.charge_queue.waiting[0]
    c.ledger.faults.fail_next("settle_failure")
    with pytest.raises(InjectedFault):
        c.charges.charge(request)

    c.charges.charge(request)  # SQS redelivers
    _deliver_webhooks(c)  # Stripe's payment_failed arrives

    assert c.invoices.get(request.invoice_id).status == InvoiceStatus.OPEN
    item = _item(c, store.id, request.invoice_id)
    assert (item.attempts, item.retry_on) == (1, ISSUED + timedelta(days=3))
    assert any(s.startswith("Abbuchung fehlgeschlagen") for s in _subjects(c, store))
