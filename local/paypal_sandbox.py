"""A small in-memory PayPal REST stand-in: OAuth2, Orders v2, approval page and webhooks.

Test hooks (no auth; never part of PayPal's API), each also a method on `PayPalSandbox`:

- `POST /_sandbox/approve/{order_id}` `{"deny": false, "instrument_declined": false}` approves
  without a browser (`approve()`); `deny` makes the later capture DECLINED, `instrument_declined`
  makes it fail with 422 INSTRUMENT_DECLINED.
- `POST /_sandbox/void/{order_id}` voids an order that is not completed (`void()`).
- `POST /_sandbox/redeliver/{transmission_id}` sends the same event again in a new transmission,
  as PayPal's "resend" does (`redeliver()`).
- `POST /_sandbox/delay-next-capture` `{"seconds": 3}`: the next capture is applied at once but
  its HTTP response is held back, to simulate a client timeout (`delay_next_capture()`).
- `POST /_sandbox/expire-tokens` invalidates every access token issued so far (`expire_tokens()`).
- `GET /_sandbox/deliveries` lists every webhook transmission (`deliveries()`).
- `GET /_sandbox/stats` counts token requests and orders (`token_requests`).

Deliberate simplifications: one purchase unit, EUR only, amounts with exactly two decimals
(stricter than PayPal, to catch formatting slips); responses are always the full representation
(`Prefer` is ignored); the deny choice follows PayPal's documented "COMPLETED order with a
DECLINED capture" (201, then PAYMENT.CAPTURE.DENIED); signatures are HMAC-SHA256 over PayPal's
signed string `transmission_id|time|webhook_id|crc32(body)` with a key only this process knows,
so only `verify-webhook-signature` can check them (the cert URL serves no certificate).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import copy
import dataclasses
import hashlib
import hmac
import html
import http.client
import json
import logging
import re
import secrets
import signal
import string
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from decimal import Decimal
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

log = logging.getLogger("local.paypal_sandbox")

TOKEN_TTL_S = 32400
AUTH_ALGO = "SHA256withRSA"
DEFAULT_RETRY_DELAYS = (0.5, 1.0, 1.5, 2.0, 3.0)
DELIVERY_TIMEOUT_S = 5.0
MERCHANT_ID = "SIDESLOCAL7Q2M"
BUYER = {
    "name": {"given_name": "Erika", "surname": "Mustermann"},
    "email_address": "erika.mustermann@personal.example.com",
    "address": {"country_code": "DE"},
}
SCOPE = (
    "https://uri.paypal.com/services/payments/payment "
    "https://uri.paypal.com/services/payments/orders "
    "https://uri.paypal.com/services/applications/webhooks"
)
_ALNUM = string.ascii_uppercase + string.digits
_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_TWO_PLACES = re.compile(r"\d+\.\d{2}")
_VERIFY_FIELDS = (
    "auth_algo",
    "cert_url",
    "transmission_id",
    "transmission_sig",
    "transmission_time",
    "webhook_id",
)
_EXPERIENCE_KEYS = (
    "return_url",
    "cancel_url",
    "brand_name",
    "locale",
    "user_action",
    "shipping_preference",
    "landing_page",
)
_MESSAGES = {
    "INVALID_REQUEST": "Request is not well-formed, syntactically incorrect, or violates schema.",
    "RESOURCE_NOT_FOUND": "The specified resource does not exist.",
    "UNPROCESSABLE_ENTITY": (
        "The requested action could not be performed, semantically incorrect, or failed "
        "business validation."
    ),
    "VALIDATION_ERROR": "Invalid request - see details.",
}
_ISSUES = {
    "MALFORMED_REQUEST_JSON": "The request JSON is not well formed.",
    "MISSING_REQUIRED_PARAMETER": "A required field or parameter is missing.",
    "INVALID_PARAMETER_VALUE": "The value of a field is invalid.",
    "INVALID_PARAMETER_SYNTAX": "The value of a field does not conform to the expected format.",
    "DECIMAL_PRECISION": "Only two decimal places are supported for this currency.",
    "CURRENCY_NOT_SUPPORTED": "This sandbox accepts EUR only.",
    "CANNOT_BE_ZERO_OR_NEGATIVE": "The amount must be greater than zero.",
    "INVALID_RESOURCE_ID": "Specified resource ID does not exist.",
    "ORDER_NOT_APPROVED": (
        "Payer has not yet approved the Order for payment. Redirect the payer to the "
        "'approve' (or 'payer-action') link of the order."
    ),
    "ORDER_ALREADY_CAPTURED": "Order already captured. With intent CAPTURE only one capture "
    "per order is allowed.",
    "ORDER_COMPLETED_OR_VOIDED": "The order is voided or completed and cannot be processed.",
    "INSTRUMENT_DECLINED": (
        "The instrument presented was either declined by the processor or bank, or it can't "
        "be used for this payment."
    ),
    "MISSING_REQUIRED_FIELD": "A required field is missing.",
}


class ApiError(Exception):
    """An HTTP error answer in PayPal's shape."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def paypal_error(
    status: int, name: str, issue: str, field: str | None = None, location: str = "body"
) -> ApiError:
    detail: dict[str, Any] = {"issue": issue, "description": _ISSUES[issue]}
    if field is not None:
        detail.update(field=field, location=location)
    return ApiError(
        status,
        {
            "name": name,
            "message": _MESSAGES[name],
            "debug_id": secrets.token_hex(7)[:13],
            "details": [detail],
            "links": [
                {
                    "href": f"https://developer.paypal.com/docs/api/orders/v2/#error-{issue}",
                    "rel": "information_link",
                    "method": "GET",
                }
            ],
        },
    )


def _invalid(issue: str, field: str) -> ApiError:
    return paypal_error(400, "INVALID_REQUEST", issue, field)


def _unprocessable(issue: str, field: str | None = None) -> ApiError:
    return paypal_error(422, "UNPROCESSABLE_ENTITY", issue, field)


def _cents(value: str) -> int:
    units, _, fraction = value.partition(".")
    return int(units) * 100 + int((fraction + "00")[:2])


def _code(length: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dump(body: Any) -> bytes:
    return json.dumps(body).encode()


def _german_amount(value: str) -> str:
    english = f"{Decimal(value):,.2f}"
    return english.replace(",", " ").replace(".", ",").replace(" ", ".") + " €"


def with_query(url: str, params: Mapping[str, str]) -> str:
    """`url` with `params` appended to its query (replacing keys of the same name)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    return urlunsplit(parts._replace(query=urlencode([*query, *params.items()])))


@dataclasses.dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    delay: float = 0.0


def json_reply(status: int, body: Any) -> Reply:
    return Reply(status, _dump(body))


@dataclasses.dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Message
    body: bytes
    params: dict[str, str]

    def json(self) -> dict[str, Any]:
        try:
            value = json.loads(self.body or b"{}")
        except ValueError as exc:
            raise _invalid("MALFORMED_REQUEST_JSON", "/") from exc
        if not isinstance(value, dict):
            raise _invalid("MALFORMED_REQUEST_JSON", "/")
        return value

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8", "replace")).items()}


@dataclasses.dataclass
class Order:
    id: str
    unit: dict[str, Any]
    experience: dict[str, str]
    with_payment_source: bool
    status: str
    create_time: str
    update_time: str
    outcome: str = "approve"  # approve | deny | instrument_declined
    payer_id: str | None = None
    capture: dict[str, Any] | None = None
    refunds: list[dict[str, Any]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Delivery:
    """One webhook transmission (its retries reuse the same headers and body)."""

    transmission_id: str
    transmission_time: str
    webhook_id: str
    url: str
    event: dict[str, Any]
    body: bytes
    headers: dict[str, str]
    state: str = "pending"  # pending | delivered | failed
    attempts: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def snapshot(self) -> dict[str, Any]:
        return {
            "transmission_id": self.transmission_id,
            "transmission_time": self.transmission_time,
            "webhook_id": self.webhook_id,
            "url": self.url,
            "event_id": self.event["id"],
            "event_type": self.event["event_type"],
            "event": copy.deepcopy(self.event),
            "body": self.body.decode(),
            "headers": dict(self.headers),
            "state": self.state,
            "attempts": [dict(attempt) for attempt in self.attempts],
        }


def _parse_amount(amount: Any) -> dict[str, str]:
    field = "/purchase_units/@reference_id=='default'/amount"
    if not isinstance(amount, dict) or "value" not in amount or "currency_code" not in amount:
        raise _invalid("MISSING_REQUIRED_PARAMETER", field)
    value, currency = amount["value"], amount["currency_code"]
    if not isinstance(value, str) or not _NUMBER.fullmatch(value):
        raise _invalid("INVALID_PARAMETER_SYNTAX", f"{field}/value")
    if currency != "EUR":
        raise _unprocessable("CURRENCY_NOT_SUPPORTED", f"{field}/currency_code")
    if not _TWO_PLACES.fullmatch(value):
        raise _unprocessable("DECIMAL_PRECISION", f"{field}/value")
    if Decimal(value) <= 0:
        raise _unprocessable("CANNOT_BE_ZERO_OR_NEGATIVE", f"{field}/value")
    return {"currency_code": currency, "value": value}


def _parse_unit(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _invalid("INVALID_PARAMETER_VALUE", "/purchase_units/0")
    unit: dict[str, Any] = {"reference_id": "default"}
    for key in ("reference_id", "custom_id", "invoice_id", "description", "soft_descriptor"):
        if key not in raw:
            continue
        if not isinstance(raw[key], str) or not 0 < len(raw[key]) <= 256:
            raise _invalid("INVALID_PARAMETER_VALUE", f"/purchase_units/0/{key}")
        unit[key] = raw[key]
    unit["amount"] = _parse_amount(raw.get("amount"))
    return unit


def _parse_experience(body: dict[str, Any]) -> tuple[dict[str, str], bool]:
    source = body.get("payment_source")
    paypal = source.get("paypal") if isinstance(source, dict) else None
    if isinstance(paypal, dict):
        context, with_source = paypal.get("experience_context") or {}, True
    else:
        context, with_source = body.get("application_context") or {}, False
    if not isinstance(context, dict):
        raise _invalid("INVALID_PARAMETER_VALUE", "/application_context")
    experience = {k: context[k] for k in _EXPERIENCE_KEYS if isinstance(context.get(k), str)}
    for key in ("return_url", "cancel_url"):
        if key in experience and urlsplit(experience[key]).scheme not in ("http", "https"):
            raise _invalid("INVALID_PARAMETER_SYNTAX", f"/experience_context/{key}")
    return experience, with_source


def parse_order_request(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str], bool]:
    """Validate a create-order body; return its purchase unit, experience and source flag."""
    if "intent" not in body:
        raise _invalid("MISSING_REQUIRED_PARAMETER", "/intent")
    if body["intent"] != "CAPTURE":
        raise _invalid("INVALID_PARAMETER_VALUE", "/intent")
    units = body.get("purchase_units")
    if not isinstance(units, list) or len(units) != 1:
        raise _invalid("INVALID_PARAMETER_VALUE", "/purchase_units")
    experience, with_source = _parse_experience(body)
    return _parse_unit(units[0]), experience, with_source


class PayPalSandbox:
    """An in-memory PayPal REST API on 127.0.0.1; every public method is thread-safe.

    `PayPalSandbox(client_id=..., client_secret=...).start(port=0)` returns the running
    sandbox (`.url`, `.stop()`; also a context manager). See the module docstring for the
    test hooks.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        host: str = "127.0.0.1",
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        delivery_timeout: float = DELIVERY_TIMEOUT_S,
    ) -> None:
        self.client_id = client_id
        self._client_secret = client_secret
        self._host = host
        self._retry_delays = tuple(retry_delays)
        self._delivery_timeout = delivery_timeout
        self._signing_key = secrets.token_bytes(32)
        self.payer_id = _code(13)
        self.app_id = f"APP-{_code(17)}"
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._tokens: dict[str, float] = {}
        self._token_requests = 0
        self._webhooks: dict[str, dict[str, Any]] = {}
        self._orders: dict[str, Order] = {}
        self._create_replies: dict[str, Reply] = {}
        self._capture_replies: dict[tuple[str, str], Reply] = {}
        self._refund_replies: dict[tuple[str, str], Reply] = {}
        self._deliveries: dict[str, Delivery] = {}
        self._capture_delay = 0.0
        self._server: _Server | None = None
        self._url: str | None = None

    # lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the sandbox is not started")
        return self._url

    @property
    def stopping(self) -> threading.Event:
        return self._stopping

    @property
    def cert_url(self) -> str:
        return f"{self.url}/v1/notifications/certs/CERT-sandbox-local"

    def start(self, port: int = 0) -> PayPalSandbox:
        server = _Server((self._host, port), self)
        self._server = server
        self._url = f"http://{self._host}:{server.server_address[1]}"
        # A short poll interval keeps stop() fast; tests start and stop many sandboxes.
        threading.Thread(
            target=server.serve_forever, args=(0.05,), name="paypal-sandbox", daemon=True
        ).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> PayPalSandbox:
        return self if self._server else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # OAuth ----------------------------------------------------------------------------------

    @property
    def token_requests(self) -> int:
        with self._cond:
            return self._token_requests

    def issue_token(self, authorization: str | None, grant_type: str | None) -> dict[str, Any]:
        with self._cond:
            self._token_requests += 1
            if not self._client_matches(authorization):
                raise ApiError(
                    401,
                    {
                        "error": "invalid_client",
                        "error_description": "Client Authentication failed",
                    },
                )
            if grant_type != "client_credentials":
                raise ApiError(
                    400,
                    {
                        "error": "unsupported_grant_type",
                        "error_description": "Grant Type is NULL or not supported",
                    },
                )
            token = f"A21AA{secrets.token_urlsafe(40)}"
            self._tokens[token] = time.monotonic() + TOKEN_TTL_S
        return {
            "scope": SCOPE,
            "access_token": token,
            "token_type": "Bearer",
            "app_id": self.app_id,
            "expires_in": TOKEN_TTL_S,
            "nonce": f"{_now()}{secrets.token_urlsafe(24)}",
        }

    def _client_matches(self, authorization: str | None) -> bool:
        scheme, _, encoded = (authorization or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            client_id, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return hmac.compare_digest(client_id.encode(), self.client_id.encode()) and (
            hmac.compare_digest(secret.encode(), self._client_secret.encode())
        )

    def check_bearer(self, authorization: str | None) -> None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ApiError(
                401,
                {
                    "name": "AUTHENTICATION_FAILURE",
                    "message": "Authentication failed due to invalid authentication credentials "
                    "or a missing Authorization header.",
                    "links": [],
                },
            )
        with self._cond:
            expires = self._tokens.get(token)
        if expires is None or expires <= time.monotonic():
            raise ApiError(
                401,
                {
                    "error": "invalid_token",
                    "error_description": "Access Token not found in cache",
                },
            )

    def expire_tokens(self) -> None:
        with self._cond:
            self._tokens.clear()

    # webhooks management --------------------------------------------------------------------

    def register_webhook(self, url: str, event_types: Sequence[str] = ("*",)) -> str:
        """Subscribe `url` to `event_types` ("*" for all); return the webhook id."""
        return str(
            self.create_webhook(
                {
                    "url": url,
                    "event_types": [{"name": name} for name in event_types],
                }
            )["id"]
        )

    def create_webhook(self, body: dict[str, Any]) -> dict[str, Any]:
        url, types = body.get("url"), body.get("event_types")
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise paypal_error(400, "VALIDATION_ERROR", "INVALID_PARAMETER_SYNTAX", "/url")
        if (
            not isinstance(types, list)
            or not types
            or not all(isinstance(t, dict) and isinstance(t.get("name"), str) for t in types)
        ):
            raise paypal_error(400, "VALIDATION_ERROR", "MISSING_REQUIRED_FIELD", "/event_types")
        with self._cond:
            if any(hook["url"] == url for hook in self._webhooks.values()):
                raise ApiError(
                    400,
                    {
                        "name": "WEBHOOK_URL_ALREADY_EXISTS",
                        "message": "Webhook URL already exists",
                        "debug_id": secrets.token_hex(7)[:13],
                    },
                )
            webhook_id = _code(17)
            self._webhooks[webhook_id] = {
                "id": webhook_id,
                "url": url,
                "event_types": [{"name": t["name"], "status": "ENABLED"} for t in types],
                "links": [
                    {
                        "href": f"{self.url}/v1/notifications/webhooks/{webhook_id}",
                        "rel": "self",
                        "method": "GET",
                    }
                ],
            }
            return copy.deepcopy(self._webhooks[webhook_id])

    def list_webhooks(self) -> dict[str, Any]:
        with self._cond:
            return {"webhooks": copy.deepcopy(list(self._webhooks.values()))}

    # orders ---------------------------------------------------------------------------------

    def create_order(self, body: dict[str, Any], request_id: str | None) -> Reply:
        with self._cond:
            if request_id and request_id in self._create_replies:
                return self._create_replies[request_id]
            unit, experience, with_source = parse_order_request(body)
            created = _now()
            order = Order(
                id=_code(17),
                unit=unit,
                experience=experience,
                with_payment_source=with_source,
                status="PAYER_ACTION_REQUIRED" if with_source else "CREATED",
                create_time=created,
                update_time=created,
            )
            self._orders[order.id] = order
            reply = json_reply(201, self._render(order))
            if request_id:
                self._create_replies[request_id] = reply
            return reply

    def order(self, order_id: str) -> dict[str, Any]:
        """The order as `GET /v2/checkout/orders/{id}` returns it."""
        with self._cond:
            return self._render(self._order(order_id))

    def experience(self, order_id: str) -> dict[str, str]:
        with self._cond:
            return dict(self._order(order_id).experience)

    def stats(self) -> dict[str, int]:
        with self._cond:
            return {
                "token_requests": self._token_requests,
                "orders": len(self._orders),
                "deliveries": len(self._deliveries),
            }

    def _order(self, order_id: str) -> Order:
        order = self._orders.get(order_id)
        if order is None:
            raise paypal_error(
                404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID", "order_id", location="path"
            )
        return order

    def _links(self, order: Order) -> list[dict[str, str]]:
        base = f"{self.url}/v2/checkout/orders/{order.id}"
        links = [{"href": base, "rel": "self", "method": "GET"}]
        approve = f"{self.url}/checkoutnow?token={order.id}"
        if order.status == "CREATED":
            links.append({"href": approve, "rel": "approve", "method": "GET"})
        if order.status == "PAYER_ACTION_REQUIRED":
            links.append({"href": approve, "rel": "payer-action", "method": "GET"})
        if order.status in ("CREATED", "APPROVED"):
            links.append({"href": base, "rel": "update", "method": "PATCH"})
            links.append({"href": f"{base}/capture", "rel": "capture", "method": "POST"})
        return links

    def _render(self, order: Order) -> dict[str, Any]:
        unit = copy.deepcopy(order.unit)
        unit["payee"] = {"merchant_id": MERCHANT_ID}
        if order.capture is not None:
            unit["payments"] = {"captures": [copy.deepcopy(order.capture)]}
        body: dict[str, Any] = {
            "id": order.id,
            "intent": "CAPTURE",
            "status": order.status,
            "purchase_units": [unit],
            "create_time": order.create_time,
            "update_time": order.update_time,
            "links": self._links(order),
        }
        if order.payer_id is not None:
            payer = {**copy.deepcopy(BUYER), "payer_id": order.payer_id}
            body["payer"] = payer
            body["payment_source"] = {"paypal": {**payer, "account_id": order.payer_id}}
        elif order.with_payment_source:
            body["payment_source"] = {"paypal": {}}
        return body

    def approve(
        self, order_id: str, *, deny: bool = False, instrument_declined: bool = False
    ) -> str | None:
        """What the payer's "pay" click does; returns where PayPal sends the browser back."""
        with self._cond:
            order = self._order(order_id)
            if order.status == "VOIDED":
                raise _unprocessable("ORDER_COMPLETED_OR_VOIDED")
            if order.status in ("CREATED", "PAYER_ACTION_REQUIRED"):
                order.status = "APPROVED"
                order.payer_id = self.payer_id
                order.outcome = (
                    "instrument_declined"
                    if instrument_declined
                    else ("deny" if deny else "approve")
                )
                order.update_time = _now()
                self._emit(
                    "CHECKOUT.ORDER.APPROVED",
                    "checkout-order",
                    "An order has been approved by buyer",
                    self._render(order),
                )
            return_url = order.experience.get("return_url")
        if return_url is None:
            return None
        return with_query(return_url, {"token": order_id, "PayerID": self.payer_id})

    def cancel(self, order_id: str) -> str | None:
        """What the payer's "cancel" click does: no state change and, as at PayPal, no event."""
        with self._cond:
            cancel_url = self._order(order_id).experience.get("cancel_url")
        return with_query(cancel_url, {"token": order_id}) if cancel_url else None

    def void(self, order_id: str) -> None:
        with self._cond:
            order = self._order(order_id)
            if order.status == "COMPLETED":
                raise _unprocessable("ORDER_COMPLETED_OR_VOIDED")
            order.status, order.update_time = "VOIDED", _now()

    def delay_next_capture(self, seconds: float) -> None:
        with self._cond:
            self._capture_delay = max(0.0, float(seconds))

    def capture(self, order_id: str, request_id: str | None) -> Reply:
        with self._cond:
            key = (order_id, request_id) if request_id else None
            if key is not None and key in self._capture_replies:
                return self._capture_replies[key]
            order = self._order(order_id)
            self._check_capturable(order)
            reply = json_reply(201, self._apply_capture(order))
            if key is not None:
                self._capture_replies[key] = reply
            delay, self._capture_delay = self._capture_delay, 0.0
        return dataclasses.replace(reply, delay=delay)

    def refund(
        self, capture_id: str, request_id: str | None, body: dict[str, Any] | None = None
    ) -> Reply:
        """Refunds a completed capture in full or in part (Payments v2, `amount` in the
        body); PayPal-Request-Id makes a repeat answer the first refund."""
        with self._cond:
            key = (capture_id, request_id) if request_id else None
            if key is not None and key in self._refund_replies:
                return self._refund_replies[key]
            order = next(
                (o for o in self._orders.values() if o.capture and o.capture["id"] == capture_id),
                None,
            )
            if order is None or order.capture is None:
                raise ApiError(404, {"name": "RESOURCE_NOT_FOUND", "message": capture_id})
            if order.capture["status"] not in ("COMPLETED", "PARTIALLY_REFUNDED"):
                raise _unprocessable("CAPTURE_FULLY_REFUNDED")
            captured = _cents(order.capture["amount"]["value"])
            refunded = sum(_cents(r["amount"]["value"]) for r in order.refunds)
            amount = (body or {}).get("amount")
            cents = _cents(_parse_amount(amount)["value"]) if amount else captured - refunded
            if cents <= 0 or refunded + cents > captured:
                raise _unprocessable("REFUND_AMOUNT_EXCEEDED")
            now = _now()
            refund = {
                "id": _code(17),
                "status": "COMPLETED",
                "amount": {
                    "value": f"{cents // 100}.{cents % 100:02d}",
                    "currency_code": order.capture["amount"]["currency_code"],
                },
                "custom_id": order.capture.get("custom_id"),
                "create_time": now,
                "update_time": now,
                "links": [
                    {
                        "href": f"{self.url}/v2/payments/captures/{capture_id}",
                        "rel": "up",
                        "method": "GET",
                    }
                ],
            }
            order.refunds.append(refund)
            full = refunded + cents == captured
            order.capture["status"] = "REFUNDED" if full else "PARTIALLY_REFUNDED"
            money = f"{order.capture['amount']['currency_code']} {cents / 100:.2f}"
            resource = {
                **copy.deepcopy(refund),
                "supplementary_data": {"related_ids": {"order_id": order.id}},
            }
            self._emit("PAYMENT.CAPTURE.REFUNDED", "refund", f"Refund of {money}", resource)
            reply = json_reply(201, copy.deepcopy(refund))
            if key is not None:
                self._refund_replies[key] = reply
        return reply

    @staticmethod
    def _check_capturable(order: Order) -> None:
        if order.capture is not None:
            raise _unprocessable("ORDER_ALREADY_CAPTURED")
        if order.status == "VOIDED":
            raise _unprocessable("ORDER_COMPLETED_OR_VOIDED")
        if order.status != "APPROVED":
            raise _unprocessable("ORDER_NOT_APPROVED")
        if order.outcome == "instrument_declined":
            raise _unprocessable("INSTRUMENT_DECLINED")

    def _apply_capture(self, order: Order) -> dict[str, Any]:
        now = _now()
        declined = order.outcome == "deny"
        capture_id = _code(17)
        order.capture = {
            "id": capture_id,
            "status": "DECLINED" if declined else "COMPLETED",
            "amount": dict(order.unit["amount"]),
            "final_capture": True,
            **{key: order.unit[key] for key in ("custom_id", "invoice_id") if key in order.unit},
            "create_time": now,
            "update_time": now,
            "links": [
                {
                    "href": f"{self.url}/v2/payments/captures/{capture_id}",
                    "rel": "self",
                    "method": "GET",
                },
                {"href": f"{self.url}/v2/checkout/orders/{order.id}", "rel": "up", "method": "GET"},
            ],
        }
        order.status, order.update_time = "COMPLETED", now
        money = f"{order.unit['amount']['currency_code']} {order.unit['amount']['value']}"
        resource = {
            **copy.deepcopy(order.capture),
            "supplementary_data": {"related_ids": {"order_id": order.id}},
        }
        if declined:
            self._emit("PAYMENT.CAPTURE.DENIED", "capture", f"Payment denied for {money}", resource)
        else:
            self._emit(
                "PAYMENT.CAPTURE.COMPLETED", "capture", f"Payment completed for {money}", resource
            )
        return self._render(order)

    # webhook delivery -----------------------------------------------------------------------

    def _emit(
        self, event_type: str, resource_type: str, summary: str, resource: dict[str, Any]
    ) -> None:
        event_id = f"WH-{_code(17)}-{_code(17)}"
        event = {
            "id": event_id,
            "event_version": "1.0",
            "create_time": _now(),
            "resource_type": resource_type,
            "resource_version": "2.0",
            "event_type": event_type,
            "summary": summary,
            "resource": resource,
            "links": [
                {
                    "href": f"{self.url}/v1/notifications/webhooks-events/{event_id}",
                    "rel": "self",
                    "method": "GET",
                },
                {
                    "href": f"{self.url}/v1/notifications/webhooks-events/{event_id}/resend",
                    "rel": "resend",
                    "method": "POST",
                },
            ],
        }
        for hook in self._webhooks.values():
            names = {t["name"] for t in hook["event_types"]}
            if "*" in names or event_type in names:
                self._transmit(hook["id"], hook["url"], event)

    def _sign(self, transmission_id: str, when: str, webhook_id: str, body: bytes) -> str:
        # PayPal's signed string; PayPal signs it with RSA, the sandbox with a private HMAC key.
        message = f"{transmission_id}|{when}|{webhook_id}|{zlib.crc32(body)}"
        digest = hmac.new(self._signing_key, message.encode(), hashlib.sha256).digest()
        return base64.b64encode(digest).decode()

    def _transmit(self, webhook_id: str, url: str, event: dict[str, Any]) -> Delivery:
        body = _dump(event)
        transmission_id, when = str(uuid.uuid4()), _now()
        delivery = Delivery(
            transmission_id=transmission_id,
            transmission_time=when,
            webhook_id=webhook_id,
            url=url,
            event=event,
            body=body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": "PayPal/AUHD-214.0-sandbox-local",
                "PAYPAL-TRANSMISSION-ID": transmission_id,
                "PAYPAL-TRANSMISSION-TIME": when,
                "PAYPAL-TRANSMISSION-SIG": self._sign(transmission_id, when, webhook_id, body),
                "PAYPAL-CERT-URL": self.cert_url,
                "PAYPAL-AUTH-ALGO": AUTH_ALGO,
                "PAYPAL-AUTH-VERSION": "v2",
            },
        )
        self._deliveries[transmission_id] = delivery
        threading.Thread(
            target=self._deliver,
            args=(delivery,),
            daemon=True,
            name=f"paypal-webhook-{transmission_id[:8]}",
        ).start()
        return delivery

    def _deliver(self, delivery: Delivery) -> None:
        delays = (0.0, *self._retry_delays)
        for attempt, delay in enumerate(delays, start=1):
            if self._stopping.wait(delay):
                return
            status, error = self._post(delivery)
            ok = status is not None and 200 <= status < 300
            with self._cond:
                delivery.attempts.append({"at": _now(), "status": status, "error": error})
                if ok or attempt == len(delays):
                    delivery.state = "delivered" if ok else "failed"
                self._cond.notify_all()
            if ok:
                return

    def _post(self, delivery: Delivery) -> tuple[int | None, str | None]:
        parts = urlsplit(delivery.url)
        connection = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )(parts.netloc, timeout=self._delivery_timeout)
        target = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        try:
            # http.client never follows redirects, and neither does PayPal.
            connection.request("POST", target, body=delivery.body, headers=delivery.headers)
            response = connection.getresponse()
            response.read()
            return response.status, None
        except OSError as exc:
            return None, f"{type(exc).__name__}: {exc}"
        finally:
            connection.close()

    def redeliver(self, transmission_id: str) -> dict[str, Any]:
        """Send a delivered event again, in a new transmission (a duplicate delivery)."""
        with self._cond:
            original = self._deliveries.get(transmission_id)
            if original is None:
                raise paypal_error(
                    404,
                    "RESOURCE_NOT_FOUND",
                    "INVALID_RESOURCE_ID",
                    "transmission_id",
                    location="path",
                )
            return self._transmit(original.webhook_id, original.url, original.event).snapshot()

    def deliveries(self) -> list[dict[str, Any]]:
        with self._cond:
            return [delivery.snapshot() for delivery in self._deliveries.values()]

    def wait_for_deliveries(
        self,
        event_type: str | None = None,
        count: int = 1,
        timeout: float = 10.0,
        state: str = "delivered",
    ) -> list[dict[str, Any]]:
        """Block until `count` transmissions of `event_type` reached `state`; return them."""

        def matching() -> list[Delivery]:
            return [
                d
                for d in self._deliveries.values()
                if d.state == state and event_type in (None, d.event["event_type"])
            ]

        with self._cond:
            if not self._cond.wait_for(lambda: len(matching()) >= count, timeout):
                raise TimeoutError(f"{count} × {event_type or 'event'} not {state} in time")
            return [delivery.snapshot() for delivery in matching()]

    def verify_signature(self, body: dict[str, Any]) -> dict[str, str]:
        """`POST /v1/notifications/verify-webhook-signature`: SUCCESS only for our own sends."""
        missing = [name for name in _VERIFY_FIELDS if not isinstance(body.get(name), str)]
        if not isinstance(body.get("webhook_event"), dict):
            missing.append("webhook_event")
        if missing:
            raise paypal_error(400, "VALIDATION_ERROR", "MISSING_REQUIRED_FIELD", f"/{missing[0]}")
        with self._cond:
            delivery = self._deliveries.get(body["transmission_id"])
            ok = delivery is not None and self._matches(delivery, body)
        return {"verification_status": "SUCCESS" if ok else "FAILURE"}

    def _matches(self, delivery: Delivery, claim: dict[str, Any]) -> bool:
        expected = self._sign(
            delivery.transmission_id, claim["transmission_time"], claim["webhook_id"], delivery.body
        )
        # The signature binds the claimed time and webhook id to the body we really sent.
        return (
            hmac.compare_digest(claim["transmission_sig"].encode(), expected.encode())
            and claim["auth_algo"] == AUTH_ALGO
            and claim["cert_url"] == self.cert_url
            and claim["webhook_event"] == delivery.event
        )

    # HTTP -----------------------------------------------------------------------------------

    def dispatch(self, method: str, target: str, headers: Message, body: bytes) -> Reply:
        parts = urlsplit(target)
        known_path = False
        for route_method, pattern, handler, needs_token in _ROUTES:
            match = pattern.fullmatch(parts.path)
            if match is None:
                continue
            known_path = True
            if route_method != method:
                continue
            request = Request(
                method, parts.path, dict(parse_qsl(parts.query)), headers, body, match.groupdict()
            )
            try:
                if needs_token:
                    self.check_bearer(headers.get("Authorization"))
                return handler(self, request)
            except ApiError as exc:
                return json_reply(exc.status, exc.body)
        return json_reply(405 if known_path else 404, {"name": "NOT_FOUND", "message": "No route"})


# routes -------------------------------------------------------------------------------------


def _token(sandbox: PayPalSandbox, request: Request) -> Reply:
    grant = request.form().get("grant_type")
    return json_reply(200, sandbox.issue_token(request.headers.get("Authorization"), grant))


def _create_webhook(sandbox: PayPalSandbox, request: Request) -> Reply:
    return json_reply(201, sandbox.create_webhook(request.json()))


def _list_webhooks(sandbox: PayPalSandbox, request: Request) -> Reply:
    return json_reply(200, sandbox.list_webhooks())


def _verify(sandbox: PayPalSandbox, request: Request) -> Reply:
    return json_reply(200, sandbox.verify_signature(request.json()))


def _create_order(sandbox: PayPalSandbox, request: Request) -> Reply:
    return sandbox.create_order(request.json(), request.headers.get("PayPal-Request-Id"))


def _get_order(sandbox: PayPalSandbox, request: Request) -> Reply:
    return json_reply(200, sandbox.order(request.params["order_id"]))


def _capture(sandbox: PayPalSandbox, request: Request) -> Reply:
    return sandbox.capture(request.params["order_id"], request.headers.get("PayPal-Request-Id"))


def _refund(sandbox: PayPalSandbox, request: Request) -> Reply:
    return sandbox.refund(
        request.params["capture_id"],
        request.headers.get("PayPal-Request-Id"),
        request.json() if request.body else None,
    )


def _html(status: int, title: str, content: str) -> Reply:
    page = (
        '<!doctype html><html lang="de"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem}"
        "button{display:block;width:100%;margin:.5rem 0;padding:.8rem;font-size:1rem}"
        ".hint{color:#555;font-size:.9rem}</style></head><body><main>"
        f"{content}</main></body></html>"
    )
    return Reply(status, page.encode(), "text/html; charset=utf-8", {"Cache-Control": "no-store"})


def _button_form(action: str, order_id: str, testid: str, label: str, extra: str = "") -> str:
    return (
        f'<form method="post" action="{action}">'
        f'<input type="hidden" name="token" value="{html.escape(order_id)}">{extra}'
        f'<button type="submit" data-testid="{testid}">{html.escape(label)}</button></form>'
    )


def _page(sandbox: PayPalSandbox, request: Request) -> Reply:
    order_id = request.query.get("token", "")
    try:
        order = sandbox.order(order_id)
    except ApiError:
        return _html(404, "PayPal Sandbox", "<h1>Diese Zahlung gibt es nicht.</h1>")
    unit = order["purchase_units"][0]
    experience = sandbox.experience(order_id)
    brand = experience.get("brand_name", "SIDES GmbH")
    heading = f"PayPal Sandbox – Zahlung an {brand}: {_german_amount(unit['amount']['value'])}"
    lines = [f"<h1>{html.escape(heading)}</h1>"]
    for label, key in (("", "description"), ("Rechnung ", "invoice_id")):
        if unit.get(key):
            lines.append(f"<p>{html.escape(label + unit[key])}</p>")
    if order["status"] in ("CREATED", "PAYER_ACTION_REQUIRED"):
        pay = "Jetzt bezahlen" if experience.get("user_action") == "PAY_NOW" else "Weiter"
        lines += [
            _button_form("/checkoutnow/approve", order_id, "paypal-approve", pay),
            _button_form(
                "/checkoutnow/cancel", order_id, "paypal-cancel", f"Abbrechen und zurück zu {brand}"
            ),
            _button_form(
                "/checkoutnow/approve",
                order_id,
                "paypal-deny",
                "Zahlung wird abgelehnt (Test)",
                '<input type="hidden" name="deny" value="1">',
            ),
        ]
    else:
        lines.append(f"<p>Diese Zahlung ist nicht mehr offen ({html.escape(order['status'])}).</p>")
    lines.append('<p class="hint">Lokale Testumgebung – es wird kein echtes Geld bewegt.</p>')
    return _html(200, "PayPal Sandbox", "".join(lines))


def _redirect_or_page(location: str | None, text: str) -> Reply:
    if location is None:
        return _html(200, "PayPal Sandbox", f"<h1>{html.escape(text)}</h1>")
    return Reply(303, b"", "text/plain", {"Location": location, "Cache-Control": "no-store"})


def _page_approve(sandbox: PayPalSandbox, request: Request) -> Reply:
    form = request.form()
    location = sandbox.approve(form.get("token", ""), deny=form.get("deny") == "1")
    return _redirect_or_page(location, "Zahlung bestätigt. Du kannst dieses Fenster schließen.")


def _page_cancel(sandbox: PayPalSandbox, request: Request) -> Reply:
    location = sandbox.cancel(request.form().get("token", ""))
    return _redirect_or_page(location, "Zahlung abgebrochen.")


def _hook_approve(sandbox: PayPalSandbox, request: Request) -> Reply:
    body, order_id = request.json(), request.params["order_id"]
    location = sandbox.approve(
        order_id,
        deny=body.get("deny") is True,
        instrument_declined=body.get("instrument_declined") is True,
    )
    status = sandbox.order(order_id)["status"]
    return json_reply(200, {"id": order_id, "status": status, "redirect_url": location})


def _hook_void(sandbox: PayPalSandbox, request: Request) -> Reply:
    sandbox.void(request.params["order_id"])
    return json_reply(200, sandbox.order(request.params["order_id"]))


def _hook_redeliver(sandbox: PayPalSandbox, request: Request) -> Reply:
    return json_reply(200, sandbox.redeliver(request.params["transmission_id"]))


def _hook_delay(sandbox: PayPalSandbox, request: Request) -> Reply:
    seconds = request.json().get("seconds")
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        raise _invalid("INVALID_PARAMETER_VALUE", "/seconds")
    sandbox.delay_next_capture(seconds)
    return json_reply(200, {"delay_next_capture": seconds})


def _hook_expire(sandbox: PayPalSandbox, request: Request) -> Reply:
    sandbox.expire_tokens()
    return json_reply(200, {"expired": True})


def _hook_deliveries(sandbox: PayPalSandbox, request: Request) -> Reply:
    return json_reply(200, {"deliveries": sandbox.deliveries()})


def _hook_stats(sandbox: PayPalSandbox, request: Request) -> Reply:
    return json_reply(200, sandbox.stats())


Handler = Callable[[PayPalSandbox, Request], Reply]
_ORDER = r"(?P<order_id>[A-Z0-9]{1,36})"
_ROUTES: list[tuple[str, re.Pattern[str], Handler, bool]] = [
    (method, re.compile(path), handler, needs_token)
    for method, path, handler, needs_token in (
        ("POST", r"/v1/oauth2/token", _token, False),
        ("POST", r"/v1/notifications/webhooks", _create_webhook, True),
        ("GET", r"/v1/notifications/webhooks", _list_webhooks, True),
        ("POST", r"/v1/notifications/verify-webhook-signature", _verify, True),
        ("POST", r"/v2/checkout/orders", _create_order, True),
        ("GET", rf"/v2/checkout/orders/{_ORDER}", _get_order, True),
        ("POST", rf"/v2/checkout/orders/{_ORDER}/capture", _capture, True),
        ("POST", r"/v2/payments/captures/(?P<capture_id>[A-Z0-9]{1,36})/refund", _refund, True),
        ("GET", r"/checkoutnow", _page, False),
        ("POST", r"/checkoutnow/approve", _page_approve, False),
        ("POST", r"/checkoutnow/cancel", _page_cancel, False),
        ("POST", rf"/_sandbox/approve/{_ORDER}", _hook_approve, False),
        ("POST", rf"/_sandbox/void/{_ORDER}", _hook_void, False),
        ("POST", r"/_sandbox/redeliver/(?P<transmission_id>[\w-]{1,64})", _hook_redeliver, False),
        ("POST", r"/_sandbox/delay-next-capture", _hook_delay, False),
        ("POST", r"/_sandbox/expire-tokens", _hook_expire, False),
        ("GET", r"/_sandbox/deliveries", _hook_deliveries, False),
        ("GET", r"/_sandbox/stats", _hook_stats, False),
    )
]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], sandbox: PayPalSandbox) -> None:
        self.sandbox = sandbox
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A browser that leaves the approval page mid-answer is no error of the sandbox's.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # tokens and order ids travel in paths and headers

    def _handle(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            reply = json_reply(400, {"name": "INVALID_REQUEST", "message": "Bad Content-Length"})
        else:
            body = self.rfile.read(length) if length else b""
            reply = self.server.sandbox.dispatch(self.command, self.path, self.headers, body)
        if reply.delay:
            self.server.sandbox.stopping.wait(reply.delay)
        self.send_response(reply.status)
        for name, value in {"Content-Type": reply.content_type, **reply.headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle


def start(port: int = 0, **kwargs: Any) -> PayPalSandbox:
    """Start a sandbox (`kwargs` as for `PayPalSandbox`, with local default credentials)."""
    kwargs.setdefault("client_id", "sandbox-client")
    kwargs.setdefault("client_secret", "sandbox-secret-local")
    return PayPalSandbox(**kwargs).start(port)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Lokale PayPal-Sandbox (REST-Stand-in)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--client-id", default="sandbox-client")
    parser.add_argument("--client-secret", default="sandbox-secret-local")
    parser.add_argument(
        "--webhook-url",
        action="append",
        default=[],
        help="subscribe this URL to all events (repeatable)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sandbox = PayPalSandbox(args.client_id, args.client_secret).start(args.port)
    webhooks = {url: sandbox.register_webhook(url) for url in args.webhook_url}
    # One JSON line on stdout, so a parent process can read the URL and webhook ids.
    sys.stdout.write(json.dumps({"url": sandbox.url, "webhook_ids": webhooks}) + "\n")
    sys.stdout.flush()
    log.info("PayPal-Sandbox läuft unter %s", sandbox.url)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
