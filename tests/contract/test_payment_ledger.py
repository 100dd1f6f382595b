"""PaymentLedger and ProcessedEvents: the same behaviour from fake and DynamoDB.

The ledger is what keeps money moving exactly once: a payment may move money only while it
is the current payment of every invoice it pays (claim), a success pays all of its invoices
or none (settle_success), and a failure gives back exactly the invoices it held.
"""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import pytest

from chalicelib.domain.errors import ConflictError, InvoiceNotPayableError
from chalicelib.domain.invoices import InvoiceStatus, format_number
from chalicelib.domain.payments import (
    PAID_STAGE,
    REFUNDED_STAGE,
    Payment,
    PaymentKind,
    PaymentStatus,
)
from chalicelib.services.ports import SettleOutcome
from tests.contract import fresh_year, race, repos_fixture  # noqa: F401
from tests.fakes import T0, make_invoice, make_line, unique

LATER = T0 + timedelta(minutes=5)


def _invoices(repos, store, count=1, net_cents=(4900, 1000, 2500)):
    """`count` open invoices of `store`, numbered in a year of the test's own."""
    year = fresh_year()
    invoices = []
    for index in range(count):
        sequence = repos.invoices.next_number(year)
        invoice = make_invoice(
            store_id=store.id,
            number=format_number(year, sequence),
            issue_date=date(year, 1, 1 + index),
            lines=(make_line(unit_net_cents=net_cents[index % len(net_cents)]),),
        )
        repos.invoices.add_numbered(invoice, sequence)
        invoices.append(invoice)
    return invoices


def _payment(store, invoices, **fields):
    values = {
        "id": unique("pay_"),
        "invoice_id": invoices[0].id,
        "invoice_ids": tuple(invoice.id for invoice in invoices),
        "store_id": store.id,
        "provider": "stripe",
        "method": "card",
        "kind": PaymentKind.MANUAL.value,
        "amount_cents": sum(invoice.totals.gross_cents for invoice in invoices),
        "currency": "EUR",
        "status": PaymentStatus.PENDING,
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(fields)
    return Payment(**values)


def _opened(repos, store, invoices, **fields):
    payment = _payment(store, invoices, **fields)
    repos.ledger.open(payment)
    return payment


def _invoice(repos, invoice):
    return repos.invoices.get(invoice.id)


def _log(repos, invoice):
    """What the invoice shows of its payments (the detail reads no payment record)."""
    return [
        (p.id, p.status, p.amount_cents, p.invoice_ids, p.failure_code)
        for p in _invoice(repos, invoice).payments
    ]


def _open_item_ids(repos, store):
    return {item.invoice_id for item in repos.stores.get(store.id).open_items}


def _paid_by_another(repos, store, invoice, holder=None):
    """`invoice` gets paid by a second payment whose money arrived late: it was started,
    given up (the invoice went back to open), and then succeeded anyway. While `holder` is
    given, it is the payment that is current for the invoice at that moment."""
    late = _payment(store, [invoice], created_at=T0 - timedelta(hours=1))
    repos.ledger.open(late)
    assert repos.ledger.settle_failure(late, PaymentStatus.CANCELED, "superseded", T0)
    if holder is not None:
        repos.ledger.open(holder)
    assert repos.ledger.settle_success(late, T0) == SettleOutcome.APPLIED
    return late


# open ------------------------------------------------------------------------------------


def test_open_writes_the_payment_and_makes_it_current_for_its_invoice(repos):
    # Given an open invoice
    store = repos.new_store()
    (invoice,) = _invoices(repos, store)

    # When a payment for it is opened
    payment = _opened(repos, store, [invoice], save_card=True)

    # Then the payment reads back as it was written
    assert repos.ledger.get(payment.id) == payment
    assert repos.ledger.list_for_invoice(invoice.id) == [payment]
    # and the invoice is being paid by it, still owed by the store
    stored = _invoice(repos, invoice)
    assert stored.status == InvoiceStatus.PROCESSING
    assert stored.active_payment_id == payment.id
    assert _log(repos, invoice) == [(payment.id, PaymentStatus.PENDING, 5831, (invoice.id,), None)]
    assert _open_item_ids(repos, store) == {invoice.id}


def test_get_of_an_unknown_payment_is_none(repos):
    assert repos.ledger.get(unique("pay_missing_")) is None
    assert repos.ledger.list_for_invoice(unique("inv_missing_")) == []


def test_open_for_several_invoices_makes_it_current_for_each(repos):
    store = repos.new_store()
    invoices = _invoices(repos, store, count=3)

    payment = _opened(repos, store, invoices)

    stored = repos.ledger.get(payment.id)
    assert stored == payment
    assert stored.invoice_ids == tuple(i.id for i in invoices)
    assert stored.invoice_id == invoices[0].id
    assert stored.amount_cents == 5831 + 1190 + 2975
    for invoice in invoices:
        current = _invoice(repos, invoice)
        assert (current.status, current.active_payment_id) == (
            InvoiceStatus.PROCESSING,
            payment.id,
        )
        (summary,) = current.payments
        assert (summary.id, summary.invoice_id, summary.invoice_ids) == (
            payment.id,
            payment.invoice_id,
            payment.invoice_ids,
        )


def test_open_is_refused_when_one_invoice_is_not_open_and_writes_nothing(repos):
    # Given two open invoices and a third that is already being paid
    store = repos.new_store()
    first, second, busy = _invoices(repos, store, count=3)
    holder = _opened(repos, store, [busy])

    # When one payment for all three is opened
    payment = _payment(store, [first, second, busy])
    with pytest.raises(InvoiceNotPayableError):
        repos.ledger.open(payment)

    # Then nothing of it was written: no payment, the other invoices untouched
    assert repos.ledger.get(payment.id) is None
    for invoice in (first, second):
        untouched = _invoice(repos, invoice)
        assert untouched.status == InvoiceStatus.OPEN
        assert untouched.active_payment_id is None and untouched.payments == ()
    assert _invoice(repos, busy).active_payment_id == holder.id
    assert _log(repos, busy) == [
        (holder.id, PaymentStatus.PENDING, busy.totals.gross_cents, (busy.id,), None)
    ]


def test_open_is_refused_for_a_paid_or_void_invoice_or_another_stores(repos):
    store, other = repos.new_store(), repos.new_store()
    paid, void, mine = _invoices(repos, store, count=3)
    repos.invoices.move(paid, InvoiceStatus.PAID, T0)
    repos.invoices.move(void, InvoiceStatus.VOID, T0)

    for invoices, owner in (([paid], store), ([void], store), ([mine], other)):
        payment = _payment(owner, invoices)
        with pytest.raises(InvoiceNotPayableError):
            repos.ledger.open(payment)
        assert repos.ledger.get(payment.id) is None
    assert _invoice(repos, mine).status == InvoiceStatus.OPEN


def test_the_same_payment_cannot_be_opened_twice(repos):
    store = repos.new_store()
    (invoice,) = _invoices(repos, store)
    payment = _opened(repos, store, [invoice])
    assert repos.ledger.settle_failure(payment, PaymentStatus.FAILED, "card_declined", T0)

    # the invoice is open again, but the payment id is taken
    with pytest.raises(InvoiceNotPayableError):
        repos.ledger.open(payment)

    assert repos.ledger.get(payment.id).status == PaymentStatus.FAILED
    assert _invoice(repos, invoice).status == InvoiceStatus.OPEN


# provider ref and open statuses ------------------------------------------------------------


def test_the_providers_reference_is_remembered_once(repos):
    store = repos.new_store()
    (invoice,) = _invoices(repos, store)
    payment = _opened(repos, store, [invoice])

    stored = repos.ledger.set_provider_ref(payment.id, "PP-1", "https://paypal.test/a")
    assert (stored.provider_ref, stored.approve_url) == ("PP-1", "https://paypal.test/a")
    # the same again is harmless (a retried start) and keeps the approval link
    again = repos.ledger.set_provider_ref(payment.id, "PP-1", None)
    assert (again.provider_ref, again.approve_url) == ("PP-1", "https://paypal.test/a")
    # a different one is refused and changes nothing
    with pytest.raises(ConflictError):
        repos.ledger.set_provider_ref(payment.id, "PP-2", "https://paypal.test/b")
    assert repos.ledger.get(payment.id) == again
    assert again == dataclasses.replace(
        payment, provider_ref="PP-1", approve_url="https://paypal.test/a"
    )


def test_the_reference_of_an_unknown_payment_is_not_stored(repos):
    missing = unique("pay_missing_")

    with pytest.raises(LookupError):
        repos.ledger.set_provider_ref(missing, "pi_1", None)

    assert repos.ledger.get(missing) is None


def test_mark_moves_only_between_open_statuses(repos):
    store = repos.new_store()
    (invoice,) = _invoices(repos, store)
    payment = _opened(repos, store, [invoice])

    waiting = repos.ledger.mark(payment, PaymentStatus.REQUIRES_ACTION, LATER)
    assert waiting.status == PaymentStatus.REQUIRES_ACTION and waiting.updated_at == LATER
    assert repos.ledger.get(payment.id) == waiting
    assert _log(repos, invoice)[0][1] == PaymentStatus.REQUIRES_ACTION
    assert repos.ledger.mark(payment, PaymentStatus.PENDING, LATER).status == PaymentStatus.PENDING

    # once settled, mark changes nothing
    assert repos.ledger.settle_failure(payment, PaymentStatus.CANCELED, "payer_canceled", LATER)
    after = repos.ledger.mark(payment, PaymentStatus.REQUIRES_ACTION, LATER)
    assert after.status == PaymentStatus.CANCELED
    assert repos.ledger.get(payment.id).status == PaymentStatus.CANCELED


# claim -----------------------------------------------------------------------------------


def test_claim_holds_while_the_payment_is_open_and_current(repos):
    store = repos.new_store()
    invoices = _invoices(repos, store, count=2)
    payment = _opened(repos, store, invoices)

    assert repos.ledger.claim(payment, T0)
    assert repos.ledger.claim(payment, LATER)  # a retry may claim again
    waiting = repos.ledger.mark(payment, PaymentStatus.REQUIRES_ACTION, LATER)
    assert repos.ledger.claim(waiting, LATER)
    # claiming moves nothing
    assert repos.ledger.get(payment.id).status == PaymentStatus.REQUIRES_ACTION
    assert {_invoice(repos, i).status for i in invoices} == {InvoiceStatus.PROCESSING}


def test_claim_fails_after_settle_failure(repos):
    store = repos.new_store()
    (invoice,) = _invoices(repos, store)
    payment = _opened(repos, store, [invoice])
    assert repos.ledger.settle_failure(payment, PaymentStatus.CANCELED, "superseded", T0)

    assert not repos.ledger.claim(payment, LATER)

    # nor does it hold once another payment is current for the invoice
    newer = _opened(repos, store, [invoice], created_at=LATER, updated_at=LATER)
    assert not repos.ledger.claim(payment, LATER)
    assert repos.ledger.claim(newer, LATER)


def test_claim_fails_when_an_invoice_was_paid_by_another_payment(repos):
    # Given a payment that is current for two invoices, one of which is then paid by
    # another payment whose money arrived late
    store = repos.new_store()
    first, second = _invoices(repos, store, count=2)
    payment = _payment(store, [first, second])
    late = _paid_by_another(repos, store, first, holder=payment)
    assert _invoice(repos, first).status == InvoiceStatus.PAID

    # Then the still open payment can no longer move money
    assert repos.ledger.get(payment.id).status == PaymentStatus.PENDING
    assert not repos.ledger.claim(payment, LATER)
    assert repos.ledger.get(late.id).status == PaymentStatus.SUCCEEDED


def test_claim_fails_when_an_invoice_was_voided(repos):
    store = repos.new_store()
    (invoice,) = _invoices(repos, store)
    payment = _opened(repos, store, [invoice])
    repos.invoices.move(_invoice(repos, invoice), InvoiceStatus.VOID, T0)

    assert not repos.ledger.claim(payment, LATER)


def test_claim_of_an_unknown_payment_fails(repos):
    store = repos.new_store()
    (invoice,) = _invoices(repos, store)

    assert not repos.ledger.claim(_payment(store, [invoice]), T0)


# settle_success --------------------------------------------------------------------------


def test_settle_success_pays_every_invoice_once(repos):
    # Given a payment for two of a store's three invoices
    store = repos.new_store()
    first, second, other = _invoices(repos, store, count=3)
    payment = _opened(repos, store, [first, second])

    # When it succeeds
    assert repos.ledger.settle_success(payment, LATER) == SettleOutcome.APPLIED

    # Then it succeeded, and both invoices are paid by it and no longer owed
    stored = repos.ledger.get(payment.id)
    assert stored.status == PaymentStatus.SUCCEEDED and stored.updated_at == LATER
    assert not stored.refund_due and stored.failure_code is None
    for invoice in (first, second):
        paid = _invoice(repos, invoice)
        assert (paid.status, paid.paid_at, paid.active_payment_id) == (
            InvoiceStatus.PAID,
            LATER,
            None,
        )
        assert _log(repos, invoice) == [
            (payment.id, PaymentStatus.SUCCEEDED, 5831 + 1190, payment.invoice_ids, None)
        ]
    assert _open_item_ids(repos, store) == {other.id}
    assert _invoice(repos, other).status == InvoiceStatus.OPEN

    # and the same news again changes nothing
    assert repos.ledger.settle_success(payment, LATER + timedelta(hours=1)) == (
        SettleOutcome.ALREADY
    )
    assert _invoice(repos, first).paid_at == LATER
    assert repos.ledger.get(payment.id) == stored


def test_a_failed_payment_whose_money_arrived_after_all_still_pays_an_open_invoice(repos):
    # The provider is the truth: money that moved wins over our "failed".
    store = repos.new_store()
    (invoice,) = _invoices(repos, store)
    payment = _opened(repos, store, [invoice])
    assert repos.ledger.settle_failure(payment, PaymentStatus.FAILED, "card_declined", T0)

    assert repos.ledger.settle_success(payment, LATER) == SettleOutcome.APPLIED

    assert repos.ledger.get(payment.id).status == PaymentStatus.SUCCEEDED
    assert repos.ledger.get(payment.id).failure_code is None
    assert _invoice(repos, invoice).status == InvoiceStatus.PAID
    assert _open_item_ids(repos, store) == set()


def test_settle_success_for_an_invoice_already_paid_is_unwanted_and_pays_nothing(repos):
    # Given a payment for two invoices, the first of which was paid by another payment
    store = repos.new_store()
    first, second = _invoices(repos, store, count=2)
    payment = _payment(store, [first, second])
    late = _paid_by_another(repos, store, first, holder=payment)
    paid_before = _invoice(repos, first)

    # When the payment's money arrives too
    assert repos.ledger.settle_success(payment, LATER) == SettleOutcome.UNWANTED

    # Then it is recorded succeeded with a refund due
    stored = repos.ledger.get(payment.id)
    assert stored.status == PaymentStatus.SUCCEEDED and stored.refund_due
    # and it paid nothing: the first stays paid by the other payment, the second is not
    # paid by this one and is open again for the owner (the payment lets go of it)
    first_now = _invoice(repos, first)
    assert (first_now.status, first_now.paid_at) == (InvoiceStatus.PAID, paid_before.paid_at)
    second_now = _invoice(repos, second)
    assert second_now.status == InvoiceStatus.OPEN and second_now.paid_at is None
    assert second_now.active_payment_id is None
    assert _open_item_ids(repos, store) == {second.id}
    assert repos.ledger.get(late.id).status == PaymentStatus.SUCCEEDED
    # the invoices show the payment as succeeded (its refund follows)
    assert (payment.id, PaymentStatus.SUCCEEDED) in [(p[0], p[1]) for p in _log(repos, second)]

    # and the same news again is no second unwanted success
    assert repos.ledger.settle_success(payment, LATER) == SettleOutcome.ALREADY


def test_settle_success_for_a_void_invoice_is_unwanted(repos):
    store = repos.new_store()
    (invoice,) = _invoices(repos, store)
    payment = _opened(repos, store, [invoice])
    assert repos.ledger.settle_failure(payment, PaymentStatus.CANCELED, "abandoned", T0)
    repos.invoices.move(_invoice(repos, invoice), InvoiceStatus.VOID, T0)

    assert repos.ledger.settle_success(payment, LATER) == SettleOutcome.UNWANTED

    assert repos.ledger.get(payment.id).refund_due
    assert _invoice(repos, invoice).status == InvoiceStatus.VOID


def test_settle_success_of_an_unknown_payment_is_nothing_to_do(repos):
    store = repos.new_store()
    (invoice,) = _invoices(repos, store)
    payment = _payment(store, [invoice])

    assert repos.ledger.settle_success(payment, T0) == SettleOutcome.ALREADY

    assert repos.ledger.get(payment.id) is None
    assert _invoice(repos, invoice).status == InvoiceStatus.OPEN


# settle_failure and release --------------------------------------------------------------


def test_settle_failure_releases_every_invoice_it_was_current_for(repos):
    store = repos.new_store()
    invoices = _invoices(repos, store, count=2)
    payment = _opened(repos, store, invoices)

    assert repos.ledger.settle_failure(payment, PaymentStatus.FAILED, "card_declined", LATER)

    stored = repos.ledger.get(payment.id)
    assert (stored.status, stored.failure_code, stored.updated_at) == (
        PaymentStatus.FAILED,
        "card_declined",
        LATER,
    )
    for invoice in invoices:
        released = _invoice(repos, invoice)
        assert (released.status, released.active_payment_id) == (InvoiceStatus.OPEN, None)
        assert _log(repos, invoice) == [
            (payment.id, PaymentStatus.FAILED, 5831 + 1190, payment.invoice_ids, "card_declined")
        ]
    assert _open_item_ids(repos, store) == {i.id for i in invoices}
    # a second failure (a redelivered webhook) changes nothing
    assert not repos.ledger.settle_failure(payment, PaymentStatus.CANCELED, "canceled", LATER)
    assert repos.ledger.get(payment.id) == stored


def test_settle_failure_leaves_an_invoice_it_is_no_longer_current_for(repos):
    # Given a payment for two invoices, the first of which another payment paid meanwhile
    store = repos.new_store()
    first, second = _invoices(repos, store, count=2)
    payment = _payment(store, [first, second])
    _paid_by_another(repos, store, first, holder=payment)

    # When the payment fails
    assert repos.ledger.settle_failure(payment, PaymentStatus.CANCELED, "superseded", LATER)

    # Then only the invoice it still held is open again; the paid one stays paid
    assert _invoice(repos, first).status == InvoiceStatus.PAID
    second_now = _invoice(repos, second)
    assert (second_now.status, second_now.active_payment_id) == (InvoiceStatus.OPEN, None)


def test_settle_failure_of_a_succeeded_payment_changes_nothing(repos):
    store = repos.new_store()
    (invoice,) = _invoices(repos, store)
    payment = _opened(repos, store, [invoice])
    assert repos.ledger.settle_success(payment, T0) == SettleOutcome.APPLIED

    assert not repos.ledger.settle_failure(payment, PaymentStatus.FAILED, "card_declined", LATER)

    assert repos.ledger.get(payment.id).status == PaymentStatus.SUCCEEDED
    assert _invoice(repos, invoice).status == InvoiceStatus.PAID


def test_release_gives_back_an_invoice_a_settled_payment_still_holds(repos):
    # Given a payment for two invoices whose money came after the first was paid by
    # another payment: settling it lets go of the second invoice at once
    store = repos.new_store()
    first, second = _invoices(repos, store, count=2)
    payment = _payment(store, [first, second])
    _paid_by_another(repos, store, first, holder=payment)
    assert repos.ledger.settle_success(payment, T0) == SettleOutcome.UNWANTED
    second_now = _invoice(repos, second)
    assert (second_now.status, second_now.active_payment_id) == (InvoiceStatus.OPEN, None)
    assert _invoice(repos, first).status == InvoiceStatus.PAID

    # When a redelivery releases them again after another payment took the second one
    settled = repos.ledger.get(payment.id)
    newer = _opened(repos, store, [second], created_at=LATER, updated_at=LATER)
    for invoice in (first, second):
        repos.ledger.release(settled, invoice.id, settled.status, None, LATER)

    # Then nothing moves: the newer payment keeps the second, the first stays paid
    assert _invoice(repos, second).active_payment_id == newer.id
    assert _invoice(repos, second).status == InvoiceStatus.PROCESSING
    assert _invoice(repos, first).status == InvoiceStatus.PAID


# refunds ---------------------------------------------------------------------------------


def test_mark_refunded_once_and_only_after_success(repos):
    store = repos.new_store()
    (invoice,) = _invoices(repos, store)
    payment = _opened(repos, store, [invoice])

    assert not repos.ledger.mark_refunded(payment, T0)  # nothing to give back yet
    assert repos.ledger.get(payment.id).status == PaymentStatus.PENDING

    assert repos.ledger.settle_success(payment, T0) == SettleOutcome.APPLIED
    assert repos.ledger.mark_refunded(payment, LATER)
    assert not repos.ledger.mark_refunded(payment, LATER)

    stored = repos.ledger.get(payment.id)
    assert (stored.status, stored.updated_at) == (PaymentStatus.REFUNDED, LATER)
    assert _log(repos, invoice)[0][1] == PaymentStatus.REFUNDED
    # a refund is final: no later success or failure moves it
    assert repos.ledger.settle_success(payment, LATER) == SettleOutcome.ALREADY
    assert not repos.ledger.settle_failure(payment, PaymentStatus.FAILED, None, LATER)
    assert repos.ledger.get(payment.id).status == PaymentStatus.REFUNDED


def test_an_unwanted_payment_keeps_its_refund_due_when_refunded(repos):
    store = repos.new_store()
    (invoice,) = _invoices(repos, store)
    payment = _opened(repos, store, [invoice])
    assert repos.ledger.settle_failure(payment, PaymentStatus.CANCELED, "superseded", T0)
    _paid_by_another(repos, store, invoice)
    assert repos.ledger.settle_success(payment, T0) == SettleOutcome.UNWANTED

    assert repos.ledger.mark_refunded(payment, LATER)

    stored = repos.ledger.get(payment.id)
    assert stored.status == PaymentStatus.REFUNDED and stored.refund_due
    assert _invoice(repos, invoice).status == InvoiceStatus.PAID


# follow-ups ------------------------------------------------------------------------------


def test_follow_ups_of_a_stage_are_leased_and_done_once(repos):
    store = repos.new_store()
    (invoice,) = _invoices(repos, store)
    payment = _opened(repos, store, [invoice])
    assert repos.ledger.settle_success(payment, T0) == SettleOutcome.APPLIED

    # one delivery takes the lease; a parallel one does not get it
    assert repos.ledger.claim_follow_up(payment.id, PAID_STAGE, T0)
    assert not repos.ledger.claim_follow_up(payment.id, PAID_STAGE, T0 + timedelta(seconds=30))
    # a delivery that died holding it is taken over once the lease ran out
    expired = T0 + timedelta(minutes=2)
    assert repos.ledger.claim_follow_up(payment.id, PAID_STAGE, expired)

    # done: remembered once, and never leased again
    assert repos.ledger.mark_followed_up(payment.id, PAID_STAGE)
    assert not repos.ledger.mark_followed_up(payment.id, PAID_STAGE)
    assert repos.ledger.get(payment.id).followed_up == {PAID_STAGE}
    assert not repos.ledger.claim_follow_up(payment.id, PAID_STAGE, expired)
    assert not repos.ledger.claim_follow_up(payment.id, PAID_STAGE, T0 + timedelta(days=1))

    # the next stage has its own flag
    assert repos.ledger.mark_refunded(payment, expired)
    assert repos.ledger.claim_follow_up(payment.id, REFUNDED_STAGE, expired)
    assert repos.ledger.mark_followed_up(payment.id, REFUNDED_STAGE)
    assert repos.ledger.get(payment.id).followed_up == {PAID_STAGE, REFUNDED_STAGE}
    assert not repos.ledger.claim_follow_up(payment.id, REFUNDED_STAGE, T0 + timedelta(days=1))


def test_while_one_stage_is_leased_the_next_one_waits(repos):
    # A refund's mail never overtakes the receipt of the same payment.
    store = repos.new_store()
    (invoice,) = _invoices(repos, store)
    payment = _opened(repos, store, [invoice])
    assert repos.ledger.settle_success(payment, T0) == SettleOutcome.APPLIED
    assert repos.ledger.claim_follow_up(payment.id, PAID_STAGE, T0)
    assert repos.ledger.mark_refunded(payment, T0)

    assert not repos.ledger.claim_follow_up(payment.id, REFUNDED_STAGE, T0)

    assert repos.ledger.mark_followed_up(payment.id, PAID_STAGE)  # which ends the lease
    assert repos.ledger.claim_follow_up(payment.id, REFUNDED_STAGE, T0)


def test_a_stage_can_be_marked_done_without_a_lease(repos):
    store = repos.new_store()
    (invoice,) = _invoices(repos, store)
    payment = _opened(repos, store, [invoice])

    assert repos.ledger.mark_followed_up(payment.id, PAID_STAGE)

    assert repos.ledger.get(payment.id).followed_up == {PAID_STAGE}
    assert not repos.ledger.claim_follow_up(payment.id, PAID_STAGE, T0)


def test_follow_ups_of_an_unknown_payment_are_never_leased_nor_recorded(repos):
    missing = unique("pay_missing_")

    assert not repos.ledger.claim_follow_up(missing, PAID_STAGE, T0)
    assert not repos.ledger.mark_followed_up(missing, PAID_STAGE)

    assert repos.ledger.get(missing) is None


def test_two_deliveries_racing_for_the_follow_ups_one_gets_the_lease(repos):
    store = repos.new_store()
    (invoice,) = _invoices(repos, store)
    payment = _opened(repos, store, [invoice])
    assert repos.ledger.settle_success(payment, T0) == SettleOutcome.APPLIED

    results = race(
        lambda: repos.ledger.claim_follow_up(payment.id, PAID_STAGE, T0),
        lambda: repos.ledger.claim_follow_up(payment.id, PAID_STAGE, T0),
    )

    assert sorted(value for _, value in results) == [False, True], results


def test_two_payments_racing_for_one_invoice_only_one_is_opened(repos):
    store = repos.new_store()
    (invoice,) = _invoices(repos, store)
    first, second = _payment(store, [invoice]), _payment(store, [invoice])

    results = race(lambda: repos.ledger.open(first), lambda: repos.ledger.open(second))

    assert sorted(kind for kind, _ in results) == ["error", "ok"], results
    winner = first if results[0][0] == "ok" else second
    loser = second if winner is first else first
    assert isinstance(next(v for k, v in results if k == "error"), InvoiceNotPayableError)
    assert _invoice(repos, invoice).active_payment_id == winner.id
    assert repos.ledger.get(loser.id) is None


def test_a_success_and_a_failure_racing_end_in_one_consistent_state(repos):
    store = repos.new_store()
    invoices = _invoices(repos, store, count=2)
    payment = _opened(repos, store, invoices)

    race(
        lambda: repos.ledger.settle_success(payment, LATER),
        lambda: repos.ledger.settle_failure(payment, PaymentStatus.FAILED, "card_declined", LATER),
    )

    # Money that moved wins: the payment always ends succeeded; its invoices are paid if
    # the success came first, and otherwise were given back and then paid by it.
    assert repos.ledger.get(payment.id).status == PaymentStatus.SUCCEEDED
    assert {_invoice(repos, i).status for i in invoices} == {InvoiceStatus.PAID}
    assert _open_item_ids(repos, store) == set()


# ProcessedEvents -------------------------------------------------------------------------


def test_processed_events_are_seen_once_remembered(repos):
    event_id, other = unique("evt_"), unique("evt_")
    assert not repos.processed_events.seen(event_id)

    repos.processed_events.remember(event_id, T0)
    repos.processed_events.remember(event_id, LATER)  # twice is harmless

    assert repos.processed_events.seen(event_id)
    assert not repos.processed_events.seen(other)


def test_processed_events_remembered_in_parallel_are_both_fine(repos):
    event_id = unique("evt_")

    results = race(
        lambda: repos.processed_events.remember(event_id, T0),
        lambda: repos.processed_events.remember(event_id, T0),
    )

    assert [kind for kind, _ in results] == ["ok", "ok"], results
    assert repos.processed_events.seen(event_id)
