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
    ServiceUnavailableError,
)
from chalicelib.domain.payments import PaymentStatus
from chalicelib.domain.stores import SavedCard
from chalicelib.services.ports import ProviderPayment

TOLERANCE_S = 300
_STATUS = {
    "requires_payment_method": PaymentStatus.PENDING,
    "requires_confirmation": PaymentStatus.PENDING,
    "requires_capture": PaymentStatus.PENDING,
    "processing": PaymentStatus.PENDING,
    "requires_action": PaymentStatus.REQUIRES_ACTION,
    "succeeded": PaymentStatus.SUCCEEDED,
    "canceled": PaymentStatus.CANCELED,
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


def _to_payment(intent: Any) -> ProviderPayment:
    data = intent.to_dict() if hasattr(intent, "to_dict") else dict(intent)
    error = data.get("last_payment_error") or {}
    status = _STATUS.get(str(data.get("status")), PaymentStatus.PENDING)
    # A failed attempt leaves the intent waiting for a new card; for us this attempt failed.
    if data.get("status") == "requires_payment_method" and error:
        status = PaymentStatus.FAILED
    return ProviderPayment(
        provider_ref=str(data["id"]),
        status=status.value,
        amount_cents=int(data["amount"]),
        currency=str(data["currency"]).upper(),
        client_secret=data.get("client_secret"),
        failure_code=error.get("decline_code") or error.get("code") if error else None,
        custom_id=(data.get("metadata") or {}).get("payment_id"),
        payment_method_id=data.get("payment_method") or None,
    )


def _retry_after(headers: Mapping[str, str], attempt: int) -> float:
    backoff: float = min(8.0, 0.25 * 2.0**attempt)
    value = headers.get("retry-after") or headers.get("Retry-After")
    try:
        return backoff if value is None else max(0.0, float(str(value)))
    except ValueError:
        return backoff


def _declined(exc: stripe.CardError, amount_cents: int, currency: str, key: str) -> ProviderPayment:
    error = exc.error
    intent = getattr(error, "payment_intent", None) if error else None
    code = (getattr(error, "decline_code", None) if error else None) or exc.code or "card_declined"
    ref = str(intent["id"]) if intent else f"declined:{code}:{key}"
    return ProviderPayment(
        ref, PaymentStatus.FAILED.value, amount_cents, currency, failure_code=code
    )


class StripeCardGateway:
    """CardGateway on the stripe SDK (`StripeClient` pointed at the configured API base)."""

    def __init__(
        self,
        secret_key: str,
        webhook_secret: str,
        api_base: str | None = None,
        clock: Callable[[], float] = time.time,
        charge_retries: int = 6,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        bases: Any = {"api": api_base} if api_base else {}
        self._client = stripe.StripeClient(secret_key, base_addresses=bases, max_network_retries=2)
        # Off-session charges run in bulk and retry 429s themselves (the SDK ignores
        # Retry-After), so this client must not retry on its own as well.
        self._charge_client = stripe.StripeClient(
            secret_key, base_addresses=bases, max_network_retries=0
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

    def ensure_customer(self, store_id: str, email: str, name: str) -> str:
        customer = self._call(
            self._client.v1.customers.create,
            params={"email": email, "name": name, "metadata": {"store_id": store_id}},
            options={"idempotency_key": f"cus-{store_id}"},
        )
        return str(customer.id)

    def create_intent(
        self,
        *,
        payment_id: str,
        amount_cents: int,
        currency: str,
        customer: str,
        metadata: Mapping[str, str],
        idempotency_key: str,
    ) -> ProviderPayment:
        intent = self._call(
            self._client.v1.payment_intents.create,
            params={
                "amount": amount_cents,
                "currency": currency.lower(),
                "customer": customer,
                "metadata": dict(metadata),
                "payment_method_types": ["card"],
            },
            options={"idempotency_key": idempotency_key},
        )
        return _to_payment(intent)

    def attach_card_and_confirm(
        self, intent_id: str, customer: str, token: str, idempotency_key: str
    ) -> ProviderPayment:
        raw = self._call(self._client.v1.payment_intents.retrieve, intent_id)
        current = _to_payment(raw)
        # Confirm only what still needs confirming: a retry never charges twice.
        if raw.status not in ("requires_payment_method", "requires_confirmation"):
            return current
        try:
            card = self._client.v1.customers.payment_sources.create(
                customer,
                params={"source": token},
                options={"idempotency_key": f"{idempotency_key}-src"},
            )
            self._client.v1.payment_intents.update(intent_id, params={"payment_method": card.id})
            intent = self._client.v1.payment_intents.confirm(
                intent_id, options={"idempotency_key": idempotency_key}
            )
        except stripe.CardError as exc:
            return ProviderPayment(
                provider_ref=intent_id,
                status=PaymentStatus.FAILED.value,
                amount_cents=current.amount_cents,
                currency=current.currency,
                client_secret=current.client_secret,
                failure_code=getattr(exc, "code", None) or "card_declined",
            )
        except stripe.InvalidRequestError as exc:
            return ProviderPayment(
                provider_ref=intent_id,
                status=PaymentStatus.FAILED.value,
                amount_cents=current.amount_cents,
                currency=current.currency,
                failure_code=getattr(exc, "code", None) or "invalid_card",
            )
        except (stripe.APIConnectionError, stripe.APIError) as exc:
            raise ServiceUnavailableError() from exc
        return _to_payment(intent)

    def find_intent(self, payment_id: str) -> ProviderPayment | None:
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
        return _to_payment(matches[0]) if matches else None

    def _list_matching(self, payment_id: str) -> list[Any]:
        listed = self._call(self._client.v1.payment_intents.list, params={"limit": 100})
        return [
            intent
            for intent in listed.auto_paging_iter()
            if (intent.metadata or {}).get("payment_id") == payment_id
        ]

    def get_intent(self, intent_id: str) -> ProviderPayment:
        return _to_payment(self._call(self._client.v1.payment_intents.retrieve, intent_id))

    def cancel_intent(self, intent_id: str) -> ProviderPayment:
        try:
            return _to_payment(self._client.v1.payment_intents.cancel(intent_id))
        except stripe.InvalidRequestError:
            return self.get_intent(intent_id)  # not cancelable any more: say what it is
        except (stripe.APIConnectionError, stripe.APIError) as exc:
            raise ServiceUnavailableError() from exc

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

    # saved cards -------------------------------------------------------------------------
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

    def charge_off_session(
        self,
        *,
        customer: str,
        method_id: str,
        amount_cents: int,
        currency: str,
        metadata: Mapping[str, str],
        idempotency_key: str,
    ) -> ProviderPayment:
        """Charge a saved card without the owner; Stripe raises authentication_required
        where an emulator may leave the intent in requires_action — both come back as
        failed/authentication_required."""
        params: Any = {
            "amount": amount_cents,
            "currency": currency.lower(),
            "customer": customer,
            "payment_method": method_id,
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
            return _declined(exc, amount_cents, currency, idempotency_key)
        except stripe.InvalidRequestError as exc:
            # e.g. the saved card is gone at Stripe: no retry helps, the owner must act
            code = exc.code or "invalid_request"
            ref = f"declined:{code}:{idempotency_key}"
            return ProviderPayment(
                ref, PaymentStatus.FAILED.value, amount_cents, currency, failure_code=code
            )
        except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as exc:
            raise ServiceUnavailableError() from exc
        result = _to_payment(intent)
        if result.status == PaymentStatus.REQUIRES_ACTION:
            return dataclasses.replace(
                result, status=PaymentStatus.FAILED.value, failure_code="authentication_required"
            )
        return result

    def parse_webhook(self, body: bytes, signature_header: str | None) -> Any:
        verify_signature(body, signature_header, self._webhook_secret, self._now())
        try:
            event = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidPayloadError() from exc
        if not isinstance(event, dict) or "type" not in event or "id" not in event:
            raise InvalidPayloadError()
        return event
