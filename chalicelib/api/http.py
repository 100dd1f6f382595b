"""HTTP edge helpers: strict JSON parsing, the error table and the one top-level mapper."""

from __future__ import annotations

import functools
import json
import logging
import re
import unicodedata
from collections.abc import Callable, Collection, Mapping
from datetime import date, datetime
from typing import Any, TypeVar

from chalice.app import Response

from chalicelib.domain import errors
from chalicelib.domain.validation import is_record_id

MAX_BODY_BYTES = 64 * 1024
# Deeper JSON than any route takes; bounded before parsing, so a body under the size limit
# cannot exhaust the parser's recursion.
MAX_JSON_DEPTH = 8
# Identifiers in a path are opaque, but always short runs of these characters.
ASCII_DIGITS = re.compile(r"[0-9]{1,9}", re.ASCII)
# Fields whose value is a password: a bad character is a broken password rule, named as such.
PASSWORD_FIELDS = frozenset({"password", "new_password", "current_password"})
MULTILINE_ALLOWED = frozenset("\n\r\t")
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
    errors.InvoiceNotCreditableError: 409,
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

FORBIDDEN = ("forbidden", "Zugriff verweigert.")


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
    """Checks the path's identifiers, maps domain errors to their status, a dependency
    that does not answer to 503 and anything else unexpected to a bare 500."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            for value in kwargs.values():  # chalice passes the path parameters by name
                path_id(value)
            return view(*args, **kwargs)
        except errors.PortalError as exc:
            return error_response(exc)
        except Exception as exc:  # the one top-level mapper: never leak internals
            from chalicelib.bootstrap import dependency_unavailable

            if dependency_unavailable(exc):
                log.warning("dependency did not answer in %s", view.__name__, exc_info=True)
                return error_response(errors.ServiceUnavailableError())
            log.exception("unhandled error in %s", view.__name__)
            return error_response(errors.PortalError())

    return wrapper  # type: ignore[return-value]


def path_id(value: Any) -> str:
    """An identifier from the path, refused before it is used anywhere."""
    if not isinstance(value, str) or not is_record_id(value):
        raise errors.InvalidRequestError("Die Kennung in der Adresse ist ungültig.")
    return value


Schema = Mapping[str, tuple[type, bool]]


def parse_json(
    raw_body: bytes | str | None, schema: Schema, multiline: Collection[str] = ()
) -> dict[str, Any]:
    """Strict: an object with exactly the known fields, of the declared types.

    Every string in the body (keys too, at any depth) must be valid Unicode; control
    characters are refused except line breaks and tabs in the fields named in `multiline`.
    """
    raw = (
        raw_body.encode("utf-8", "surrogatepass") if isinstance(raw_body, str) else raw_body or b""
    )
    if len(raw) > MAX_BODY_BYTES:
        raise errors.PayloadTooLargeError()
    if not schema and not raw.strip():
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise errors.InvalidRequestError("Der Inhalt ist kein gültiges UTF-8.") from exc
    if json_depth(text) > MAX_JSON_DEPTH:
        raise errors.InvalidRequestError("Der Inhalt ist zu tief verschachtelt.")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise errors.InvalidRequestError("Der Inhalt ist kein gültiges JSON.") from exc
    if not isinstance(data, dict):
        raise errors.InvalidRequestError("Erwartet wird ein JSON-Objekt.")
    unknown = sorted(set(data) - set(schema))
    if unknown:
        raise errors.InvalidRequestError(f"Unbekanntes Feld: {_shown(unknown[0])}.")
    for name, (kind, required) in schema.items():
        _check_field(data, name, kind, required)
    for name, value in data.items():
        _check_strings(name, value, name in multiline)
    return data


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in `text`, without parsing it."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub("", text)):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _shown(name: str) -> str:
    return name.encode("utf-8", "replace").decode("utf-8")[:40]


def _bad_character(value: str, multiline: bool) -> str | None:
    """Why `value` cannot be stored or shown, or None."""
    for char in value:
        category = unicodedata.category(char)
        if category == "Cs":
            return "enthält ungültige Zeichen (kein gültiges Unicode)"
        if category in ("Cc", "Zl", "Zp") and not (multiline and char in MULTILINE_ALLOWED):
            return "darf keine Steuerzeichen (z. B. Zeilenumbrüche) enthalten"
    return None


def _check_strings(name: str, value: Any, multiline: bool) -> None:
    if isinstance(value, str):
        problem = _bad_character(value, multiline)
        if problem is None:
            return
        if name in PASSWORD_FIELDS:
            raise errors.PasswordPolicyError(
                "Das Passwort darf keine Steuerzeichen (z. B. Zeilenumbrüche oder Tabulatoren) "
                "und nur gültige Unicode-Zeichen enthalten."
            )
        raise errors.InvalidRequestError(f"Das Feld {name} {problem}.")
    if isinstance(value, dict):
        for key, item in value.items():
            if _bad_character(key, False):
                raise errors.InvalidRequestError(f"Das Feld {name} enthält einen ungültigen Namen.")
            _check_strings(f"{name}.{key}", item, False)
    elif isinstance(value, list):
        for item in value:
            _check_strings(name, item, False)


def text_param(value: str, name: str) -> str:
    """A query or header value: valid Unicode, no control characters."""
    problem = _bad_character(value, False)
    if problem:
        raise errors.InvalidRequestError(f"Der Parameter {name} {problem}.")
    return value


def int_param(value: str, name: str, minimum: int, maximum: int) -> int:
    """A number from the query string: ASCII digits only, within bounds."""
    if not ASCII_DIGITS.fullmatch(value) or not minimum <= int(value) <= maximum:
        raise errors.InvalidRequestError(
            f"{name} muss eine Zahl zwischen {minimum} und {maximum} sein."
        )
    return int(value)


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
        raise errors.InvalidRequestError(f"Unbekannter Parameter: {_shown(unknown[0])}.")
    for name, value in params.items():
        text_param(value, name)
    return params


# CloudFront tells the viewer's address in this header. It is trusted only because every
# request reaching a view has passed the origin check (chalicelib.api.edge), which refuses
# requests that did not come through the distribution.
VIEWER_ADDRESS = "cloudfront-viewer-address"
_ADDRESS = re.compile(r"[0-9A-Fa-f:.]{2,45}", re.ASCII)


def client_ip(request: Any) -> str:
    viewer = str(request.headers.get(VIEWER_ADDRESS) or "")
    address = viewer.rsplit(":", 1)[0].strip("[]") if viewer else ""
    if _ADDRESS.fullmatch(address):
        return address
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
