"""HTTP edge helpers: strict JSON parsing, the error table and the one top-level mapper."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any, TypeVar

from chalice.app import Response

from chalicelib.domain import errors

MAX_BODY_BYTES = 64 * 1024
# Chalice answers other content types with its own 415; we want our error shape instead.
ACCEPTED_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded"]

log = logging.getLogger("portal.api")

STATUS = {
    errors.InvalidRequestError: 400,
    errors.PasswordPolicyError: 400,
    errors.InvalidCodeError: 400,
    errors.InvalidCursorError: 400,
    errors.UnauthorizedError: 401,
    errors.InvalidCredentialsError: 401,
    errors.InvitationNotFoundError: 404,
    errors.InvoiceNotFoundError: 404,
    errors.StoreNotFoundError: 404,
    errors.ConflictError: 409,
    errors.EmailInUseError: 409,
    errors.InvoiceNotVoidableError: 409,
    errors.InvitationExpiredError: 410,
    errors.InvoiceNotPayableError: 409,
    errors.InvalidMethodError: 400,
    errors.PaymentNotFoundError: 404,
    errors.InvalidSignatureError: 400,
    errors.InvalidPayloadError: 400,
    errors.ProviderError: 502,
    errors.SetupNotSucceededError: 400,
    errors.NoPaymentMethodError: 409,
    errors.PayloadTooLargeError: 413,
    errors.RateLimitedError: 429,
    errors.ServiceUnavailableError: 503,
}


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def status_of(exc: errors.PortalError) -> int:
    # An adapter may refine a domain error; it keeps the status of the error it refines.
    for kind in type(exc).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500


def error_response(exc: errors.PortalError) -> Response:
    status = status_of(exc)
    return Response(
        body=json.dumps(error_body(exc.code, exc.message)),
        status_code=status,
        headers={"Content-Type": "application/json", "Cache-Control": "no-store"},
    )


def json_response(body: Any, status: int = 200) -> Response:
    return Response(
        body=json.dumps(body, default=_json_default, ensure_ascii=False),
        status_code=status,
        headers={"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store"},
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


F = TypeVar("F", bound=Callable[..., Response])


def endpoint(view: F) -> F:
    """Maps domain errors to their status and anything unexpected to a bare 500."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            return view(*args, **kwargs)
        except errors.PortalError as exc:
            return error_response(exc)
        except Exception:  # the one top-level mapper: never leak internals
            log.exception("unhandled error in %s", view.__name__)
            return error_response(errors.PortalError())

    return wrapper  # type: ignore[return-value]


Schema = Mapping[str, tuple[type, bool]]


def parse_json(raw_body: bytes | str | None, schema: Schema) -> dict[str, Any]:
    """Strict: an object with exactly the known fields, of the declared types."""
    raw = raw_body.encode("utf-8") if isinstance(raw_body, str) else (raw_body or b"")
    if len(raw) > MAX_BODY_BYTES:
        raise errors.PayloadTooLargeError()
    if not schema and not raw.strip():
        return {}
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise errors.InvalidRequestError("Der Inhalt ist kein gültiges JSON.") from exc
    if not isinstance(data, dict):
        raise errors.InvalidRequestError("Erwartet wird ein JSON-Objekt.")
    unknown = sorted(set(data) - set(schema))
    if unknown:
        raise errors.InvalidRequestError(f"Unbekanntes Feld: {unknown[0]}.")
    for name, (kind, required) in schema.items():
        _check_field(data, name, kind, required)
    return data


def _check_field(data: dict[str, Any], name: str, kind: type, required: bool) -> None:
    if name not in data or data[name] is None:
        if required:
            raise errors.InvalidRequestError(f"Das Feld {name} fehlt.")
        data.pop(name, None)
        return
    value = data[name]
    # bool is an int in Python; a JSON true must not pass as a number or vice versa.
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise errors.InvalidRequestError(f"Das Feld {name} hat den falschen Typ.")
    if isinstance(value, str) and (not value.strip() and required):
        raise errors.InvalidRequestError(f"Das Feld {name} darf nicht leer sein.")


def check_length(value: str, name: str, maximum: int) -> str:
    if len(value) > maximum:
        raise errors.InvalidRequestError(f"Das Feld {name} ist zu lang (höchstens {maximum}).")
    return value


def query_params(request: Any, allowed: set[str]) -> dict[str, str]:
    params: dict[str, str] = dict(request.query_params or {})
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise errors.InvalidRequestError(f"Unbekannter Parameter: {unknown[0]}.")
    return params


def client_ip(request: Any) -> str:
    # CloudFront (and its local stand-in) tells the viewer's address in this header.
    viewer = request.headers.get("cloudfront-viewer-address")
    if viewer:
        return str(viewer).rsplit(":", 1)[0]
    identity = (request.context or {}).get("identity") or {}
    return str(identity.get("sourceIp") or "unknown")


def bearer_token(request: Any) -> str:
    header = request.headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise errors.UnauthorizedError()
    return token.strip()


# Chalice answers some requests itself ({"Code", "Message"}), e.g. a content type a route
# does not take; those answers get the contract's shape too.
_CHALICE_ERRORS = {
    400: (400, errors.InvalidRequestError()),
    404: (404, errors.RouteNotFoundError()),
    # API Gateway answers a method a route lacks itself, as an unknown route.
    405: (404, errors.RouteNotFoundError()),
    413: (413, errors.PayloadTooLargeError()),
    415: (400, errors.InvalidRequestError("Erwartet wird JSON (Content-Type application/json).")),
}


def contract_errors(event: Any, get_response: Callable[[Any], Response]) -> Response:
    response = get_response(event)
    body = response.body
    if isinstance(body, dict) and set(body) == {"Code", "Message"}:
        status, error = _CHALICE_ERRORS.get(response.status_code, (500, errors.PortalError()))
        return Response(
            body=json.dumps(error_body(error.code, error.message)),
            status_code=status,
            headers={"Content-Type": "application/json", "Cache-Control": "no-store"},
        )
    return response
