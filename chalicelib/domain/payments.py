"""Payments: one attempt to settle one or more invoices, and the provider news that moves it."""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime
from typing import Any

MAX_INVOICES_PER_PAYMENT = 24


class PaymentStatus(enum.StrEnum):
    PENDING = "pending"
    REQUIRES_ACTION = "requires_action"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    REFUNDED = "refunded"


OPEN_STATUSES = frozenset({PaymentStatus.PENDING, PaymentStatus.REQUIRES_ACTION})
SETTLED_WITHOUT_MONEY = frozenset({PaymentStatus.FAILED, PaymentStatus.CANCELED})


def can_move(current: PaymentStatus, target: PaymentStatus) -> bool:
    """Forward only. Money that moved wins: a failed or canceled attempt may still turn
    out succeeded (the provider is the truth); a success can only be given back (refunded),
    and a refund is final."""
    if current == target or current == PaymentStatus.REFUNDED:
        return False
    if current == PaymentStatus.SUCCEEDED:
        return target == PaymentStatus.REFUNDED
    if current in OPEN_STATUSES:
        return target != PaymentStatus.REFUNDED
    return target == PaymentStatus.SUCCEEDED


PAID_STAGE = "paid"
REFUNDED_STAGE = "refunded"


class PaymentKind(enum.StrEnum):
    MANUAL = "manual"  # the owner pays in the portal
    AUTOPAY = "autopay"  # the monthly charge of a saved card


@dataclasses.dataclass(frozen=True)
class Payment:
    """One attempt to collect money. `invoice_ids` lists every invoice it settles (all or
    none); `invoice_id` is the first of them."""

    id: str
    invoice_id: str
    store_id: str
    provider: str
    method: str
    kind: str
    amount_cents: int
    currency: str
    status: PaymentStatus
    created_at: datetime
    updated_at: datetime
    provider_ref: str | None = None
    approve_url: str | None = None
    failure_code: str | None = None
    save_card: bool = False
    invoice_ids: tuple[str, ...] = ()
    refund_due: bool = False  # money came for invoices that no longer needed it
    followed_up: frozenset[str] = frozenset()  # stages whose mails and events went out

    def __post_init__(self) -> None:
        if not self.invoice_ids:
            object.__setattr__(self, "invoice_ids", (self.invoice_id,))

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class ProviderStatus(enum.StrEnum):
    """Where a payment stands at its provider, in the portal's words."""

    AWAITING_PAYER = "awaiting_payer"  # created; the payer has not acted yet
    PROCESSING = "processing"  # the provider is working on it
    REQUIRES_ACTION = "requires_action"  # the payer must confirm (3-D Secure)
    READY_TO_COLLECT = "ready_to_collect"  # approved by the payer; money moves when we collect
    SUCCEEDED = "succeeded"  # money moved to us
    FAILED = "failed"
    CANCELED = "canceled"
    REFUNDED = "refunded"  # money moved back to the payer

    @property
    def payment_status(self) -> PaymentStatus:
        """The status of our payment while the provider says this."""
        return _PAYMENT_STATUS[self]


_PAYMENT_STATUS = {
    ProviderStatus.AWAITING_PAYER: PaymentStatus.PENDING,
    ProviderStatus.PROCESSING: PaymentStatus.PENDING,
    ProviderStatus.REQUIRES_ACTION: PaymentStatus.REQUIRES_ACTION,
    ProviderStatus.READY_TO_COLLECT: PaymentStatus.REQUIRES_ACTION,
    ProviderStatus.SUCCEEDED: PaymentStatus.SUCCEEDED,
    ProviderStatus.FAILED: PaymentStatus.FAILED,
    ProviderStatus.CANCELED: PaymentStatus.CANCELED,
    ProviderStatus.REFUNDED: PaymentStatus.REFUNDED,
}


@dataclasses.dataclass(frozen=True)
class ProviderUpdate:
    """What a provider says about one of our payments: from a webhook it sent (with its
    event id) or from a call we made (start, read, collect, cancel, charge, refund)."""

    provider: str
    provider_ref: str | None
    status: ProviderStatus
    amount_cents: int
    currency: str
    payment_id: str | None = None
    event_id: str | None = None
    event_type: str | None = None
    invoice_id: str | None = None
    store_id: str | None = None
    failure_code: str | None = None
    client_secret: str | None = None
    approve_url: str | None = None
    reusable_method: str | None = None  # a card the payer let us keep for later charges

    @classmethod
    def about(cls, payment: Payment, status: ProviderStatus, **details: Any) -> ProviderUpdate:
        """News about one of our payments that we establish ourselves, not the provider:
        its own provider, reference, amount and id, and the given status and details."""
        known: dict[str, Any] = {
            "provider": payment.provider,
            "provider_ref": payment.provider_ref,
            "amount_cents": payment.amount_cents,
            "currency": payment.currency,
            "payment_id": payment.id,
        }
        return cls(**(known | details), status=status)

    @property
    def moved_money(self) -> bool:
        return self.status == ProviderStatus.SUCCEEDED

    def key(self) -> str:
        """Identifies this news for de-duplication: the provider's event id, or for our
        own reads the state we saw."""
        if self.event_id:
            return self.event_id
        return f"{self.provider}:{self.provider_ref}:{self.payment_id}:{self.status.value}"


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
    "payer_canceled": "Du hast die Zahlung abgebrochen. Die Rechnung ist weiter offen.",
    "instrument_declined": "PayPal hat die Zahlung abgelehnt. Bitte wähle bei PayPal eine andere "
    "Zahlungsquelle oder bezahle per Kreditkarte.",
    "canceled": "Die Zahlung wurde abgebrochen. Die Rechnung ist weiter offen.",
    "abandoned": "Die Zahlung wurde nicht abgeschlossen und ist verfallen. Die Rechnung ist "
    "weiter offen.",
    "superseded": "Du hast eine andere Zahlung gestartet; diese wurde deshalb abgebrochen.",
    "already_paid": "Die Rechnung war schon bezahlt; das Geld geht an dich zurück.",
    "no_payment_method": "Es ist keine Karte hinterlegt.",
    "invoice_corrected": "Die Rechnung wurde korrigiert; diese Zahlung wurde deshalb "
    "abgebrochen. Den Stand siehst du bei der Rechnung.",
    "capture_declined": "Die Zahlung wurde abgelehnt. Bitte versuche es erneut oder wähle eine "
    "andere Zahlungsart.",
    "capture_failed": "Die Zahlung ist fehlgeschlagen. Bitte versuche es erneut oder wähle eine "
    "andere Zahlungsart.",
    "provider_unavailable": "Der Zahlungsanbieter war nicht erreichbar. Die Rechnung ist weiter "
    "offen – bitte versuche es gleich noch einmal.",
}


def failure_message(code: str | None, status: PaymentStatus | None = None) -> str | None:
    if status == PaymentStatus.REFUNDED:
        return "Die Rechnung war schon beglichen; der Betrag wurde dir vollständig erstattet."
    if code is None:
        return None
    return FAILURE_MESSAGES.get(
        code,
        "Die Zahlung ist fehlgeschlagen. Bitte versuche es erneut oder wähle eine andere "
        "Zahlungsart.",
    )
