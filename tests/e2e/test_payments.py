"""Paying invoices through the real page: card (Stripe stand-in), 3-D Secure, PayPal sandbox.

Every test creates its own store, invoices and invitation through the operator CLI (or, for
a blocked store with backdated invoices, the same object graph the stack's seed uses), accepts
the invitation through the API and then does what an owner does on the page.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.owner import (
    CARD_3DS,
    CARD_DECLINED,
    CARD_OK,
    PAYPAL_CANCELED_MSG,
    THREE_DS_MSG,
    WAIT_MS,
    api_invoice,
    blocked_owner,
    choose_card,
    euro,
    expect_paid_in_place,
    fill_card,
    mark_document,
    new_owner,
    open_invoice,
    sign_in,
    start_card_payment,
    wait_for_pos_event,
)
from tests.e2e.support import api_token, badge, wait_for_mail

pytestmark = pytest.mark.e2e

# ---------------------------------------------------------------------------------------------
# 1. Card: paid in place, receipt by e-mail


def test_card_payment_marks_invoice_paid_without_reload(
    page: Page, stack: dict[str, Any], portal: Callable[..., dict[str, Any]]
) -> None:
    owner = new_owner(stack, portal)
    invoice = owner["invoices"][0]
    sign_in(page, stack, owner)
    open_invoice(page, invoice["number"])
    expect(badge(page)).to_have_attribute("data-status", "open")

    start_card_payment(page, CARD_OK)
    detail_url = page.url
    mark_document(page)
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    page.get_by_test_id("pay-submit").click()

    expect_paid_in_place(page, detail_url)
    expect(page.get_by_test_id("pay-success")).to_contain_text(euro(invoice["gross_cents"]))
    rows = page.get_by_test_id("payment-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-status", "succeeded")
    assert navigations == [], f"Navigation während der Zahlung: {navigations}"

    receipt = wait_for_mail(
        stack,
        lambda m: owner["email"] in m["to"] and "Zahlung erhalten" in m["subject"],
    )
    assert invoice["number"] in receipt["subject"] + receipt["text"]


# ---------------------------------------------------------------------------------------------
# 2. 3-D Secure: approved, cancelled, then paid with another card


def test_three_d_secure_approved_and_cancelled(
    page: Page, stack: dict[str, Any], portal: Callable[..., dict[str, Any]]
) -> None:
    owner = new_owner(stack, portal, invoices=2)
    first, second = owner["invoices"]
    sign_in(page, stack, owner)

    # Approved at the bank: paid.
    open_invoice(page, first["number"])
    start_card_payment(page, CARD_3DS)
    detail_url = page.url
    mark_document(page)
    page.get_by_test_id("pay-submit").click()
    page.get_by_role("button", name="Complete authentication").click()
    expect_paid_in_place(page, detail_url)

    # Cancelled at the bank: the reason, and the invoice stays open.
    open_invoice(page, second["number"])
    start_card_payment(page, CARD_3DS)
    detail_url = page.url
    page.get_by_test_id("pay-submit").click()
    page.get_by_role("button", name="Fail authentication").click()
    error = page.get_by_test_id("pay-error")
    expect(error).to_be_visible(timeout=WAIT_MS)
    expect(error).to_contain_text(THREE_DS_MSG)
    expect(badge(page)).to_have_attribute("data-status", "open")
    expect(page.get_by_test_id("pay-success")).to_have_count(0)

    # Another try with a card that needs no confirmation works.
    page.get_by_test_id("pay-retry").click()
    choose_card(page)
    fill_card(page, CARD_OK)
    page.get_by_test_id("pay-submit").click()
    expect_paid_in_place(page, detail_url)
    expect(page.get_by_test_id("payment-row").filter(has_text="erfolgreich")).to_have_count(1)

    token = api_token(stack, owner)
    for item in (first, second):
        data = api_invoice(stack, token, item["invoice_id"])
        assert data["status"] == "paid", data
        assert [p["status"] for p in data["payments"]].count("succeeded") == 1, data["payments"]


# ---------------------------------------------------------------------------------------------
# 3. Declined card


def test_declined_card_keeps_invoice_open(
    page: Page, stack: dict[str, Any], portal: Callable[..., dict[str, Any]]
) -> None:
    owner = new_owner(stack, portal)
    invoice = owner["invoices"][0]
    sign_in(page, stack, owner)
    open_invoice(page, invoice["number"])

    start_card_payment(page, CARD_DECLINED)
    page.get_by_test_id("pay-submit").click()
    error = page.get_by_test_id("pay-error")
    expect(error).to_be_visible(timeout=WAIT_MS)
    expect(error).to_contain_text("abgelehnt")
    expect(badge(page)).to_have_attribute("data-status", "open")
    expect(page.get_by_test_id("pay-success")).to_have_count(0)
    expect(page.get_by_test_id("pay-retry")).to_be_visible()

    data = api_invoice(stack, api_token(stack, owner), invoice["invoice_id"])
    assert data["status"] == "open", data
    assert all(p["status"] != "succeeded" for p in data["payments"]), data["payments"]


# ---------------------------------------------------------------------------------------------
# 4. PayPal: approved at the sandbox, and cancelled there


def test_paypal_approved(
    page: Page, stack: dict[str, Any], portal: Callable[..., dict[str, Any]]
) -> None:
    owner = new_owner(stack, portal)
    invoice = owner["invoices"][0]
    sign_in(page, stack, owner)
    open_invoice(page, invoice["number"])

    page.get_by_test_id("pay-now").click()
    page.get_by_test_id("pay-method-paypal").click()
    page.wait_for_url(re.compile(r"/checkoutnow\?token="), timeout=WAIT_MS)
    assert not page.url.startswith(stack["url"]), page.url
    page.get_by_test_id("paypal-approve").click()

    page.wait_for_url(re.compile(re.escape(stack["url"]) + r"/.*#/rechnungen/"), timeout=WAIT_MS)
    expect(page.get_by_test_id("invoice-number")).to_have_text(invoice["number"])
    expect(badge(page)).to_have_attribute("data-status", "paid", timeout=10_000)
    expect(page.get_by_test_id("pay-success")).to_be_visible(timeout=10_000)
    # PayPal's token and PayerID do not stay in the address bar.
    assert "token=" not in page.url and "PayerID" not in page.url, page.url

    data = api_invoice(stack, api_token(stack, owner), invoice["invoice_id"])
    assert data["status"] == "paid", data
    succeeded = [p for p in data["payments"] if p["status"] == "succeeded"]
    assert len(succeeded) == 1 and succeeded[0]["method"] == "paypal", data["payments"]


def test_paypal_cancelled(
    page: Page, stack: dict[str, Any], portal: Callable[..., dict[str, Any]]
) -> None:
    owner = new_owner(stack, portal)
    invoice = owner["invoices"][0]
    sign_in(page, stack, owner)
    open_invoice(page, invoice["number"])

    page.get_by_test_id("pay-now").click()
    page.get_by_test_id("pay-method-paypal").click()
    page.wait_for_url(re.compile(r"/checkoutnow\?token="), timeout=WAIT_MS)
    page.get_by_test_id("paypal-cancel").click()

    page.wait_for_url(re.compile(re.escape(stack["url"]) + r"/.*#/rechnungen/"), timeout=WAIT_MS)
    expect(page.get_by_test_id("invoice-number")).to_have_text(invoice["number"])
    error = page.get_by_test_id("pay-error")
    expect(error).to_be_visible(timeout=10_000)
    expect(error).to_contain_text(PAYPAL_CANCELED_MSG)
    expect(badge(page)).to_have_attribute("data-status", "open")
    expect(page.get_by_test_id("pay-success")).to_have_count(0)

    data = api_invoice(stack, api_token(stack, owner), invoice["invoice_id"])
    assert data["status"] == "open", data
    assert [p["status"] for p in data["payments"]] == ["canceled"], data["payments"]


# ---------------------------------------------------------------------------------------------
# 5. A double click charges once


def test_double_click_charges_once(
    page: Page, stack: dict[str, Any], portal: Callable[..., dict[str, Any]]
) -> None:
    owner = new_owner(stack, portal)
    invoice = owner["invoices"][0]
    sign_in(page, stack, owner)
    open_invoice(page, invoice["number"])

    start_card_payment(page, CARD_OK)
    detail_url = page.url
    mark_document(page)
    page.get_by_test_id("pay-submit").dblclick()
    expect_paid_in_place(page, detail_url)
    expect(page.get_by_test_id("payment-row")).to_have_count(1)

    data = api_invoice(stack, api_token(stack, owner), invoice["invoice_id"])
    assert data["status"] == "paid", data
    assert len(data["payments"]) == 1, data["payments"]
    assert data["payments"][0]["status"] == "succeeded", data["payments"]
    assert data["payments"][0]["amount_cents"] == invoice["gross_cents"], data["payments"]


# ---------------------------------------------------------------------------------------------
# 6. A blocked store pays its overdue invoices and is unblocked at once


def test_paying_overdue_invoices_unblocks_the_store(page: Page, stack: dict[str, Any]) -> None:
    owner = blocked_owner(stack)
    store_id = owner["store_id"]
    sign_in(page, stack, owner)
    banner = page.get_by_test_id("account-banner")
    expect(banner).to_have_attribute("data-status", "blocked")
    mark_document(page)

    first, second = owner["invoices"]
    # The first overdue invoice: paid, but the till stays blocked.
    open_invoice(page, first["number"])
    start_card_payment(page, CARD_OK)
    page.get_by_test_id("pay-submit").click()
    expect(page.get_by_test_id("pay-success")).to_be_visible(timeout=WAIT_MS)
    expect(badge(page)).to_have_attribute("data-status", "paid")
    expect(page.get_by_test_id("pay-still-blocked")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_test_id("pay-unblocked")).to_have_count(0)

    # The second: the till is free again, said on the spot and on the profile.
    open_invoice(page, second["number"])
    start_card_payment(page, CARD_OK)
    page.get_by_test_id("pay-submit").click()
    expect(page.get_by_test_id("pay-success")).to_be_visible(timeout=WAIT_MS)
    expect(badge(page)).to_have_attribute("data-status", "paid")
    expect(page.get_by_test_id("pay-unblocked")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_test_id("pay-still-blocked")).to_have_count(0)

    page.get_by_test_id("nav-profile").click()
    expect(page).to_have_url(re.compile(r"#/profil$"))
    expect(banner).to_have_attribute("data-status", "active")
    assert page.evaluate("window.__marker") == 1, "Die Seite wurde neu geladen."

    # The POS hears about it on the bus.
    event = wait_for_pos_event(
        stack,
        lambda e: (
            e.get("detail-type") == "StoreAccessChanged"
            and (e.get("detail") or {}).get("store_id") == store_id
        ),
    )
    assert event["detail"]["status"] == "active", event
