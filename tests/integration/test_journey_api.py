"""The owner's journey through the HTTP API on moto: invitation → sign-in → invoices → PDF."""

from __future__ import annotations

import requests

from local.outbox import read_outbox
from tests.integration.helpers import (
    PASSWORD,
    body,
    get,
    invite,
    issue,
    make_store,
    owner,
    post,
    unique_email,
)


def test_health_and_config(api):
    assert body(api.http.get("/api/health")) == {"status": "ok"}
    config = body(api.http.get("/api/config"))
    assert set(config) == {"stripe_publishable_key", "stripe_js_url", "paypal_enabled", "support"}
    assert config["support"]["email"] == "support@sides.example"


def test_invitation_shows_store_and_email_then_accept_creates_user(api, container):
    # Given a store with a fresh invitation
    email = unique_email()
    store_id = make_store(container, name="Pizzeria Uno", email=email)
    token = invite(container, store_id)
    # When the owner opens it
    shown = get(api, f"/api/invitations/{token}")
    # Then it names store and address
    assert shown.status_code == 200
    assert body(shown)["email"] == email and body(shown)["store_name"] == "Pizzeria Uno"
    # And a weak password is refused with the rule named
    weak = post(api, f"/api/invitations/{token}/accept", {"password": "kurz"})
    assert weak.status_code == 400
    assert body(weak)["error"]["code"] == "password_policy"
    assert "12 Zeichen" in body(weak)["error"]["message"]
    # And a good one creates the user, who can sign in
    ok = post(api, f"/api/invitations/{token}/accept", {"password": PASSWORD})
    assert ok.status_code == 201 and body(ok) == {"email": email}
    login = post(api, "/api/auth/login", {"email": email.upper(), "password": PASSWORD})
    assert login.status_code == 200
    assert set(body(login)) == {"access_token", "id_token", "refresh_token", "expires_in"}
    # And the link is used up
    again = post(api, f"/api/invitations/{token}/accept", {"password": PASSWORD})
    assert again.status_code == 404


def test_invitation_mail_is_sent_in_german(api, container, aws_stack):
    email = unique_email()
    store_id = make_store(container, email=email)
    url = container.invitation_service.send(store_id).url
    mails = [m for m in read_outbox(aws_stack["AWS_ENDPOINT_URL"]) if m["to"] == email]
    assert mails and url in mails[-1]["text"] and "Einladung" in mails[-1]["subject"]


def test_profile_lists_store_and_balances(api, container):
    store_id, email, token = owner(api, container, name="Café Kranz")
    issue(container, store_id, net_cents=1000, count=2)
    profile = body(get(api, "/api/profile", token))
    assert profile["store"]["id"] == store_id
    assert profile["store"]["name"] == "Café Kranz"
    assert profile["store"]["billing_email"] == email
    assert profile["account_status"] == "active"
    assert profile["open_balance_cents"] == 2 * 1190
    assert profile["currency"] == "EUR" and profile["payment_method"] is None


def test_invoice_list_filter_pagination_detail_and_pdf(api, container):
    store_id, _, token = owner(api, container)
    invoices = issue(container, store_id, count=5)
    container.invoices.move(
        invoices[0],
        __import__("chalicelib.domain.invoices", fromlist=["InvoiceStatus"]).InvoiceStatus.PAID,
        container.clock.now(),
    )
    first = body(get(api, "/api/invoices?limit=2", token))
    assert len(first["items"]) == 2 and first["next_cursor"]
    seen = [i["id"] for i in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = body(get(api, f"/api/invoices?limit=2&cursor={cursor}", token))
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
    assert sorted(seen) == sorted(i.id for i in invoices) and len(seen) == 5
    numbers = [i.number for i in invoices]
    assert [body(get(api, f"/api/invoices/{i}", token))["number"] for i in seen] == sorted(
        numbers, reverse=True
    )
    open_items = body(get(api, "/api/invoices?status=open", token))["items"]
    paid_items = body(get(api, "/api/invoices?status=paid", token))["items"]
    assert len(open_items) == 4 and [i["id"] for i in paid_items] == [invoices[0].id]
    detail = body(get(api, f"/api/invoices/{invoices[1].id}", token))
    assert detail["lines"][0]["net_cents"] == 4900 and detail["gross_cents"] == 5831
    assert detail["tax_cents"] == 931 and detail["payments"] == []
    pdf = body(get(api, f"/api/invoices/{invoices[1].id}/pdf", token))
    assert pdf["expires_in"] <= 300 and pdf["filename"] == f"Rechnung-{invoices[1].number}.pdf"
    download = requests.get(pdf["url"], timeout=10)
    assert download.status_code == 200 and download.content.startswith(b"%PDF")
    assert "attachment" in download.headers.get("Content-Disposition", "")


def test_refresh_logout_and_password_reset(api, container, aws_stack):
    store_id, email, token = owner(api, container)
    login = body(post(api, "/api/auth/login", {"email": email, "password": PASSWORD}))
    refreshed = post(api, "/api/auth/refresh", {"refresh_token": login["refresh_token"]})
    assert refreshed.status_code == 200 and "access_token" in body(refreshed)
    assert post(api, "/api/auth/logout", token=login["access_token"]).status_code == 204
    assert (
        post(api, "/api/auth/refresh", {"refresh_token": login["refresh_token"]}).status_code == 401
    )
    # forgot → the code arrives by e-mail → reset → sign in with the new password
    assert post(api, "/api/auth/forgot-password", {"email": email}).status_code == 202
    assert post(api, "/api/auth/forgot-password", {"email": unique_email()}).status_code == 202
    mail = [m for m in read_outbox(aws_stack["AWS_ENDPOINT_URL"]) if m["to"] == email][-1]
    code = mail["text"].split("Dein Code lautet: ")[1].split()[0]
    wrong = post(
        api,
        "/api/auth/reset-password",
        {"email": email, "code": "000000", "password": "Neues-Passwort-2027"},
    )
    assert wrong.status_code == 400 and body(wrong)["error"]["code"] == "invalid_code"
    reset = post(
        api,
        "/api/auth/reset-password",
        {"email": email, "code": code, "password": "Neues-Passwort-2027"},
    )
    assert reset.status_code == 204
    assert post(api, "/api/auth/login", {"email": email, "password": PASSWORD}).status_code == 401
    assert (
        post(
            api, "/api/auth/login", {"email": email, "password": "Neues-Passwort-2027"}
        ).status_code
        == 200
    )


def test_support_request_is_stored_and_mailed(api, container, aws_stack):
    store_id, email, token = owner(api, container, name="Imbiss Ecke")
    invoice = issue(container, store_id)[0]
    sent = post(
        api,
        "/api/support/requests",
        {
            "subject": "Frage zur Rechnung",
            "message": "Warum 2 Terminals?",
            "invoice_id": invoice.id,
        },
        token,
    )
    assert sent.status_code == 202 and body(sent)["id"]
    mails = read_outbox(aws_stack["AWS_ENDPOINT_URL"])
    to_support = [
        m for m in mails if m["to"] == "support@sides.example" and "Imbiss Ecke" in m["subject"]
    ]
    assert to_support and invoice.number in to_support[-1]["text"]
    assert any(m["to"] == email and "Anfrage" in m["subject"] for m in mails)
