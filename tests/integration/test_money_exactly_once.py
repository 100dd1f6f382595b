"""Money moves exactly once on every path (moto + localstripe + the PayPal sandbox): a
payment that is no longer current never collects, money that arrives anyway is given back
once, several invoices are paid by one payment or none, receipts exactly once."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from chalicelib.domain.payments import ProviderStatus
from local.outbox import read_outbox
from tests.integration.helpers import body, get, issue, owner, post
from tests.integration.payments_helpers import card_token, drain
from tests.integration.test_payments import published, run_payment_events

pytestmark = pytest.mark.usefixtures("providers")


@pytest.fixture()
def shop(api, container):
    drain("pos-events")
    drain("payment-events")
    store_id, email, token = owner(api, container)
    invoices = issue(container, store_id, count=2)
    return {"store_id": store_id, "email": email, "token": token, "invoices": invoices}


def start(api, shop, method, invoices=None):
    ids = [i.id for i in (invoices or shop["invoices"][:1])]
    if len(ids) == 1:
        response = post(api, f"/api/invoices/{ids[0]}/payments", {"method": method}, shop["token"])
    else:
        response = post(api, "/api/payments", {"method": method, "invoice_ids": ids}, shop["token"])
    assert response.status_code == 201, response.body
    return body(response)


def pay_by_card(api, shop, providers, started):
    token = card_token(providers["stripe_url"], "4242424242424242")
    step = post(api, f"/api/payments/{started['payment_id']}/card", {"token": token}, shop["token"])
    assert step.status_code == 200, step.body
    return body(step)


def invoice(api, shop, index=0):
    return body(get(api, f"/api/invoices/{shop['invoices'][index].id}", shop["token"]))


def deliver_paypal(api, sandbox, event_type, order_id):
    """Hand the sandbox's (undeliverable) webhook to the API, as PayPal would."""
    sandbox.wait_for_deliveries(event_type, count=1, state="failed", timeout=30)
    for delivery in sandbox.deliveries():
        resource = delivery["event"]["resource"]
        related = (resource.get("supplementary_data") or {}).get("related_ids") or {}
        if delivery["event_type"] == event_type and order_id in (
            resource.get("id"),
            related.get("order_id"),
        ):
            headers = {**delivery["headers"], "Content-Type": "application/json"}
            response = api.http.post(
                "/api/webhooks/paypal", headers=headers, body=delivery["body"].encode()
            )
            assert response.status_code == 200, response.body
            return
    raise AssertionError(f"no {event_type} for {order_id}")


def order_of(started):
    return started["approve_url"].split("token=")[1]


def test_stale_paypal_order_approved_after_card_payment_never_captures(api, shop, providers):
    sandbox = providers["paypal"]
    paypal = start(api, shop, "paypal")
    card = start(api, shop, "card")  # the owner changed their mind
    assert card["payment_id"] != paypal["payment_id"]
    assert pay_by_card(api, shop, providers, card)["payment"]["status"] == "succeeded"
    # ... then approves the old PayPal order in the other tab and comes back
    sandbox.approve(order_of(paypal))
    done = post(api, f"/api/payments/{paypal['payment_id']}/complete", token=shop["token"])
    assert done.status_code == 200 and body(done)["status"] == "canceled"
    # the approval webhook arrives too: still no capture
    deliver_paypal(api, sandbox, "CHECKOUT.ORDER.APPROVED", order_of(paypal))
    run_payment_events()
    assert sandbox.order(order_of(paypal))["status"] == "APPROVED"  # never captured
    detail = invoice(api, shop)
    succeeded = [p for p in detail["payments"] if p["status"] == "succeeded"]
    assert detail["status"] == "paid" and [p["id"] for p in succeeded] == [card["payment_id"]]
    assert detail["refunded_cents"] == 0


def test_unrequested_paypal_capture_for_a_paid_invoice_is_refunded_once(
    api, container, shop, providers, aws_stack
):
    sandbox = providers["paypal"]
    paypal = start(api, shop, "paypal")
    card = start(api, shop, "card")
    pay_by_card(api, shop, providers, card)
    run_payment_events()
    # PayPal captures the stale order anyway (a capture we never asked for)
    sandbox.approve(order_of(paypal))
    sandbox.capture(order_of(paypal), request_id="not-ours")
    for _ in range(2):  # the webhook twice
        deliver_paypal(api, sandbox, "PAYMENT.CAPTURE.COMPLETED", order_of(paypal))
    run_payment_events()
    stale = body(get(api, f"/api/payments/{paypal['payment_id']}", shop["token"]))
    assert stale["status"] == "refunded"
    order = sandbox.order(order_of(paypal))
    assert order["purchase_units"][0]["payments"]["captures"][0]["status"] == "REFUNDED"
    detail = invoice(api, shop)
    assert detail["status"] == "paid" and detail["refunded_cents"] == detail["gross_cents"]
    refunded = published("PaymentRefunded")
    assert [r["payment_id"] for r in refunded] == [paypal["payment_id"]]
    # a later redelivery changes nothing: still one refund, one mail
    deliver_paypal(api, sandbox, "PAYMENT.CAPTURE.COMPLETED", order_of(paypal))
    run_payment_events()
    mails = [m for m in read_outbox(aws_stack["AWS_ENDPOINT_URL"]) if m["to"] == shop["email"]]
    assert len([m for m in mails if m["subject"].startswith("Erstattung")]) == 1
    assert published("PaymentRefunded") == []
    receipts = [m for m in mails if m["subject"].startswith("Zahlung erhalten")]
    assert len(receipts) == 1  # for the card payment only


class LostCancel:
    """A card provider whose cancel never reaches Stripe (the answer says canceled): the
    race in which Stripe.js confirms an intent the portal meant to cancel."""

    def __init__(self, real):
        self._real = real
        self.name = real.name

    def cancel(self, payment):
        state = self._real.read(payment)
        from dataclasses import replace

        return replace(state, status=ProviderStatus.CANCELED)

    def __getattr__(self, name):
        return getattr(self._real, name)


def test_stale_card_intent_confirmed_after_a_switch_is_refunded(api, container, shop, providers):
    import stripe

    from chalicelib.bootstrap import Container
    from chalicelib.services.providers import ProviderRegistry

    card = start(api, shop, "card")
    lossy = Container(container.settings)
    lossy.__dict__["providers"] = ProviderRegistry(
        {"card": LostCancel(container.cards), "paypal": container.paypal}
    )
    lossy.payments.start(shop["store_id"], [shop["invoices"][0].id], "paypal")
    # the owner pays PayPal, and Stripe.js confirms the old intent as well
    paypal = container.ledger.list_for_invoice(shop["invoices"][0].id)
    paypal = next(p for p in paypal if p.method == "paypal")
    providers["paypal"].approve(paypal.provider_ref)
    done = body(post(api, f"/api/payments/{paypal.id}/complete", token=shop["token"]))
    assert done["status"] == "succeeded"
    intent_id = container.ledger.get(card["payment_id"]).provider_ref
    client = stripe.StripeClient(
        "sk_test_local_portal", base_addresses={"api": providers["stripe_url"]}
    )
    customer = container.stores.get(shop["store_id"]).card_customer_id
    source = client.v1.customers.payment_sources.create(
        customer, params={"source": card_token(providers["stripe_url"], "4242424242424242")}
    )
    client.v1.payment_intents.update(intent_id, params={"payment_method": source.id})
    client.v1.payment_intents.confirm(intent_id)
    # the late news (here: the owner's tab returns) finds the invoice paid: refund
    late = body(post(api, f"/api/payments/{card['payment_id']}/complete", token=shop["token"]))
    assert late["status"] == "refunded"
    refunds = client.v1.refunds.list(params={"payment_intent": intent_id}).data
    assert len(refunds) == 1 and refunds[0].amount == shop["invoices"][0].totals.gross_cents
    again = body(post(api, f"/api/payments/{card['payment_id']}/complete", token=shop["token"]))
    assert again["status"] == "refunded"
    assert len(client.v1.refunds.list(params={"payment_intent": intent_id}).data) == 1
    run_payment_events()
    assert [r["payment_id"] for r in published("PaymentRefunded")] == [card["payment_id"]]


def test_several_invoices_in_one_payment_all_paid_one_receipt(
    api, container, shop, providers, aws_stack
):
    started = start(api, shop, "card", shop["invoices"])
    total = sum(i.totals.gross_cents for i in shop["invoices"])
    payment = body(get(api, f"/api/payments/{started['payment_id']}", shop["token"]))
    assert payment["amount_cents"] == total
    assert payment["invoice_ids"] == [i.id for i in shop["invoices"]]
    assert pay_by_card(api, shop, providers, started)["payment"]["status"] == "succeeded"
    run_payment_events()
    run_payment_events()
    assert [invoice(api, shop, n)["status"] for n in (0, 1)] == ["paid", "paid"]
    assert sorted(p["invoice_id"] for p in published("InvoicePaid")) == sorted(
        i.id for i in shop["invoices"]
    )
    # one receipt, listed (and downloadable) on both invoices
    documents = [invoice(api, shop, n)["documents"] for n in (0, 1)]
    receipts = [[d for d in docs if d["kind"] == "receipt"] for docs in documents]
    assert len(receipts[0]) == 1 and receipts[0][0]["id"] == receipts[1][0]["id"]
    receipt = receipts[0][0]
    assert receipt["number"].startswith("ZB-") and receipt["gross_cents"] == total
    link = body(get(api, f"/api/documents/{receipt['id']}/pdf", shop["token"]))
    assert link["filename"] == f"Zahlungsbestaetigung-{receipt['number']}.pdf"
    pdf = requests.get(link["url"], timeout=10)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    mails = [m for m in read_outbox(aws_stack["AWS_ENDPOINT_URL"]) if m["to"] == shop["email"]]
    paid_mails = [m for m in mails if m["subject"].startswith("Zahlung erhalten")]
    assert len(paid_mails) == 1
    assert [a["filename"] for a in paid_mails[0]["attachments"]] == [link["filename"]]
    # another store cannot download it
    _, _, stranger = owner(api, container)
    response = get(api, f"/api/documents/{receipt['id']}/pdf", stranger)
    assert response.status_code == 404 and body(response)["error"]["code"] == "document_not_found"


def test_several_invoices_none_paid_when_the_card_is_declined(api, shop, providers):
    started = start(api, shop, "card", shop["invoices"])
    token = card_token(providers["stripe_url"], "4000000000000002")
    step = body(
        post(api, f"/api/payments/{started['payment_id']}/card", {"token": token}, shop["token"])
    )
    assert step["payment"]["status"] == "failed"
    assert [invoice(api, shop, n)["status"] for n in (0, 1)] == ["open", "open"]


def test_several_invoices_refused_when_one_is_not_payable(api, container, shop, providers):
    single = start(api, shop, "card")
    pay_by_card(api, shop, providers, single)
    response = post(
        api,
        "/api/payments",
        {"method": "card", "invoice_ids": [i.id for i in shop["invoices"]]},
        shop["token"],
    )
    assert response.status_code == 409 and body(response)["error"]["code"] == "invoice_not_payable"
    assert invoice(api, shop, 1)["status"] == "open"
    for bad in ([], ["x"] * 2, [shop["invoices"][1].id] * 25):
        response = post(api, "/api/payments", {"method": "card", "invoice_ids": bad}, shop["token"])
        assert response.status_code == 400, bad
    _, _, stranger = owner(api, container)
    response = post(
        api, "/api/payments", {"method": "card", "invoice_ids": [shop["invoices"][1].id]}, stranger
    )
    assert response.status_code == 404


def test_abandoned_payment_is_settled_by_the_daily_run(api, container, shop, providers):
    from local.seed import FixedClock

    paypal = start(api, shop, "paypal")
    providers["paypal"].approve(order_of(paypal))  # approved, but the owner never returns
    later = FixedClock(container.clock.now() + timedelta(minutes=31))
    dunning = container.dunning.__class__(**{**container.dunning.__dict__, "clock": later})
    dunning.run(later.now().date())
    assert (
        body(get(api, f"/api/payments/{paypal['payment_id']}", shop["token"]))["status"]
        == "canceled"
    )
    assert invoice(api, shop)["status"] == "open"
    assert providers["paypal"].order(order_of(paypal))["status"] == "APPROVED"  # not captured

    card = start(api, shop, "card")
    intent_id = container.ledger.get(card["payment_id"]).provider_ref
    import stripe

    client = stripe.StripeClient(
        "sk_test_local_portal", base_addresses={"api": providers["stripe_url"]}
    )
    customer = container.stores.get(shop["store_id"]).card_customer_id
    source = client.v1.customers.payment_sources.create(
        customer, params={"source": card_token(providers["stripe_url"], "4242424242424242")}
    )
    client.v1.payment_intents.update(intent_id, params={"payment_method": source.id})
    client.v1.payment_intents.confirm(intent_id)  # money moved, the webhook got lost
    later = FixedClock(container.clock.now() + timedelta(minutes=31))
    dunning = container.dunning.__class__(**{**container.dunning.__dict__, "clock": later})
    dunning.run(later.now().date())
    assert invoice(api, shop)["status"] == "paid"
    run_payment_events()
    assert [p["invoice_id"] for p in published("InvoicePaid")] == [shop["invoices"][0].id]


def test_saving_the_card_while_paying_turns_autopay_on(api, shop, providers):
    response = post(
        api,
        f"/api/invoices/{shop['invoices'][0].id}/payments",
        {"method": "card", "save_card": True},
        shop["token"],
    )
    started = body(response)
    pay_by_card(api, shop, providers, started)
    profile = body(get(api, "/api/profile", shop["token"]))
    assert profile["payment_method"] is not None and profile["autopay"] is True
