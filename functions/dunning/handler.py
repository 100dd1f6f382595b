"""Scheduled daily (07:00 Europe/Berlin): retries, reminders, locking overdue stores."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

from aws_lambda_powertools import Logger, Tracer

from chalicelib.bootstrap import get_container
from chalicelib.domain.periods import today_in_berlin

logger = Logger(service="dunning")
# Off outside Lambda (no X-Ray daemon there); on in AWS, where the template enables tracing.
tracer = Tracer(service="dunning")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    container = get_container()
    today = (
        date.fromisoformat(event["today"])
        if event.get("today")
        else today_in_berlin(container.clock.now())
    )
    result = dataclasses.asdict(container.dunning.run(today))
    logger.info("dunning run done", extra=result)
    return result
