"""Signed-in payment routes and the providers' webhook routes."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Response

from chalicelib.api import http, presenters
from chalicelib.api.signed_in import signed_in
from chalicelib.bootstrap import get_container
from chalicelib.domain.errors import InvalidRequestError, PayloadTooLargeError
from chalicelib.domain.periods import today_in_berlin
from chalicelib.services.ports import Principal

bp = Blueprint(__name__)


@bp.route("/invoices/{invoice_id}/payments", methods=["POST"], content_types=http.ACCEPTED_TYPES)
@http.endpoint
@signed_in(bp)
def start_payment(principal: Principal, invoice_id: str) -> Response:
    body = http.parse_json(
        bp.current_request.raw_body, {"method": (str, True), "save_card": (bool, False)}
    )
    started = get_container().payments.start(
        principal.store_id, [invoice_id], body["method"], bool(body.get("save_card", False))
    )
    return http.json_response(presenters.payment_start(started), status=201)


@bp.route("/payments", methods=["POST"], content_types=http.ACCEPTED_TYPES)
@http.endpoint
@signed_in(bp)
def start_payment_for_invoices(principal: Principal) -> Response:
    body = http.parse_json(
        bp.current_request.raw_body,
        {"method": (str, True), "invoice_ids": (list, True), "save_card": (bool, False)},
    )
    invoice_ids = body["invoice_ids"]
    if not all(isinstance(i, str) and 0 < len(i) <= 100 for i in invoice_ids):
        raise InvalidRequestError("invoice_ids muss eine Liste von Rechnungs-IDs sein.")
    started = get_container().payments.start(
        principal.store_id, invoice_ids, body["method"], bool(body.get("save_card", False))
    )
    return http.json_response(presenters.payment_start(started), status=201)


@bp.route("/payments/{payment_id}/card", methods=["POST"], content_types=http.ACCEPTED_TYPES)
@http.endpoint
@signed_in(bp)
def pay_by_card(principal: Principal, payment_id: str) -> Response:
    body = http.parse_json(bp.current_request.raw_body, {"token": (str, True)})
    token = http.check_length(body["token"], "token", 255)
    step = get_container().payments.card(principal.store_id, payment_id, token)
    return http.json_response(
        {
            "payment": presenters.payment(step.payment),
            "client_secret": step.client_secret,
            "requires_authentication": step.requires_authentication,
        }
    )


@bp.route("/payments/{payment_id}/complete", methods=["POST"], content_types=http.ACCEPTED_TYPES)
@http.endpoint
@signed_in(bp)
def complete_payment(principal: Principal, payment_id: str) -> Response:
    http.parse_json(bp.current_request.raw_body, {})
    payment = get_container().payments.complete(principal.store_id, payment_id)
    return http.json_response(presenters.payment(payment))


@bp.route("/payments/{payment_id}/cancel", methods=["POST"], content_types=http.ACCEPTED_TYPES)
@http.endpoint
@signed_in(bp)
def cancel_payment(principal: Principal, payment_id: str) -> Response:
    http.parse_json(bp.current_request.raw_body, {})
    payment = get_container().payments.cancel(principal.store_id, payment_id)
    return http.json_response(presenters.payment(payment))


@bp.route("/payments/{payment_id}", methods=["GET"])
@http.endpoint
@signed_in(bp)
def get_payment(principal: Principal, payment_id: str) -> Response:
    payment = get_container().payments.get(principal.store_id, payment_id)
    return http.json_response(presenters.payment(payment))


def _profile(store_id: str) -> Response:
    container = get_container()
    store = container.store_service.profile(store_id)
    return http.json_response(presenters.profile(store, today_in_berlin(container.clock.now())))


@bp.route("/payment-method/card", methods=["POST"], content_types=http.ACCEPTED_TYPES)
@http.endpoint
@signed_in(bp)
def start_card_setup(principal: Principal) -> Response:
    http.parse_json(bp.current_request.raw_body, {})
    secret = get_container().payment_methods.start_setup(principal.store_id)
    return http.json_response({"setup_intent_client_secret": secret}, status=201)


@bp.route("/payment-method/card/confirm", methods=["POST"], content_types=http.ACCEPTED_TYPES)
@http.endpoint
@signed_in(bp)
def confirm_card_setup(principal: Principal) -> Response:
    body = http.parse_json(bp.current_request.raw_body, {"setup_intent_id": (str, True)})
    setup_id = http.check_length(body["setup_intent_id"], "setup_intent_id", 255)
    get_container().payment_methods.confirm_setup(principal.store_id, setup_id)
    return _profile(principal.store_id)


@bp.route("/payment-method", methods=["DELETE"])
@http.endpoint
@signed_in(bp)
def remove_card(principal: Principal) -> Response:
    get_container().payment_methods.remove(principal.store_id)
    return _profile(principal.store_id)


@bp.route("/autopay", methods=["PUT"], content_types=http.ACCEPTED_TYPES)
@http.endpoint
@signed_in(bp)
def set_autopay(principal: Principal) -> Response:
    body = http.parse_json(bp.current_request.raw_body, {"enabled": (bool, True)})
    get_container().payment_methods.set_autopay(principal.store_id, body["enabled"])
    return _profile(principal.store_id)


def _raw_webhook_body() -> bytes:
    raw: Any = bp.current_request.raw_body or b""
    body = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
    if len(body) > http.MAX_BODY_BYTES:
        raise PayloadTooLargeError()
    return body


@bp.route("/webhooks/stripe", methods=["POST"], content_types=http.ACCEPTED_TYPES)
@http.endpoint
def stripe_webhook() -> Response:
    return _webhook("stripe")


@bp.route("/webhooks/paypal", methods=["POST"], content_types=http.ACCEPTED_TYPES)
@http.endpoint
def paypal_webhook() -> Response:
    return _webhook("paypal")


def _webhook(provider: str) -> Response:
    body = _raw_webhook_body()
    headers = {k.lower(): v for k, v in bp.current_request.headers.items()}
    get_container().webhooks.receive(provider, headers, body)
    return http.json_response({"received": True})
