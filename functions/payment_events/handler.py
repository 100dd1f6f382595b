"""Applies provider payment events from the bus (via SQS) exactly once in effect."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.bootstrap import get_container
from chalicelib.domain.payments import PaymentStatus, ProviderUpdate

logger = Logger(service="payment-events")
# Off outside Lambda (no X-Ray daemon there); on in AWS, where the template enables tracing.
tracer = Tracer(service="payment-events")
processor = BatchProcessor(event_type=EventType.SQS)


def to_update(record: SQSRecord) -> ProviderUpdate:
    envelope = json.loads(record.body)
    detail: dict[str, Any] = dict(envelope["detail"])
    detail["status"] = PaymentStatus(detail["status"])
    return ProviderUpdate(**detail)


def record_handler(record: SQSRecord) -> None:
    update = to_update(record)
    logger.append_keys(event_id=update.event_id, payment_id=update.payment_id)
    container = get_container()
    if container.processed_events.seen(update.event_id):
        logger.info("duplicate provider event skipped")
        return
    container.payments.apply(update)
    # Remembered only after the books changed: a crash before this line replays the event,
    # and apply() converges because every write checks the state it leaves.
    container.processed_events.remember(update.event_id, container.clock.now())


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    response: dict[str, Any] = dict(
        process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    )
    return response
