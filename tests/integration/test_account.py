"""The owner's account through the HTTP API on moto (contract v2 "The owner's account"):
billing data, e-mail change (and its race), password change, TOTP, activity, export."""

from __future__ import annotations

import io
import json
import re
import threading
import time
import urllib.parse
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest
import requests

from local.outbox import read_outbox
from tests.integration.helpers import (
    PASSWORD,
    body,
    get,
    issue,
    owner,
    post,
    unique_email,
)

NEW_PASSWORD = "Neues-Passwort-2027x"


def _send(api: Any, method: str, path: str, payload: Any, token: str) -> Any:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    return api.http.request(method, path, headers=headers, body=json.dumps(payload))


def patch(api: Any, path: str, payload: Any, token: str) -> Any:
    return _send(api, "PATCH", path, payload, token)


def _code_mailed_to(aws_stack: dict[str, str], address: str) -> str:
    mails = [m for m in read_outbox(aws_stack["AWS_ENDPOINT_URL"]) if m["to"] == address]
    assert mails, f"no mail to {address}"
    found = re.search(r"Dein Code lautet: (\d{6})", mails[-1]["text"])
    assert found, mails[-1]["text"]
    return found.group(1)


def _fresh_code(secret: str, after: str | None = None) -> str:
    """A code of the current 30-second step; waits for the next step if it equals `after`."""
    totp = pyotp.TOTP(secret)
    code = totp.now()
    while code == after:
        time.sleep(1)
        code = totp.now()
    return code


# billing data ---------------------------------------------------------------------------


def test_patch_profile_changes_address_vat_id_and_accountant(api, container):
    store_id, _, token = owner(api, container)

    answer = patch(
        api,
        "/api/profile",
        {
            "address": {"street": "Neue Straße 5", "postal_code": "20095", "city": "Hamburg"},
            "vat_id": "de 136 695 976",
            "accountant_email": "Buchhaltung@Kanzlei.example",
        },
        token,
    )

    assert answer.status_code == 200, answer.body
    profile = body(answer)
    assert profile["store"]["address"] == {
        "street": "Neue Straße 5",
        "postal_code": "20095",
        "city": "Hamburg",
        "country": "DE",
    }
    assert profile["store"]["vat_id"] == "DE136695976"
    assert profile["accountant_email"] == "buchhaltung@kanzlei.example"
    assert profile["mfa_enabled"] is False and profile["lock_warning"] is None
    # and the change is in the activity log, in German
    items = body(get(api, "/api/activity", token))["items"]
    assert items[0]["type"] == "profile_changed"
    assert "Adresse" in items[0]["summary"] and "USt-IdNr." in items[0]["summary"]


def test_null_removes_vat_id_and_accountant(api, container):
    _, _, token = owner(api, container)
    patch(api, "/api/profile", {"accountant_email": "a@kanzlei.example"}, token)

    answer = patch(api, "/api/profile", {"vat_id": None, "accountant_email": None}, token)

    assert answer.status_code == 200
    assert body(answer)["store"]["vat_id"] is None
    assert body(answer)["accountant_email"] is None


@pytest.mark.parametrize(
    ("payload", "code", "named"),
    [
        ({"address": {"postal_code": "1234"}}, "invalid_address", "Postleitzahl"),
        ({"address": {"street": " "}}, "invalid_address", "Straße"),
        ({"address": {"city": "Berlin", "planet": "Mars"}}, "invalid_address", "planet"),
        ({"vat_id": "DE123456789"}, "invalid_vat_id", "USt-IdNr."),
        ({"accountant_email": "kein-at-zeichen"}, "invalid_email", "Steuerberatung"),
        ({}, "invalid_request", "Nichts zu ändern"),
        ({"vat_id": 5}, "invalid_request", "vat_id"),
    ],
)
def test_patch_profile_names_what_is_wrong(api, container, payload, code, named):
    _, _, token = owner(api, container)

    answer = patch(api, "/api/profile", payload, token)

    assert answer.status_code == 400
    assert body(answer)["error"]["code"] == code
    assert named in body(answer)["error"]["message"]


def test_an_invoice_issued_after_the_change_carries_the_new_address(api, container):
    store_id, _, token = owner(api, container)
    (before,) = issue(container, store_id)
    old_pdf = container.documents.get_pdf(f"invoices/{store_id}/{before.number}.pdf")

    patch(api, "/api/profile", {"address": {"city": "Zwickau", "postal_code": "08056"}}, token)
    (after,) = issue(container, store_id)

    new_pdf = container.documents.get_pdf(f"invoices/{store_id}/{after.number}.pdf")
    assert _pdf_text_has(new_pdf, "Zwickau")
    assert not _pdf_text_has(old_pdf, "Zwickau")
    # the old one is still the same file
    assert container.documents.get_pdf(f"invoices/{store_id}/{before.number}.pdf") == old_pdf


def _pdf_text_has(pdf: bytes, text: str) -> bool:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    return any(text in (page.extract_text() or "") for page in reader.pages)


# e-mail ---------------------------------------------------------------------------------


def test_email_change_moves_sign_in_billing_email_and_claim(api, container, aws_stack):
    store_id, old_email, token = owner(api, container)
    new_email = unique_email("neu")

    started = post(api, "/api/profile/email-change", {"new_email": new_email.upper()}, token)
    assert started.status_code == 202 and body(started) == {}
    wrong = post(api, "/api/profile/email-change/confirm", {"code": "000000"}, token)
    assert wrong.status_code == 400 and body(wrong)["error"]["code"] == "invalid_code"
    code = _code_mailed_to(aws_stack, new_email)
    confirmed = post(api, "/api/profile/email-change/confirm", {"code": code}, token)

    assert confirmed.status_code == 200, confirmed.body
    assert body(confirmed)["store"]["billing_email"] == new_email
    # sign-in works with the new address only
    assert (
        post(api, "/api/auth/login", {"email": new_email, "password": PASSWORD}).status_code == 200
    )
    assert (
        post(api, "/api/auth/login", {"email": old_email, "password": PASSWORD}).status_code == 401
    )
    # the old address is told
    notices = [m for m in read_outbox(aws_stack["AWS_ENDPOINT_URL"]) if m["to"] == old_email]
    assert any(new_email in m["text"] for m in notices)
    # and the address is free again for another store, the new one is not
    assert container.accounts.store_of_email(old_email) is None
    assert container.accounts.store_of_email(new_email) == store_id
    # the code is used up
    again = post(api, "/api/profile/email-change/confirm", {"code": code}, token)
    assert again.status_code == 400


def test_email_change_to_an_address_in_use_is_409(api, container):
    _, other_email, _ = owner(api, container)
    _, _, token = owner(api, container)

    answer = post(api, "/api/profile/email-change", {"new_email": other_email}, token)

    assert answer.status_code == 409 and body(answer)["error"]["code"] == "email_in_use"
    bad = post(api, "/api/profile/email-change", {"new_email": "a@b@c"}, token)
    assert bad.status_code == 400 and body(bad)["error"]["code"] == "invalid_email"


def test_two_stores_racing_for_one_address_one_wins(api, container, aws_stack):
    # Given two stores that each asked for the same new address and got their codes
    new_email = unique_email("umkaempft")
    store_a, _, token_a = owner(api, container)
    store_b, _, token_b = owner(api, container)
    assert (
        post(api, "/api/profile/email-change", {"new_email": new_email}, token_a).status_code == 202
    )
    code_a = _code_mailed_to(aws_stack, new_email)
    assert (
        post(api, "/api/profile/email-change", {"new_email": new_email}, token_b).status_code == 202
    )
    code_b = _code_mailed_to(aws_stack, new_email)
    assert code_a != code_b or store_a != store_b

    # When both confirm at the same moment (the use case on the real adapters; the chalice
    # test client serves one request at a time)
    outcomes: dict[str, str] = {}
    barrier = threading.Barrier(2)

    def confirm(store_id: str, code: str) -> None:
        barrier.wait()
        try:
            container.account_service.confirm_email_change(store_id, code)
            outcomes[store_id] = "ok"
        except Exception as exc:  # noqa: BLE001 - the outcome is what is checked
            outcomes[store_id] = getattr(exc, "code", repr(exc))

    threads = [
        threading.Thread(target=confirm, args=(store_a, code_a)),
        threading.Thread(target=confirm, args=(store_b, code_b)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # Then exactly one store has it; the other is told 409 email_in_use and keeps its own
    assert sorted(outcomes.values()) == ["email_in_use", "ok"], outcomes
    winner = next(s for s, o in outcomes.items() if o == "ok")
    assert container.accounts.store_of_email(new_email) == winner
    login = post(api, "/api/auth/login", {"email": new_email, "password": PASSWORD})
    assert login.status_code == 200
    loser = store_b if winner == store_a else store_a
    loser_token = token_b if winner == store_a else token_a
    assert body(get(api, "/api/profile", loser_token))["store"]["billing_email"] != new_email
    assert container.stores.get(loser).billing_email != new_email
    # and through the API the loser's confirmation is a 409
    again = post(api, "/api/profile/email-change/confirm", {"code": code_b}, loser_token)
    if loser == store_a:
        again = post(api, "/api/profile/email-change/confirm", {"code": code_a}, loser_token)
    assert again.status_code == 409 and body(again)["error"]["code"] == "email_in_use"


# password -------------------------------------------------------------------------------


def test_change_password_needs_the_current_one_and_ends_every_session(api, container):
    _, email, token = owner(api, container)
    other = body(post(api, "/api/auth/login", {"email": email, "password": PASSWORD}))

    wrong = post(
        api,
        "/api/auth/change-password",
        {"current_password": "Falsch-Passwort-1", "new_password": NEW_PASSWORD},
        token,
    )
    weak = post(
        api,
        "/api/auth/change-password",
        {"current_password": PASSWORD, "new_password": "kurz"},
        token,
    )
    changed = post(
        api,
        "/api/auth/change-password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        token,
    )

    assert wrong.status_code == 401 and body(wrong)["error"]["code"] == "invalid_credentials"
    assert weak.status_code == 400 and body(weak)["error"]["code"] == "password_policy"
    assert changed.status_code == 204
    assert get(api, "/api/profile", other["access_token"]).status_code == 401
    assert get(api, "/api/profile", token).status_code == 401
    assert post(api, "/api/auth/login", {"email": email, "password": PASSWORD}).status_code == 401
    fresh = post(api, "/api/auth/login", {"email": email, "password": NEW_PASSWORD})
    assert fresh.status_code == 200
    types = [
        i["type"] for i in body(get(api, "/api/activity", body(fresh)["access_token"]))["items"]
    ]
    assert "password_changed" in types and "sign_in_failed" in types


# TOTP -----------------------------------------------------------------------------------


def test_totp_setup_sign_in_with_a_code_once_and_switch_off(api, container):
    _, email, token = owner(api, container)

    setup = post(api, "/api/auth/mfa/setup", None, token)
    assert setup.status_code == 200, setup.body
    secret = body(setup)["secret"]
    assert body(setup)["otpauth_uri"].startswith("otpauth://totp/")
    assert f"secret={secret}" in body(setup)["otpauth_uri"]
    assert body(setup)["qr_svg"].startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    # a wrong code does not switch it on
    wrong = post(api, "/api/auth/mfa/verify", {"code": "123456"}, token)
    assert wrong.status_code == 400 and body(wrong)["error"]["code"] == "invalid_code"
    first = _fresh_code(secret)
    verified = post(api, "/api/auth/mfa/verify", {"code": first}, token)
    assert verified.status_code == 200, verified.body
    assert body(verified)["mfa_enabled"] is True

    # sign out, sign in: the password alone gives no tokens
    assert post(api, "/api/auth/logout", None, token).status_code == 204
    step = post(api, "/api/auth/login", {"email": email, "password": PASSWORD})
    assert step.status_code == 200 and body(step)["mfa_required"] is True
    assert "access_token" not in body(step)
    bad = post(api, "/api/auth/login/mfa", {"session": body(step)["session"], "code": "000000"})
    assert bad.status_code == 401
    step = post(api, "/api/auth/login", {"email": email, "password": PASSWORD})
    code = _fresh_code(secret, after=first)
    signed_in = post(api, "/api/auth/login/mfa", {"session": body(step)["session"], "code": code})
    assert signed_in.status_code == 200, signed_in.body
    tokens = body(signed_in)
    assert get(api, "/api/profile", tokens["access_token"]).status_code == 200

    # the same code a second time is refused
    step = post(api, "/api/auth/login", {"email": email, "password": PASSWORD})
    reused = post(api, "/api/auth/login/mfa", {"session": body(step)["session"], "code": code})
    assert reused.status_code == 401

    # another user's secret is not this user's
    _, _, other_token = owner(api, container)
    other_secret = body(post(api, "/api/auth/mfa/setup", None, other_token))["secret"]
    assert other_secret != secret

    # switching off needs a valid code
    refused = _send(api, "DELETE", "/api/auth/mfa", {"code": "000000"}, tokens["access_token"])
    assert refused.status_code == 400
    off_code = _fresh_code(secret, after=code)
    off = _send(api, "DELETE", "/api/auth/mfa", {"code": off_code}, tokens["access_token"])
    assert off.status_code == 200 and body(off)["mfa_enabled"] is False
    plain = post(api, "/api/auth/login", {"email": email, "password": PASSWORD})
    assert "access_token" in body(plain)
    types = [
        i["type"] for i in body(get(api, "/api/activity", body(plain)["access_token"]))["items"]
    ]
    assert {"mfa_enabled", "mfa_disabled", "sign_in"} <= set(types)


# activity -------------------------------------------------------------------------------


def test_activity_pages_newest_first_with_a_signed_cursor(api, container):
    store_id, _, token = owner(api, container)
    for city in ("Aachen", "Bonn", "Celle"):
        patch(api, "/api/profile", {"address": {"city": city}}, token)
    from chalicelib.domain.account import ActivityEntry

    for n in range(25):
        container.activity_log.append(
            ActivityEntry(store_id, container.clock.now(), "sign_in", f"Anmeldung {n}.")
        )

    first = body(get(api, "/api/activity", token))
    assert len(first["items"]) == 20 and first["next_cursor"]
    second = body(get(api, f"/api/activity?cursor={first['next_cursor']}", token))
    assert second["next_cursor"] is None
    everything = first["items"] + second["items"]
    assert len(everything) == 25 + 3 + 1  # and the sign-in of owner()
    times = [i["at"] for i in everything]
    assert times == sorted(times, reverse=True)
    # a forged or foreign cursor is refused
    forged = get(api, f"/api/activity?cursor={first['next_cursor'][:-2]}xx", token)
    assert forged.status_code == 400 and body(forged)["error"]["code"] == "invalid_cursor"
    _, _, other = owner(api, container)
    foreign = get(api, f"/api/activity?cursor={first['next_cursor']}", other)
    assert foreign.status_code == 400


# export ---------------------------------------------------------------------------------


def test_the_years_zip_holds_every_document_and_a_datev_file(api, container):
    store_id, _, token = owner(api, container)
    invoices = issue(container, store_id, count=2)
    year = invoices[0].issue_date.year

    answer = get(api, f"/api/exports/documents?year={year}", token)

    assert answer.status_code == 200, answer.body
    link = body(answer)
    assert link["filename"] == f"SIDES-Belege-{year}.zip" and link["expires_in"] <= 300
    archive = zipfile.ZipFile(io.BytesIO(requests.get(link["url"], timeout=10).content))
    names = set(archive.namelist())
    for invoice in invoices:
        assert f"Rechnungen/{invoice.pdf_filename}" in names
    assert "Uebersicht.csv" in names
    stapel = archive.read(f"EXTF_Buchungsstapel_SIDES_{year}.csv").decode("cp1252")
    assert stapel.startswith('"EXTF";700;21;"Buchungsstapel";13;')
    assert len(stapel.splitlines()) == 2 + 2
    # the copy is locked for a day, not the bucket's 8 years of the documents themselves
    key = urllib.parse.urlparse(link["url"]).path.split("/", 2)[2]
    head = container.documents._client.head_object(
        Bucket=container.settings.invoice_bucket, Key=key
    )
    assert key.startswith(f"exports/{store_id}/")
    assert head["ObjectLockRetainUntilDate"] - datetime.now(UTC) <= timedelta(days=1)
    bad = get(api, "/api/exports/documents?year=20x6", token)
    assert bad.status_code == 400 and body(bad)["error"]["code"] == "invalid_request"


# the accountant in the loop ---------------------------------------------------------------


def test_every_new_document_goes_to_the_accountant_with_pdf_and_xml(
    api, container, aws_stack, providers
):
    store_id, _, token = owner(api, container)
    accountant = unique_email("kanzlei")
    assert patch(api, "/api/profile", {"accountant_email": accountant}, token).status_code == 200

    (invoice,) = issue(container, store_id)
    voided = container.corrections.void(invoice.id, "Doppelt berechnet")

    mails = [m for m in read_outbox(aws_stack["AWS_ENDPOINT_URL"]) if m["to"] == accountant]
    subjects = sorted(m["subject"] for m in mails)
    assert subjects == sorted(
        [f"Rechnung {invoice.number} – Trattoria Test",
         f"Stornorechnung {voided.document.number} – Trattoria Test"]
    ), subjects  # fmt: skip
    for mail in mails:
        kinds = sorted(a["content_type"] for a in mail["attachments"])
        assert kinds == ["application/pdf", "application/xml"], mail["attachments"]
    summaries = [i["summary"] for i in body(get(api, "/api/activity", token))["items"]]
    assert f"Rechnung {invoice.number} ausgestellt." in summaries
    assert f"Stornorechnung {voided.document.number} ausgestellt." in summaries


def test_without_an_accountant_nothing_is_forwarded(api, container, aws_stack):
    store_id, email, _ = owner(api, container)
    before = len(read_outbox(aws_stack["AWS_ENDPOINT_URL"]))

    issue(container, store_id)

    new = read_outbox(aws_stack["AWS_ENDPOINT_URL"])[before:]
    assert all(m["to"] == email for m in new), [m["to"] for m in new]


# the operator ---------------------------------------------------------------------------


def _cli(capsys: Any, *argv: str) -> tuple[int, dict[str, Any]]:
    from chalicelib import cli

    cli._container.cache_clear()
    code = cli.main(list(argv))
    out, _ = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else {})


def test_the_operator_changes_the_email_and_the_sign_in_follows(api, container, aws_stack, capsys):
    store_id, old_email, token = owner(api, container)
    new_email = unique_email("betreiber")

    code, out = _cli(capsys, "stores", "update", "--store", store_id, "--email", new_email)

    assert (code, out) == (0, {"store_id": store_id})
    assert (
        post(api, "/api/auth/login", {"email": new_email, "password": PASSWORD}).status_code == 200
    )
    assert (
        post(api, "/api/auth/login", {"email": old_email, "password": PASSWORD}).status_code == 401
    )
    fresh = body(post(api, "/api/auth/login", {"email": new_email, "password": PASSWORD}))
    items = body(get(api, "/api/activity", fresh["access_token"]))["items"]
    assert any(
        i["type"] == "operator_changed" and "vom SIDES-Team" in i["summary"] for i in items
    ), items
    notices = [m for m in read_outbox(aws_stack["AWS_ENDPOINT_URL"]) if m["to"] == old_email]
    assert any(new_email in m["text"] for m in notices)


def test_the_operator_resets_a_locked_out_owners_mfa(api, container, capsys):
    store_id, email, token = owner(api, container)
    secret = body(post(api, "/api/auth/mfa/setup", None, token))["secret"]
    assert (
        post(api, "/api/auth/mfa/verify", {"code": _fresh_code(secret)}, token).status_code == 200
    )
    assert body(post(api, "/api/auth/login", {"email": email, "password": PASSWORD}))[
        "mfa_required"
    ]

    code, out = _cli(capsys, "stores", "reset-mfa", "--store", store_id)

    assert (code, out) == (0, {"store_id": store_id, "mfa_enabled": False})
    signed_in = body(post(api, "/api/auth/login", {"email": email, "password": PASSWORD}))
    assert "access_token" in signed_in
    assert body(get(api, "/api/profile", signed_in["access_token"]))["mfa_enabled"] is False
    code, _ = _cli(capsys, "stores", "reset-mfa", "--store", "st_gibtesnicht")
    assert code != 0


# what other parts of the portal did, in the log ----------------------------------------------


def test_the_till_lock_is_in_the_log(api, container, providers):
    store_id, _, token = owner(api, container)
    (invoice,) = issue(container, store_id)
    lock_day = invoice.due_date + timedelta(days=container.settings.dunning_grace_days + 1)

    container.dunning.run(lock_day)

    summaries = [i["summary"] for i in body(get(api, "/api/activity", token))["items"]]
    assert "Kasse gesperrt, weil Rechnungen überfällig sind." in summaries


@pytest.mark.parametrize(
    "session",
    [
        "nonsense",
        "eyJ1IjoiYUBiLmMiLCJzIjoieHl6In0",  # {"u":"a@b.c","s":"xyz"}: too short for Cognito
        "eyJ1IjoiYUBiLmMiLCJzIjoiMDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzIn0",  # unknown to Cognito
        "W10",
        "%%%",
        "eyJ1IjogMX0",
    ],
)
def test_a_made_up_mfa_session_is_a_failed_sign_in(api, session):
    answer = post(api, "/api/auth/login/mfa", {"session": session, "code": "123456"})

    assert answer.status_code == 401
    assert body(answer)["error"]["code"] == "invalid_credentials"


def test_the_session_outlives_an_email_change(api, container, aws_stack):
    # As in Cognito, tokens belong to the user, not to the address typed at sign-in.
    _, email, token = owner(api, container)
    refresh = body(post(api, "/api/auth/login", {"email": email, "password": PASSWORD}))
    new_email = unique_email("neu")
    post(api, "/api/profile/email-change", {"new_email": new_email}, token)
    code = _code_mailed_to(aws_stack, new_email)
    assert post(api, "/api/profile/email-change/confirm", {"code": code}, token).status_code == 200

    renewed = post(api, "/api/auth/refresh", {"refresh_token": refresh["refresh_token"]})
    changed = post(
        api,
        "/api/auth/change-password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        token,
    )

    assert renewed.status_code == 200
    assert changed.status_code == 204
    assert (
        post(api, "/api/auth/login", {"email": new_email, "password": NEW_PASSWORD}).status_code
        == 200
    )
