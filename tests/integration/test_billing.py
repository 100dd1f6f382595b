"""Saved cards, the monthly run and dunning on moto with localstripe as Stripe."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from chalicelib.domain.periods import licence_invoice_id
from chalicelib.services.billing import licence_payment_id
from functions.charge_store.handler import handler as charge_handler
from functions.issue_store.handler import handler as issue_handler
from local.outbox import read_outbox
from local.pump import LambdaContext
from local.seed import FixedClock
from tests.integration.helpers import body, get, owner, post
from tests.integration.payments_helpers import confirm_setup, drain, sqs_batch

pytestmark = pytest.mark.usefixtures("providers")
PERIOD = "2031-03"


def put(api, path, payload, token):
    import json

    return api.http.put(
        path,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        body=json.dumps(payload),
    )


def save_card(api, providers, token, number, authenticate=None):
    started = post(api, "/api/payment-method/card", token=token)
    assert started.status_code == 201, started.body
    secret = body(started)["setup_intent_client_secret"]
    setup_id = confirm_setup(providers["stripe_url"], secret, number, authenticate)
    return post(api, "/api/payment-method/card/confirm", {"setup_intent_id": setup_id}, token)


def autopay_owner(api, container, providers, number="4242424242424242", authenticate=None):
    store_id, email, token = owner(api, container)
    saved = save_card(api, providers, token, number, authenticate)
    assert saved.status_code == 200, saved.body
    assert body(put(api, "/api/autopay", {"enabled": True}, token))["autopay"] is True
    return store_id, email, token


def run_issues():
    """functions/issue_store on what the run queued: each store's invoice, then its charge."""
    messages = drain("issue-store")
    if messages:
        result = issue_handler(sqs_batch(messages), LambdaContext())
        assert result["batchItemFailures"] == []
    return messages


def run_charges():
    """The run's stores (issued and charged), then the charge queue (dunning's retries)."""
    issued = run_issues()
    messages = drain("charge-store")
    if messages:
        result = charge_handler(sqs_batch(messages), LambdaContext())
        assert result["batchItemFailures"] == []
    return issued + messages


def only(container, store_ids):
    """The run bills every store on the shared test server; look at ours only."""
    return {s: container.invoices.get(licence_invoice_id(s, PERIOD)) for s in store_ids}


@pytest.fixture()
def clean_queues():
    for name in ("issue-store", "charge-store", "pos-events", "payment-events"):
        drain(name)


def test_save_card_shows_on_profile_and_autopay_needs_a_card(api, container, providers):
    _, _, token = owner(api, container)
    refused = put(api, "/api/autopay", {"enabled": True}, token)
    assert refused.status_code == 409 and body(refused)["error"]["code"] == "no_payment_method"
    saved = body(save_card(api, providers, token, "4242424242424242"))
    assert saved["payment_method"]["last4"] == "4242"
    assert saved["payment_method"]["exp_year"] == 2030
    assert saved["payment_method"]["expires_before_next_run"] is False
    assert body(put(api, "/api/autopay", {"enabled": True}, token))["autopay"] is True
    removed = api.http.delete("/api/payment-method", headers={"Authorization": f"Bearer {token}"})
    assert body(removed)["payment_method"] is None and body(removed)["autopay"] is False


def test_only_a_succeeded_setup_is_saved(api, container, providers):
    _, _, token = owner(api, container)
    refused = save_card(api, providers, token, "4000002760003184", authenticate=False)
    assert refused.status_code == 400 and body(refused)["error"]["code"] == "setup_not_succeeded"
    assert body(get(api, "/api/profile", token))["payment_method"] is None
    unknown = post(api, "/api/payment-method/card/confirm", {"setup_intent_id": "seti_nope"}, token)
    assert unknown.status_code == 400
    approved = save_card(api, providers, token, "4000002760003184", authenticate=True)
    assert approved.status_code == 200 and body(approved)["payment_method"]["last4"] == "3184"


def test_monthly_run_charges_once_and_a_second_run_does_nothing(
    api, container, providers, aws_stack, clean_queues
):
    store_id, email, token = autopay_owner(api, container, providers)
    first = container.billing.run(PERIOD)
    assert store_id in first.store_ids
    assert len(run_charges()) >= 1
    invoice = container.invoices.get(licence_invoice_id(store_id, PERIOD))
    assert invoice.status == "paid" and invoice.period == PERIOD
    assert container.ledger.get(licence_payment_id(store_id, PERIOD, 1)).status == "succeeded"
    listed = body(get(api, "/api/invoices?status=paid", token))["items"]
    assert invoice.id in [i["id"] for i in listed]
    assert any(
        m["to"] == email and invoice.number in m["subject"]
        for m in read_outbox(aws_stack["AWS_ENDPOINT_URL"])
    )
    second = container.billing.run(PERIOD)
    assert store_id in second.store_ids
    run_charges()
    # the same invoice (number and all), paid once
    assert container.invoices.get(invoice.id) == invoice
    assert [p.status for p in container.ledger.list_for_invoice(invoice.id)] == ["succeeded"]


def test_killed_run_resumes_with_one_invoice_and_one_charge(
    api, container, providers, clean_queues
):
    from chalicelib.bootstrap import Container

    stores = [autopay_owner(api, container, providers)[0] for _ in range(3)]

    class DyingQueue(type(container.issue_queue)):
        calls = 0

        def enqueue(self, requests):
            DyingQueue.calls += 1
            raise RuntimeError("the run died before queueing")

    dying = Container(
        container.settings,
        issue_queue=DyingQueue(container.issue_queue._client, container.issue_queue._url),
    )
    with pytest.raises(RuntimeError):
        dying.billing.run(PERIOD)
    container.billing.run(PERIOD)
    container.billing.run(PERIOD)  # and once more for good measure
    run_charges()
    for invoice in only(container, stores).values():
        assert invoice is not None and invoice.status == "paid"
        payments = container.ledger.list_for_invoice(invoice.id)
        assert [p.status for p in payments] == ["succeeded"]


def test_authentication_required_leaves_invoice_open_and_asks_the_owner(
    api, container, providers, aws_stack, clean_queues
):
    store_id, email, token = autopay_owner(
        api, container, providers, "4000002760003184", authenticate=True
    )
    container.billing.run(PERIOD)
    run_charges()
    invoice = container.invoices.get(licence_invoice_id(store_id, PERIOD))
    assert invoice.status == "open"
    payment = container.ledger.get(licence_payment_id(store_id, PERIOD, 1))
    assert payment.status == "failed" and payment.failure_code == "authentication_required"
    item = [i for i in container.stores.get(store_id).open_items if i.invoice_id == invoice.id][0]
    assert item.retry_on is None
    mails = [m for m in read_outbox(aws_stack["AWS_ENDPOINT_URL"]) if m["to"] == email]
    assert any(
        m["subject"] == "Bitte bestätige deine Zahlung" and invoice.id in m["text"] for m in mails
    )


def test_soft_decline_is_retried_on_schedule_then_given_up(api, container, providers, clean_queues):
    store_id, _, _ = autopay_owner(api, container, providers, "4000000000000341")
    container.billing.run(PERIOD)
    run_charges()
    invoice = container.invoices.get(licence_invoice_id(store_id, PERIOD))
    assert invoice.status == "open"

    def item():
        return [i for i in container.stores.get(store_id).open_items if i.invoice_id == invoice.id][
            0
        ]

    assert item().retry_on == invoice.issue_date + timedelta(days=3) and item().attempts == 1
    assert (
        container.dunning.for_store(
            container.stores.get(store_id), invoice.issue_date + timedelta(days=2)
        ).retried
        == 0
    )
    assert (
        container.dunning.for_store(
            container.stores.get(store_id), invoice.issue_date + timedelta(days=3)
        ).retried
        == 1
    )
    run_charges()
    assert item().attempts == 2 and item().retry_on == invoice.issue_date + timedelta(days=7)
    assert (
        container.dunning.for_store(
            container.stores.get(store_id), invoice.issue_date + timedelta(days=7)
        ).retried
        == 1
    )
    run_charges()
    assert item().attempts == 3 and item().retry_on is None
    assert (
        container.dunning.for_store(
            container.stores.get(store_id), invoice.issue_date + timedelta(days=30)
        ).retried
        == 0
    )
    attempts = container.ledger.list_for_invoice(invoice.id)
    assert sorted(p.id for p in attempts) == [
        licence_payment_id(store_id, PERIOD, n) for n in (1, 2, 3)
    ]


def test_no_card_means_invoice_mailed_not_charged(
    api, container, providers, aws_stack, clean_queues
):
    store_id, email, _ = owner(api, container)
    container.billing.run(PERIOD)
    run_charges()
    invoice = container.invoices.get(licence_invoice_id(store_id, PERIOD))
    assert invoice.status == "open" and container.ledger.list_for_invoice(invoice.id) == []
    assert any(
        m["to"] == email and invoice.id in m["text"]
        for m in read_outbox(aws_stack["AWS_ENDPOINT_URL"])
    )
    # a second run (and so a second delivery) does not send the invoice again
    container.billing.run(PERIOD)
    run_charges()
    sent = [
        m
        for m in read_outbox(aws_stack["AWS_ENDPOINT_URL"])
        if m["to"] == email and invoice.id in m["text"]
    ]
    assert len(sent) == 1


def test_removed_card_invoices_but_does_not_charge(api, container, providers, clean_queues):
    store_id, _, token = autopay_owner(api, container, providers)
    api.http.delete("/api/payment-method", headers={"Authorization": f"Bearer {token}"})
    container.billing.run(PERIOD)
    run_charges()
    invoice = container.invoices.get(licence_invoice_id(store_id, PERIOD))
    assert invoice.status == "open" and container.ledger.list_for_invoice(invoice.id) == []


def test_manual_payment_racing_the_charge_never_charges_twice(
    api, container, providers, clean_queues
):
    store_id, _, token = autopay_owner(api, container, providers)
    from chalicelib.adapters.sqs_issue_queue import decode

    container.billing.run(PERIOD)
    for message in drain("issue-store"):  # issued, and the worker died before its charge
        container.billing.issue(decode(message["_raw"]["Body"]))
    invoice_id = licence_invoice_id(store_id, PERIOD)
    started = body(post(api, f"/api/invoices/{invoice_id}/payments", {"method": "card"}, token))
    container.billing.run(PERIOD)  # the run again (or the message redelivered)
    run_charges()  # the charge sees a payment in progress and stays away
    assert container.ledger.get(licence_payment_id(store_id, PERIOD, 1)) is None
    assert [p.id for p in container.ledger.list_for_invoice(invoice_id)] == [started["payment_id"]]


def test_store_created_after_run_start_and_closed_store_are_not_billed(
    api, container, providers, clean_queues
):
    import time

    early = owner(api, container)[0]
    closed = owner(api, container)[0]
    container.store_service.close(closed)
    time.sleep(0.01)
    run_start = container.clock.now()  # the run starts here …
    time.sleep(0.01)
    late = owner(api, container)[0]  # … and this store opens while it runs
    dataclasses.replace(container.billing, clock=FixedClock(run_start)).run(PERIOD)
    run_issues()
    bills = only(container, [early, closed, late])
    assert bills[early] is not None
    assert bills[closed] is None and bills[late] is None


def test_dunning_blocks_overdue_store_and_reminds(api, container, aws_stack, clean_queues):
    from decimal import Decimal

    from chalicelib.domain.invoices import InvoiceLine

    store_id, email, token = owner(api, container)
    issued = container.clock.now().date() - timedelta(days=40)
    old = dataclasses.replace(
        container.invoice_issuer, clock=FixedClock(container.clock.now() - timedelta(days=40))
    )
    invoice = old.issue(store_id, [InvoiceLine("Lizenz", 1, 4900, Decimal(19))])
    store = container.stores.get(store_id)
    result = container.dunning.for_store(store, issued + timedelta(days=20))
    assert result.reminded == 1 and result.blocked == 0  # overdue, but within grace
    assert body(get(api, "/api/profile", token))["account_status"] == "active"
    result = container.dunning.for_store(
        container.stores.get(store_id), issued + timedelta(days=29)
    )
    assert result.blocked == 1 and result.reminded == 0
    profile = body(get(api, "/api/profile", token))
    assert profile["account_status"] == "blocked" and profile["blocked_since"]
    changed = [m["detail"] for m in drain("pos-events") if m["detail-type"] == "StoreAccessChanged"]
    assert {"store_id": store_id, "status": "blocked"}.items() <= changed[-1].items()
    mails = [m for m in read_outbox(aws_stack["AWS_ENDPOINT_URL"]) if m["to"] == email]
    assert any("gesperrt" in m["subject"] and invoice.number in m["text"] for m in mails)
    assert any("Zahlungserinnerung" in m["subject"] for m in mails)


def test_scheduled_handlers_run_the_same_services(api, container, providers, clean_queues):
    from functions.dunning.handler import handler as dunning_handler
    from functions.monthly_billing.handler import handler as monthly_handler

    store_id, _, _ = autopay_owner(api, container, providers)
    result = monthly_handler({"period": "2031-07"}, LambdaContext())
    assert result["period"] == "2031-07" and result["queued"] >= 1
    assert container.invoices.get(licence_invoice_id(store_id, "2031-07")) is None  # queued
    run_issues()  # the issue-store function issues it and charges it at once
    invoice = container.invoices.get(licence_invoice_id(store_id, "2031-07"))
    assert invoice is not None and invoice.ready and invoice.status == "paid"
    counts = dunning_handler({"today": "2031-07-02"}, LambdaContext())
    assert set(counts) == {"retried", "reminded", "blocked"}
