"""The API's edge: only requests that came through the CDN are answered.

In AWS the execute-api URL is public; without this check anybody could call it directly
and set the client-address header the rate limits key on. The CDN adds the origin secret
to every request it forwards, the provider webhooks included (providers call the portal's
CloudFront address like the browser does), so no route is exempt.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from chalice.app import Response

from chalicelib.api import http
from chalicelib.bootstrap import dependency_unavailable, get_container
from chalicelib.domain import errors
from chalicelib.services.edge import ORIGIN_HEADER

log = logging.getLogger("portal.api")


def _forbidden() -> Response:
    code, message = http.FORBIDDEN
    return Response(
        body=json.dumps(http.error_body(code, message)),
        status_code=403,
        headers={"Content-Type": "application/json", "Cache-Control": "no-store"},
    )


def origin_guard(event: Any, get_response: Callable[[Any], Response]) -> Response:
    presented = str(event.headers.get(ORIGIN_HEADER) or "")
    try:
        accepted = get_container().origin_check.accepts(presented)
    except Exception as exc:  # the secret could not be read: refuse, never wave through
        if dependency_unavailable(exc):
            return http.error_response(errors.ServiceUnavailableError())
        log.exception("origin check failed")
        return http.error_response(errors.PortalError())
    if not accepted:
        return _forbidden()
    return get_response(event)
