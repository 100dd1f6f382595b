"""Scheduled on the 1st of each month (06:00 Europe/Berlin): queue every billable store's
licence invoice (one message per store on the issue queue; functions/issue_store issues
and charges it)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer

from chalicelib.bootstrap import get_container
from chalicelib.domain.dunning import period_of
from chalicelib.domain.periods import today_in_berlin

logger = Logger(service="monthly-billing")
# Off outside Lambda (no X-Ray daemon there); on in AWS, where the template enables tracing.
tracer = Tracer(service="monthly-billing")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    container = get_container()
    # The schedule may pass a period (a manual re-run); otherwise bill the current month.
    period = event.get("period") or period_of(today_in_berlin(container.clock.now()))
    result = container.billing.run(str(period))
    logger.info("monthly run queued", extra={"period": result.period, "queued": result.queued})
    return {"period": result.period, "queued": result.queued}
