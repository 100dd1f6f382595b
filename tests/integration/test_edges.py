"""The hardened edges, each finding of the attack run as a test on the real moto server."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from tests.integration.helpers import (
    PASSWORD,
    body,
    get,
    invite,
    issue,
    make_store,
    owner,
    post,
)

OWNER = "198.51.100.7:50000"
STRANGER = "203.0.113.9:40000"


def _error(response, status, code):
    assert response.status_code == status, response.body
    assert body(response)["error"]["code"] == code, response.body


def _login(client, email, password):
    return client.post(
        "/api/auth/login",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"email": email, "password": password}),
    )


# 1. a trusted client address ----------------------------------------------------------


def test_requests_without_the_origin_secret_are_refused(api):
    direct = api.direct
    for path in ("/api/health", "/api/config", "/api/profile"):
        _error(direct.get(path), 403, "forbidden")
    _error(direct.get("/api/health", headers={"X-Origin-Verify": "x" * 64}), 403, "forbidden")
    # the webhooks too: providers call the CloudFront address like the browser does
    _error(direct.post("/api/webhooks/stripe", body=b"{}"), 403, "forbidden")
    # a forged viewer address without the secret gets nowhere either
    forged = direct.get("/api/health", headers={"cloudfront-viewer-address": "1.2.3.4:1"})
    _error(forged, 403, "forbidden")
    assert api.http.get("/api/health").status_code == 200


def test_a_strangers_wrong_passwords_do_not_lock_the_owner_out(api, container):
    _, email, _ = owner(api, container)
    stranger = api.from_viewer(STRANGER)
    for _ in range(6):
        assert _login(stranger, email, "Falsches-Passwort-1").status_code in (401, 429)
    _error(_login(stranger, email, "Falsches-Passwort-1"), 429, "rate_limited")

    assert _login(api.from_viewer(OWNER), email, PASSWORD).status_code == 200


def test_a_strangers_reset_requests_do_not_block_the_owners(api, container):
    _, email, _ = owner(api, container)
    stranger = api.from_viewer(STRANGER)
    ask = {"headers": {"Content-Type": "application/json"}, "body": json.dumps({"email": email})}
    for _ in range(5):
        assert stranger.post("/api/auth/forgot-password", **ask).status_code == 202
    _error(stranger.post("/api/auth/forgot-password", **ask), 429, "rate_limited")

    assert api.from_viewer(OWNER).post("/api/auth/forgot-password", **ask).status_code == 202


# 3. logout ends the token ----------------------------------------------------------------


def test_logout_ends_the_token_and_every_earlier_one(api, container):
    _, email, token = owner(api, container)
    second = body(post(api, "/api/auth/login", {"email": email, "password": PASSWORD}))
    assert get(api, "/api/profile", token).status_code == 200

    assert post(api, "/api/auth/logout", token=token).status_code == 204

    _error(get(api, "/api/profile", token), 401, "unauthorized")
    _error(get(api, "/api/profile", second["access_token"]), 401, "unauthorized")
    fresh = body(post(api, "/api/auth/login", {"email": email, "password": PASSWORD}))
    assert get(api, "/api/profile", fresh["access_token"]).status_code == 200


# 4. no 500 from input --------------------------------------------------------------------


def test_deeply_nested_json_is_400(api):
    nested = b'{"email": ' + b"[" * 5000 + b"]" * 5000 + b', "password": "x"}'
    _error(post(api, "/api/auth/login", raw=nested), 400, "invalid_request")


@pytest.mark.parametrize(
    "raw",
    [
        b'{"email": "a\\ud800@example.org", "password": "x"}',
        b'{"email": "a@example.org", "password": "\\udfff"}',
        b'{"email": "a@example.org", "\\ud800": "x", "password": "x"}',
    ],
)
def test_lone_surrogates_are_400(api, raw):
    response = post(api, "/api/auth/login", raw=raw)
    assert response.status_code == 400, response.body


def test_non_ascii_digits_and_bad_query_values_are_400(api, container):
    _, _, token = owner(api, container)
    for query in ("limit=%D9%A1%D9%A0", "limit=%C2%B2", "limit=1%00", "status=open%0A",
                  "st%00tus=open"):  # fmt: skip
        _error(get(api, f"/api/invoices?{query}", token), 400, "invalid_request")
    for query in ("cursor=%FF", "cursor=%ED%A0%80", "cursor=a%0Ab"):
        response = get(api, f"/api/invoices?{query}", token)
        assert response.status_code == 400, (query, response.body)
        assert body(response)["error"]["code"] in ("invalid_request", "invalid_cursor")


def test_empty_or_odd_path_ids_are_4xx_never_500(api, container):
    _, _, token = owner(api, container)
    for path in ("/api/invoices/%20", "/api/invoices/%20/pdf", "/api/payments/%0A",
                 "/api/invoices//pdf", "/api/invitations/%20", "/api/invitations/%FF",
                 "/api/invoices/%ED%A0%80", "/api/payments/a%00b"):  # fmt: skip
        response = get(api, path, token)
        assert 400 <= response.status_code < 500, (path, response.status_code, response.body)


def test_line_breaks_in_a_support_subject_are_400(api, container):
    _, _, token = owner(api, container)
    payload = {"subject": "Hallo\r\nBcc: x@example.org", "message": "Zeile 1\nZeile 2"}
    _error(post(api, "/api/support/requests", payload, token), 400, "invalid_request")
    payload["subject"] = "Hallo"
    assert post(api, "/api/support/requests", payload, token).status_code == 202


def test_a_stored_name_with_a_line_break_does_not_break_the_mail(api, container):
    from chalicelib.adapters.dynamo_models import StoreRecord

    store_id, _, token = owner(api, container)
    # a name stored before names were checked
    StoreRecord(store_id=store_id).update(
        actions=[StoreRecord.name.set("Pizzeria\r\nBcc: evil@example.org")]
    )

    response = post(api, "/api/support/requests", {"subject": "Frage", "message": "Hallo"}, token)

    assert response.status_code == 202, response.body


@pytest.mark.parametrize("password", ["Sicheres-Pass\x00wort-2026", "Sicheres-Pass\nwort-2026"])
def test_a_password_with_control_characters_is_refused_naming_the_rule(api, container, password):
    store_id = make_store(container)
    token = invite(container, store_id)
    response = post(api, f"/api/invitations/{token}/accept", {"password": password})
    _error(response, 400, "password_policy")
    assert "Steuerzeichen" in body(response)["error"]["message"]


def test_a_password_cognito_refuses_gets_a_message_naming_the_rule(api, container):
    store_id = make_store(container)
    token = invite(container, store_id)
    # letters outside a-z/A-Z do not count for Cognito; the message says which rule is unmet
    response = post(api, f"/api/invitations/{token}/accept", {"password": "ÄÖÜäöüßÄÖÜäöü1"})
    _error(response, 400, "password_policy")
    assert "(a–z)" in body(response)["error"]["message"]


# 5. bounded waits ------------------------------------------------------------------------


def test_a_paused_aws_endpoint_gives_503_within_10_seconds(api, container, aws_stack):
    _, _, token = owner(api, container)
    assert get(api, "/api/profile", token).status_code == 200  # caches warm, as in a Lambda
    moto = int(aws_stack["MOTO_PID"])
    os.kill(moto, signal.SIGSTOP)
    try:
        started = time.monotonic()
        response = get(api, "/api/profile", token)
        elapsed = time.monotonic() - started
    finally:
        os.kill(moto, signal.SIGCONT)
    _error(response, 503, "service_unavailable")
    assert elapsed < 10.0, elapsed
    assert get(api, "/api/profile", token).status_code == 200  # and back once it answers


def test_asking_to_save_a_paypal_account_as_a_card_is_refused_and_changes_nothing(
    api, container, providers
):
    store_id, _, token = owner(api, container)
    (invoice,) = issue(container, store_id)

    response = post(
        api, f"/api/invoices/{invoice.id}/payments", {"method": "paypal", "save_card": True}, token
    )

    _error(response, 400, "invalid_request")
    assert "save_card" in body(response)["error"]["message"]
    assert container.invoices.get(invoice.id).status.value == "open"  # no payment started
