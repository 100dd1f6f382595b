"""Charges one store's licence invoice per SQS message (partial batch failures retried)."""

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
from chalicelib.services.ports import ChargeRequest

logger = Logger(service="charge-store")
# Off outside Lambda (no X-Ray daemon there); on in AWS, where the template enables tracing.
tracer = Tracer(service="charge-store")
processor = BatchProcessor(event_type=EventType.SQS)


def to_request(record: SQSRecord) -> ChargeRequest:
    data = json.loads(record.body)
    return ChargeRequest(
        store_id=str(data["store_id"]),
        invoice_id=str(data["invoice_id"]),
        period=str(data["period"]),
        attempt=int(data.get("attempt", 1)),
    )


def record_handler(record: SQSRecord) -> None:
    request = to_request(record)
    logger.append_keys(store_id=request.store_id, invoice_id=request.invoice_id)
    outcome = get_container().charges.charge(request)
    logger.info("charge done", extra={"outcome": outcome, "attempt": request.attempt})


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    response: dict[str, Any] = dict(
        process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    )
    return response
