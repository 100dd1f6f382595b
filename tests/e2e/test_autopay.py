"""Automatic charges of the monthly licence fee, through the real page and the operator CLI.

A saved card with autopay is charged by `portal billing run`; a card that needs 3-D Secure
is not charged but the owner is asked to confirm on the page; without a card the run only
invoices; a store blocked by `portal dunning run` is unblocked the moment it pays.

`billing run` and `dunning run` work on every store of the (shared) stack, so every test
bills a period of its own, far in the future, and asserts only on its own store.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import Page, expect

from chalicelib.domain.periods import licence_invoice_id
from tests.e2e.owner import new_owner, sign_in
from tests.e2e.support import api_token, badge, wait_for_mail

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
LICENCE_LINE = "SIDES Kassenlizenz;1;4900;19"
CARD_OK = "4242424242424242"
CARD_3DS = "4000002760003184"  # asks for 3-D Secure every time, off-session too
WAIT_MS = 15_000  # the longest a person waits for an outcome on screen
BILLING_WAIT_S = 120  # `billing run --wait-seconds`
# Periods no other test bills (one per test: a run bills every active store of the stack).
PERIOD_CHARGED = "2047-01"
PERIOD_3DS = "2047-02"
PERIOD_NO_CARD = "2047-03"

# ---------------------------------------------------------------------------------------------
# Helpers: stores, the CLI, the API and the outbox


def billing_run(portal: Callable[..., dict[str, Any]], period: str) -> dict[str, Any]:
    """`portal billing run`, given time for the charges behind the queue to finish."""
    args = ("billing", "run", "--period", period, "--wait-seconds", str(BILLING_WAIT_S))
    result = portal(*args, timeout_s=BILLING_WAIT_S + 60)
    assert result["period"] == period, result
    return result


def api_get(stack: dict[str, Any], token: str, path: str) -> dict[str, Any]:
    response = requests.get(
        f"{stack['url']}/api{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert response.status_code == 200, f"GET {path} → {response.status_code}: {response.text}"
    return dict(response.json())


def mails_to(stack: dict[str, Any], email: str) -> list[dict[str, Any]]:
    from local.outbox import read_outbox

    return [m for m in read_outbox(stack["env"]["AWS_ENDPOINT_URL"]) if email in m["to"]]


def invoice_link(text: str, invoice_id: str) -> str:
    """The portal link to the invoice in a mail text (…/#/rechnungen/<id>)."""
    match = re.search(rf"(\S*/#/rechnungen/{re.escape(invoice_id)})(?=\s|$)", text)
    assert match, f"Kein Link auf die Rechnung {invoice_id} in der E-Mail:\n{text}"
    return match.group(1)


def berlin_today() -> Any:
    return datetime.now(ZoneInfo("Europe/Berlin")).date()


# ---------------------------------------------------------------------------------------------
# Helpers: what the owner does on the page


def fill_card(element: Any, number: str) -> None:
    element.locator('input[placeholder="number"]').fill(number)
    element.locator('input[placeholder="exp_month"]').fill("12")
    element.locator('input[placeholder="exp_year"]').fill("30")
    element.locator('input[placeholder="cvc"]').fill("123")


def save_card(page: Page, number: str, three_d_secure: bool = False) -> None:
    """On the profile: save a card (approving 3-D Secure if the bank asks)."""
    section = page.get_by_test_id("payment-method")
    expect(section.get_by_test_id("no-card")).to_be_visible()
    section.get_by_test_id("save-card").click()
    element = page.get_by_test_id("setup-card-element")
    expect(element.locator('input[placeholder="number"]')).to_be_visible()
    fill_card(element, number)
    # The button says what saving does: the monthly licence is charged automatically.
    expect(page.get_by_test_id("setup-submit")).to_contain_text(
        "monatliche Lizenz automatisch abbuchen"
    )
    page.get_by_test_id("setup-submit").click()
    if three_d_secure:
        page.get_by_role("button", name="Complete authentication").click(timeout=WAIT_MS)
    expect(page.get_by_test_id("saved-card")).to_contain_text(number[-4:], timeout=WAIT_MS)
    expect(page.get_by_test_id("setup-error")).to_have_count(0)


def expect_autopay_on(page: Page) -> None:
    """Saving a card turns the automatic monthly charge on, as the form said it would."""
    toggle = page.get_by_test_id("autopay-toggle")
    expect(toggle).to_be_checked()
    expect(toggle).to_be_enabled()
    expect(page.get_by_test_id("autopay-error")).to_be_hidden()


def expect_saved_for_autopay(stack: dict[str, Any], owner: dict[str, Any], last4: str) -> None:
    """The backend's view: the card is saved and autopay is on."""
    profile = api_get(stack, api_token(stack, owner), "/profile")
    assert profile["autopay"] is True, profile
    assert (profile.get("payment_method") or {}).get("last4") == last4, profile


def open_invoice_from_list(page: Page, invoice_id: str) -> Any:
    """Invoice list (loaded afresh) → the row of `invoice_id` → its detail page; the row."""
    page.get_by_test_id("nav-invoices").click()
    expect(page).to_have_url(re.compile(r"#/rechnungen$"))
    row = page.locator(f'[data-testid="invoice-row"][data-id="{invoice_id}"]')
    expect(row).to_have_count(1)
    return row


# ---------------------------------------------------------------------------------------------
# 1. A saved card with autopay is charged by the monthly run


def test_billing_run_charges_saved_card(
    page: Page, stack: dict[str, Any], portal: Callable[..., dict[str, Any]]
) -> None:
    owner = new_owner(stack, portal, invoices=0, prefix="autopay")
    sign_in(page, stack, owner)
    save_card(page, CARD_OK)
    expect_autopay_on(page)
    expect_saved_for_autopay(stack, owner, CARD_OK[-4:])

    result = billing_run(portal, PERIOD_CHARGED)
    assert result["invoiced"] >= 1 and result["charged"] >= 1, result

    invoice_id = licence_invoice_id(owner["store_id"], PERIOD_CHARGED)
    data = api_get(stack, api_token(stack, owner), f"/invoices/{invoice_id}")
    assert data["status"] == "paid", data
    assert data["period"] == PERIOD_CHARGED, data
    payments = [(p["kind"], p["status"]) for p in data["payments"]]
    assert payments == [("autopay", "succeeded")], data["payments"]
    assert data["payments"][0]["amount_cents"] == data["gross_cents"], data

    # The page (list loaded afresh, then the detail page) shows it paid, automatically.
    row = open_invoice_from_list(page, invoice_id)
    expect(row).to_have_attribute("data-status", "paid")
    expect(row).to_contain_text("Januar 2047")
    row.get_by_test_id("invoice-number").click()
    expect(page).to_have_url(re.compile(rf"#/rechnungen/{re.escape(invoice_id)}$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(data["number"])
    expect(page.get_by_test_id("invoice-number")).to_have_text(data["number"])
    expect(badge(page)).to_have_attribute("data-status", "paid")
    expect(page.get_by_test_id("invoice-paid-at")).to_be_visible()
    expect(page.get_by_test_id("pay-now")).to_have_count(0)
    payment = page.get_by_test_id("payment-row")
    expect(payment).to_have_count(1)
    expect(payment).to_have_attribute("data-status", "succeeded")
    expect(payment).to_contain_text("(automatisch)")

    receipt = wait_for_mail(
        stack,
        lambda m: (
            owner["email"] in m["to"]
            and "Zahlung erhalten" in m["subject"]
            and data["number"] in m["subject"] + m["text"]
        ),
    )
    assert receipt["subject"] == f"Zahlung erhalten – Rechnung {data['number']}", receipt


# ---------------------------------------------------------------------------------------------
# 2. A card that needs 3-D Secure: saved with approval, not charged off-session, paid on-session


def test_card_needing_authentication_is_confirmed_on_the_page(
    page: Page, stack: dict[str, Any], portal: Callable[..., dict[str, Any]]
) -> None:
    owner = new_owner(stack, portal, invoices=0, prefix="autopay-3ds")
    sign_in(page, stack, owner)
    save_card(page, CARD_3DS, three_d_secure=True)
    expect_autopay_on(page)
    expect_saved_for_autopay(stack, owner, CARD_3DS[-4:])

    result = billing_run(portal, PERIOD_3DS)
    assert result["invoiced"] >= 1, result

    invoice_id = licence_invoice_id(owner["store_id"], PERIOD_3DS)
    token = api_token(stack, owner)
    data = api_get(stack, token, f"/invoices/{invoice_id}")
    assert data["status"] == "open", data
    assert [p["status"] for p in data["payments"] if p["status"] == "succeeded"] == [], data
    autopay = [p for p in data["payments"] if p["kind"] == "autopay"]
    assert len(autopay) == 1, data["payments"]
    assert autopay[0]["status"] in ("failed", "canceled"), autopay
    assert autopay[0]["failure_code"] in (
        "authentication_required",
        "payment_intent_authentication_failure",
    ), autopay

    mail = wait_for_mail(
        stack,
        lambda m: (
            owner["email"] in m["to"]
            and m["subject"] == "Bitte bestätige deine Zahlung"
            and f"/#/rechnungen/{invoice_id}" in m["text"]
        ),
    )
    assert data["number"] in mail["text"], mail["text"]
    link = invoice_link(mail["text"], invoice_id)
    assert link.startswith(stack["url"]), link
    assert not [m for m in mails_to(stack, owner["email"]) if "Zahlung erhalten" in m["subject"]]

    # The link from the mail opens the invoice; the owner pays with the same card, approving.
    page.goto(link)
    expect(page.get_by_test_id("invoice-number")).to_have_text(data["number"], timeout=WAIT_MS)
    expect(badge(page)).to_have_attribute("data-status", "open")
    page.get_by_test_id("pay-now").click()
    page.get_by_test_id("pay-method-card").click()
    element = page.get_by_test_id("card-element")
    expect(element.locator('input[placeholder="number"]')).to_be_visible()
    fill_card(element, CARD_3DS)
    page.get_by_test_id("pay-submit").click()
    page.get_by_role("button", name="Complete authentication").click(timeout=WAIT_MS)

    expect(page.get_by_test_id("pay-success")).to_be_visible(timeout=WAIT_MS)
    expect(badge(page)).to_have_attribute("data-status", "paid")
    expect(page.get_by_test_id("pay-error")).to_have_count(0)

    data = api_get(stack, token, f"/invoices/{invoice_id}")
    assert data["status"] == "paid", data
    succeeded = [p for p in data["payments"] if p["status"] == "succeeded"]
    assert len(succeeded) == 1 and succeeded[0]["kind"] != "autopay", data["payments"]
    wait_for_mail(
        stack,
        lambda m: (
            owner["email"] in m["to"]
            and m["subject"] == f"Zahlung erhalten – Rechnung {data['number']}"
        ),
    )


# ---------------------------------------------------------------------------------------------
# 3. Card removed: the next run invoices (and mails the invoice) but charges nothing


def test_without_card_the_run_only_invoices(
    page: Page, stack: dict[str, Any], portal: Callable[..., dict[str, Any]]
) -> None:
    owner = new_owner(stack, portal, invoices=0, prefix="autopay-ohne-karte")
    sign_in(page, stack, owner)
    save_card(page, CARD_OK)
    expect_autopay_on(page)

    page.get_by_test_id("remove-card").click()
    page.get_by_test_id("remove-card-confirm").click()
    expect(page.get_by_test_id("no-card")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_test_id("saved-card")).to_have_count(0)
    expect(page.get_by_test_id("autopay-toggle")).to_have_count(0)
    token = api_token(stack, owner)
    profile = api_get(stack, token, "/profile")
    assert profile.get("payment_method") is None and profile["autopay"] is False, profile

    result = billing_run(portal, PERIOD_NO_CARD)
    assert result["invoiced"] >= 1, result

    invoice_id = licence_invoice_id(owner["store_id"], PERIOD_NO_CARD)
    data = api_get(stack, token, f"/invoices/{invoice_id}")
    assert data["status"] == "open", data
    assert data["payments"] == [], data["payments"]

    mail = wait_for_mail(
        stack,
        lambda m: owner["email"] in m["to"] and m["subject"] == f"Deine Rechnung {data['number']}",
    )
    link = invoice_link(mail["text"], invoice_id)
    assert link.startswith(stack["url"]), link
    mine = mails_to(stack, owner["email"])
    assert not [m for m in mine if "Zahlung erhalten" in m["subject"]], mine
    assert not [m for m in mine if "Bitte bestätige" in m["subject"]], mine

    row = open_invoice_from_list(page, invoice_id)
    expect(row).to_have_attribute("data-status", "open")
    expect(row).to_contain_text("März 2047")


# ---------------------------------------------------------------------------------------------
# 4. Blocked by the dunning run, unblocked by paying on the page


def test_store_blocked_by_dunning_is_unblocked_by_paying(
    page: Page, stack: dict[str, Any], portal: Callable[..., dict[str, Any]]
) -> None:
    owner = new_owner(stack, portal, invoices=0, prefix="mahnung")
    issued = portal(
        "invoices", "issue", "--store", owner["store_id"], "--line", LICENCE_LINE,
        "--due-days", "0",
    )  # fmt: skip
    invoice_id = issued["invoice_id"]

    # 20 days on: past the due date plus the 14-day grace.
    today = (berlin_today() + timedelta(days=20)).isoformat()
    result = portal("dunning", "run", "--today", today)
    assert result["blocked"] >= 1, result
    profile = api_get(stack, api_token(stack, owner), "/profile")
    assert profile["account_status"] == "blocked", profile

    blocked_mail = wait_for_mail(
        stack,
        lambda m: owner["email"] in m["to"] and "Deine Kasse ist gesperrt" in m["subject"],
    )
    assert issued["number"] in blocked_mail["text"], blocked_mail["text"]

    sign_in(page, stack, owner)
    banner = page.get_by_test_id("account-banner")
    expect(banner).to_have_attribute("data-status", "blocked")
    page.evaluate("window.__marker = 1")  # survives only as long as this document

    row = open_invoice_from_list(page, invoice_id)
    expect(row).to_have_attribute("data-status", "open")
    row.get_by_test_id("invoice-number").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(issued["number"])
    expect(page.get_by_test_id("invoice-number")).to_have_text(issued["number"])
    page.get_by_test_id("pay-now").click()
    page.get_by_test_id("pay-method-card").click()
    element = page.get_by_test_id("card-element")
    expect(element.locator('input[placeholder="number"]')).to_be_visible()
    fill_card(element, CARD_OK)
    page.get_by_test_id("pay-submit").click()

    expect(page.get_by_test_id("pay-success")).to_be_visible(timeout=WAIT_MS)
    expect(badge(page)).to_have_attribute("data-status", "paid")
    expect(page.get_by_test_id("pay-unblocked")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_test_id("pay-still-blocked")).to_have_count(0)

    page.get_by_test_id("nav-profile").click()
    expect(page).to_have_url(re.compile(r"#/profil$"))
    expect(banner).to_have_attribute("data-status", "active")
    assert page.evaluate("window.__marker") == 1, "Die Seite wurde neu geladen."

    profile = api_get(stack, api_token(stack, owner), "/profile")
    assert profile["account_status"] == "active", profile
