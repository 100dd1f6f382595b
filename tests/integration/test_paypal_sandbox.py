"""The local PayPal sandbox over HTTP: OAuth, Orders v2, approval page, webhooks, test hooks."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from local.paypal_sandbox import PayPalSandbox

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID = "sandbox-client"
CLIENT_SECRET = "sandbox-secret-local"


class Receiver:
    """A webhook endpoint on 127.0.0.1 that records every POST; can fail the first few."""

    def __init__(self):
        self.received = []
        self.failures_left = 0
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.cond:
                    receiver.received.append((dict(self.headers.items()), body))
                    failing = receiver.failures_left > 0
                    receiver.failures_left -= int(failing)
                    receiver.cond.notify_all()
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/webhooks/paypal"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def wait(self, count, timeout=10.0):
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.received) >= count, timeout), self.received
            return list(self.received)

    def events(self):
        with self.cond:
            return [json.loads(body) for _, body in self.received]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture()
def sandbox(receiver):
    sandbox = PayPalSandbox(CLIENT_ID, CLIENT_SECRET, retry_delays=(0.05, 0.1, 0.2)).start()
    sandbox.webhook_id = sandbox.register_webhook(receiver.url)
    yield sandbox
    sandbox.stop()


@pytest.fixture()
def api(sandbox):
    response = requests.post(
        f"{sandbox.url}/v1/oauth2/token",
        auth=(CLIENT_ID, CLIENT_SECRET),
        data={"grant_type": "client_credentials"},
        timeout=5,
    )
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
    yield session
    session.close()


def order_body(value="58.31", currency="EUR", return_url="https://portal.example/zahlung"):
    return {
        "intent": "CAPTURE",
        "purchase_units": [
            {
                "reference_id": "pay_1",
                "custom_id": "pay_1",
                "invoice_id": "RE-2026-000123",
                "description": "Rechnung RE-2026-000123",
                "amount": {"currency_code": currency, "value": value},
            }
        ],
        "application_context": {
            "return_url": return_url,
            "cancel_url": "https://portal.example/abbruch",
            "brand_name": "SIDES GmbH",
            "locale": "de-DE",
            "user_action": "PAY_NOW",
        },
    }


def create(sandbox, api, request_id=None, **kwargs):
    headers = {"PayPal-Request-Id": request_id} if request_id else {}
    response = api.post(
        f"{sandbox.url}/v2/checkout/orders", json=order_body(**kwargs), headers=headers, timeout=5
    )
    assert response.status_code == 201, response.text
    return response.json()


def capture(sandbox, api, order_id, request_id, timeout=5):
    return api.post(
        f"{sandbox.url}/v2/checkout/orders/{order_id}/capture",
        headers={"PayPal-Request-Id": request_id},
        timeout=timeout,
    )


def link(order, rel):
    return next(item["href"] for item in order["links"] if item["rel"] == rel)


def approve_in_browser(sandbox, order, choice="paypal-approve"):
    page = requests.get(link(order, "approve"), timeout=5)
    form = next(part for part in page.text.split("</form>") if f'data-testid="{choice}"' in part)
    action = re.search(r'<form method="post" action="([^"]+)">', form).group(1)
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form))
    return requests.post(f"{sandbox.url}{action}", data=fields, allow_redirects=False, timeout=5)


def verify(sandbox, api, headers, event, **changes):
    claim = {
        "auth_algo": headers["PAYPAL-AUTH-ALGO"],
        "cert_url": headers["PAYPAL-CERT-URL"],
        "transmission_id": headers["PAYPAL-TRANSMISSION-ID"],
        "transmission_sig": headers["PAYPAL-TRANSMISSION-SIG"],
        "transmission_time": headers["PAYPAL-TRANSMISSION-TIME"],
        "webhook_id": sandbox.webhook_id,
        "webhook_event": event,
        **changes,
    }
    return api.post(f"{sandbox.url}/v1/notifications/verify-webhook-signature", json=claim)


# OAuth ----------------------------------------------------------------------------------


def test_token_is_issued_for_the_client_credentials(sandbox):
    response = requests.post(
        f"{sandbox.url}/v1/oauth2/token",
        auth=(CLIENT_ID, CLIENT_SECRET),
        data={"grant_type": "client_credentials"},
        timeout=5,
    )

    assert response.status_code == 200
    token = response.json()
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 32400
    assert {"scope", "access_token", "app_id", "nonce"} <= set(token)


def test_wrong_client_secret_gets_invalid_client(sandbox):
    response = requests.post(
        f"{sandbox.url}/v1/oauth2/token",
        auth=(CLIENT_ID, "wrong"),
        data={"grant_type": "client_credentials"},
        timeout=5,
    )

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("authorization", [None, "Bearer not-issued-here", "Basic abc"])
def test_api_calls_need_a_token_the_sandbox_issued(sandbox, authorization):
    headers = {"Authorization": authorization} if authorization else {}

    response = requests.post(
        f"{sandbox.url}/v2/checkout/orders", json=order_body(), headers=headers, timeout=5
    )

    assert response.status_code == 401


def test_expired_tokens_are_refused(sandbox, api):
    sandbox.expire_tokens()

    response = api.get(f"{sandbox.url}/v2/checkout/orders/ABC", timeout=5)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


# orders ---------------------------------------------------------------------------------


def test_create_order_returns_a_created_order_with_an_approve_link(sandbox, api):
    order = create(sandbox, api)

    assert order["status"] == "CREATED"
    assert order["intent"] == "CAPTURE"
    unit = order["purchase_units"][0]
    assert unit["amount"] == {"currency_code": "EUR", "value": "58.31"}
    assert (unit["custom_id"], unit["invoice_id"]) == ("pay_1", "RE-2026-000123")
    assert link(order, "approve") == f"{sandbox.url}/checkoutnow?token={order['id']}"
    assert link(order, "capture").endswith(f"/v2/checkout/orders/{order['id']}/capture")


def test_create_order_with_experience_context_requires_payer_action(sandbox, api):
    body = order_body()
    context = body.pop("application_context")
    body["payment_source"] = {"paypal": {"experience_context": context}}

    response = api.post(f"{sandbox.url}/v2/checkout/orders", json=body, timeout=5)

    order = response.json()
    assert order["status"] == "PAYER_ACTION_REQUIRED"
    assert link(order, "payer-action") == f"{sandbox.url}/checkoutnow?token={order['id']}"


def test_create_order_is_idempotent_by_request_id(sandbox, api):
    first = create(sandbox, api, request_id="order-pay_1")

    again = create(sandbox, api, request_id="order-pay_1")
    other = create(sandbox, api, request_id="order-pay_2")

    assert again == first
    assert other["id"] != first["id"]
    assert sandbox.stats()["orders"] == 2


@pytest.mark.parametrize(
    ("value", "currency", "status", "issue"),
    [
        ("58.3", "EUR", 422, "DECIMAL_PRECISION"),
        ("58.311", "EUR", 422, "DECIMAL_PRECISION"),
        ("58,31", "EUR", 400, "INVALID_PARAMETER_SYNTAX"),
        ("0.00", "EUR", 422, "CANNOT_BE_ZERO_OR_NEGATIVE"),
        ("58.31", "USD", 422, "CURRENCY_NOT_SUPPORTED"),
    ],
)
def test_create_order_validates_the_amount(sandbox, api, value, currency, status, issue):
    response = api.post(
        f"{sandbox.url}/v2/checkout/orders", json=order_body(value, currency), timeout=5
    )

    assert response.status_code == status
    error = response.json()
    assert {"name", "message", "debug_id", "details"} <= set(error)
    assert error["details"][0]["issue"] == issue


def test_unknown_order_is_not_found(sandbox, api):
    response = api.get(f"{sandbox.url}/v2/checkout/orders/5O190127TN364715T", timeout=5)

    assert response.status_code == 404
    assert response.json()["name"] == "RESOURCE_NOT_FOUND"


# approval page --------------------------------------------------------------------------


def test_approval_page_shows_payee_amount_and_the_three_choices(sandbox, api):
    order = create(sandbox, api, value="1058.31")

    page = requests.get(link(order, "approve"), timeout=5)

    assert page.status_code == 200
    assert "PayPal Sandbox – Zahlung an SIDES GmbH: 1.058,31 €" in page.text
    for testid in ("paypal-approve", "paypal-cancel", "paypal-deny"):
        assert f'data-testid="{testid}"' in page.text


def test_approve_redirects_to_return_url_and_sends_order_approved(sandbox, api, receiver):
    order = create(sandbox, api, return_url="https://portal.example/zahlung?invoice=inv_1")

    response = approve_in_browser(sandbox, order)

    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert location.netloc == "portal.example"
    assert location.path == "/zahlung"
    assert parse_qs(location.query) == {
        "invoice": ["inv_1"],
        "token": [order["id"]],
        "PayerID": [sandbox.payer_id],
    }
    current = api.get(link(order, "self"), timeout=5).json()
    assert current["status"] == "APPROVED"
    assert current["payer"]["payer_id"] == sandbox.payer_id
    receiver.wait(1)
    event = receiver.events()[0]
    assert event["event_type"] == "CHECKOUT.ORDER.APPROVED"
    assert event["resource_type"] == "checkout-order"
    assert event["resource"]["id"] == order["id"]
    assert event["resource"]["purchase_units"][0]["custom_id"] == "pay_1"


def test_cancel_redirects_to_cancel_url_without_a_webhook(sandbox, api, receiver):
    order = create(sandbox, api)

    response = approve_in_browser(sandbox, order, choice="paypal-cancel")

    assert response.status_code == 303
    assert response.headers["Location"] == f"https://portal.example/abbruch?token={order['id']}"
    assert api.get(link(order, "self"), timeout=5).json()["status"] == "CREATED"
    time.sleep(0.2)
    assert receiver.received == []
    assert sandbox.deliveries() == []


# capture --------------------------------------------------------------------------------


def test_capture_before_approval_is_refused(sandbox, api):
    order = create(sandbox, api)

    response = capture(sandbox, api, order["id"], "capture-pay_1")

    assert response.status_code == 422
    assert response.json()["details"][0]["issue"] == "ORDER_NOT_APPROVED"


def test_capture_happens_once_per_request_id(sandbox, api):
    order = create(sandbox, api)
    approve_in_browser(sandbox, order)

    first = capture(sandbox, api, order["id"], "capture-pay_1")
    again = capture(sandbox, api, order["id"], "capture-pay_1")
    other = capture(sandbox, api, order["id"], "capture-pay_1-b")

    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    captured = first.json()
    assert captured["status"] == "COMPLETED"
    payment = captured["purchase_units"][0]["payments"]["captures"][0]
    assert payment["status"] == "COMPLETED"
    assert payment["amount"] == {"currency_code": "EUR", "value": "58.31"}
    assert (payment["custom_id"], payment["invoice_id"]) == ("pay_1", "RE-2026-000123")
    assert payment["final_capture"] is True
    assert other.status_code == 422
    assert other.json()["details"][0]["issue"] == "ORDER_ALREADY_CAPTURED"
    current = api.get(link(order, "self"), timeout=5).json()
    assert current["purchase_units"][0]["payments"]["captures"] == [payment]
    completed = sandbox.wait_for_deliveries("PAYMENT.CAPTURE.COMPLETED")
    time.sleep(0.2)
    assert len(completed) == len(sandbox.wait_for_deliveries("PAYMENT.CAPTURE.COMPLETED")) == 1


def test_capture_webhook_carries_the_capture_and_its_order(sandbox, api, receiver):
    order = create(sandbox, api)
    sandbox.approve(order["id"])

    capture(sandbox, api, order["id"], "capture-pay_1")

    receiver.wait(2)
    # Each transmission travels on its own, as PayPal's do: the order of arrival is not promised.
    (event,) = [e for e in receiver.events() if e["event_type"] == "PAYMENT.CAPTURE.COMPLETED"]
    assert event["resource_type"] == "capture"
    assert event["id"].startswith("WH-")
    assert (event["event_version"], event["resource_version"]) == ("1.0", "2.0")
    assert event["resource"]["status"] == "COMPLETED"
    assert event["resource"]["custom_id"] == "pay_1"
    assert event["resource"]["supplementary_data"]["related_ids"]["order_id"] == order["id"]


def test_deny_choice_declines_the_capture_and_sends_capture_denied(sandbox, api, receiver):
    order = create(sandbox, api)
    approve_in_browser(sandbox, order, choice="paypal-deny")

    response = capture(sandbox, api, order["id"], "capture-pay_1")

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "COMPLETED"
    assert body["purchase_units"][0]["payments"]["captures"][0]["status"] == "DECLINED"
    denied = sandbox.wait_for_deliveries("PAYMENT.CAPTURE.DENIED")
    assert denied[0]["event"]["resource"]["status"] == "DECLINED"
    assert denied[0]["event"]["resource"]["custom_id"] == "pay_1"
    assert sandbox.wait_for_deliveries("CHECKOUT.ORDER.APPROVED")
    assert "PAYMENT.CAPTURE.COMPLETED" not in {d["event_type"] for d in sandbox.deliveries()}


def test_instrument_declined_refuses_the_capture_and_keeps_the_order_approved(sandbox, api):
    order = create(sandbox, api)
    requests.post(
        f"{sandbox.url}/_sandbox/approve/{order['id']}",
        json={"instrument_declined": True},
        timeout=5,
    )

    response = capture(sandbox, api, order["id"], "capture-pay_1")

    assert response.status_code == 422
    assert response.json()["details"][0]["issue"] == "INSTRUMENT_DECLINED"
    assert api.get(link(order, "self"), timeout=5).json()["status"] == "APPROVED"


def test_delayed_capture_is_applied_before_its_answer_arrives(sandbox, api):
    order = create(sandbox, api)
    sandbox.approve(order["id"])
    requests.post(f"{sandbox.url}/_sandbox/delay-next-capture", json={"seconds": 2}, timeout=5)

    with pytest.raises(requests.Timeout):
        capture(sandbox, api, order["id"], "capture-pay_1", timeout=(3, 0.5))

    assert api.get(link(order, "self"), timeout=5).json()["status"] == "COMPLETED"
    retry = capture(sandbox, api, order["id"], "capture-pay_1", timeout=1)
    assert retry.status_code == 201


# webhooks -------------------------------------------------------------------------------


def test_webhook_delivery_carries_paypal_transmission_headers(sandbox, api, receiver):
    order = create(sandbox, api)

    sandbox.approve(order["id"])

    headers, body = receiver.wait(1)[0]
    assert headers["PAYPAL-AUTH-ALGO"] == "SHA256withRSA"
    assert headers["PAYPAL-CERT-URL"].startswith(sandbox.url)
    assert headers["PAYPAL-TRANSMISSION-SIG"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", headers["PAYPAL-TRANSMISSION-TIME"])
    assert headers["Content-Type"] == "application/json"
    delivery = sandbox.wait_for_deliveries()[0]
    assert delivery["transmission_id"] == headers["PAYPAL-TRANSMISSION-ID"]
    assert delivery["body"].encode() == body
    assert delivery["webhook_id"] == sandbox.webhook_id


def test_verify_webhook_signature_succeeds_only_for_a_real_delivery(sandbox, api, receiver):
    sandbox.approve(create(sandbox, api)["id"])
    headers, body = receiver.wait(1)[0]
    event = json.loads(body)
    tampered = json.loads(body)
    tampered["resource"]["purchase_units"][0]["amount"]["value"] = "0.01"

    def status(**changes):
        response = verify(sandbox, api, headers, event, **changes)
        assert response.status_code == 200
        return response.json()["verification_status"]

    assert status() == "SUCCESS"
    assert status(webhook_event=tampered) == "FAILURE"
    assert status(transmission_sig="x" + headers["PAYPAL-TRANSMISSION-SIG"][1:]) == "FAILURE"
    assert status(transmission_id="5b0c7ab0-1111-2222-3333-444455556666") == "FAILURE"
    assert status(transmission_time="2020-01-01T00:00:00Z") == "FAILURE"
    assert status(webhook_id="OTHERWEBHOOK00001") == "FAILURE"


def test_verify_webhook_signature_needs_every_field(sandbox, api):
    response = api.post(
        f"{sandbox.url}/v1/notifications/verify-webhook-signature",
        json={"auth_algo": "SHA256withRSA", "webhook_event": {}},
        timeout=5,
    )

    assert response.status_code == 400
    assert response.json()["details"][0]["issue"] == "MISSING_REQUIRED_FIELD"


def test_verify_webhook_signature_needs_a_token(sandbox):
    response = requests.post(
        f"{sandbox.url}/v1/notifications/verify-webhook-signature", json={}, timeout=5
    )

    assert response.status_code == 401


def test_failed_deliveries_are_retried_with_the_same_transmission(sandbox, api, receiver):
    receiver.failures_left = 2

    sandbox.approve(create(sandbox, api)["id"])

    received = receiver.wait(3)
    assert len({headers["PAYPAL-TRANSMISSION-ID"] for headers, _ in received}) == 1
    assert len({body for _, body in received}) == 1
    delivery = sandbox.wait_for_deliveries()[0]
    assert [attempt["status"] for attempt in delivery["attempts"]] == [500, 500, 200]


def test_unreachable_endpoint_ends_as_a_failed_delivery(sandbox, api, receiver):
    receiver.close()

    sandbox.approve(create(sandbox, api)["id"])

    failed = sandbox.wait_for_deliveries(state="failed")[0]
    assert len(failed["attempts"]) == 4
    assert all(attempt["status"] is None for attempt in failed["attempts"])


def test_redeliver_sends_the_same_event_in_a_new_transmission(sandbox, api, receiver):
    sandbox.approve(create(sandbox, api)["id"])
    first_headers, first_body = receiver.wait(1)[0]

    response = requests.post(
        f"{sandbox.url}/_sandbox/redeliver/{first_headers['PAYPAL-TRANSMISSION-ID']}", timeout=5
    )

    assert response.status_code == 200
    second_headers, second_body = receiver.wait(2)[1]
    assert second_body == first_body
    assert second_headers["PAYPAL-TRANSMISSION-ID"] != first_headers["PAYPAL-TRANSMISSION-ID"]
    event = json.loads(second_body)
    assert verify(sandbox, api, second_headers, event).json()["verification_status"] == "SUCCESS"
    assert verify(sandbox, api, first_headers, event).json()["verification_status"] == "SUCCESS"


def test_deliveries_hook_lists_every_transmission(sandbox, api):
    sandbox.approve(create(sandbox, api)["id"])
    sandbox.wait_for_deliveries()

    response = requests.get(f"{sandbox.url}/_sandbox/deliveries", timeout=5)

    (delivery,) = response.json()["deliveries"]
    assert delivery["event_type"] == "CHECKOUT.ORDER.APPROVED"
    assert delivery["state"] == "delivered"


def test_webhooks_are_registered_over_the_api(sandbox, api, receiver):
    response = api.post(
        f"{sandbox.url}/v1/notifications/webhooks",
        json={
            "url": "http://127.0.0.1:9/other",
            "event_types": [{"name": "PAYMENT.CAPTURE.COMPLETED"}],
        },
        timeout=5,
    )
    duplicate = api.post(
        f"{sandbox.url}/v1/notifications/webhooks",
        json={"url": receiver.url, "event_types": [{"name": "*"}]},
        timeout=5,
    )

    assert response.status_code == 201
    assert re.fullmatch(r"[A-Z0-9]+", response.json()["id"])
    assert duplicate.status_code == 400
    assert duplicate.json()["name"] == "WEBHOOK_URL_ALREADY_EXISTS"
    listed = api.get(f"{sandbox.url}/v1/notifications/webhooks", timeout=5).json()
    assert {hook["url"] for hook in listed["webhooks"]} == {
        receiver.url,
        "http://127.0.0.1:9/other",
    }


def test_command_line_starts_the_sandbox_and_registers_webhooks():
    process = subprocess.Popen(
        [sys.executable, "-m", "local.paypal_sandbox", "--webhook-url", "http://127.0.0.1:9/x"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        started = json.loads(process.stdout.readline())
        response = requests.post(
            f"{started['url']}/v1/oauth2/token",
            auth=(CLIENT_ID, CLIENT_SECRET),
            data={"grant_type": "client_credentials"},
            timeout=5,
        )
        assert response.status_code == 200
        assert list(started["webhook_ids"]) == ["http://127.0.0.1:9/x"]
    finally:
        process.terminate()
        try:
            code = process.wait(timeout=60)  # generous: a busy machine is slow to let go
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=60)
            raise
    assert code == 0
