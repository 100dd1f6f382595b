"""Money on the page: several invoices paid at once, a payment left waiting for the bank and
continued later, a stale PayPal order that must not collect a second time."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.e2e.owner import (
    CARD_3DS,
    CARD_OK,
    DEMO_EMAIL,
    NEW_PASSWORD,
    WAIT_MS,
    api_invoice,
    choose_card,
    euro,
    fill_card,
    invitation_token,
    new_owner,
    open_invoice,
    sign_in,
    start_card_payment,
    wait_for_pos_event,
)
from tests.e2e.support import api_token, badge, expect_accessible

pytestmark = pytest.mark.e2e

WAIT_BANK = "Wir warten noch auf die Bestätigung deiner Bank"


def demo_owner(stack: dict[str, Any]) -> dict[str, Any]:
    """The seeded demo store's owner: signed up by the journey (which runs first), or here."""
    owner = {"email": DEMO_EMAIL, "password": NEW_PASSWORD, "store_id": stack["demo_store_id"]}
    login = requests.post(
        f"{stack['url']}/api/auth/login",
        json={"email": DEMO_EMAIL, "password": NEW_PASSWORD},
        timeout=30,
    )
    if login.status_code != 200:
        accepted = requests.post(
            f"{stack['url']}/api/invitations/{invitation_token(stack['invitation_url'])}/accept",
            json={"password": NEW_PASSWORD},
            timeout=30,
        )
        assert accepted.status_code == 201, accepted.text
    return owner


def test_pay_all_overdue_at_once_unlocks_the_demo_store(page: Page, stack: dict[str, Any]) -> None:
    owner = demo_owner(stack)
    sign_in(page, stack, owner)
    banner = page.get_by_test_id("account-banner")
    expect(banner).to_have_attribute("data-status", "blocked")
    token = api_token(stack, owner)
    profile = requests.get(
        f"{stack['url']}/api/profile", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ).json()
    overdue = profile["overdue_balance_cents"]
    pay_all = page.get_by_test_id("pay-overdue")
    expect(pay_all).to_contain_text("Alle überfälligen bezahlen (")
    expect(pay_all).to_contain_text(euro(overdue))

    # Next to the list: the overdue invoices, their sum, one payment for all of them.
    pay_all.click()
    expect(page).to_have_url(re.compile(r"#/bezahlen$"))
    rows = page.get_by_test_id("pay-all-invoice")
    expect(rows.first).to_be_visible()
    ids = [row.get_attribute("data-id") for row in rows.all()]
    assert len(ids) >= 2, ids
    expect(page.get_by_test_id("pay-all-total")).to_have_text(euro(overdue))
    expect_accessible(page, "Alle überfälligen bezahlen")
    page.get_by_test_id("pay-now").click()
    choose_card(page)
    fill_card(page, CARD_OK)
    page.get_by_test_id("pay-submit").click()

    expect(page.get_by_test_id("pay-success")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_test_id("pay-unblocked")).to_be_visible(timeout=WAIT_MS)
    expect_accessible(page, "Alle überfälligen bezahlt")
    for row in rows.all():
        expect(row.get_by_test_id("invoice-status")).to_have_attribute("data-status", "paid")

    # One payment paid them all.
    payments = {api_invoice(stack, token, i)["payments"][-1]["id"] for i in ids if i}
    assert len(payments) == 1, payments
    paid = api_invoice(stack, token, str(ids[0]))["payments"][-1]
    assert paid["status"] == "succeeded" and paid["amount_cents"] == overdue, paid
    assert sorted(paid.get("invoice_ids") or []) == sorted(ids), paid

    page.get_by_test_id("nav-profile").click()
    expect(banner).to_have_attribute("data-status", "active")
    event = wait_for_pos_event(
        stack,
        lambda e: (
            e.get("detail-type") == "StoreAccessChanged"
            and (e.get("detail") or {}).get("store_id") == owner["store_id"]
        ),
    )
    assert event["detail"]["status"] == "active", event


def test_tab_closed_during_3ds_then_continued(
    page: Page, stack: dict[str, Any], portal: Callable[..., dict[str, Any]]
) -> None:
    owner = new_owner(stack, portal, invoices=2)
    first, second = owner["invoices"]
    sign_in(page, stack, owner)

    # The bank asks for 3-D Secure: the page says what it waits for and offers both ways at once.
    open_invoice(page, first["number"])
    start_card_payment(page, CARD_3DS)
    page.get_by_test_id("pay-submit").click()
    waiting = page.get_by_test_id("pay-waiting")
    expect(waiting).to_contain_text(WAIT_BANK)
    expect(waiting.get_by_test_id("pay-resume")).to_have_text("Bestätigung fortsetzen")
    expect(waiting.get_by_test_id("pay-cancel")).to_be_visible()
    expect(page.get_by_role("button", name="Complete authentication")).to_be_visible()

    # The owner closes the tab (and with it the session) and comes back later.
    context = page.context
    page.close()
    page = context.new_page()
    sign_in(page, stack, owner)
    open_invoice(page, first["number"])
    expect(badge(page)).to_have_attribute("data-status", "processing")
    waiting = page.get_by_test_id("pay-waiting")
    expect(waiting).to_contain_text(WAIT_BANK)
    expect_accessible(page, "Zahlung wartet auf die Bank")
    waiting.get_by_test_id("pay-resume").click()
    page.get_by_role("button", name="Complete authentication").click()
    expect(page.get_by_test_id("pay-success")).to_be_visible(timeout=WAIT_MS)
    expect(badge(page)).to_have_attribute("data-status", "paid")
    expect(page.get_by_test_id("payment-row")).to_have_count(1)
    expect(page.get_by_test_id("pay-success")).to_contain_text("ist eingegangen")

    # The receipt joins the invoice's documents, each with its own download.
    receipt = page.get_by_test_id("document").and_(page.locator('[data-kind="receipt"]'))
    deadline = time.monotonic() + WAIT_MS / 1000
    while not receipt.count() and time.monotonic() < deadline:
        time.sleep(1)
        page.reload()
        expect(badge(page)).to_be_visible()
    expect(receipt).to_contain_text("Zahlungsbestätigung")
    expect(page.get_by_test_id("document").first).to_contain_text("Rechnung")
    # opened again later, the invoice says how it was paid
    page.reload()
    expect(page.get_by_test_id("pay-paid")).to_contain_text("per Kreditkarte")
    with page.expect_download(timeout=WAIT_MS) as download_info:
        receipt.get_by_test_id("doc-download").click()
    assert Path(download_info.value.path()).read_bytes().startswith(b"%PDF")
    # The invoice's e-invoice (XRechnung) next to its PDF; a receipt has none.
    expect(receipt.get_by_test_id("doc-xml")).to_have_count(0)
    own = page.get_by_test_id("document").and_(page.locator('[data-kind="invoice"]'))
    with page.expect_download(timeout=WAIT_MS) as download_info:
        own.get_by_test_id("doc-xml").click()
    assert download_info.value.suggested_filename.endswith(".xml")
    assert b"CrossIndustryInvoice" in Path(download_info.value.path()).read_bytes()

    # The other one: left waiting, then cancelled on return; the invoice is open again.
    open_invoice(page, second["number"])
    start_card_payment(page, CARD_3DS)
    page.get_by_test_id("pay-submit").click()
    expect(page.get_by_test_id("pay-waiting")).to_contain_text(WAIT_BANK)
    page.reload()  # keeps the session (the refresh token lives as long as the tab)
    expect(badge(page)).to_have_attribute("data-status", "processing")
    expect(page.get_by_test_id("pay-waiting")).to_contain_text(WAIT_BANK)
    page.get_by_test_id("pay-cancel").click()
    expect(page.get_by_test_id("pay-error")).to_be_visible(timeout=WAIT_MS)
    expect(badge(page)).to_have_attribute("data-status", "open")
    data = api_invoice(stack, api_token(stack, owner), second["invoice_id"])
    assert data["status"] == "open", data
    assert [p["status"] for p in data["payments"]] == ["canceled"], data["payments"]
    page.close()


def test_stale_paypal_order_approved_after_card_payment(
    page: Page, stack: dict[str, Any], portal: Callable[..., dict[str, Any]]
) -> None:
    owner = new_owner(stack, portal)
    invoice = owner["invoices"][0]
    sign_in(page, stack, owner)
    open_invoice(page, invoice["number"])
    detail_url = page.url

    # PayPal started, its approval page left open …
    page.get_by_test_id("pay-now").click()
    page.get_by_test_id("pay-method-paypal").click()
    page.wait_for_url(re.compile(r"/checkoutnow\?token="), timeout=WAIT_MS)
    approval_url = page.url

    # … the owner goes back and pays by card instead.
    page.goto(detail_url)
    expect(page.get_by_test_id("invoice-number")).to_have_text(invoice["number"])
    expect(page.get_by_test_id("pay-waiting")).to_contain_text("PayPal")
    page.get_by_test_id("pay-cancel").click()
    expect(page.get_by_test_id("pay-retry")).to_be_visible(timeout=WAIT_MS)
    page.get_by_test_id("pay-retry").click()
    choose_card(page)
    fill_card(page, CARD_OK)
    page.get_by_test_id("pay-submit").click()
    expect(page.get_by_test_id("pay-success")).to_be_visible(timeout=WAIT_MS)

    # Later the stale PayPal order is approved after all: it must not collect a second time.
    page.goto(approval_url)
    approve = page.get_by_test_id("paypal-approve")
    if approve.count():
        approve.click()
        page.wait_for_url(re.compile(re.escape(stack["url"]) + r"/"), timeout=WAIT_MS)
    page.goto(detail_url)
    expect(badge(page)).to_have_attribute("data-status", "paid")

    # One payment kept: the card's. The PayPal one never collected, or was given back.
    data = api_invoice(stack, api_token(stack, owner), invoice["invoice_id"])
    kept = [p for p in data["payments"] if p["status"] == "succeeded"]
    assert len(kept) == 1 and kept[0]["method"] == "card", data["payments"]
    others = {p["status"] for p in data["payments"] if p is not kept[0]}
    assert others <= {"canceled", "failed", "refunded"}, data["payments"]
