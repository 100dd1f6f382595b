"""Payments: one attempt to settle one invoice, and the provider updates that move it."""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime


class PaymentStatus(enum.StrEnum):
    PENDING = "pending"
    REQUIRES_ACTION = "requires_action"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


OPEN_STATUSES = frozenset({PaymentStatus.PENDING, PaymentStatus.REQUIRES_ACTION})


def can_move(current: PaymentStatus, target: PaymentStatus) -> bool:
    """Forward only. Money that moved wins: a failed or canceled attempt may still turn
    out succeeded (the provider is the truth), but nothing ever leaves `succeeded`."""
    if current == target or current == PaymentStatus.SUCCEEDED:
        return False
    if current in OPEN_STATUSES:
        return True
    return target == PaymentStatus.SUCCEEDED


@dataclasses.dataclass(frozen=True)
class Payment:
    id: str
    invoice_id: str
    store_id: str
    provider: str  # "stripe" | "paypal"
    method: str  # "card" | "paypal"
    kind: str  # "manual" | "autopay"
    amount_cents: int
    currency: str
    status: PaymentStatus
    created_at: datetime
    updated_at: datetime
    provider_ref: str | None = None
    approve_url: str | None = None
    failure_code: str | None = None
    notified: bool = False
    save_card: bool = False


@dataclasses.dataclass(frozen=True)
class ProviderUpdate:
    """What a provider says about one payment, normalized (from a webhook or a read)."""

    provider: str
    event_id: str
    event_type: str
    payment_id: str | None
    provider_ref: str
    status: PaymentStatus
    amount_cents: int
    currency: str
    invoice_id: str | None = None
    store_id: str | None = None
    failure_code: str | None = None


FAILURE_MESSAGES = {
    "card_declined": "Deine Karte wurde abgelehnt. Bitte nutze eine andere Karte oder PayPal.",
    "insufficient_funds": "Deine Karte ist nicht ausreichend gedeckt. Bitte nutze eine andere "
    "Karte oder PayPal.",
    "expired_card": "Deine Karte ist abgelaufen. Bitte nutze eine andere Karte.",
    "incorrect_cvc": "Die Prüfnummer (CVC) stimmt nicht.",
    "payment_intent_authentication_failure": "Die Bestätigung (3-D Secure) wurde abgebrochen "
    "oder ist fehlgeschlagen. Die Rechnung ist weiter offen – du kannst es erneut versuchen.",
    "authentication_required": "Deine Bank verlangt eine Bestätigung (3-D Secure). Bitte "
    "bezahle die Rechnung im Portal.",
    "paypal_canceled": "Du hast die Zahlung bei PayPal abgebrochen. Die Rechnung ist weiter offen.",
    "instrument_declined": "PayPal hat die Zahlung abgelehnt. Bitte wähle bei PayPal eine andere "
    "Zahlungsquelle oder bezahle per Kreditkarte.",
    "canceled": "Die Zahlung wurde abgebrochen. Die Rechnung ist weiter offen.",
}


def failure_message(code: str | None) -> str | None:
    if code is None:
        return None
    return FAILURE_MESSAGES.get(
        code, "Die Zahlung ist fehlgeschlagen. Bitte versuche es erneut oder wähle PayPal."
    )
