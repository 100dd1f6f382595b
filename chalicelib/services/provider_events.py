"""Turns Stripe and PayPal payloads into ProviderUpdates (pure; unknown types give None)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from chalicelib.domain.errors import InvalidPayloadError
from chalicelib.domain.payments import PaymentStatus, ProviderUpdate

STRIPE_TYPES = {
    "payment_intent.succeeded": PaymentStatus.SUCCEEDED,
    "payment_intent.payment_failed": PaymentStatus.FAILED,
    "payment_intent.canceled": PaymentStatus.CANCELED,
    "payment_intent.requires_action": PaymentStatus.REQUIRES_ACTION,
}
PAYPAL_TYPES = {
    "PAYMENT.CAPTURE.COMPLETED": PaymentStatus.SUCCEEDED,
    "PAYMENT.CAPTURE.DENIED": PaymentStatus.FAILED,
    "PAYMENT.CAPTURE.DECLINED": PaymentStatus.FAILED,
    "CHECKOUT.ORDER.APPROVED": PaymentStatus.REQUIRES_ACTION,
}


def paypal_cents(value: str) -> int:
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError) as exc:
        raise InvalidPayloadError() from exc
    if amount != amount.quantize(Decimal("0.01")):
        raise InvalidPayloadError()
    return int(amount * 100)


def stripe_update(event: dict[str, Any]) -> ProviderUpdate | None:
    status = STRIPE_TYPES.get(str(event.get("type")))
    if status is None:
        return None
    try:
        intent = event["data"]["object"]
        metadata = intent.get("metadata") or {}
        error = intent.get("last_payment_error") or {}
        return ProviderUpdate(
            provider="stripe",
            event_id=str(event["id"]),
            event_type=str(event["type"]),
            payment_id=metadata.get("payment_id"),
            provider_ref=str(intent["id"]),
            status=status,
            amount_cents=int(intent["amount"]),
            currency=str(intent["currency"]).upper(),
            invoice_id=metadata.get("invoice_id"),
            store_id=metadata.get("store_id"),
            failure_code=error.get("code") if status == PaymentStatus.FAILED else None,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidPayloadError() from exc


def _paypal_amount(resource: dict[str, Any]) -> tuple[int, str]:
    amount = resource.get("amount") or resource["purchase_units"][0]["amount"]
    return paypal_cents(amount["value"]), str(amount["currency_code"]).upper()


def paypal_update(event: dict[str, Any]) -> ProviderUpdate | None:
    status = PAYPAL_TYPES.get(str(event.get("event_type")))
    if status is None:
        return None
    try:
        resource = event["resource"]
        if status == PaymentStatus.REQUIRES_ACTION:
            unit = resource["purchase_units"][0]
            order_id, payment_id = str(resource["id"]), unit.get("custom_id")
        else:
            related = (resource.get("supplementary_data") or {}).get("related_ids") or {}
            order_id, payment_id = str(related["order_id"]), resource.get("custom_id")
        cents, currency = _paypal_amount(resource)
        return ProviderUpdate(
            provider="paypal",
            event_id=str(event["id"]),
            event_type=str(event["event_type"]),
            payment_id=payment_id,
            provider_ref=order_id,
            status=status,
            amount_cents=cents,
            currency=currency,
            failure_code="instrument_declined" if status == PaymentStatus.FAILED else None,
        )
    except (KeyError, TypeError, IndexError, AttributeError) as exc:
        raise InvalidPayloadError() from exc
