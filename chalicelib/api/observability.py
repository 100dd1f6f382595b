"""Request logging for the API: one JSON line per request, keyed by a correlation id.

Only the route template is logged (`/api/invitations/{token}`), never the concrete path,
headers or bodies, so tokens and passwords cannot end up in the logs.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

logger = Logger(service="portal-api")


def install(app: Any) -> None:
    """Give our module loggers the same JSON format (and correlation id) and log requests."""
    copy_config_to_registered_loggers(source_logger=logger, include={"portal"})

    def log_request(event: Any, get_response: Callable[[Any], Any]) -> Any:
        context = event.context or {}
        correlation_id = (
            event.headers.get("x-correlation-id") or context.get("requestId") or uuid.uuid4().hex
        )[:64]
        logger.set_correlation_id(correlation_id)
        route = context.get("resourcePath") or "unknown"
        started = time.perf_counter()
        response = get_response(event)
        logger.info(
            "request handled",
            extra={
                "method": event.method,
                "route": route,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        response.headers["X-Correlation-Id"] = correlation_id
        return response

    app.register_middleware(log_request, "http")
