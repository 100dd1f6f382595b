"""Receives provider webhooks: verified and normalized by the provider, handed to the bus."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from chalicelib.domain.errors import InvalidPayloadError, InvalidSignatureError
from chalicelib.domain.events import PaymentProviderEvent
from chalicelib.services.ports import NO_METRICS, EventPublisher, Metrics
from chalicelib.services.providers import ProviderRegistry


@dataclasses.dataclass(frozen=True)
class WebhookService:
    providers: ProviderRegistry
    publisher: EventPublisher
    metrics: Metrics = NO_METRICS

    def receive(self, provider_name: str, headers: Mapping[str, str], body: bytes) -> None:
        """Acknowledged (returns) only once the news is on the bus; unknown types are
        acknowledged and ignored."""
        provider = self.providers.named(provider_name)
        try:
            update = provider.parse_webhook(headers, body)
        except (InvalidSignatureError, InvalidPayloadError):
            self.metrics.count("WebhooksRejected")
            raise
        if update is not None:
            self.publisher.publish([PaymentProviderEvent(update).to_event()])
