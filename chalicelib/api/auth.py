"""Sign-in routes; the password only passes through to Cognito."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.api import http
from chalicelib.api.signed_in import signed_in
from chalicelib.bootstrap import get_container
from chalicelib.services.ports import Principal

bp = Blueprint(__name__)
EMAIL_MAX = 254


@bp.route("/auth/login", methods=["POST"], content_types=http.ACCEPTED_TYPES)
@http.endpoint
def login() -> Response:
    request = bp.current_request
    body = http.parse_json(request.raw_body, {"email": (str, True), "password": (str, True)})
    email = http.check_length(body["email"], "email", EMAIL_MAX)
    tokens = get_container().auth.login(email, body["password"], http.client_ip(request))
    return http.json_response(
        {
            "access_token": tokens.access_token,
            "id_token": tokens.id_token,
            "refresh_token": tokens.refresh_token,
            "expires_in": tokens.expires_in,
        }
    )


@bp.route("/auth/refresh", methods=["POST"], content_types=http.ACCEPTED_TYPES)
@http.endpoint
def refresh() -> Response:
    body = http.parse_json(bp.current_request.raw_body, {"refresh_token": (str, True)})
    tokens = get_container().auth.refresh(body["refresh_token"])
    return http.json_response(
        {
            "access_token": tokens.access_token,
            "id_token": tokens.id_token,
            "expires_in": tokens.expires_in,
        }
    )


@bp.route("/auth/logout", methods=["POST"], content_types=http.ACCEPTED_TYPES)
@http.endpoint
@signed_in(bp)
def logout(principal: Principal) -> Response:
    get_container().auth.logout(principal)
    return Response(body="", status_code=204)


@bp.route("/auth/forgot-password", methods=["POST"], content_types=http.ACCEPTED_TYPES)
@http.endpoint
def forgot_password() -> Response:
    request = bp.current_request
    body = http.parse_json(request.raw_body, {"email": (str, True)})
    email = http.check_length(body["email"], "email", EMAIL_MAX)
    get_container().auth.forgot_password(email, http.client_ip(request))
    return http.json_response({}, status=202)


@bp.route("/auth/reset-password", methods=["POST"], content_types=http.ACCEPTED_TYPES)
@http.endpoint
def reset_password() -> Response:
    request = bp.current_request
    body = http.parse_json(
        request.raw_body, {"email": (str, True), "code": (str, True), "password": (str, True)}
    )
    email = http.check_length(body["email"], "email", EMAIL_MAX)
    code = http.check_length(body["code"], "code", 64)
    get_container().auth.reset_password(email, code, body["password"], http.client_ip(request))
    return Response(body="", status_code=204)
