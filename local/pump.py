"""The local SQS → Lambda event source: long-polls each queue and calls its handler."""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("portal.pump")

# queue (without the stack prefix) → handler, as the template's event source mappings say
ROUTES = {
    "payment-events": "functions.payment_events.handler:handler",
    "charge-store": "functions.charge_store.handler:handler",
    "issue-store": "functions.issue_store.handler:handler",
}


class LambdaContext:
    """The few context attributes Powertools reads."""

    function_name = "local"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-central-1:123456789012:function:local"
    aws_request_id = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


class QueueWorker(threading.Thread):
    def __init__(
        self,
        client: Any,
        queue_url: str,
        handler: Callable[..., Any],
        region: str,
        stop: threading.Event,
    ) -> None:
        super().__init__(name=f"pump:{queue_url.rsplit('/', 1)[-1]}", daemon=True)
        self.client = client
        self.queue_url = queue_url
        self.handler = handler
        self.region = region
        self.stop_event = stop
        attributes = client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        self.queue_arn = attributes["Attributes"]["QueueArn"]

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.poll_once()
            except Exception:  # a pump must survive a broken batch, like Lambda's poller
                log.exception("queue pump error on %s", self.queue_url)
                self.stop_event.wait(1)

    def poll_once(self) -> int:
        response = self.client.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            return 0
        failed: set[str] = set()
        try:
            result = self.handler(sqs_event(messages, self.queue_arn, self.region), LambdaContext())
            failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
        except Exception:
            log.exception("handler failed for a whole batch")
            failed = {m["MessageId"] for m in messages}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self.client.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                ],
            )
        return len(done)


def _load(target: str) -> Callable[..., Any] | None:
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return None  # that function is not part of this build yet
        raise
    handler: Callable[..., Any] = getattr(module, attribute)
    return handler


class QueuePump:
    def __init__(self, workers: list[QueueWorker], stop: threading.Event) -> None:
        self.workers = workers
        self._stop = stop

    @classmethod
    def for_stack(cls) -> QueuePump:
        import boto3

        region = os.environ["AWS_DEFAULT_REGION"]
        prefix = os.environ["PORTAL_PREFIX"]
        client = boto3.client("sqs", region_name=region)
        stop = threading.Event()
        workers = []
        for queue, target in ROUTES.items():
            handler = _load(target)
            if handler is None:
                continue
            url = client.get_queue_url(QueueName=f"{prefix}-{queue}")["QueueUrl"]
            workers.append(QueueWorker(client, url, handler, region, stop))
        return cls(workers, stop)

    def start(self) -> None:
        for worker in self.workers:
            worker.start()

    def stop(self) -> None:
        self._stop.set()
        for worker in self.workers:
            with contextlib.suppress(RuntimeError):
                worker.join(timeout=5)
