"""Publishes events on the portal's EventBridge bus; a partial failure is a failure."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.errors import ServiceUnavailableError
from chalicelib.domain.events import DomainEvent


class EventBridgePublisher:
    """EventPublisher on EventBridge (at most 10 entries per PutEvents call)."""

    def __init__(self, client: Any, bus_name: str) -> None:
        self._client = client
        self._bus = bus_name

    def publish(self, events: Sequence[DomainEvent]) -> None:
        for start in range(0, len(events), 10):
            entries = [
                {
                    "Source": event.source,
                    "DetailType": event.detail_type,
                    "Detail": json.dumps(event.detail, sort_keys=True),
                    "EventBusName": self._bus,
                }
                for event in events[start : start + 10]
            ]
            try:
                response = self._client.put_events(Entries=entries)
            except (BotoCoreError, ClientError) as exc:
                raise ServiceUnavailableError() from exc
            if response.get("FailedEntryCount", 0):
                raise ServiceUnavailableError()
