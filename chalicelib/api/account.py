"""Signed-in routes of the owner: profile, invoices, PDFs, support."""

from __future__ import annotations

import json
from typing import Any

from chalice.app import Blueprint, Response

from chalicelib.api import http, presenters
from chalicelib.api.signed_in import signed_in
from chalicelib.bootstrap import get_container
from chalicelib.domain import errors
from chalicelib.domain.periods import today_in_berlin
from chalicelib.services.ports import Principal

bp = Blueprint(__name__)
STATUSES = {"open", "paid", "all"}


@bp.route("/profile", methods=["GET"])
@http.endpoint
@signed_in(bp)
def profile(principal: Principal) -> Response:
    container = get_container()
    store = container.store_service.profile(principal.store_id)
    return http.json_response(
        presenters.profile(
            store, today_in_berlin(container.clock.now()), container.settings.dunning_grace_days
        )
    )


def _list_params() -> tuple[str, int, str | None]:
    params = http.query_params(bp.current_request, {"status", "limit", "cursor"})
    status = params.get("status", "all")
    if status not in STATUSES:
        raise errors.InvalidRequestError("status muss open, paid oder all sein.")
    limit = http.int_param(params.get("limit", "20"), "limit", 1, 100)
    cursor = params.get("cursor") or None
    if cursor is not None and (len(cursor) > 2048 or not cursor.isascii()):
        raise errors.InvalidCursorError()
    return status, limit, cursor


@bp.route("/invoices", methods=["GET"])
@http.endpoint
@signed_in(bp)
def list_invoices(principal: Principal) -> Response:
    status, limit, cursor = _list_params()
    container = get_container()
    page = container.invoice_reader.list(principal.store_id, status, limit, cursor)
    today = today_in_berlin(container.clock.now())
    return http.json_response(
        {
            "items": [presenters.invoice_summary(i, today) for i in page.items],
            "next_cursor": page.next_cursor,
        }
    )


@bp.route("/invoices/{invoice_id}", methods=["GET"])
@http.endpoint
@signed_in(bp)
def get_invoice(principal: Principal, invoice_id: str) -> Response:
    container = get_container()
    invoice = container.invoice_reader.get(principal.store_id, invoice_id)
    return http.json_response(
        presenters.invoice_detail(invoice, today_in_berlin(container.clock.now()))
    )


@bp.route("/invoices/{invoice_id}/pdf", methods=["GET"])
@http.endpoint
@signed_in(bp)
def invoice_pdf(principal: Principal, invoice_id: str) -> Response:
    link = get_container().invoice_reader.pdf_link(principal.store_id, invoice_id)
    return http.json_response(presenters.link(link))


@bp.route("/invoices/{invoice_id}/xml", methods=["GET"])
@http.endpoint
@signed_in(bp)
def invoice_xml(principal: Principal, invoice_id: str) -> Response:
    link = get_container().invoice_reader.xml_link(principal.store_id, invoice_id)
    return http.json_response(presenters.link(link))


@bp.route("/support/requests", methods=["POST"], content_types=http.ACCEPTED_TYPES)
@http.endpoint
@signed_in(bp)
def support_request(principal: Principal) -> Response:
    body = http.parse_json(
        bp.current_request.raw_body,
        {"subject": (str, True), "message": (str, True), "invoice_id": (str, False)},
        multiline=("message",),
    )
    if "invoice_id" in body:
        http.path_id(body["invoice_id"])
    request_id = get_container().support.submit(
        principal.store_id,
        http.check_length(body["subject"].strip(), "subject", 200),
        http.check_length(body["message"].strip(), "message", 5000),
        body.get("invoice_id"),
    )
    return http.json_response({"id": request_id}, status=202)


# --- the owner's account (contract v2) ----------------------------------------------------


def _profile_response(store_id: str) -> Response:
    container = get_container()
    store = container.store_service.profile(store_id)
    return http.json_response(
        presenters.profile(
            store,
            today_in_berlin(container.clock.now()),
            container.settings.dunning_grace_days,
        )
    )


@bp.route("/profile", methods=["PATCH"], content_types=http.ACCEPTED_TYPES)
@http.endpoint
@signed_in(bp)
def update_profile(principal: Principal) -> Response:
    raw = bp.current_request.raw_body
    body = http.parse_json(
        raw, {"address": (dict, False), "vat_id": (str, False), "accountant_email": (str, False)}
    )
    # null removes the VAT ID or the accountant's address (parse_json drops null fields)
    given = json.loads(raw or b"{}")
    changes: dict[str, Any] = {}
    for name in ("vat_id", "accountant_email"):
        if name in given:
            value = body.get(name)
            changes[name] = None if value is None else http.check_length(value, name, 254)
    if not body.get("address") and not changes:
        raise errors.InvalidRequestError(
            "Nichts zu ändern: gib address, vat_id oder accountant_email an."
        )
    get_container().account_service.update_profile(
        principal.store_id, address=body.get("address"), **changes
    )
    return _profile_response(principal.store_id)


@bp.route("/profile/email-change", methods=["POST"], content_types=http.ACCEPTED_TYPES)
@http.endpoint
@signed_in(bp)
def email_change(principal: Principal) -> Response:
    body = http.parse_json(bp.current_request.raw_body, {"new_email": (str, True)})
    new_email = http.check_length(body["new_email"], "new_email", 254)
    get_container().account_service.request_email_change(principal.store_id, new_email)
    return http.json_response({}, status=202)


@bp.route("/profile/email-change/confirm", methods=["POST"], content_types=http.ACCEPTED_TYPES)
@http.endpoint
@signed_in(bp)
def email_change_confirm(principal: Principal) -> Response:
    body = http.parse_json(bp.current_request.raw_body, {"code": (str, True)})
    code = http.check_length(body["code"], "code", 16)
    get_container().account_service.confirm_email_change(principal.store_id, code)
    return _profile_response(principal.store_id)


@bp.route("/activity", methods=["GET"])
@http.endpoint
@signed_in(bp)
def activity(principal: Principal) -> Response:
    params = http.query_params(bp.current_request, {"cursor"})
    cursor = params.get("cursor") or None
    if cursor is not None and (len(cursor) > 2048 or not cursor.isascii()):
        raise errors.InvalidCursorError()
    page = get_container().activity_reader.list(principal.store_id, cursor)
    return http.json_response(
        {
            "items": [
                {"at": entry.at, "type": entry.type, "summary": entry.summary}
                for entry in page.items
            ],
            "next_cursor": page.next_cursor,
        }
    )


@bp.route("/exports/documents", methods=["GET"])
@http.endpoint
@signed_in(bp)
def export_documents(principal: Principal) -> Response:
    params = http.query_params(bp.current_request, {"year"})
    year = http.int_param(params.get("year", ""), "year", 2000, 2100)
    link = get_container().document_export.export_year(principal.store_id, year)
    return http.json_response(presenters.link(link))
