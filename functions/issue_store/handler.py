"""Issues one store's licence invoice per SQS message, then charges it (partial batch
failures retried). Safe to deliver twice, late, or after a crash at any point: the invoice
exists once with one number, its files are finished by whichever delivery comes after a
crash, and the charge is the charge worker's, at most once per attempt."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.adapters.sqs_issue_queue import decode
from chalicelib.bootstrap import get_container

logger = Logger(service="issue-store")
# Off outside Lambda (no X-Ray daemon there); on in AWS, where the template enables tracing.
tracer = Tracer(service="issue-store")
processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    request = decode(record.body)
    logger.append_keys(store_id=request.store_id, period=request.period)
    container = get_container()
    invoice, outcome = container.billing.bill_store(request, container.charges.charge)
    invoice_id = invoice.id if invoice is not None else None
    logger.info("store billed", extra={"invoice_id": invoice_id, "outcome": outcome})


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    response: dict[str, Any] = dict(
        process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    )
    return response
