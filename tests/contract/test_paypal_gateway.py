"""PayPalRestGateway against the local PayPal sandbox: orders, captures, tokens, webhooks."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chalicelib.adapters.paypal_gateway import (
    PayPalError,
    PayPalRestGateway,
    cents_to_value,
    value_to_cents,
)
from chalicelib.domain.errors import InvalidSignatureError, ServiceUnavailableError
from chalicelib.domain.payments import Payment, PaymentStatus, ProviderStatus
from chalicelib.services.ports import PaymentRequest
from local.paypal_sandbox import PayPalSandbox

CLIENT_ID = "sandbox-client"
CLIENT_SECRET = "sandbox-secret-local"
RETURN_URL = "http://127.0.0.1:8000/rechnungen/inv_1/paypal/zurueck"
CANCEL_URL = "http://127.0.0.1:8000/rechnungen/inv_1/paypal/abbruch"


class Endpoint:
    """A tiny HTTP server on 127.0.0.1 that records POSTs and answers `status` to everything."""

    def __init__(self, status=200):
        self.status = status
        self.received = []
        self.cond = threading.Condition()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with endpoint.cond:
                    endpoint.received.append((dict(self.headers.items()), body))
                    endpoint.cond.notify_all()
                self.send_response(endpoint.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def wait(self, count, timeout=10.0):
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def receiver():
    endpoint = Endpoint()
    yield endpoint
    endpoint.close()


@pytest.fixture()
def sandbox(receiver):
    sandbox = PayPalSandbox(CLIENT_ID, CLIENT_SECRET, retry_delays=(0.05, 0.1)).start()
    sandbox.webhook_id = sandbox.register_webhook(f"{receiver.url}/api/webhooks/paypal")
    yield sandbox
    sandbox.stop()


def make_gateway(sandbox, **kwargs):
    return PayPalRestGateway(
        sandbox.url,
        CLIENT_ID,
        CLIENT_SECRET,
        kwargs.pop("webhook_id", sandbox.webhook_id),
        **kwargs,
    )


@pytest.fixture()
def gateway(sandbox):
    gateway = make_gateway(sandbox)
    yield gateway
    gateway.close()


def create(gateway, payment_id="pay_1", amount_cents=5831):
    return gateway.create_order(
        payment_id=payment_id,
        reference="RE-2026-000123",
        description="Rechnung RE-2026-000123",
        amount_cents=amount_cents,
        currency="EUR",
        return_url=RETURN_URL,
        cancel_url=CANCEL_URL,
    )


def captures(sandbox, order_id):
    unit = sandbox.order(order_id)["purchase_units"][0]
    return list((unit.get("payments") or {}).get("captures") or [])


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# orders ---------------------------------------------------------------------------------


def test_created_order_is_pending_with_an_approve_url(sandbox, gateway):
    payment = create(gateway)

    assert payment.status == ProviderStatus.AWAITING_PAYER
    assert payment.approve_url == f"{sandbox.url}/checkoutnow?token={payment.provider_ref}"
    assert (payment.amount_cents, payment.currency) == (5831, "EUR")
    assert payment.payment_id == "pay_1"
    assert captures(sandbox, payment.provider_ref) == []
    unit = sandbox.order(payment.provider_ref)["purchase_units"][0]
    assert unit["invoice_id"] == "RE-2026-000123"
    assert sandbox.experience(payment.provider_ref)["return_url"] == RETURN_URL


def test_creating_again_for_the_same_payment_returns_the_same_order(sandbox, gateway):
    first = create(gateway)

    again = create(gateway)

    assert again.provider_ref == first.provider_ref
    assert create(gateway, payment_id="pay_2").provider_ref != first.provider_ref
    assert sandbox.stats()["orders"] == 2


def test_order_moves_from_pending_to_approved_to_captured(sandbox, gateway):
    order_id = create(gateway).provider_ref

    sandbox.approve(order_id)
    approved = gateway.get_order(order_id)
    captured = gateway.capture_order(order_id, "capture-pay_1")

    assert approved.status == ProviderStatus.READY_TO_COLLECT
    assert approved.approve_url is None
    assert captured.status == ProviderStatus.SUCCEEDED
    assert len(captures(sandbox, order_id)) == 1
    assert (captured.amount_cents, captured.payment_id) == (5831, "pay_1")
    assert gateway.get_order(order_id) == captured


def test_capture_before_approval_reports_the_pending_order(sandbox, gateway):
    order_id = create(gateway).provider_ref

    payment = gateway.capture_order(order_id, "capture-pay_1")

    assert payment.status == ProviderStatus.AWAITING_PAYER
    assert captures(sandbox, order_id) == []


def test_capture_with_another_request_id_reports_the_existing_capture(sandbox, gateway):
    order_id = create(gateway).provider_ref
    sandbox.approve(order_id)
    first = gateway.capture_order(order_id, "capture-pay_1")

    second = gateway.capture_order(order_id, "capture-pay_1-retry")

    assert first.status == second.status == ProviderStatus.SUCCEEDED
    assert len(captures(sandbox, order_id)) == 1


def test_capture_retried_after_a_client_timeout_captures_exactly_once(sandbox):
    impatient = make_gateway(sandbox, read_timeout=0.5)
    order_id = create(impatient).provider_ref
    sandbox.approve(order_id)
    sandbox.delay_next_capture(2)

    with pytest.raises(ServiceUnavailableError) as raised:
        impatient.capture_order(order_id, "capture-pay_1")
    retried = impatient.capture_order(order_id, "capture-pay_1")

    assert raised.value.__cause__ is not None
    assert retried.status == ProviderStatus.SUCCEEDED
    completed = sandbox.wait_for_deliveries("PAYMENT.CAPTURE.COMPLETED")
    made = captures(sandbox, order_id)
    assert [d["event"]["resource"]["id"] for d in completed] == [c["id"] for c in made]
    assert len(made) == 1
    impatient.close()


def test_declined_capture_is_failed(sandbox, gateway):
    order_id = create(gateway).provider_ref
    sandbox.approve(order_id, deny=True)

    payment = gateway.capture_order(order_id, "capture-pay_1")

    assert payment.status == ProviderStatus.FAILED
    assert payment.failure_code == "capture_declined"
    assert gateway.get_order(order_id).status == ProviderStatus.FAILED


def test_instrument_declined_is_failed(sandbox, gateway):
    order_id = create(gateway).provider_ref
    sandbox.approve(order_id, instrument_declined=True)

    payment = gateway.capture_order(order_id, "capture-pay_1")

    assert payment.status == ProviderStatus.FAILED
    assert payment.failure_code == "instrument_declined"
    assert (payment.provider_ref, payment.amount_cents) == (order_id, 5831)


def test_voided_order_is_canceled(sandbox, gateway):
    order_id = create(gateway).provider_ref

    sandbox.void(order_id)

    assert gateway.get_order(order_id).status == ProviderStatus.CANCELED


def test_unknown_order_raises_a_provider_error(gateway):
    with pytest.raises(PayPalError) as raised:
        gateway.get_order("5O190127TN364715T")

    assert raised.value.status == 404
    assert raised.value.error_name == "RESOURCE_NOT_FOUND"


# amounts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cents", "value"), [(5831, "58.31"), (100000, "1000.00"), (5, "0.05"), (10, "0.10")]
)
def test_amounts_travel_exactly_in_cents(sandbox, gateway, cents, value):
    payment = create(gateway, payment_id=f"pay_{cents}", amount_cents=cents)

    assert sandbox.order(payment.provider_ref)["purchase_units"][0]["amount"]["value"] == value
    assert payment.amount_cents == cents
    assert cents_to_value(cents) == value
    assert value_to_cents(value) == cents


@pytest.mark.parametrize("value", ["0.001", "abc", "NaN", "Infinity"])
def test_amounts_with_fractions_of_a_cent_are_refused(value):
    with pytest.raises(ValueError):
        value_to_cents(value)


@pytest.mark.parametrize("cents", [0, -5, True])
def test_only_positive_cents_are_sent(cents):
    with pytest.raises(ValueError):
        cents_to_value(cents)


# tokens and transport -------------------------------------------------------------------


def test_the_access_token_is_fetched_once_for_many_calls(sandbox, gateway):
    order_id = create(gateway).provider_ref

    gateway.get_order(order_id)
    gateway.get_order(order_id)
    create(gateway, payment_id="pay_2")

    assert sandbox.token_requests == 1


def test_a_revoked_token_is_replaced_once(sandbox, gateway):
    order_id = create(gateway).provider_ref
    sandbox.expire_tokens()

    payment = gateway.get_order(order_id)

    assert payment.provider_ref == order_id
    assert sandbox.token_requests == 2


def test_wrong_credentials_raise_a_provider_error(sandbox):
    gateway = PayPalRestGateway(sandbox.url, CLIENT_ID, "wrong", "WEBHOOK")

    with pytest.raises(PayPalError) as raised:
        gateway.get_order("5O190127TN364715T")

    assert raised.value.status == 401


def test_unreachable_paypal_is_unavailable():
    gateway = PayPalRestGateway(f"http://127.0.0.1:{free_port()}", CLIENT_ID, CLIENT_SECRET, "W")

    with pytest.raises(ServiceUnavailableError) as raised:
        gateway.get_order("5O190127TN364715T")

    assert raised.value.__cause__ is not None


@pytest.mark.parametrize("status", [500, 503, 429])
def test_paypal_server_errors_are_unavailable(status):
    failing = Endpoint(status=status)
    gateway = PayPalRestGateway(failing.url, CLIENT_ID, CLIENT_SECRET, "W")
    try:
        with pytest.raises(ServiceUnavailableError):
            gateway.get_order("5O190127TN364715T")
    finally:
        failing.close()


# webhooks -------------------------------------------------------------------------------


def delivered(sandbox, gateway, receiver):
    sandbox.approve(create(gateway).provider_ref)
    return receiver.wait(1)[0]


def test_a_real_delivery_verifies(sandbox, gateway, receiver):
    headers, body = delivered(sandbox, gateway, receiver)

    assert gateway.verify_webhook(headers, body) is True
    lowercase = {name.lower(): value for name, value in headers.items()}
    assert gateway.verify_webhook(lowercase, body) is True


def test_a_tampered_delivery_does_not_verify(sandbox, gateway, receiver):
    headers, body = delivered(sandbox, gateway, receiver)
    event = json.loads(body)
    event["resource"]["purchase_units"][0]["custom_id"] = "pay_other"

    assert gateway.verify_webhook(headers, json.dumps(event).encode()) is False
    forged = {**headers, "PAYPAL-TRANSMISSION-SIG": "Zm9yZ2Vk"}
    assert gateway.verify_webhook(forged, body) is False


def test_a_delivery_for_another_webhook_does_not_verify(sandbox, receiver):
    other = make_gateway(sandbox, webhook_id="OTHERWEBHOOK0001")
    headers, body = delivered(sandbox, other, receiver)

    assert other.verify_webhook(headers, body) is False


@pytest.mark.parametrize(
    "missing",
    [
        "PAYPAL-AUTH-ALGO",
        "PAYPAL-CERT-URL",
        "PAYPAL-TRANSMISSION-ID",
        "PAYPAL-TRANSMISSION-SIG",
        "PAYPAL-TRANSMISSION-TIME",
    ],
)
def test_missing_transmission_headers_fail_without_asking_paypal(sandbox, receiver, missing):
    headers, body = delivered(sandbox, make_gateway(sandbox), receiver)
    # Any call to PayPal would raise here, so False proves none was made.
    offline = PayPalRestGateway(f"http://127.0.0.1:{free_port()}", CLIENT_ID, CLIENT_SECRET, "W")

    headers.pop(missing)

    assert offline.verify_webhook(headers, body) is False


@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]"])
def test_a_body_that_is_no_event_fails_without_asking_paypal(body):
    offline = PayPalRestGateway(f"http://127.0.0.1:{free_port()}", CLIENT_ID, CLIENT_SECRET, "W")
    headers = {
        "PAYPAL-AUTH-ALGO": "SHA256withRSA",
        "PAYPAL-CERT-URL": "http://127.0.0.1/cert",
        "PAYPAL-TRANSMISSION-ID": "a8a3b1c0-0000-0000-0000-000000000000",
        "PAYPAL-TRANSMISSION-SIG": "c2ln",
        "PAYPAL-TRANSMISSION-TIME": "2026-03-01T12:00:00Z",
    }

    assert offline.verify_webhook(headers, body) is False


# the PaymentProvider port -----------------------------------------------------------------


def _payment(order_id=None, payment_id="pay_port"):
    from datetime import UTC, datetime

    now = datetime(2026, 11, 30, tzinfo=UTC)
    return Payment(
        id=payment_id, invoice_id="inv_1", store_id="st_1", provider="paypal", method="paypal",
        kind="manual", amount_cents=5831, currency="EUR", status=PaymentStatus.PENDING,
        created_at=now, updated_at=now, provider_ref=order_id,
    )  # fmt: skip


def _request(payment_id="pay_port"):
    return PaymentRequest(
        payment_id=payment_id,
        amount_cents=5831,
        currency="EUR",
        description="2 Rechnungen: RE-2026-000001, RE-2026-000002",
        reference="RE-2026-000001-pay_port",
        metadata={"payment_id": payment_id},
        return_url="http://127.0.0.1:8000/?payment=pay_port",
        cancel_url="http://127.0.0.1:8000/?payment=pay_port",
        customer=lambda: pytest.fail("PayPal needs no card customer"),
    )


def test_the_port_starts_reads_collects_and_refunds_once(sandbox, gateway):
    started = gateway.start(_request())
    assert started.status == ProviderStatus.AWAITING_PAYER and started.approve_url
    assert sandbox.experience(started.provider_ref)["return_url"].endswith("&paypal=return")
    payment = _payment(started.provider_ref)
    assert gateway.read(_payment()) is None  # no reference: a start is simply repeated
    sandbox.approve(started.provider_ref)
    assert gateway.read(payment).status == ProviderStatus.READY_TO_COLLECT

    collected = gateway.collect(payment, {})
    again = gateway.collect(payment, {})

    assert collected.status == again.status == ProviderStatus.SUCCEEDED
    assert len(captures(sandbox, started.provider_ref)) == 1
    refunded = gateway.refund(payment, "refund-pay_port")
    repeated = gateway.refund(payment, "refund-pay_port")
    assert refunded.status == repeated.status == ProviderStatus.REFUNDED
    assert captures(sandbox, started.provider_ref)[0]["status"] == "REFUNDED"
    assert gateway.read(payment).status == ProviderStatus.REFUNDED
    assert len(sandbox.wait_for_deliveries("PAYMENT.CAPTURE.REFUNDED")) == 1


def test_cancel_never_captures_and_reports_money_that_moved(sandbox, gateway):
    started = gateway.start(_request("pay_cancel"))
    payment = _payment(started.provider_ref, "pay_cancel")
    sandbox.approve(started.provider_ref)

    assert gateway.cancel(payment).status == ProviderStatus.CANCELED
    assert captures(sandbox, started.provider_ref) == []
    gateway.collect(payment, {})
    assert gateway.cancel(payment).status == ProviderStatus.SUCCEEDED


def test_webhooks_are_verified_then_normalized(sandbox, gateway, receiver):
    started = gateway.start(_request("pay_hook"))
    sandbox.approve(started.provider_ref)
    delivery = sandbox.wait_for_deliveries("CHECKOUT.ORDER.APPROVED")[0]
    headers = delivery["headers"]

    update = gateway.parse_webhook(headers, delivery["body"].encode())

    assert update is not None and update.status == ProviderStatus.READY_TO_COLLECT
    assert (update.payment_id, update.provider_ref) == ("pay_hook", started.provider_ref)
    assert update.event_id == delivery["event"]["id"]
    with pytest.raises(InvalidSignatureError):
        gateway.parse_webhook(headers, delivery["body"].replace("pay_hook", "pay_x").encode())
