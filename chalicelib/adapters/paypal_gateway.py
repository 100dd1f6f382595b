"""PayPal REST adapter: OAuth2 client credentials, Orders v2 and webhook verification."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

import requests

from chalicelib.domain.errors import (
    InvalidPayloadError,
    InvalidSignatureError,
    ProviderError,
    ServiceUnavailableError,
)
from chalicelib.domain.payments import Payment, ProviderStatus, ProviderUpdate
from chalicelib.services.ports import PaymentRequest

log = logging.getLogger("portal.paypal")

CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 10.0
# Refresh this long before PayPal's expires_in ends, so a token never expires in flight.
TOKEN_MARGIN_S = 300.0

PROVIDER = "paypal"
ORDER_STATUS = {
    "CREATED": ProviderStatus.AWAITING_PAYER,
    "SAVED": ProviderStatus.AWAITING_PAYER,
    "PAYER_ACTION_REQUIRED": ProviderStatus.AWAITING_PAYER,
    "APPROVED": ProviderStatus.READY_TO_COLLECT,
    "COMPLETED": ProviderStatus.SUCCEEDED,
    "VOIDED": ProviderStatus.CANCELED,
}
# A capture's status outranks its order's: PayPal documents COMPLETED orders whose only
# capture was DECLINED. A partial refund leaves the payment succeeded for us.
CAPTURE_STATUS = {
    "COMPLETED": ProviderStatus.SUCCEEDED,
    "PARTIALLY_REFUNDED": ProviderStatus.SUCCEEDED,
    "REFUNDED": ProviderStatus.REFUNDED,
    "PENDING": ProviderStatus.PROCESSING,
    "DECLINED": ProviderStatus.FAILED,
    "FAILED": ProviderStatus.FAILED,
}
WEBHOOK_TYPES = {
    "CHECKOUT.ORDER.APPROVED": ProviderStatus.READY_TO_COLLECT,
    "PAYMENT.CAPTURE.COMPLETED": ProviderStatus.SUCCEEDED,
    "PAYMENT.CAPTURE.DENIED": ProviderStatus.FAILED,
    "PAYMENT.CAPTURE.DECLINED": ProviderStatus.FAILED,
    "PAYMENT.CAPTURE.REFUNDED": ProviderStatus.REFUNDED,
}
REFUND_STATUS = {
    "COMPLETED": ProviderStatus.REFUNDED,
    "PENDING": ProviderStatus.PROCESSING,
    "FAILED": ProviderStatus.FAILED,
    "CANCELLED": ProviderStatus.FAILED,
}
TRANSMISSION_HEADERS = {
    "auth_algo": "paypal-auth-algo",
    "cert_url": "paypal-cert-url",
    "transmission_id": "paypal-transmission-id",
    "transmission_sig": "paypal-transmission-sig",
    "transmission_time": "paypal-transmission-time",
}
# Capture answers that mean "nothing (more) to capture": the order itself tells the truth.
READ_ORDER_ISSUES = {"ORDER_ALREADY_CAPTURED", "ORDER_NOT_APPROVED", "ORDER_COMPLETED_OR_VOIDED"}


class PayPalError(ProviderError):
    """PayPal refused a request, or answered in a shape we do not understand; no retry helps."""

    def __init__(
        self,
        status: int | None = None,
        name: str | None = None,
        issue: str | None = None,
        debug_id: str | None = None,
    ) -> None:
        super().__init__()
        self.status = status
        self.error_name = name
        self.issue = issue
        self.debug_id = debug_id


def cents_to_value(amount_cents: int) -> str:
    """Integer cents as PayPal's decimal string: 5831 → "58.31", 5 → "0.05"."""
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or amount_cents <= 0:
        raise ValueError("amount_cents must be a positive integer")
    return str(Decimal(amount_cents).scaleb(-2).quantize(Decimal("0.01")))


def value_to_cents(value: str) -> int:
    """PayPal's decimal string as integer cents, exactly; sub-cent values are refused."""
    try:
        cents = Decimal(value).scaleb(2)
    except (InvalidOperation, TypeError) as exc:
        raise ValueError(f"not an amount: {value!r}") from exc
    if not cents.is_finite() or cents != cents.to_integral_value():
        raise ValueError(f"not a whole number of cents: {value!r}")
    return int(cents)


def _status(
    order_status: str, capture: Mapping[str, Any] | None
) -> tuple[ProviderStatus, str | None]:
    if capture is None:
        return ORDER_STATUS.get(order_status, ProviderStatus.AWAITING_PAYER), None
    capture_status = str(capture.get("status", ""))
    status = CAPTURE_STATUS.get(capture_status, ProviderStatus.PROCESSING)
    failed = status == ProviderStatus.FAILED
    return status, f"capture_{capture_status.lower()}" if failed else None


def _link(order: Mapping[str, Any], *rels: str) -> str | None:
    for link in order.get("links") or []:
        if link.get("rel") in rels:
            return str(link["href"])
    return None


def _captures(order: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    unit = order["purchase_units"][0]
    return list((unit.get("payments") or {}).get("captures") or [])


def order_update(order: Mapping[str, Any]) -> ProviderUpdate:
    """An Orders v2 order in the portal's words."""
    try:
        unit = order["purchase_units"][0]
        captures = _captures(order)
        capture = captures[-1] if captures else None
        amount = unit.get("amount") or (capture or {})["amount"]
        status, failure_code = _status(str(order["status"]), capture)
        return ProviderUpdate(
            provider=PROVIDER,
            provider_ref=str(order["id"]),
            status=status,
            amount_cents=value_to_cents(amount["value"]),
            currency=str(amount["currency_code"]).upper(),
            payment_id=unit.get("custom_id") or (capture or {}).get("custom_id"),
            approve_url=_link(order, "approve", "payer-action"),
            failure_code=failure_code,
        )
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
        raise PayPalError(name="UNEXPECTED_RESPONSE") from exc


def webhook_update(event: Mapping[str, Any]) -> ProviderUpdate | None:
    """A verified PayPal event as provider news; None for types the portal ignores."""
    status = WEBHOOK_TYPES.get(str(event.get("event_type")))
    if status is None:
        return None
    try:
        resource = event["resource"]
        if status == ProviderStatus.READY_TO_COLLECT:
            unit = resource["purchase_units"][0]
            order_id, payment_id, amount = (
                str(resource["id"]),
                unit.get("custom_id"),
                unit["amount"],
            )
        else:
            related = (resource.get("supplementary_data") or {}).get("related_ids") or {}
            order_id, payment_id = str(related["order_id"]), resource.get("custom_id")
            amount = resource["amount"]
        return ProviderUpdate(
            provider=PROVIDER,
            provider_ref=order_id,
            status=status,
            amount_cents=value_to_cents(amount["value"]),
            currency=str(amount["currency_code"]).upper(),
            payment_id=payment_id,
            event_id=str(event["id"]),
            event_type=str(event["event_type"]),
            failure_code="instrument_declined" if status == ProviderStatus.FAILED else None,
        )
    except (KeyError, TypeError, IndexError, AttributeError, ValueError) as exc:
        raise InvalidPayloadError() from exc


def _json_object(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _issue(response: requests.Response) -> str | None:
    details = _json_object(response).get("details")
    if isinstance(details, list) and details and isinstance(details[0], dict):
        issue = details[0].get("issue")
        return str(issue) if issue is not None else None
    return None


class PayPalRestGateway:
    """PayPalGateway over PayPal's REST API with one `requests.Session`.

    The OAuth2 access token is cached (thread-safe) until shortly before it expires and
    fetched again once when PayPal answers 401. Connection errors, timeouts, 429 and 5xx raise
    `ServiceUnavailableError`; other refusals raise `PayPalError`. Amounts are integer cents
    on our side and exact decimal strings on PayPal's.
    """

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        webhook_id: str,
        *,
        brand_name: str = "SIDES GmbH",
        connect_timeout: float = CONNECT_TIMEOUT_S,
        read_timeout: float = READ_TIMEOUT_S,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._webhook_id = webhook_id
        self._brand_name = brand_name
        self._timeout = (connect_timeout, read_timeout)
        self._session = requests.Session()
        self._lock = threading.Lock()
        self._token: str | None = None
        self._token_expires_at = 0.0

    def close(self) -> None:
        self._session.close()

    # transport ------------------------------------------------------------------------------

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            response = self._session.request(
                method, self._base_url + path, timeout=self._timeout, **kwargs
            )
            if response.status_code >= 500 or response.status_code == 429:
                response.raise_for_status()
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.HTTPError,
            requests.exceptions.ChunkedEncodingError,
        ) as exc:
            log.warning("PayPal unavailable for %s %s: %s", method, path, type(exc).__name__)
            raise ServiceUnavailableError() from exc
        return response

    def _fetch_token(self) -> tuple[str, float]:
        response = self._send(
            "POST",
            "/v1/oauth2/token",
            auth=(self._client_id, self._client_secret),
            data={"grant_type": "client_credentials"},
            headers={"Accept": "application/json"},
        )
        if response.status_code != 200:
            raise self._error("POST", "/v1/oauth2/token", response)
        body = _json_object(response)
        if not isinstance(body.get("access_token"), str):
            raise PayPalError(status=response.status_code, name="UNEXPECTED_RESPONSE")
        ttl = float(body.get("expires_in") or 0)
        return body["access_token"], time.monotonic() + max(ttl - TOKEN_MARGIN_S, ttl / 2)

    def _access_token(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() >= self._token_expires_at:
                self._token, self._token_expires_at = self._fetch_token()
            return self._token

    def _forget(self, token: str) -> None:
        with self._lock:
            if self._token == token:
                self._token = None

    def _call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        def send(token: str) -> requests.Response:
            return self._send(
                method,
                path,
                json=body,
                headers={
                    "Authorization": f"Bearer {token}",
                    "Content-Type": "application/json",
                    "Prefer": "return=representation",
                    **(headers or {}),
                },
            )

        token = self._access_token()
        response = send(token)
        if response.status_code == 401:
            # PayPal may revoke a token before expires_in; one fresh token, then give up.
            self._forget(token)
            response = send(self._access_token())
        return response

    def _error(self, method: str, path: str, response: requests.Response) -> PayPalError:
        body = _json_object(response)
        name = body.get("name") or body.get("error")
        error = PayPalError(response.status_code, name, _issue(response), body.get("debug_id"))
        log.warning(
            "PayPal refused %s %s: %s %s %s (debug_id %s)",
            method,
            path,
            response.status_code,
            error.error_name,
            error.issue,
            error.debug_id,
        )
        return error

    def _order_path(self, order_id: str) -> str:
        return f"/v2/checkout/orders/{quote(order_id, safe='')}"

    # PayPalGateway --------------------------------------------------------------------------

    # PaymentProvider -------------------------------------------------------------------------

    name = PROVIDER

    def start(self, request: PaymentRequest) -> ProviderUpdate:
        return self.create_order(
            payment_id=request.payment_id,
            reference=request.reference,
            description=request.description,
            amount_cents=request.amount_cents,
            currency=request.currency,
            # The page knows from these markers that the owner comes back from PayPal.
            return_url=f"{request.return_url}&paypal=return",
            cancel_url=f"{request.cancel_url}&paypal=cancel",
        )

    def read(self, payment: Payment) -> ProviderUpdate | None:
        if not payment.provider_ref:
            return None  # a start is repeated under the same PayPal-Request-Id instead
        return self.get_order(payment.provider_ref)

    def collect(self, payment: Payment, details: Mapping[str, str]) -> ProviderUpdate:
        if not payment.provider_ref:
            raise InvalidPayloadError()
        return self.capture_order(payment.provider_ref, request_id=f"cap-{payment.id}")

    def cancel(self, payment: Payment) -> ProviderUpdate:
        """PayPal cannot void a checkout order; an order we will never capture moves no
        money, so it is only reported canceled unless it was captured already."""
        current = self.read(payment)
        if current is not None and current.status in (
            ProviderStatus.SUCCEEDED,
            ProviderStatus.PROCESSING,
            ProviderStatus.REFUNDED,
        ):
            return current
        return ProviderUpdate(
            PROVIDER, payment.provider_ref, ProviderStatus.CANCELED, payment.amount_cents,
            payment.currency, payment_id=payment.id,
        )  # fmt: skip

    def refund(
        self, payment: Payment, idempotency_key: str, amount_cents: int | None = None
    ) -> ProviderUpdate:
        if not payment.provider_ref:
            raise InvalidPayloadError()
        order = self._order(payment.provider_ref)
        captures = [
            c
            for c in _captures(order)
            if c.get("status") in ("COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED")
        ]
        if not captures:
            raise PayPalError(name="NOTHING_TO_REFUND")
        capture_id = quote(str(captures[-1]["id"]), safe="")
        path = f"/v2/payments/captures/{capture_id}/refund"
        body: dict[str, Any] = {}
        if amount_cents is not None:
            value = cents_to_value(amount_cents)
            body["amount"] = {"value": value, "currency_code": payment.currency.upper()}
        response = self._call("POST", path, body, {"PayPal-Request-Id": idempotency_key})
        issue = _issue(response) if response.status_code == 422 else None
        if issue == "CAPTURE_FULLY_REFUNDED":
            status = ProviderStatus.REFUNDED
        elif response.status_code in (200, 201):
            body = _json_object(response)
            status = REFUND_STATUS.get(str(body.get("status")), ProviderStatus.PROCESSING)
        else:
            raise self._error("POST", path, response)
        return ProviderUpdate(
            PROVIDER, payment.provider_ref, status, payment.amount_cents, payment.currency,
            payment_id=payment.id,
        )  # fmt: skip

    def charge_saved(
        self,
        payment: Payment,
        customer: str,
        method_ref: str,
        metadata: Mapping[str, str],
        idempotency_key: str,
    ) -> ProviderUpdate:
        raise PayPalError(name="SAVED_METHODS_NOT_SUPPORTED")

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> ProviderUpdate | None:
        if not self.verify_webhook(headers, body):
            raise InvalidSignatureError()
        try:
            event = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidPayloadError() from exc
        if not isinstance(event, dict):
            raise InvalidPayloadError()
        return webhook_update(event)

    # Orders v2 -------------------------------------------------------------------------------

    def create_order(
        self,
        *,
        payment_id: str,
        reference: str,
        description: str,
        amount_cents: int,
        currency: str,
        return_url: str,
        cancel_url: str,
    ) -> ProviderUpdate:
        body = {
            "intent": "CAPTURE",
            "purchase_units": [
                {
                    "reference_id": payment_id,
                    "custom_id": payment_id,
                    "invoice_id": reference[:127],
                    "description": description[:127],
                    "amount": {
                        "currency_code": currency.upper(),
                        "value": cents_to_value(amount_cents),
                    },
                }
            ],
            "payment_source": {
                "paypal": {
                    "experience_context": {
                        "brand_name": self._brand_name,
                        "locale": "de-DE",
                        "shipping_preference": "NO_SHIPPING",
                        "user_action": "PAY_NOW",
                        "return_url": return_url,
                        "cancel_url": cancel_url,
                    }
                }
            },
        }
        path = "/v2/checkout/orders"
        response = self._call("POST", path, body, {"PayPal-Request-Id": f"order-{payment_id}"})
        if response.status_code not in (200, 201):
            raise self._error("POST", path, response)
        return order_update(response.json())

    def _order(self, order_id: str) -> Mapping[str, Any]:
        path = self._order_path(order_id)
        response = self._call("GET", path)
        if response.status_code != 200:
            raise self._error("GET", path, response)
        return _json_object(response)

    def get_order(self, order_id: str) -> ProviderUpdate:
        return order_update(self._order(order_id))

    def capture_order(self, order_id: str, request_id: str) -> ProviderUpdate:
        path = f"{self._order_path(order_id)}/capture"
        response = self._call("POST", path, headers={"PayPal-Request-Id": request_id})
        if response.status_code in (200, 201):
            return order_update(response.json())
        issue = _issue(response) if response.status_code == 422 else None
        if issue == "INSTRUMENT_DECLINED":
            order = self.get_order(order_id)
            return dataclasses.replace(
                order, status=ProviderStatus.FAILED, failure_code="instrument_declined"
            )
        if issue in READ_ORDER_ISSUES:
            return self.get_order(order_id)
        raise self._error("POST", path, response)

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> bool:
        received = {name.lower(): value for name, value in headers.items()}
        claim = {field: received.get(header) for field, header in TRANSMISSION_HEADERS.items()}
        if not all(claim.values()):
            return False
        try:
            event = json.loads(body)
        except ValueError:
            return False
        if not isinstance(event, dict):
            return False
        path = "/v1/notifications/verify-webhook-signature"
        payload = {**claim, "webhook_id": self._webhook_id, "webhook_event": event}
        response = self._call("POST", path, payload)
        if response.status_code in (400, 422):
            return False
        if response.status_code != 200:
            raise self._error("POST", path, response)
        return _json_object(response).get("verification_status") == "SUCCESS"
