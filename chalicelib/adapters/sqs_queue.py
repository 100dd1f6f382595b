"""The charge queue on SQS (one message per store and attempt)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.errors import ServiceUnavailableError
from chalicelib.services.ports import ChargeRequest


class SqsChargeQueue:
    """ChargeQueue on SQS; a batch with a failed entry is a failure (it is safe to resend)."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._url = queue_url

    def enqueue(self, requests: Sequence[ChargeRequest]) -> None:
        for start in range(0, len(requests), 10):
            chunk = requests[start : start + 10]
            entries = [
                {"Id": str(i), "MessageBody": json.dumps(dataclasses.asdict(request))}
                for i, request in enumerate(chunk)
            ]
            try:
                response = self._client.send_message_batch(QueueUrl=self._url, Entries=entries)
            except (BotoCoreError, ClientError) as exc:
                raise ServiceUnavailableError() from exc
            if response.get("Failed"):
                raise ServiceUnavailableError()

    def in_flight(self) -> int:
        """Messages waiting or being worked on (approximate, as SQS reports it)."""
        attributes = self._client.get_queue_attributes(
            QueueUrl=self._url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )
