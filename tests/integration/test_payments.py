"""Paying invoices through the API on moto, with localstripe and the PayPal sandbox."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import timedelta

import pytest

from functions.payment_events.handler import handler as payment_events_handler
from local.outbox import read_outbox
from local.pump import LambdaContext
from tests.integration.helpers import body, get, issue, owner, post
from tests.integration.payments_helpers import (
    authenticate,
    card_token,
    drain,
    intent_event,
    post_stripe_webhook,
    sign,
    sqs_batch,
)

pytestmark = pytest.mark.usefixtures("providers")


@pytest.fixture()
def shop(api, container):
    drain("pos-events")
    drain("payment-events")
    store_id, email, token = owner(api, container)
    invoice = issue(container, store_id)[0]
    return {"store_id": store_id, "email": email, "token": token, "invoice": invoice}


def start(api, shop, method="card"):
    response = post(
        api, f"/api/invoices/{shop['invoice'].id}/payments", {"method": method}, shop["token"]
    )
    assert response.status_code == 201, response.body
    return body(response)


def invoice_status(api, shop):
    return body(get(api, f"/api/invoices/{shop['invoice'].id}", shop["token"]))["status"]


def pay_card(api, shop, providers, number):
    started = start(api, shop)
    token = card_token(providers["stripe_url"], number)
    step = post(api, f"/api/payments/{started['payment_id']}/card", {"token": token}, shop["token"])
    assert step.status_code == 200, step.body
    return started, body(step)


def published(detail_type):
    return [m["detail"] for m in drain("pos-events") if m["detail-type"] == detail_type]


def run_payment_events():
    messages = drain("payment-events")
    if messages:
        result = payment_events_handler(sqs_batch(messages), LambdaContext())
        assert result["batchItemFailures"] == []
    return messages


def test_card_payment_marks_invoice_paid_and_publishes(api, shop, providers, aws_stack):
    started, step = pay_card(api, shop, providers, "4242424242424242")
    assert (
        started["provider"] == "stripe"
        and started["client_secret"]
        and started["approve_url"] is None
    )
    assert step["payment"]["status"] == "succeeded" and not step["requires_authentication"]
    assert invoice_status(api, shop) == "paid"
    # the API handed its news to the payment-events function, which sends the follow-ups
    run_payment_events()
    paid = published("InvoicePaid")
    assert [p["invoice_id"] for p in paid] == [shop["invoice"].id]
    assert paid[0]["gross_cents"] == shop["invoice"].totals.gross_cents
    mails = [m for m in read_outbox(aws_stack["AWS_ENDPOINT_URL"]) if m["to"] == shop["email"]]
    assert any(shop["invoice"].number in m["subject"] for m in mails)
    profile = body(get(api, "/api/profile", shop["token"]))
    assert profile["open_balance_cents"] == 0


def test_second_start_returns_the_same_payment_and_paid_invoice_is_409(api, shop, providers):
    first = start(api, shop)
    second = start(api, shop)
    assert second["payment_id"] == first["payment_id"]
    assert second["client_secret"] == first["client_secret"]
    token = card_token(providers["stripe_url"], "4242424242424242")
    post(api, f"/api/payments/{first['payment_id']}/card", {"token": token}, shop["token"])
    again = post(
        api, f"/api/invoices/{shop['invoice'].id}/payments", {"method": "card"}, shop["token"]
    )
    assert again.status_code == 409 and body(again)["error"]["code"] == "invoice_not_payable"


def test_two_tabs_at_once_give_one_payment_and_one_charge(api, container, shop, providers):
    results = []

    def click():
        try:
            results.append(
                container.payments.start(shop["store_id"], [shop["invoice"].id], "card").payment.id
            )
        except Exception as exc:
            results.append(type(exc).__name__)

    threads = [threading.Thread(target=click) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = {r for r in results if r.startswith("pay_")}
    assert len(ids) == 1, results
    assert set(results) - ids <= {"InvoiceNotPayableError"}
    payments = container.ledger.list_for_invoice(shop["invoice"].id)
    assert len(payments) == 1
    # the card step twice (double click) confirms once
    payment_id = ids.pop()
    for _ in range(2):
        token = card_token(providers["stripe_url"], "4242424242424242")
        container.payments.card(shop["store_id"], payment_id, token)
    import stripe

    client = stripe.StripeClient(
        "sk_test_local_portal", base_addresses={"api": providers["stripe_url"]}
    )
    intent = client.v1.payment_intents.retrieve(payments[0].provider_ref or "")
    charges = client.v1.charges.list(params={"limit": 100})
    assert intent.status == "succeeded"
    assert len([c for c in charges.data if c.payment_intent == intent.id]) == 1


def test_three_d_secure_approved_pays(api, shop, providers):
    started, step = pay_card(api, shop, providers, "4000002760003184")
    assert step["requires_authentication"] and step["payment"]["status"] == "requires_action"
    assert invoice_status(api, shop) == "processing"
    intent_id = step["client_secret"].split("_secret_")[0]
    authenticate(providers["stripe_url"], intent_id, step["client_secret"], success=True)
    done = body(post(api, f"/api/payments/{started['payment_id']}/complete", token=shop["token"]))
    assert done["status"] == "succeeded"
    assert invoice_status(api, shop) == "paid"


def test_three_d_secure_cancelled_fails_and_leaves_invoice_open(api, shop, providers):
    started, step = pay_card(api, shop, providers, "4000002760003184")
    intent_id = step["client_secret"].split("_secret_")[0]
    authenticate(providers["stripe_url"], intent_id, step["client_secret"], success=False)
    done = body(post(api, f"/api/payments/{started['payment_id']}/complete", token=shop["token"]))
    assert done["status"] == "failed"
    assert done["failure_code"] == "payment_intent_authentication_failure"
    assert "3-D Secure" in done["failure_message"]
    assert invoice_status(api, shop) == "open"
    failed = published("PaymentFailed")
    assert [f["payment_id"] for f in failed] == [started["payment_id"]]


def test_declined_card_fails_with_message(api, shop, providers):
    _, step = pay_card(api, shop, providers, "4000000000000002")
    assert step["payment"]["status"] == "failed"
    assert step["payment"]["failure_code"] == "card_declined"
    assert "abgelehnt" in step["payment"]["failure_message"]
    assert invoice_status(api, shop) == "open"
    # and the owner can try again with another card
    _, retry = pay_card(api, shop, providers, "4242424242424242")
    assert retry["payment"]["status"] == "succeeded"


def test_lost_provider_response_is_recovered_by_complete(api, container, shop, providers):
    import stripe

    started = start(api, shop)
    payment = container.ledger.get(started["payment_id"])
    client = stripe.StripeClient(
        "sk_test_local_portal", base_addresses={"api": providers["stripe_url"]}
    )
    # The charge went through at Stripe, but our side never heard the answer.
    customer = container.stores.get(shop["store_id"]).card_customer_id
    token = card_token(providers["stripe_url"], "4242424242424242")
    card = client.v1.customers.payment_sources.create(customer, params={"source": token})
    client.v1.payment_intents.update(payment.provider_ref, params={"payment_method": card.id})
    client.v1.payment_intents.confirm(payment.provider_ref)
    assert invoice_status(api, shop) == "processing"
    done = body(post(api, f"/api/payments/{started['payment_id']}/complete", token=shop["token"]))
    assert done["status"] == "succeeded" and invoice_status(api, shop) == "paid"
    # complete is idempotent
    again = body(post(api, f"/api/payments/{started['payment_id']}/complete", token=shop["token"]))
    assert again["status"] == "succeeded"
    run_payment_events()
    assert len(published("InvoicePaid")) == 1


def test_owner_cancel_returns_invoice_to_open(api, shop):
    started = start(api, shop)
    cancelled = body(
        post(api, f"/api/payments/{started['payment_id']}/cancel", token=shop["token"])
    )
    assert cancelled["status"] == "canceled"
    assert invoice_status(api, shop) == "open"


def test_other_stores_payment_is_not_found(api, container, shop):
    started = start(api, shop)
    _, _, other_token = owner(api, container)
    for response in (
        get(api, f"/api/payments/{started['payment_id']}", other_token),
        post(api, f"/api/payments/{started['payment_id']}/complete", token=other_token),
        get(api, "/api/payments/pay_doesnotexist", other_token),
    ):
        assert response.status_code == 404
        assert body(response)["error"]["code"] == "payment_not_found"


def test_invalid_method_is_400(api, shop):
    response = post(
        api, f"/api/invoices/{shop['invoice'].id}/payments", {"method": "cash"}, shop["token"]
    )
    assert response.status_code == 400 and body(response)["error"]["code"] == "invalid_method"


# --- webhooks ----------------------------------------------------------------------------


@pytest.fixture()
def pending_card(api, shop):
    started = start(api, shop)
    payment = body(get(api, f"/api/payments/{started['payment_id']}", shop["token"]))
    return shop, payment


def _ref(container, payment):
    return container.ledger.get(payment["id"]).provider_ref


def test_stripe_signature_matrix(api, providers, pending_card, container):
    shop, payment = pending_card
    secret = providers["stripe_webhook_secret"]
    event = intent_event(
        "payment_intent.succeeded",
        payment,
        event_id="evt_matrix",
        intent_id=_ref(container, payment),
    )
    raw = json.dumps(event).encode()
    now = int(time.time())
    cases = {
        "body changed by one byte": (raw[:-1] + b" ", sign(raw, secret)),
        "wrong secret": (raw, sign(raw, "whsec_wrong")),
        "missing header": (raw, ""),
        "timestamp 301 s old": (raw, sign(raw, secret, now - 301)),
        # stamped 302 s ahead so it is still more than 301 s ahead when it arrives
        "timestamp 301 s in the future": (raw, sign(raw, secret, now + 302)),
    }
    for name, (payload, signature) in cases.items():
        response = post_stripe_webhook(api, payload, secret, signature=signature)
        assert response.status_code == 400, name
        assert body(response)["error"]["code"] == "invalid_signature", name
    assert drain("payment-events") == []
    good = sign(raw, secret)
    one_of_two = f"{good},v1={'0' * 64}"
    assert post_stripe_webhook(api, raw, secret, signature=one_of_two).status_code == 200
    assert post_stripe_webhook(api, raw, secret).status_code == 200
    assert len(drain("payment-events")) == 2


def test_webhook_to_paid_exactly_once_and_forward_only(api, providers, pending_card, container):
    shop, payment = pending_card
    secret = providers["stripe_webhook_secret"]
    ref = _ref(container, payment)
    succeeded = intent_event(
        "payment_intent.succeeded", payment, event_id="evt_ok_" + payment["id"], intent_id=ref
    )
    late_failure = intent_event(
        "payment_intent.payment_failed",
        payment,
        event_id="evt_fail_" + payment["id"],
        intent_id=ref,
        error_code="card_declined",
    )
    for event in (succeeded, succeeded, late_failure):  # duplicate delivery, then a late failure
        assert body(post_stripe_webhook(api, event, secret)) == {"received": True}
    messages = run_payment_events()
    assert len(messages) == 3
    assert invoice_status(api, shop) == "paid"
    assert len(published("InvoicePaid")) == 1
    assert published("PaymentFailed") == []
    # the same bus event delivered again changes nothing
    result = payment_events_handler(sqs_batch(messages[:1]), LambdaContext())
    assert result["batchItemFailures"] == [] and published("InvoicePaid") == []


def test_mismatching_event_never_marks_paid_and_alerts(
    api, providers, pending_card, container, caplog
):
    shop, payment = pending_card
    secret = providers["stripe_webhook_secret"]
    ref = _ref(container, payment)
    wrong = [
        intent_event(
            "payment_intent.succeeded", payment, event_id="evt_amt", intent_id=ref, amount=1
        ),
        intent_event(
            "payment_intent.succeeded", payment, event_id="evt_cur", intent_id=ref, currency="usd"
        ),
        intent_event(
            "payment_intent.succeeded",
            payment,
            event_id="evt_sto",
            intent_id=ref,
            store_id="st_other",
        ),
    ]
    caplog.set_level(logging.ERROR, logger="portal.payments")
    for event in wrong:
        assert post_stripe_webhook(api, event, secret).status_code == 200
    run_payment_events()
    assert invoice_status(api, shop) == "processing"
    alerts = [r for r in caplog.records if getattr(r, "alert", None) == "payment_mismatch"]
    assert len(alerts) == 3


def test_unknown_stripe_event_is_acknowledged_and_ignored(api, providers):
    event = {"id": "evt_unknown", "type": "customer.created", "data": {"object": {"id": "cus_1"}}}
    response = post_stripe_webhook(api, event, providers["stripe_webhook_secret"])
    assert response.status_code == 200 and body(response) == {"received": True}
    assert drain("payment-events") == []


def test_malformed_stripe_payload_is_400(api, providers):
    raw = b"not json at all"
    response = post_stripe_webhook(api, raw, providers["stripe_webhook_secret"])
    assert response.status_code == 400 and body(response)["error"]["code"] == "invalid_payload"


def test_crash_between_provider_success_and_our_write_converges(
    api, providers, pending_card, container
):
    from chalicelib.bootstrap import Container

    shop, payment = pending_card
    ref = _ref(container, payment)
    event = intent_event(
        "payment_intent.succeeded", payment, event_id="evt_crash_" + payment["id"], intent_id=ref
    )
    post_stripe_webhook(api, event, providers["stripe_webhook_secret"])
    messages = drain("payment-events")

    class CrashingLedger(type(container.ledger)):
        def settle_success(self, *args, **kwargs):
            raise RuntimeError("the function died here")

    crashing = Container(container.settings, ledger=CrashingLedger())
    with pytest.raises(RuntimeError):
        crashing.settlement.apply(
            __import__("functions.payment_events.handler", fromlist=["to_update"]).to_update(
                __import__(
                    "aws_lambda_powertools.utilities.data_classes.sqs_event", fromlist=["SQSRecord"]
                ).SQSRecord(sqs_batch(messages)["Records"][0])
            )
        )
    assert invoice_status(api, shop) == "processing"
    # the queue delivers the event again; the real function converges
    result = payment_events_handler(sqs_batch(messages), LambdaContext())
    assert result["batchItemFailures"] == []
    assert invoice_status(api, shop) == "paid"
    assert len(published("InvoicePaid")) == 1


def test_paying_the_last_overdue_invoice_unblocks_the_store(api, container, providers):
    import dataclasses

    from local.seed import FixedClock

    drain("pos-events")
    store_id, _, token = owner(api, container)
    old = dataclasses.replace(
        container.invoice_issuer, clock=FixedClock(container.clock.now() - timedelta(days=60))
    )
    overdue = [
        old.issue(
            store_id,
            [
                __import__("chalicelib.domain.invoices", fromlist=["InvoiceLine"]).InvoiceLine(
                    "Lizenz", 1, 4900, __import__("decimal").Decimal(19)
                )
            ],
        )
        for _ in range(2)
    ]
    container.stores.set_access(store_id, "blocked", container.clock.now())
    assert body(get(api, "/api/profile", token))["account_status"] == "blocked"
    for number, invoice in enumerate(overdue):
        started = body(post(api, f"/api/invoices/{invoice.id}/payments", {"method": "card"}, token))
        step = body(
            post(
                api,
                f"/api/payments/{started['payment_id']}/card",
                {"token": card_token(providers["stripe_url"], "4242424242424242")},
                token,
            )
        )
        assert step["payment"]["status"] == "succeeded"
        run_payment_events()
        changed = published("StoreAccessChanged")
        if number == 0:
            assert (
                changed == []
                and body(get(api, "/api/profile", token))["account_status"] == "blocked"
            )
    assert [c["status"] for c in changed] == ["active"] and changed[0]["store_id"] == store_id
    profile = body(get(api, "/api/profile", token))
    assert profile["account_status"] == "active" and profile["overdue_balance_cents"] == 0


# --- PayPal --------------------------------------------------------------------------------


def test_paypal_approve_complete_pays(api, shop, providers):
    started = start(api, shop, "paypal")
    assert (
        started["provider"] == "paypal"
        and started["approve_url"]
        and started["client_secret"] is None
    )
    sandbox = providers["paypal"]
    order_id = started["approve_url"].split("token=")[1]
    back = sandbox.approve(order_id)
    assert f"payment={started['payment_id']}" in back and "paypal=return" in back
    done = body(post(api, f"/api/payments/{started['payment_id']}/complete", token=shop["token"]))
    assert done["status"] == "succeeded" and invoice_status(api, shop) == "paid"
    again = body(post(api, f"/api/payments/{started['payment_id']}/complete", token=shop["token"]))
    assert again["status"] == "succeeded"
    captures = [
        d
        for d in sandbox.deliveries()
        if d["event_type"] == "PAYMENT.CAPTURE.COMPLETED"
        and d["event"]["resource"].get("custom_id") == started["payment_id"]
    ]
    assert len(captures) == 1


def test_paypal_cancel_leaves_invoice_open(api, shop, providers):
    started = start(api, shop, "paypal")
    cancelled = body(
        post(api, f"/api/payments/{started['payment_id']}/cancel", token=shop["token"])
    )
    assert cancelled["status"] == "canceled" and cancelled["failure_code"] == "payer_canceled"
    assert invoice_status(api, shop) == "open"


def test_paypal_webhooks_verified_and_applied(api, shop, providers):
    sandbox = providers["paypal"]
    started = start(api, shop, "paypal")
    order_id = started["approve_url"].split("token=")[1]
    sandbox.approve(order_id)
    approved = sandbox.wait_for_deliveries(
        "CHECKOUT.ORDER.APPROVED", count=1, state="failed", timeout=30
    )
    delivery = [
        d
        for d in sandbox.deliveries()
        if d["event_type"] == "CHECKOUT.ORDER.APPROVED" and d["event"]["resource"]["id"] == order_id
    ][0]
    headers = {**delivery["headers"], "Content-Type": "application/json"}
    response = api.http.post(
        "/api/webhooks/paypal", headers=headers, body=delivery["body"].encode()
    )
    assert response.status_code == 200, response.body
    run_payment_events()  # the function captures the approved order
    assert invoice_status(api, shop) == "paid"
    # forged: same headers, changed body → FAILURE at PayPal → 400
    forged = delivery["body"].replace(order_id, "XYZ").encode()
    response = api.http.post("/api/webhooks/paypal", headers=headers, body=forged)
    assert response.status_code == 400 and body(response)["error"]["code"] == "invalid_signature"
    missing = {"Content-Type": "application/json"}
    response = api.http.post(
        "/api/webhooks/paypal", headers=missing, body=delivery["body"].encode()
    )
    assert response.status_code == 400
    assert approved


def test_payment_starts_are_rate_limited_per_store(api, container, shop):
    from chalicelib.services.payments import STARTS_PER_WINDOW

    for _ in range(STARTS_PER_WINDOW):
        container.payments.start(shop["store_id"], [shop["invoice"].id], "card")
    response = post(
        api, f"/api/invoices/{shop['invoice'].id}/payments", {"method": "card"}, shop["token"]
    )
    assert response.status_code == 429 and body(response)["error"]["code"] == "rate_limited"
