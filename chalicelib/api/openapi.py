"""GET /api/openapi.json: the machine-readable contract (OpenAPI 3.1).

One entry per route in OPERATIONS, keyed by method and path as the route is registered.
Adding a route means adding its entry here, next to the others: tests/integration/
test_openapi.py fails naming every route the document lacks (and every entry that names a
route the code no longer has), and `make test` fuzzes the running stack with this document.

Errors every route may answer (the contract's generic errors) are added to each operation
here, so an entry lists only the route's own error statuses.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

from chalice.app import Blueprint, Response

from chalicelib.api import http

bp = Blueprint(__name__)

Schema = dict[str, Any]
ID_PATTERN = "^[A-Za-z0-9_-]{1,128}$"
ONE_LINE = "^[^\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029]*$"
MULTI_LINE = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f\\u2028\\u2029]*$"


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def text(max_length: int | None = None, multiline: bool = False) -> Schema:
    schema: Schema = {
        "type": "string",
        "minLength": 1,
        "pattern": MULTI_LINE if multiline else ONE_LINE,
    }
    if max_length:
        schema["maxLength"] = max_length
    return schema


def body(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    """A request body: a JSON object with exactly these fields (optional ones may be null)."""
    properties = dict(required)
    for name, schema in (optional or {}).items():
        properties[name] = {"anyOf": [schema, {"type": "null"}]}
    return {
        "type": "object",
        "properties": properties,
        "required": sorted(required),
        "additionalProperties": False,
    }


def obj(fields: dict[str, Schema], nullable: tuple[str, ...] = ()) -> Schema:
    """A response object with these fields, all present (more may be added later)."""
    properties = {
        name: {"anyOf": [schema, {"type": "null"}]} if name in nullable else schema
        for name, schema in fields.items()
    }
    return {"type": "object", "properties": properties, "required": sorted(fields)}


STRING: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
BOOL: Schema = {"type": "boolean"}
CENTS: Schema = {"type": "integer"}
DATE: Schema = {"type": "string", "format": "date"}
DATETIME: Schema = {"type": "string"}
EMPTY: Schema = {"type": "object", "maxProperties": 0}

COMPONENTS: dict[str, Schema] = {
    "Error": {
        "type": "object",
        "properties": {
            "error": obj({"code": {"type": "string", "pattern": "^[a-z_]+$"}, "message": STRING})
        },
        "required": ["error"],
    },
    "Tokens": obj(
        {"access_token": STRING, "id_token": STRING, "refresh_token": STRING, "expires_in": INT}
    ),
    "Link": obj({"url": STRING, "expires_in": INT, "filename": STRING}),
    "Address": obj({"street": STRING, "postal_code": STRING, "city": STRING, "country": STRING}),
    "Profile": obj(
        {
            "store": obj(
                {
                    "id": STRING,
                    "name": STRING,
                    "billing_email": STRING,
                    "vat_id": STRING,
                    "address": ref("Address"),
                },
                nullable=("vat_id",),
            ),
            "account_status": {"enum": ["active", "blocked"]},
            "blocked_since": DATETIME,
            "open_balance_cents": CENTS,
            "overdue_balance_cents": CENTS,
            "currency": {"const": "EUR"},
            "payment_method": obj(
                {
                    "type": {"const": "card"},
                    "brand": STRING,
                    "last4": STRING,
                    "exp_month": INT,
                    "exp_year": INT,
                }
            ),  # fmt: skip
            "autopay": BOOL,
            "accountant_email": STRING,
            "mfa_enabled": BOOL,
            # the till will be locked on that date unless the amount is paid
            "lock_warning": obj({"date": DATE, "amount_cents": CENTS}),
        },
        nullable=("blocked_since", "payment_method", "accountant_email", "lock_warning"),
    ),
    "Activity": obj({"at": DATETIME, "type": STRING, "summary": STRING}),
    "InvoiceSummary": obj(
        {
            "id": STRING,
            "number": STRING,
            "issue_date": DATE,
            "due_date": DATE,
            "period": STRING,
            "description": STRING,
            "net_cents": CENTS,
            "tax_cents": CENTS,
            "gross_cents": CENTS,
            "currency": STRING,
            "status": {"enum": ["open", "processing", "paid", "void"]},
            "overdue": BOOL,
            "paid_at": DATETIME,
            "correction": {"enum": ["cancelled", "credited", "partially_credited"]},
            "amount_due_cents": CENTS,
        },
        nullable=("period", "paid_at", "correction"),
    ),
    "Payment": obj(
        {
            "id": STRING,
            "invoice_id": STRING,
            "provider": {"enum": ["stripe", "paypal"]},
            "method": {"enum": ["card", "paypal"]},
            "kind": {"enum": ["manual", "autopay"]},
            "amount_cents": CENTS,
            "currency": STRING,
            "status": {
                "enum": [
                    "pending",
                    "requires_action",
                    "succeeded",
                    "failed",
                    "canceled",
                    "refunded",
                ]
            },
            "failure_code": STRING,
            # every invoice this payment settles (all or none); [invoice_id] for one
            "invoice_ids": {"type": "array", "items": STRING, "minItems": 1},
            "created_at": DATETIME,
            "updated_at": DATETIME,
        },
        nullable=("failure_code",),
    ),
    "Document": obj(
        {
            "id": STRING,
            "kind": {"enum": ["invoice", "cancellation", "credit_note", "receipt"]},
            "number": STRING,
            "issue_date": DATE,
            "gross_cents": CENTS,
            "currency": STRING,
            "refers_to": obj({"invoice_id": STRING, "number": STRING}),
        },
        nullable=("refers_to",),
    ),
    "PaymentStart": obj(
        {
            "payment_id": STRING,
            "provider": {"enum": ["stripe", "paypal"]},
            "client_secret": STRING,
            "approve_url": STRING,
        },
        nullable=("client_secret", "approve_url"),
    ),
}
COMPONENTS["Invoice"] = {
    "allOf": [
        ref("InvoiceSummary"),
        obj(
            {
                "lines": {
                    "type": "array",
                    "items": obj(
                        {
                            "description": STRING,
                            "quantity": INT,
                            "unit_net_cents": CENTS,
                            "tax_rate_percent": {"type": "number"},
                            "net_cents": CENTS,
                        }
                    ),  # fmt: skip
                },
                "payments": {"type": "array", "items": ref("Payment")},
                "refunded_cents": CENTS,
                "credited_cents": CENTS,
                # the invoice itself first, then its receipts and corrections
                "documents": {"type": "array", "items": ref("Document"), "minItems": 1},
                # net and VAT per rate, exactly as the PDF's totals block
                "tax_breakdown": {
                    "type": "array",
                    "items": obj(
                        {"rate_percent": {"type": "number"}, "net_cents": CENTS, "tax_cents": CENTS}
                    ),
                },
            }
        ),
    ]
}


@dataclasses.dataclass(frozen=True)
class Operation:
    """One route: its summary, input and answers (status -> body schema, None = no body)."""

    summary: str
    responses: dict[int, Schema | None]
    signed_in: bool = False
    body: Schema | None = None
    query: dict[str, Schema] = dataclasses.field(default_factory=dict)
    errors: tuple[int, ...] = ()  # the route's own error statuses
    headers: dict[str, Schema] = dataclasses.field(default_factory=dict)


PAYMENT_METHOD = {"enum": ["card", "paypal"]}

OPERATIONS: dict[tuple[str, str], Operation] = {
    ("GET", "/api/health"): Operation(
        "Betriebsbereitschaft", {200: obj({"status": {"const": "ok"}})}
    ),
    ("GET", "/api/config"): Operation(
        "Konfiguration der Seite",
        {
            200: obj(
                {
                    "stripe_publishable_key": STRING,
                    "stripe_js_url": STRING,
                    "paypal_enabled": BOOL,
                    "support": obj({"email": STRING, "phone": STRING, "hours": STRING}),
                }
            )
        },
    ),  # fmt: skip
    ("GET", "/api/openapi.json"): Operation("Dieses Dokument", {200: {"type": "object"}}),
    ("GET", "/api/invitations/{token}"): Operation(
        "Einladung ansehen",
        {200: obj({"email": STRING, "store_name": STRING, "expires_at": DATETIME})},
        errors=(404, 410),
    ),
    ("POST", "/api/invitations/{token}/accept"): Operation(
        "Einladung annehmen (Passwort setzen)",
        {201: obj({"email": STRING})},
        body=body({"password": text(256)}),
        errors=(404, 410),
    ),
    ("POST", "/api/auth/login"): Operation(
        "Anmelden (mit Zwei-Faktor: erst die Sitzung für den Einmalcode)",
        {
            200: {
                "anyOf": [
                    ref("Tokens"),
                    obj({"mfa_required": {"const": True}, "session": STRING}),
                ]
            }
        },
        body=body({"email": text(254), "password": text()}),
        errors=(401,),
    ),
    ("POST", "/api/auth/login/mfa"): Operation(
        "Anmelden, zweiter Schritt: der Einmalcode",
        {200: ref("Tokens")},
        body=body({"session": text(4096), "code": text(16)}),
        errors=(401,),
    ),
    ("POST", "/api/auth/change-password"): Operation(
        "Passwort ändern (beendet alle Sitzungen)",
        {204: None},
        signed_in=True,
        body=body({"current_password": text(256), "new_password": text(256)}),
        errors=(400, 401),
    ),
    ("POST", "/api/auth/mfa/setup"): Operation(
        "Zwei-Faktor einrichten: Geheimnis und QR-Code",
        {200: obj({"secret": STRING, "otpauth_uri": STRING, "qr_svg": STRING})},
        signed_in=True,
    ),
    ("POST", "/api/auth/mfa/verify"): Operation(
        "Zwei-Faktor mit dem ersten Code einschalten",
        {200: ref("Profile")},
        signed_in=True,
        body=body({"code": text(16)}),
        errors=(400,),
    ),
    ("DELETE", "/api/auth/mfa"): Operation(
        "Zwei-Faktor mit einem Code ausschalten",
        {200: ref("Profile")},
        signed_in=True,
        body=body({"code": text(16)}),
        errors=(400,),
    ),
    ("POST", "/api/auth/refresh"): Operation(
        "Zugangstoken erneuern",
        {200: obj({"access_token": STRING, "id_token": STRING, "expires_in": INT})},
        body=body({"refresh_token": text()}),
        errors=(401,),
    ),
    ("POST", "/api/auth/logout"): Operation(
        "Abmelden: beendet dieses und jedes frühere Token", {204: None}, signed_in=True
    ),
    ("POST", "/api/auth/forgot-password"): Operation(
        "Code für ein neues Passwort anfordern", {202: EMPTY}, body=body({"email": text(254)})
    ),
    ("POST", "/api/auth/reset-password"): Operation(
        "Neues Passwort mit Code setzen",
        {204: None},
        body=body({"email": text(254), "code": text(64), "password": text(256)}),
    ),
    ("GET", "/api/profile"): Operation("Profil des Stores", {200: ref("Profile")}, signed_in=True),
    ("PATCH", "/api/profile"): Operation(
        "Rechnungsdaten ändern (gilt für später ausgestellte Belege)",
        {200: ref("Profile")},
        signed_in=True,
        body={
            "type": "object",
            "properties": {
                "address": {
                    "type": "object",
                    "properties": {
                        "street": text(200),
                        "postal_code": text(12),
                        "city": text(100),
                        "country": text(2),
                    },
                    "additionalProperties": False,
                },
                "vat_id": {"anyOf": [text(20), {"type": "null"}]},
                "accountant_email": {"anyOf": [text(254), {"type": "null"}]},
            },
            "additionalProperties": False,
        },
        errors=(400,),
    ),
    ("POST", "/api/profile/email-change"): Operation(
        "Neue E-Mail-Adresse: Code an die neue Adresse",
        {202: EMPTY},
        signed_in=True,
        body=body({"new_email": text(254)}),
        errors=(400, 409),
    ),
    ("POST", "/api/profile/email-change/confirm"): Operation(
        "Neue E-Mail-Adresse mit dem Code bestätigen",
        {200: ref("Profile")},
        signed_in=True,
        body=body({"code": text(16)}),
        errors=(400, 409),
    ),
    ("GET", "/api/activity"): Operation(
        "Aktivitäten des Kontos, neueste zuerst",
        {
            200: obj(
                {"items": {"type": "array", "items": ref("Activity")}, "next_cursor": STRING},
                nullable=("next_cursor",),
            )
        },
        signed_in=True,
        query={"cursor": {"type": "string", "maxLength": 2048}},
        errors=(400,),
    ),
    ("GET", "/api/exports/documents"): Operation(
        "Alle Belege eines Jahres als ZIP (mit Übersicht und DATEV-Buchungsstapel)",
        {200: ref("Link")},
        signed_in=True,
        query={"year": {"type": "string", "pattern": "^[0-9]{4}$"}},
        errors=(400,),
    ),
    ("GET", "/api/invoices"): Operation(
        "Rechnungen, neueste zuerst",
        {
            200: obj(
                {"items": {"type": "array", "items": ref("InvoiceSummary")}, "next_cursor": STRING},
                nullable=("next_cursor",),
            )
        },
        signed_in=True,
        query={
            "status": {"enum": ["open", "paid", "all"]},
            "limit": {"type": "integer", "minimum": 1, "maximum": 100},
            "cursor": {"type": "string", "maxLength": 2048, "pattern": "^[\\x21-\\x7e]*$"},
        },
    ),  # fmt: skip
    ("GET", "/api/invoices/{invoice_id}"): Operation(
        "Eine Rechnung", {200: ref("Invoice")}, signed_in=True, errors=(404,)
    ),
    ("GET", "/api/invoices/{invoice_id}/pdf"): Operation(
        "Link zum PDF einer Rechnung", {200: ref("Link")}, signed_in=True, errors=(404,)
    ),
    ("GET", "/api/documents/{document_id}/pdf"): Operation(
        "Link zum PDF eines Dokuments", {200: ref("Link")}, signed_in=True, errors=(404,)
    ),
    ("GET", "/api/invoices/{invoice_id}/xml"): Operation(
        "Link zur E-Rechnung (XRechnung, XML) einer Rechnung",
        {200: ref("Link")},
        signed_in=True,
        errors=(404,),
    ),
    ("GET", "/api/documents/{document_id}/xml"): Operation(
        "Link zur E-Rechnung (XRechnung, XML) einer Stornorechnung oder Gutschrift",
        {200: ref("Link")},
        signed_in=True,
        errors=(404,),
    ),
    ("POST", "/api/invoices/{invoice_id}/payments"): Operation(
        "Zahlung einer Rechnung beginnen",
        {201: ref("PaymentStart")},
        signed_in=True,
        body=body({"method": PAYMENT_METHOD}, {"save_card": BOOL}),
        errors=(404, 409, 502),
    ),
    ("POST", "/api/payments"): Operation(
        "Mehrere Rechnungen mit einer Zahlung begleichen",
        {201: ref("PaymentStart")},
        signed_in=True,
        body=body(
            {
                "method": PAYMENT_METHOD,
                "invoice_ids": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 24,
                    "items": {"type": "string", "pattern": ID_PATTERN},
                },
            },
            {"save_card": BOOL},
        ),
        errors=(404, 409, 502),
    ),  # fmt: skip
    ("GET", "/api/payments/{payment_id}"): Operation(
        "Eine Zahlung", {200: ref("Payment")}, signed_in=True, errors=(404,)
    ),
    ("POST", "/api/payments/{payment_id}/card"): Operation(
        "Kartenzahlung mit einem Stripe-Token",
        {
            200: obj(
                {
                    "payment": ref("Payment"),
                    "client_secret": STRING,
                    "requires_authentication": BOOL,
                },
                nullable=("client_secret",),
            )
        },
        signed_in=True,
        body=body({"token": text(255)}),
        errors=(404, 409, 502),
    ),  # fmt: skip
    ("POST", "/api/payments/{payment_id}/complete"): Operation(
        "Zahlungsstand beim Anbieter abfragen",
        {200: ref("Payment")},
        signed_in=True,
        errors=(404, 409, 502),
    ),  # fmt: skip
    ("POST", "/api/payments/{payment_id}/cancel"): Operation(
        "Zahlung abbrechen", {200: ref("Payment")}, signed_in=True, errors=(404, 409, 502)
    ),
    ("POST", "/api/payment-method/card"): Operation(
        "Karte für automatische Abbuchung hinterlegen (beginnen)",
        {201: obj({"setup_intent_client_secret": STRING})},
        signed_in=True,
        errors=(502,),
    ),
    ("POST", "/api/payment-method/card/confirm"): Operation(
        "Hinterlegte Karte bestätigen",
        {200: ref("Profile")},
        signed_in=True,
        body=body({"setup_intent_id": text(255)}),
        errors=(502,),
    ),
    ("DELETE", "/api/payment-method"): Operation(
        "Hinterlegte Karte entfernen", {200: ref("Profile")}, signed_in=True, errors=(502,)
    ),
    ("PUT", "/api/autopay"): Operation(
        "Automatische Abbuchung ein- oder ausschalten",
        {200: ref("Profile")},
        signed_in=True,
        body=body({"enabled": BOOL}),
        errors=(409,),
    ),
    ("POST", "/api/support/requests"): Operation(
        "Support-Anfrage senden",
        {202: obj({"id": STRING})},
        signed_in=True,
        body=body(
            {"subject": text(200), "message": text(5000, multiline=True)},
            {"invoice_id": {"type": "string", "pattern": ID_PATTERN}},
        ),
        errors=(404,),
    ),
    # Called by the providers (through CloudFront too), verified by their signatures.
    ("POST", "/api/webhooks/stripe"): Operation(
        "Benachrichtigung von Stripe",
        {200: obj({"received": {"const": True}})},
        body={"type": "object"},
        headers={"Stripe-Signature": STRING},
    ),
    ("POST", "/api/webhooks/paypal"): Operation(
        "Benachrichtigung von PayPal",
        {200: obj({"received": {"const": True}})},
        body={"type": "object"},
    ),
}

# The contract's generic errors, on every route (403: the request did not come through the
# CDN; 503: a dependency did not answer in time).
GENERIC_ERRORS = (400, 403, 404, 429, 500, 503)
BODY_ERRORS = (413,)
SIGNED_IN_ERRORS = (401,)
ERROR_TEXT = {
    400: "Ungültige Anfrage",
    401: "Nicht angemeldet",
    403: "Nicht über das CDN",
    404: "Nicht gefunden",
    409: "Konflikt",
    410: "Abgelaufen",
    413: "Zu groß",
    429: "Zu viele Versuche",
    500: "Interner Fehler",
    502: "Zahlungsanbieter lehnt ab",
    503: "Abhängigkeit antwortet nicht",
}


def _path_parameters(path: str) -> list[Schema]:
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    return [
        {"name": name, "in": "path", "required": True,
         "schema": {"type": "string", "pattern": ID_PATTERN}}
        for name in names
    ]  # fmt: skip


def _operation(method: str, path: str, op: Operation) -> Schema:
    responses: dict[str, Schema] = {}
    for status, schema in op.responses.items():
        answer: Schema = {"description": "Erfolg"}
        if schema is not None:
            answer["content"] = {"application/json": {"schema": schema}}
        responses[str(status)] = answer
    statuses = set(GENERIC_ERRORS) | set(op.errors)
    statuses |= set(BODY_ERRORS) if op.body is not None else set()
    statuses |= set(SIGNED_IN_ERRORS) if op.signed_in else set()
    for status in sorted(statuses):
        responses[str(status)] = {
            "description": ERROR_TEXT[status],
            "content": {"application/json": {"schema": ref("Error")}},
        }
    parameters = _path_parameters(path)
    parameters += [
        {"name": name, "in": "query", "required": False, "schema": schema}
        for name, schema in op.query.items()
    ]
    parameters += [
        {"name": name, "in": "header", "required": False, "schema": schema}
        for name, schema in op.headers.items()
    ]
    document: Schema = {
        "operationId": f"{method.lower()} {path}",
        "summary": op.summary,
        "responses": responses,
    }
    if parameters:
        document["parameters"] = parameters
    if op.body is not None:
        document["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": op.body}},
        }
    document["security"] = [{"bearer": []}] if op.signed_in else []
    return document


def disagreements(
    routes: Mapping[str, Mapping[str, Any]],
    operations: Mapping[tuple[str, str], Operation] = OPERATIONS,
) -> list[str]:
    """Where the routes of the code (chalice's route table) and the document differ."""
    registered = {(method, path) for path, methods in routes.items() for method in methods}
    order = lambda route: (route[1], route[0])  # noqa: E731
    problems = [
        f"Route {method} {path} fehlt in chalicelib/api/openapi.py (OPERATIONS)"
        for method, path in sorted(registered - set(operations), key=order)
    ]
    problems += [
        f"OPERATIONS nennt {method} {path}, die Route gibt es im Code nicht"
        for method, path in sorted(set(operations) - registered, key=order)
    ]
    return problems


@functools.lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    paths: dict[str, Schema] = {}
    for (method, path), op in sorted(OPERATIONS.items(), key=lambda item: item[0][1]):
        paths.setdefault(path, {})[method.lower()] = _operation(method, path, op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "SIDES Kundenportal API",
            "version": "2",
            "description": "Vertrag zwischen Seite, Zahlungsanbietern und Backend.",
        },
        "paths": paths,
        "components": {
            "schemas": COMPONENTS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


@bp.route("/openapi.json", methods=["GET"])
@http.endpoint
def openapi() -> Response:
    return http.json_response(document())
