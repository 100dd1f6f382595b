"""The issue queue on SQS: one message per store and period, sent in batches of ten, several
batches at once (100,000 stores are 10,000 batches: sent one after the other they would take
longer than the run may)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.errors import ServiceUnavailableError
from chalicelib.services.ports import IssueRequest

SENDERS = 8  # concurrent SendMessageBatch calls (the client's pool holds 10 connections)


def encode(request: IssueRequest) -> str:
    return json.dumps(
        {
            "store_id": request.store_id,
            "period": request.period,
            "cutoff": request.cutoff.isoformat(),
        }
    )


def decode(body: str) -> IssueRequest:
    data = json.loads(body)
    cutoff = datetime.fromisoformat(str(data["cutoff"]))
    if cutoff.tzinfo is None:
        raise ValueError("cutoff without a time zone")
    return IssueRequest(store_id=str(data["store_id"]), period=str(data["period"]), cutoff=cutoff)


class SqsIssueQueue:
    """IssueQueue on SQS; a batch with a failed entry is a failure (it is safe to resend)."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._url = queue_url

    def _send(self, chunk: Sequence[IssueRequest]) -> None:
        entries = [{"Id": str(i), "MessageBody": encode(r)} for i, r in enumerate(chunk)]
        try:
            response = self._client.send_message_batch(QueueUrl=self._url, Entries=entries)
        except (BotoCoreError, ClientError) as exc:
            raise ServiceUnavailableError() from exc
        if response.get("Failed"):
            raise ServiceUnavailableError()

    def enqueue(self, requests: Sequence[IssueRequest]) -> None:
        chunks = [requests[start : start + 10] for start in range(0, len(requests), 10)]
        if len(chunks) <= 1:
            for chunk in chunks:
                self._send(chunk)
            return
        with ThreadPoolExecutor(max_workers=min(SENDERS, len(chunks))) as pool:
            for _ in pool.map(self._send, chunks):
                pass  # re-raises the first failure

    def in_flight(self) -> int:
        """Messages waiting or being worked on (approximate, as SQS reports it)."""
        attributes = self._client.get_queue_attributes(
            QueueUrl=self._url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )
