"""Sign-in routes; the password only passes through to Cognito."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.api import http
from chalicelib.api.signed_in import signed_in
from chalicelib.bootstrap import get_container
from chalicelib.domain.account import MfaChallenge
from chalicelib.services.ports import Principal, Tokens

bp = Blueprint(__name__)
EMAIL_MAX = 254


@bp.route("/auth/login", methods=["POST"], content_types=http.ACCEPTED_TYPES)
@http.endpoint
def login() -> Response:
    request = bp.current_request
    body = http.parse_json(request.raw_body, {"email": (str, True), "password": (str, True)})
    email = http.check_length(body["email"], "email", EMAIL_MAX)
    tokens = get_container().auth.login(email, body["password"], http.client_ip(request))
    if isinstance(tokens, MfaChallenge):
        return http.json_response({"mfa_required": True, "session": tokens.session})
    return _tokens(tokens)


def _tokens(tokens: Tokens) -> Response:
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


# --- the owner's account (contract v2) ----------------------------------------------------


@bp.route("/auth/login/mfa", methods=["POST"], content_types=http.ACCEPTED_TYPES)
@http.endpoint
def login_mfa() -> Response:
    request = bp.current_request
    body = http.parse_json(request.raw_body, {"session": (str, True), "code": (str, True)})
    session = http.check_length(body["session"], "session", 4096)
    code = http.check_length(body["code"], "code", 16).strip()
    tokens = get_container().auth.login_mfa(session, code, http.client_ip(request))
    return _tokens(tokens)


@bp.route("/auth/change-password", methods=["POST"], content_types=http.ACCEPTED_TYPES)
@http.endpoint
@signed_in(bp)
def change_password(principal: Principal) -> Response:
    request = bp.current_request
    body = http.parse_json(
        request.raw_body, {"current_password": (str, True), "new_password": (str, True)}
    )
    current = http.check_length(body["current_password"], "current_password", 256)
    new = http.check_length(body["new_password"], "new_password", 256)
    get_container().auth.change_password(principal, current, new, http.client_ip(request))
    return Response(body="", status_code=204)


@bp.route("/auth/mfa/setup", methods=["POST"], content_types=http.ACCEPTED_TYPES)
@http.endpoint
@signed_in(bp)
def mfa_setup(principal: Principal) -> Response:
    http.parse_json(bp.current_request.raw_body, {})
    setup = get_container().account_service.mfa_setup(principal)
    return http.json_response(
        {"secret": setup.secret, "otpauth_uri": setup.otpauth_uri, "qr_svg": setup.qr_svg}
    )


def _mfa_code() -> str:
    body = http.parse_json(bp.current_request.raw_body, {"code": (str, True)})
    return http.check_length(body["code"], "code", 16)


@bp.route("/auth/mfa/verify", methods=["POST"], content_types=http.ACCEPTED_TYPES)
@http.endpoint
@signed_in(bp)
def mfa_verify(principal: Principal) -> Response:
    get_container().account_service.mfa_verify(principal, _mfa_code())
    return _profile(principal)


@bp.route("/auth/mfa", methods=["DELETE"], content_types=http.ACCEPTED_TYPES)
@http.endpoint
@signed_in(bp)
def mfa_disable(principal: Principal) -> Response:
    get_container().account_service.mfa_disable(principal, _mfa_code())
    return _profile(principal)


def _profile(principal: Principal) -> Response:
    from chalicelib.api import presenters
    from chalicelib.domain.periods import today_in_berlin

    container = get_container()
    store = container.store_service.profile(principal.store_id)
    return http.json_response(
        presenters.profile(
            store, today_in_berlin(container.clock.now()), container.settings.dunning_grace_days
        )
    )
