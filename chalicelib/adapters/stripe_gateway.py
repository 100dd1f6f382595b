"""Stripe through the official SDK: customers, PaymentIntents, webhook signatures.

Written for Stripe's documented behaviour. Emulators may ignore Idempotency-Key, so the
callers never rely on it alone: every intent belongs to one payment row written first, and
an intent is confirmed only while Stripe says it still needs confirming.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import stripe

from chalicelib.domain.errors import (
    InvalidPayloadError,
    InvalidSignatureError,
    ProviderError,
    ServiceUnavailableError,
)
from chalicelib.domain.payments import Payment, ProviderStatus, ProviderUpdate
from chalicelib.domain.stores import SavedCard
from chalicelib.services.ports import PaymentRequest

TOLERANCE_S = 300
PROVIDER = "stripe"
_STATUS = {
    "requires_payment_method": ProviderStatus.AWAITING_PAYER,
    "requires_confirmation": ProviderStatus.AWAITING_PAYER,
    "requires_capture": ProviderStatus.PROCESSING,
    "processing": ProviderStatus.PROCESSING,
    "requires_action": ProviderStatus.REQUIRES_ACTION,
    "succeeded": ProviderStatus.SUCCEEDED,
    "canceled": ProviderStatus.CANCELED,
}
WEBHOOK_TYPES = {
    "payment_intent.succeeded": ProviderStatus.SUCCEEDED,
    "payment_intent.payment_failed": ProviderStatus.FAILED,
    "payment_intent.canceled": ProviderStatus.CANCELED,
    "payment_intent.requires_action": ProviderStatus.REQUIRES_ACTION,
}


def verify_signature(
    body: bytes, header: str | None, secret: str, now: float, tolerance_s: int = TOLERANCE_S
) -> None:
    """Stripe-Signature: t=<unix>,v1=<hex hmac-sha256 of "t.body">[,v1=…]; any v1 may match.
    Timestamps too far in the past or the future are both refused."""
    if not header:
        raise InvalidSignatureError()
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates or abs(now - timestamp) > tolerance_s:
        raise InvalidSignatureError()
    expected = hmac.new(
        secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise InvalidSignatureError()


def intent_update(intent: Any) -> ProviderUpdate:
    """A PaymentIntent (SDK object or plain dict) in the portal's words."""
    data = intent.to_dict() if hasattr(intent, "to_dict") else dict(intent)
    error = data.get("last_payment_error") or {}
    status = _STATUS.get(str(data.get("status")), ProviderStatus.PROCESSING)
    # A failed attempt leaves the intent waiting for a new card; for us this attempt failed.
    if data.get("status") == "requires_payment_method" and error:
        status = ProviderStatus.FAILED
    metadata = data.get("metadata") or {}
    return ProviderUpdate(
        provider=PROVIDER,
        provider_ref=str(data["id"]),
        status=status,
        amount_cents=int(data["amount"]),
        currency=str(data["currency"]).upper(),
        payment_id=metadata.get("payment_id"),
        store_id=metadata.get("store_id"),
        invoice_id=metadata.get("invoice_id"),
        client_secret=data.get("client_secret"),
        failure_code=(error.get("decline_code") or error.get("code")) if error else None,
        reusable_method=data.get("payment_method") or None,
    )


def webhook_update(event: Mapping[str, Any]) -> ProviderUpdate | None:
    """A verified Stripe event as provider news; None for types the portal ignores."""
    status = WEBHOOK_TYPES.get(str(event.get("type")))
    if status is None:
        return None
    try:
        update = intent_update(event["data"]["object"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidPayloadError() from exc
    return dataclasses.replace(
        update,
        status=status,
        event_id=str(event["id"]),
        event_type=str(event["type"]),
        client_secret=None,
        failure_code=update.failure_code if status == ProviderStatus.FAILED else None,
    )


def _metadata(obj: Any) -> dict[str, Any]:
    """An SDK object's metadata as a plain dict (StripeObjects are no dicts)."""
    metadata = getattr(obj, "metadata", None)
    if metadata is None:
        return {}
    return dict(metadata.to_dict() if hasattr(metadata, "to_dict") else metadata)


def _retry_after(headers: Mapping[str, str], attempt: int) -> float:
    backoff: float = min(8.0, 0.25 * 2.0**attempt)
    value = headers.get("retry-after") or headers.get("Retry-After")
    try:
        return backoff if value is None else max(0.0, float(str(value)))
    except ValueError:
        return backoff


def _declined(exc: stripe.CardError, payment: Payment) -> ProviderUpdate:
    error = exc.error
    intent = getattr(error, "payment_intent", None) if error else None
    code = (getattr(error, "decline_code", None) if error else None) or exc.code or "card_declined"
    # A decline may come without an intent (the error carries none): no reference then.
    return ProviderUpdate(
        provider=PROVIDER,
        provider_ref=str(intent["id"]) if intent else None,
        status=ProviderStatus.FAILED,
        amount_cents=payment.amount_cents,
        currency=payment.currency,
        payment_id=payment.id,
        failure_code=code,
    )


class StripeCardGateway:
    """PaymentProvider (cards) and CardVault on the stripe SDK, pointed at the configured
    API base."""

    name = PROVIDER

    def __init__(
        self,
        secret_key: str,
        webhook_secret: str,
        api_base: str | None = None,
        clock: Callable[[], float] = time.time,
        charge_retries: int = 6,
        sleep: Callable[[float], None] = time.sleep,
        timeout_s: float = 10.0,
    ) -> None:
        bases: Any = {"api": api_base} if api_base else {}
        http: Any = stripe.RequestsClient(timeout=(3.0, timeout_s))
        self._client = stripe.StripeClient(
            secret_key, base_addresses=bases, max_network_retries=2, http_client=http
        )
        # Off-session charges run in bulk and retry 429s themselves (the SDK ignores
        # Retry-After), so this client must not retry on its own as well.
        self._charge_client = stripe.StripeClient(
            secret_key, base_addresses=bases, max_network_retries=0, http_client=http
        )
        self._charge_retries = charge_retries
        self._sleep = sleep
        self._webhook_secret = webhook_secret
        self._now = clock

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
            raise ServiceUnavailableError() from exc
        except stripe.APIError as exc:
            raise ServiceUnavailableError() from exc
        except stripe.InvalidRequestError as exc:
            # e.g. an intent Stripe does not know (any more): no retry helps
            raise ProviderError() from exc

    # PaymentProvider ---------------------------------------------------------------------
    def start(self, request: PaymentRequest) -> ProviderUpdate:
        intent = self._call(
            self._client.v1.payment_intents.create,
            params={
                "amount": request.amount_cents,
                "currency": request.currency.lower(),
                "customer": request.customer(),
                # The description rides in the metadata: emulators refuse the field.
                "metadata": {**request.metadata, "description": request.description[:500]},
                "payment_method_types": ["card"],
            },
            options={"idempotency_key": f"pay-{request.payment_id}"},
        )
        return intent_update(intent)

    def read(self, payment: Payment) -> ProviderUpdate | None:
        if payment.provider_ref:
            intent = self._call(self._client.v1.payment_intents.retrieve, payment.provider_ref)
            return intent_update(intent)
        return self._find(payment.id)

    def collect(self, payment: Payment, details: Mapping[str, str]) -> ProviderUpdate:
        """Puts the tokenized card on the intent and confirms it, but only while Stripe says
        the intent still needs confirming: a repeat never charges twice."""
        if not payment.provider_ref:
            raise InvalidPayloadError()
        raw = self._call(self._client.v1.payment_intents.retrieve, payment.provider_ref)
        current = intent_update(raw)
        token = details.get("token")
        if not token or raw.status not in ("requires_payment_method", "requires_confirmation"):
            return current
        key = f"pay-{payment.id}-confirm"
        try:
            card = self._client.v1.customers.payment_sources.create(
                str(raw.customer),
                params={"source": token},
                options={"idempotency_key": f"{key}-src"},
            )
            self._client.v1.payment_intents.update(
                payment.provider_ref, params={"payment_method": card.id}
            )
            intent = self._client.v1.payment_intents.confirm(
                payment.provider_ref, options={"idempotency_key": key}
            )
        except (stripe.CardError, stripe.InvalidRequestError) as exc:
            code = getattr(exc, "code", None) or "card_declined"
            return dataclasses.replace(current, status=ProviderStatus.FAILED, failure_code=code)
        except (stripe.APIConnectionError, stripe.APIError) as exc:
            raise ServiceUnavailableError() from exc
        return intent_update(intent)

    def cancel(self, payment: Payment) -> ProviderUpdate:
        if not payment.provider_ref:
            found = self._find(payment.id)
            if found is None or found.provider_ref is None:
                return ProviderUpdate(
                    PROVIDER, None, ProviderStatus.CANCELED, payment.amount_cents,
                    payment.currency, payment_id=payment.id, failure_code="canceled",
                )  # fmt: skip
            payment = dataclasses.replace(payment, provider_ref=found.provider_ref)
        try:
            intent = self._client.v1.payment_intents.cancel(payment.provider_ref or "")
        except stripe.InvalidRequestError:
            # Not cancelable any more: say what it is.
            return intent_update(
                self._call(self._client.v1.payment_intents.retrieve, payment.provider_ref)
            )
        except (stripe.APIConnectionError, stripe.APIError) as exc:
            raise ServiceUnavailableError() from exc
        return dataclasses.replace(intent_update(intent), failure_code="canceled")

    def refund(
        self, payment: Payment, idempotency_key: str, amount_cents: int | None = None
    ) -> ProviderUpdate:
        ref = payment.provider_ref
        if not ref:
            raise InvalidPayloadError()
        # Emulators may ignore Idempotency-Key: look for our refund before making one.
        listed = self._call(self._client.v1.refunds.list, params={"payment_intent": ref})
        refunds = [r for r in listed.data if _metadata(r).get("key") == idempotency_key]
        if not refunds:
            refunds = [
                self._call(
                    self._client.v1.refunds.create,
                    params={
                        "payment_intent": ref,
                        "metadata": {"key": idempotency_key},
                        **({"amount": amount_cents} if amount_cents is not None else {}),
                    },
                    options={"idempotency_key": idempotency_key},
                )
            ]
        refund = refunds[0]
        status = {
            "succeeded": ProviderStatus.REFUNDED,
            "failed": ProviderStatus.FAILED,
            "canceled": ProviderStatus.FAILED,
        }.get(str(refund.status), ProviderStatus.PROCESSING)
        return ProviderUpdate(
            PROVIDER, ref, status, int(refund.amount), str(refund.currency).upper(),
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
        """Charge a saved card without the owner; Stripe raises authentication_required
        where an emulator may leave the intent in requires_action — both come back as
        failed/authentication_required."""
        params: Any = {
            "amount": payment.amount_cents,
            "currency": payment.currency.lower(),
            "customer": customer,
            "payment_method": method_ref,
            "confirm": True,
            "off_session": True,
            "metadata": dict(metadata),
            "payment_method_types": ["card"],
        }
        try:
            intent = self._with_rate_limit_retries(
                lambda: self._charge_client.v1.payment_intents.create(
                    params=params, options={"idempotency_key": idempotency_key}
                )
            )
        except stripe.CardError as exc:
            return _declined(exc, payment)
        except stripe.InvalidRequestError as exc:
            # e.g. the saved card is gone at Stripe: no retry helps, the owner must act
            return ProviderUpdate(
                PROVIDER, None, ProviderStatus.FAILED, payment.amount_cents, payment.currency,
                payment_id=payment.id, failure_code=exc.code or "invalid_request",
            )  # fmt: skip
        except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as exc:
            raise ServiceUnavailableError() from exc
        result = intent_update(intent)
        if result.status == ProviderStatus.REQUIRES_ACTION:
            return dataclasses.replace(
                result, status=ProviderStatus.FAILED, failure_code="authentication_required"
            )
        return result

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> ProviderUpdate | None:
        received = {name.lower(): value for name, value in headers.items()}
        verify_signature(body, received.get("stripe-signature"), self._webhook_secret, self._now())
        try:
            event = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidPayloadError() from exc
        if not isinstance(event, dict) or "type" not in event or "id" not in event:
            raise InvalidPayloadError()
        return webhook_update(event)

    def _find(self, payment_id: str) -> ProviderUpdate | None:
        """The intent made for one of our payments, looked up by its metadata. Stripe's
        idempotency keys make this unnecessary there; an emulator without them needs it."""
        query = f"metadata['payment_id']:'{payment_id}'"
        try:
            found = self._client.v1.payment_intents.search(params={"query": query})
            matches = list(found.data)
        except (stripe.InvalidRequestError, stripe.APIError):
            matches = self._list_matching(payment_id)  # no search API (an emulator)
        except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
            raise ServiceUnavailableError() from exc
        return intent_update(matches[0]) if matches else None

    def _list_matching(self, payment_id: str) -> list[Any]:
        listed = self._call(self._client.v1.payment_intents.list, params={"limit": 100})
        return [
            intent
            for intent in listed.auto_paging_iter()
            if _metadata(intent).get("payment_id") == payment_id
        ]

    def _with_rate_limit_retries(self, call: Callable[[], Any]) -> Any:
        """Retries 429s with the same request (and so the same idempotency key): waits what
        Retry-After says, else backs off exponentially; stops when Stripe-Should-Retry says
        false or the attempts are used up."""
        for attempt in range(self._charge_retries + 1):
            try:
                return call()
            except stripe.RateLimitError as exc:
                headers = exc.headers or {}
                should = str(headers.get("stripe-should-retry", "")).lower()
                if should == "false" or attempt == self._charge_retries:
                    raise
                # Jitter keeps the workers that were refused together from returning together.
                wait = _retry_after(headers, attempt)
                self._sleep(wait + random.uniform(0, max(0.1, wait / 2)))
        raise AssertionError("unreachable")

    # CardVault ---------------------------------------------------------------------------
    def ensure_customer(self, store_id: str, email: str, name: str) -> str:
        customer = self._call(
            self._client.v1.customers.create,
            params={"email": email, "name": name, "metadata": {"store_id": store_id}},
            options={"idempotency_key": f"cus-{store_id}"},
        )
        return str(customer.id)

    def create_setup_intent(self, customer: str, store_id: str) -> str:
        intent = self._call(
            self._client.v1.setup_intents.create,
            params={
                "customer": customer,
                "usage": "off_session",
                "payment_method_types": ["card"],
                "metadata": {"store_id": store_id},
            },
        )
        return str(intent.client_secret)

    def succeeded_setup(self, setup_intent_id: str, customer: str) -> str | None:
        """The payment method of a succeeded SetupIntent of this customer, else None."""
        try:
            intent = self._client.v1.setup_intents.retrieve(setup_intent_id)
        except stripe.InvalidRequestError:
            return None
        except (stripe.APIConnectionError, stripe.APIError) as exc:
            raise ServiceUnavailableError() from exc
        if intent.status != "succeeded" or intent.customer != customer or not intent.payment_method:
            return None
        method_id = str(intent.payment_method)
        method = self._call(self._client.v1.payment_methods.retrieve, method_id)
        if not method.customer:
            # Stripe attaches it on success; make sure, since charges need it attached.
            self._call(
                self._client.v1.payment_methods.attach, method_id, params={"customer": customer}
            )
        return method_id

    def card_details(self, customer: str, method_id: str) -> SavedCard:
        if method_id.startswith("card_"):
            card = self._call(
                self._client.v1.customers.payment_sources.retrieve, customer, method_id
            ).to_dict()
        else:
            card = self._call(self._client.v1.payment_methods.retrieve, method_id).to_dict()["card"]
        return SavedCard(
            id=method_id,
            brand=str(card.get("brand") or "card"),
            last4=str(card["last4"]),
            exp_month=int(card["exp_month"]),
            exp_year=int(card["exp_year"]),
        )

    def remove_card(self, customer: str, method_id: str) -> None:
        try:
            if method_id.startswith("card_"):
                self._client.v1.customers.payment_sources.delete(customer, method_id)
            else:
                self._client.v1.payment_methods.detach(method_id)
        except stripe.InvalidRequestError:
            pass  # already gone at Stripe
        except (stripe.APIConnectionError, stripe.APIError) as exc:
            raise ServiceUnavailableError() from exc
