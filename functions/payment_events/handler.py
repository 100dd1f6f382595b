"""Applies provider payment news from the bus (via SQS) exactly once in effect, then sends
the follow-ups (events for the till, unlock, receipt, mails) of the payment it concerns."""

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
from chalicelib.domain.events import PaymentProviderEvent
from chalicelib.domain.payments import ProviderUpdate

logger = Logger(service="payment-events")
# Off outside Lambda (no X-Ray daemon there); on in AWS, where the template enables tracing.
tracer = Tracer(service="payment-events")
processor = BatchProcessor(event_type=EventType.SQS)


def to_update(record: SQSRecord) -> ProviderUpdate:
    envelope = json.loads(record.body)
    return PaymentProviderEvent.from_detail(dict(envelope["detail"])).update


def record_handler(record: SQSRecord) -> None:
    update = to_update(record)
    key = update.key()
    logger.append_keys(event_id=key, payment_id=update.payment_id)
    container = get_container()
    if container.processed_events.seen(key):
        logger.info("duplicate provider event skipped")
        return
    payment = container.settlement.apply(update)
    if payment is not None:
        container.follow_ups.run(payment.id)
    # Remembered only after the books changed and the follow-ups ran: a crash before this
    # line replays the event, and every step converges because each write checks the state
    # it leaves and each follow-up stage is marked once done.
    container.processed_events.remember(key, container.clock.now())


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    response: dict[str, Any] = dict(
        process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    )
    return response
