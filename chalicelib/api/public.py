"""Public routes: health, page configuration, invitations and sign-in."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.api import http
from chalicelib.bootstrap import get_container

bp = Blueprint(__name__)


@bp.route("/health", methods=["GET"])
@http.endpoint
def health() -> Response:
    return http.json_response({"status": "ok"})


@bp.route("/config", methods=["GET"])
@http.endpoint
def config() -> Response:
    settings = get_container().settings
    return http.json_response(
        {
            "stripe_publishable_key": settings.stripe_publishable_key,
            "stripe_js_url": settings.stripe_js_url,
            "paypal_enabled": settings.paypal_enabled,
            "support": {
                "email": settings.support_email,
                "phone": settings.support_phone,
                "hours": settings.support_hours,
            },
        }
    )


@bp.route("/invitations/{token}", methods=["GET"])
@http.endpoint
def get_invitation(token: str) -> Response:
    view = get_container().invitation_service.view(token)
    return http.json_response(
        {"email": view.email, "store_name": view.store_name, "expires_at": view.expires_at}
    )


@bp.route("/invitations/{token}/accept", methods=["POST"], content_types=http.ACCEPTED_TYPES)
@http.endpoint
def accept_invitation(token: str) -> Response:
    request = bp.current_request
    body = http.parse_json(request.raw_body, {"password": (str, True)})
    email = get_container().invitation_service.accept(
        token, body["password"], http.client_ip(request)
    )
    return http.json_response({"email": email}, status=201)
