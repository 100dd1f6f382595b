"""The Stripe adapter as a payment provider, against localstripe: the port's promises hold
where the emulator is laxer than Stripe (it ignores Idempotency-Key)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
import stripe

from chalicelib.domain.errors import InvalidSignatureError
from chalicelib.domain.payments import Payment, PaymentStatus, ProviderStatus
from chalicelib.services.ports import PaymentRequest
from tests.integration.payments_helpers import card_token, sign

pytestmark = pytest.mark.usefixtures("providers")
NOW = datetime(2026, 11, 30, tzinfo=UTC)


@pytest.fixture()
def gateway(container):
    return container.cards


@pytest.fixture()
def client(providers):
    return stripe.StripeClient(
        "sk_test_local_portal", base_addresses={"api": providers["stripe_url"]}
    )


def _payment(payment_id, ref=None, amount=5831):
    return Payment(
        id=payment_id, invoice_id="inv_x", store_id="st_x", provider="stripe", method="card",
        kind="manual", amount_cents=amount, currency="EUR", status=PaymentStatus.PENDING,
        created_at=NOW, updated_at=NOW, provider_ref=ref,
    )  # fmt: skip


def _start(gateway, payment_id, customer):
    return gateway.start(
        PaymentRequest(
            payment_id=payment_id,
            amount_cents=5831,
            currency="EUR",
            description="Rechnung RE-2026-000001",
            reference="RE-2026-000001",
            metadata={"payment_id": payment_id, "invoice_id": "inv_x", "store_id": "st_x"},
            return_url="http://127.0.0.1/",
            cancel_url="http://127.0.0.1/",
            customer=lambda: customer,
        )
    )


@pytest.fixture()
def customer(gateway):
    return gateway.ensure_customer(f"st_{time.time_ns()}", "owner@example.test", "Test")


def test_collect_confirms_once_and_read_finds_a_lost_reference(
    gateway, client, providers, customer
):
    payment_id = f"pay_{time.time_ns()}"
    started = _start(gateway, payment_id, customer)
    assert started.status == ProviderStatus.AWAITING_PAYER and started.client_secret
    payment = _payment(payment_id, started.provider_ref)
    token = card_token(providers["stripe_url"], "4242424242424242")

    first = gateway.collect(payment, {"token": token})
    second = gateway.collect(
        payment, {"token": card_token(providers["stripe_url"], "4242424242424242")}
    )

    assert first.status == second.status == ProviderStatus.SUCCEEDED
    charges = client.v1.charges.list(params={"limit": 100}).data
    assert len([c for c in charges if c.payment_intent == started.provider_ref]) == 1
    # the reference was lost in a crash: the payment id in the metadata finds it
    found = gateway.read(_payment(payment_id))
    assert found.provider_ref == started.provider_ref and found.moved_money


def test_cancel_stops_an_open_intent_and_reports_one_that_succeeded(gateway, providers, customer):
    open_id = f"pay_{time.time_ns()}"
    started = _start(gateway, open_id, customer)
    assert gateway.cancel(_payment(open_id, started.provider_ref)).status == ProviderStatus.CANCELED
    assert gateway.cancel(_payment(f"pay_none_{time.time_ns()}")).status == ProviderStatus.CANCELED

    paid_id = f"pay_{time.time_ns()}"
    paid = _start(gateway, paid_id, customer)
    payment = _payment(paid_id, paid.provider_ref)
    gateway.collect(payment, {"token": card_token(providers["stripe_url"], "4242424242424242")})
    assert gateway.cancel(payment).status == ProviderStatus.SUCCEEDED


def test_refunds_happen_once_per_key_in_full_or_in_part(gateway, client, providers, customer):
    payment_id = f"pay_{time.time_ns()}"
    started = _start(gateway, payment_id, customer)
    payment = _payment(payment_id, started.provider_ref)
    gateway.collect(payment, {"token": card_token(providers["stripe_url"], "4242424242424242")})

    part = gateway.refund(payment, f"refund-gs_{payment_id}", 1000)
    again = gateway.refund(payment, f"refund-gs_{payment_id}", 1000)
    rest = gateway.refund(payment, f"refund-{payment_id}", 4831)

    assert part.status == again.status == rest.status == ProviderStatus.REFUNDED
    refunds = client.v1.refunds.list(params={"payment_intent": started.provider_ref}).data
    assert sorted(r.amount for r in refunds) == [1000, 4831]


def test_webhooks_are_verified_then_normalized(gateway, providers):
    event = {
        "id": "evt_port_1",
        "type": "payment_intent.succeeded",
        "data": {
            "object": {
                "id": "pi_port",
                "amount": 5831,
                "currency": "eur",
                "status": "succeeded",
                "metadata": {"payment_id": "pay_port", "invoice_id": "inv_x"},
            }
        },
    }
    body = json.dumps(event).encode()
    secret = providers["stripe_webhook_secret"]

    update = gateway.parse_webhook({"Stripe-Signature": sign(body, secret)}, body)

    assert update.status == ProviderStatus.SUCCEEDED and update.event_id == "evt_port_1"
    assert (update.payment_id, update.provider_ref, update.amount_cents) == (
        "pay_port",
        "pi_port",
        5831,
    )
    ignored = json.dumps({**event, "type": "charge.dispute.created"}).encode()
    assert gateway.parse_webhook({"stripe-signature": sign(ignored, secret)}, ignored) is None
    with pytest.raises(InvalidSignatureError):
        gateway.parse_webhook({"stripe-signature": sign(body, "whsec_wrong")}, body)
