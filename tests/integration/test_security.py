"""Security of the HTTP edge: tokens, tenancy, invitations, cursors, bad input, logs."""

from __future__ import annotations

import base64
import gzip
import json
import logging
import time
from pathlib import Path

import jwt
import moto
import pytest

from tests.integration.helpers import PASSWORD, body, get, invite, issue, make_store, owner, post

MOTO_KEY = Path(moto.__file__).parent / "cognitoidp" / "resources" / "jwks-private.json.gz"


def _moto_signing_key():
    keys = json.loads(gzip.decompress(MOTO_KEY.read_bytes()))
    return jwt.PyJWK(keys, algorithm="RS256").key, keys["kid"]


def _forge(claims_change: dict, token: str, header_change: dict | None = None) -> str:
    claims = jwt.decode(token, options={"verify_signature": False})
    claims.update(claims_change)
    key, kid = _moto_signing_key()
    headers = {"kid": kid, **(header_change or {})}
    return jwt.encode(claims, key, algorithm="RS256", headers=headers)


def _assert_unauthorized(response):
    assert response.status_code == 401, response.body
    assert body(response)["error"]["code"] == "unauthorized"


@pytest.fixture()
def signed_in(api, container):
    return owner(api, container)


def test_missing_and_malformed_tokens_are_401(api, signed_in):
    _assert_unauthorized(get(api, "/api/profile"))
    _assert_unauthorized(api.http.get("/api/profile", headers={"Authorization": "Basic abc"}))
    _assert_unauthorized(get(api, "/api/profile", "not.a.jwt"))
    _assert_unauthorized(get(api, "/api/profile", "x" * 500))


def test_expired_token_is_401(api, signed_in):
    _, _, token = signed_in
    assert get(api, "/api/profile", token).status_code == 200
    expired = _forge({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, token)
    _assert_unauthorized(get(api, "/api/profile", expired))


def test_wrong_pool_wrong_client_and_id_token_are_401(api, container, signed_in):
    _, email, token = signed_in
    wrong_pool = _forge(
        {"iss": "https://cognito-idp.eu-central-1.amazonaws.com/eu-central-1_other"}, token
    )
    _assert_unauthorized(get(api, "/api/profile", wrong_pool))
    _assert_unauthorized(get(api, "/api/profile", _forge({"client_id": "someotherclient"}, token)))
    _assert_unauthorized(get(api, "/api/profile", _forge({"token_use": "id"}, token)))
    id_token = body(post(api, "/api/auth/login", {"email": email, "password": PASSWORD}))[
        "id_token"
    ]
    _assert_unauthorized(get(api, "/api/profile", id_token))


def test_real_second_client_token_is_401(api, container, signed_in):
    import boto3

    _, email, _ = signed_in
    cognito = boto3.client("cognito-idp", region_name=container.settings.region)
    other = cognito.create_user_pool_client(
        UserPoolId=container.settings.user_pool_id,
        ClientName="other",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    result = cognito.initiate_auth(
        ClientId=other,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": email, "PASSWORD": PASSWORD},
    )
    _assert_unauthorized(get(api, "/api/profile", result["AuthenticationResult"]["AccessToken"]))


def test_alg_none_and_hs256_tokens_are_401(api, signed_in):
    _, _, token = signed_in
    claims = jwt.decode(token, options={"verify_signature": False})
    header = jwt.get_unverified_header(token)
    segment = lambda data: base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()  # noqa: E731
    none_token = f"{segment({**header, 'alg': 'none'})}.{segment(claims)}."
    _assert_unauthorized(get(api, "/api/profile", none_token))
    hs = jwt.encode(claims, "secret", algorithm="HS256", headers={"kid": header["kid"]})
    _assert_unauthorized(get(api, "/api/profile", hs))
    tampered = _forge({"sub": "someone-else"}, token)[:-4] + "AAAA"
    _assert_unauthorized(get(api, "/api/profile", tampered))


def test_other_stores_invoice_answers_like_unknown(api, container, signed_in):
    _, _, token = signed_in
    other_store = make_store(container, name="Fremd")
    foreign = issue(container, other_store)[0]
    for suffix in ("", "/pdf"):
        unknown = get(api, f"/api/invoices/inv_doesnotexist{suffix}", token)
        theirs = get(api, f"/api/invoices/{foreign.id}{suffix}", token)
        assert theirs.status_code == unknown.status_code == 404
        assert theirs.body == unknown.body
        assert body(theirs)["error"]["code"] == "invoice_not_found"
    support = post(
        api,
        "/api/support/requests",
        {"subject": "a", "message": "b", "invoice_id": foreign.id},
        token,
    )
    assert support.status_code == 404


def test_invitation_reused_revoked_expired(api, container):
    store_id = make_store(container)
    first = invite(container, store_id)
    second = invite(container, store_id)  # revokes the first
    unknown = get(api, "/api/invitations/" + "A" * 43)
    revoked = get(api, f"/api/invitations/{first}")
    assert revoked.status_code == unknown.status_code == 404
    assert revoked.body == unknown.body
    assert post(api, f"/api/invitations/{first}/accept", {"password": PASSWORD}).status_code == 404
    assert post(api, f"/api/invitations/{second}/accept", {"password": PASSWORD}).status_code == 201
    used = get(api, f"/api/invitations/{second}")
    assert used.status_code == 404 and used.body == unknown.body
    # expired: a link sent with a clock 8 days in the past
    import dataclasses
    from datetime import timedelta

    from local.seed import FixedClock

    old_clock = FixedClock(container.clock.now() - timedelta(days=8))
    old_service = dataclasses.replace(container.invitation_service, clock=old_clock)
    other_store = make_store(container)
    stale = old_service.send(other_store).url.rsplit("/", 1)[-1]
    expired = get(api, f"/api/invitations/{stale}")
    assert expired.status_code == 410 and body(expired)["error"]["code"] == "invitation_expired"
    assert post(api, f"/api/invitations/{stale}/accept", {"password": PASSWORD}).status_code == 410


def test_concurrent_accepts_create_one_user(api, container):
    from concurrent.futures import ThreadPoolExecutor

    store_id = make_store(container)
    token = invite(container, store_id)
    invitation_service = container.invitation_service

    def accept(i: int) -> str:
        try:
            return invitation_service.accept(token, PASSWORD, f"10.0.0.{i}")
        except Exception as exc:  # the loser gets invitation_not_found
            return type(exc).__name__

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(accept, range(4)))
    winners = [r for r in results if "@" in r]
    assert len(winners) == 1, results
    assert set(results) - set(winners) <= {"InvitationNotFoundError"}


def test_concurrent_store_creation_with_one_email(container):
    from concurrent.futures import ThreadPoolExecutor

    from tests.integration.helpers import unique_email

    email = unique_email()

    def create(_: int) -> str:
        try:
            return make_store(container, email=email)
        except Exception as exc:
            return type(exc).__name__

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(create, range(2)))
    assert sorted(r.startswith("st_") for r in results) == [False, True], results
    assert "EmailInUseError" in results


def test_tampered_and_foreign_cursor_are_400(api, container, signed_in):
    store_id, _, token = signed_in
    issue(container, store_id, count=3)
    cursor = body(get(api, "/api/invoices?limit=1", token))["next_cursor"]
    payload, signature = cursor.split(".")
    tampered = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + signature
    response = get(api, f"/api/invoices?limit=1&cursor={tampered}", token)
    assert response.status_code == 400 and body(response)["error"]["code"] == "invalid_cursor"
    assert get(api, "/api/invoices?limit=1&cursor=garbage", token).status_code == 400
    as_other_filter = get(api, f"/api/invoices?limit=1&status=open&cursor={cursor}", token)
    assert as_other_filter.status_code == 400
    _, _, other_token = owner(api, container)
    foreign = get(api, f"/api/invoices?limit=1&cursor={cursor}", other_token)
    assert foreign.status_code == 400 and body(foreign)["error"]["code"] == "invalid_cursor"


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"[]",
        b'{"email": 5, "password": "x"}',
        b'{"email": "a@b.de"}',
        b'{"email": "a@b.de", "password": "x", "extra": 1}',
        b'"text"',
        b"\xff\xfe",
    ],
)
def test_malformed_bodies_are_400(api, raw):
    response = post(api, "/api/auth/login", raw=raw)
    assert response.status_code == 400, response.body
    assert body(response)["error"]["code"] == "invalid_request"
    assert body(response)["error"]["message"]


def test_bad_query_parameters_are_400(api, signed_in):
    _, _, token = signed_in
    for query in ("status=unpaid", "limit=0", "limit=101", "limit=abc", "sort=asc"):
        response = get(api, f"/api/invoices?{query}", token)
        assert response.status_code == 400, query
        assert body(response)["error"]["code"] == "invalid_request"


def test_body_over_64_kib_is_413(api, signed_in):
    _, _, token = signed_in
    big = json.dumps({"subject": "x", "message": "y" * (65 * 1024)}).encode()
    response = post(api, "/api/support/requests", raw=big, token=token)
    assert response.status_code == 413 and body(response)["error"]["code"] == "payload_too_large"


def test_wrong_types_on_signed_in_routes_are_400(api, signed_in):
    _, _, token = signed_in
    response = post(api, "/api/support/requests", {"subject": 1, "message": "x"}, token)
    assert response.status_code == 400


def test_login_rate_limit_spares_other_clients(api, container):
    store_id, email, _ = owner(api, container)
    service = container.auth
    from chalicelib.domain.errors import InvalidCredentialsError, RateLimitedError

    for _ in range(5):
        with pytest.raises(InvalidCredentialsError):
            service.login(email, "falsch", "203.0.113.9")
    with pytest.raises(RateLimitedError):
        service.login(email, PASSWORD, "203.0.113.9")
    assert service.login(email, PASSWORD, "198.51.100.7").access_token


def test_invitation_token_never_logged(api, container, caplog):
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="portal")
    store_id = make_store(container)
    token = invite(container, store_id)
    get(api, f"/api/invitations/{token}")
    post(api, f"/api/invitations/{token}/accept", {"password": "schwach"})
    post(api, f"/api/invitations/{token}/accept", {"password": PASSWORD})
    assert token not in caplog.text
    assert PASSWORD not in caplog.text


def test_unsupported_content_type_gets_the_contract_shape(api):
    response = api.http.post(
        "/api/auth/login", headers={"Content-Type": "application/xml"}, body=b"<x/>"
    )
    assert response.status_code == 400
    assert body(response)["error"]["code"] == "invalid_request"
