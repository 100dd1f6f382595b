"""Receives provider webhooks: verify, normalize, hand to the event bus (then 200)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from chalicelib.domain.errors import InvalidPayloadError, InvalidSignatureError
from chalicelib.domain.payments import ProviderUpdate
from chalicelib.services import provider_events
from chalicelib.services.ports import (
    NO_METRICS,
    CardGateway,
    DomainEvent,
    EventPublisher,
    Metrics,
    PayPalGateway,
)

WEBHOOK_SOURCE = "sides.portal.webhooks"
DETAIL_TYPE = "PaymentProviderEvent"


def to_detail(update: ProviderUpdate) -> dict[str, Any]:
    detail = dataclasses.asdict(update)
    detail["status"] = update.status.value
    return detail


@dataclasses.dataclass(frozen=True)
class WebhookService:
    cards: CardGateway
    paypal: PayPalGateway
    publisher: EventPublisher
    metrics: Metrics = NO_METRICS

    def _hand_on(self, update: ProviderUpdate | None) -> None:
        if update is None:
            return  # a type we do not act on: acknowledged and ignored
        self.publisher.publish([DomainEvent(DETAIL_TYPE, to_detail(update))], WEBHOOK_SOURCE)

    def receive_stripe(self, body: bytes, signature: str | None) -> None:
        try:
            event = self.cards.parse_webhook(body, signature)
        except (InvalidSignatureError, InvalidPayloadError):
            self.metrics.count("WebhooksRejected")
            raise
        self._hand_on(provider_events.stripe_update(event))

    def receive_paypal(self, headers: Mapping[str, str], body: bytes) -> None:
        if not self.paypal.verify_webhook(headers, body):
            self.metrics.count("WebhooksRejected")
            raise InvalidSignatureError()
        try:
            event = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidPayloadError() from exc
        if not isinstance(event, dict):
            raise InvalidPayloadError()
        self._hand_on(provider_events.paypal_update(event))
