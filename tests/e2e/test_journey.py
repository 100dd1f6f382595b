"""The owner's journey through the real page, in headless Chromium against the local stack."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.owner import DEMO_EMAIL, NEW_PASSWORD, invitation_token, new_owner
from tests.e2e.support import wait_for_mail

pytestmark = pytest.mark.e2e

DEMO_STORE = "Pizzeria Da Mario"
SUPPORT_EMAIL = "support@sides.example"
FIRST_PASSWORD = "Pizza-Mario-2026!"
WRONG_CREDENTIALS = "E-Mail-Adresse oder Passwort ist falsch."
EURO = re.compile(r"\d{1,3}(\.\d{3})*,\d{2}\s€")
RESET_CODE = re.compile(r"Dein Code lautet: (\d{6})")


# ---------------------------------------------------------------------------------------------
# Helpers


def count_mails(stack: dict[str, Any], matches: Callable[[dict[str, Any]], bool]) -> int:
    from local.outbox import read_outbox

    return sum(1 for m in read_outbox(stack["env"]["AWS_ENDPOINT_URL"]) if matches(m))


def sign_in(page: Page, email: str, password: str) -> None:
    expect(page.get_by_role("heading", name="Anmelden", exact=True)).to_be_visible()
    page.get_by_test_id("login-email").fill(email)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()


def sign_out(page: Page) -> None:
    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("notice")).to_contain_text("Du bist abgemeldet.")
    expect(page.get_by_test_id("login-email")).to_be_visible()
    expect(page.get_by_test_id("logout")).to_be_hidden()


def expect_no_horizontal_scroll(page: Page) -> None:
    width = page.viewport_size["width"] if page.viewport_size else 375
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"horizontaler Scroll: {scroll_width}px > {width}px ({page.url})"


def expect_rule(page: Page, rule: str, met: bool) -> None:
    item = page.get_by_test_id(f"rule-{rule}")
    state = re.compile(r"\bok\b")
    if met:
        expect(item).to_have_class(state)
        expect(item).to_contain_text("– erfüllt")
    else:
        expect(item).not_to_have_class(state)
        expect(item).to_contain_text("noch nicht erfüllt")


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages)


# ---------------------------------------------------------------------------------------------
# The demo store's owner, from the invitation mail to a reset password


def test_owner_journey(page: Page, stack: dict[str, Any]) -> None:
    base = stack["url"]
    token = invitation_token(stack["invitation_url"])

    # The invitation link names the store and the address the access is bound to.
    page.goto(stack["invitation_url"])
    expect(page.get_by_test_id("invite-store")).to_have_text(DEMO_STORE)
    expect(page.get_by_test_id("invite-email")).to_have_value(DEMO_EMAIL)
    expect_no_horizontal_scroll(page)

    # A weak password: the rules show what is missing and the page does not let it through.
    page.get_by_test_id("password").fill("kurz")
    page.get_by_test_id("password-repeat").fill("kurz")
    expect_rule(page, "length", met=False)
    expect_rule(page, "upper", met=False)
    expect_rule(page, "digit", met=False)
    expect_rule(page, "lower", met=True)
    expect_rule(page, "match", met=True)
    submit = page.get_by_test_id("accept-submit")
    expect(submit).to_be_disabled()
    # … and says why the button waits.
    missing = page.get_by_test_id("pw-missing")
    expect(missing).to_contain_text("mindestens 12 Zeichen")
    expect(missing).to_contain_text("ein Großbuchstabe")
    expect(missing).not_to_contain_text("Kleinbuchstabe")

    # The server refuses it as well, naming the rule (and the invitation stays usable).
    refused = page.request.post(f"{base}/api/invitations/{token}/accept", data={"password": "kurz"})
    assert refused.status == 400, refused.text()
    error = refused.json()["error"]
    assert error["code"] == "password_policy"
    assert "12 Zeichen" in error["message"]

    # A good password (typed differently in the repeat field first).
    page.get_by_test_id("password").fill(FIRST_PASSWORD)
    page.get_by_test_id("password-repeat").fill(FIRST_PASSWORD + "x")
    for rule in ("length", "lower", "upper", "digit"):
        expect_rule(page, rule, met=True)
    expect_rule(page, "match", met=False)
    expect(submit).to_be_disabled()
    expect(missing).to_contain_text("Passwort wiederholen")
    page.get_by_test_id("password-repeat").fill(FIRST_PASSWORD)
    expect_rule(page, "match", met=True)
    expect(submit).to_be_enabled()
    expect(missing).to_be_hidden()
    submit.click()

    # Signed in on the profile: the store, and the banner that its POS is blocked.
    expect(page).to_have_url(re.compile(r"#/profil$"))
    expect(page.get_by_test_id("notice")).to_contain_text(f"Willkommen, {DEMO_STORE}!")
    expect(page.get_by_test_id("profile-store-name")).to_have_text(DEMO_STORE)
    banner = page.get_by_test_id("account-banner")
    expect(banner).to_have_attribute("data-status", "blocked")
    expect(banner).to_contain_text("gesperrt")
    expect(page.get_by_test_id("open-balance")).to_have_text(EURO)
    # One word for the store, written as the seed and the CLI write it.
    assert page.get_by_role("heading", name="Store", exact=True).inner_text() == "Store"
    pay_all = page.get_by_test_id("pay-overdue")
    expect(pay_all).to_have_text(re.compile(r"^Alle überfälligen bezahlen \(\d+,\d{2}\s€\)$"))
    expect_no_horizontal_scroll(page)

    # All invoices, with German amounts and at least one overdue.
    page.get_by_test_id("nav-invoices").click()
    expect(page).to_have_url(re.compile(r"#/rechnungen$"))
    rows = page.get_by_test_id("invoice-row")
    expect(rows).to_have_count(7)
    for row in rows.all():
        expect(row).to_contain_text(EURO)
        expect(row).not_to_contain_text("Position(en)")
    expect(rows.filter(has_text="und 1 weitere Position").first).to_be_visible()
    overdue = rows.filter(has_text="überfällig")
    expect(overdue.first).to_be_visible()
    expect(rows.filter(has_text="bezahlt")).to_have_count(4)
    expect_no_horizontal_scroll(page)

    # Only the open ones.
    page.get_by_test_id("filter-open").click()
    expect(page).to_have_url(re.compile(r"#/rechnungen\?status=open$"))
    expect(page.get_by_test_id("filter-open")).to_have_attribute("aria-current", "true")
    expect(rows).to_have_count(3)
    for row in rows.all():
        expect(row).to_have_attribute("data-status", "open")
        expect(row).not_to_contain_text("bezahlt")

    # One overdue invoice in detail.
    target = rows.filter(has_text="überfällig").first
    number = target.get_by_test_id("invoice-number").inner_text().strip()
    assert number
    target.get_by_test_id("invoice-number").click()
    expect(page).to_have_url(re.compile(r"#/rechnungen/[^/?]+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(number)
    expect(page.get_by_test_id("invoice-number")).to_have_text(number)
    lines = page.get_by_role("table", name="Rechnungspositionen").locator("tbody tr")
    expect(lines).to_have_count(2)
    expect(lines.first).to_contain_text("SIDES Kassenlizenz")
    expect(lines.nth(1)).to_contain_text("Zusatzterminal")
    expect(page.get_by_test_id("invoice-gross")).to_have_text(EURO)
    expect_no_horizontal_scroll(page)
    # Something is due: paying comes first (above the fold on a phone), the PDF second.
    pay = page.get_by_test_id("pay-now").bounding_box()
    pdf = page.get_by_test_id("pdf-download").bounding_box()
    assert pay and pdf and pay["y"] < pdf["y"], (pay, pdf)
    assert pay["y"] + pay["height"] <= 812, pay
    expect(page.get_by_test_id("pdf-download")).to_have_class(re.compile(r"\bbtn-secondary\b"))

    # The PDF arrives as a download; the page stays where it is.
    detail_url = page.url
    with page.expect_download(timeout=10_000) as download_info:
        page.get_by_test_id("pdf-download").click()
    download = download_info.value
    assert download.failure() is None
    assert download.suggested_filename.endswith(".pdf"), download.suggested_filename
    data = Path(download.path()).read_bytes()
    assert data.startswith(b"%PDF"), data[:20]
    assert number in pdf_text(data)
    expect(page.get_by_test_id("pdf-download")).to_be_enabled()
    assert page.url == detail_url

    # Sign out, and back in with the password just set.
    sign_out(page)
    sign_in(page, DEMO_EMAIL, FIRST_PASSWORD)
    expect(page.get_by_test_id("profile-store-name")).to_have_text(DEMO_STORE)
    sign_out(page)

    # Forgotten password: a code by e-mail, then a new password.
    is_code_mail = lambda m: DEMO_EMAIL in m["to"] and "Dein Code lautet" in m["text"]  # noqa: E731
    codes_before = count_mails(stack, is_code_mail)
    page.get_by_role("link", name="Passwort vergessen?").click()
    page.get_by_test_id("forgot-email").fill(DEMO_EMAIL)
    page.get_by_test_id("forgot-submit").click()
    expect(page).to_have_url(re.compile(r"#/passwort-zuruecksetzen$"))
    expect(page.get_by_test_id("notice")).to_contain_text("Code geschickt")
    mail = wait_for_mail(stack, is_code_mail, seen=codes_before)
    code = RESET_CODE.search(mail["text"])
    assert code, mail["text"]
    # One sign-off in every mail, this one included.
    assert mail["text"].rstrip().endswith("Viele Grüße\nDein SIDES-Team"), mail["text"]
    # What the reset form still waits for, said next to the disabled button.
    missing = page.get_by_test_id("pw-missing")
    expect(missing).to_contain_text("der Code aus der E-Mail")

    page.get_by_test_id("reset-email").fill(DEMO_EMAIL)
    page.get_by_test_id("reset-code").fill(code.group(1))
    page.get_by_test_id("reset-password").fill(NEW_PASSWORD)
    page.get_by_test_id("reset-password-repeat").fill(NEW_PASSWORD)
    page.get_by_test_id("reset-submit").click()
    expect(page.get_by_test_id("notice")).to_contain_text("Passwort geändert")
    expect(page).to_have_url(re.compile(r"#/anmelden$"))

    # The old password no longer works, the new one does.
    sign_in(page, DEMO_EMAIL, FIRST_PASSWORD)
    expect(page.get_by_test_id("form-error")).to_have_text(WRONG_CREDENTIALS)
    # The error replaces the green notice instead of standing next to it.
    expect(page.get_by_test_id("notice")).to_be_empty()
    expect(page.get_by_test_id("profile-store-name")).to_have_count(0)
    page.get_by_test_id("login-password").fill(NEW_PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page).to_have_url(re.compile(r"#/profil$"))
    expect(page.get_by_test_id("profile-store-name")).to_have_text(DEMO_STORE)

    # The invitation link once more (it is used): to sign-in, with a hint why.
    sign_out(page)
    page.goto(stack["invitation_url"])
    expect(page).to_have_url(re.compile(r"#/anmelden$"))
    expect(page.get_by_test_id("notice")).to_contain_text("schon benutzt")
    expect(page.get_by_test_id("login-email")).to_be_visible()


# ---------------------------------------------------------------------------------------------
# Support request about one invoice


def test_support_request_about_an_invoice(
    page: Page,
    stack: dict[str, Any],
    portal: Callable[..., dict[str, Any]],
) -> None:
    owner = new_owner(stack, portal, prefix="inhaber")
    invoice = owner["invoices"][0]
    about_invoice = lambda m: SUPPORT_EMAIL in m["to"] and invoice["number"] in m["text"]  # noqa: E731
    assert count_mails(stack, about_invoice) == 0

    page.goto(stack["url"])
    sign_in(page, owner["email"], owner["password"])
    expect(page.get_by_test_id("account-banner")).to_have_attribute("data-status", "active")

    # From the invoice, "Frage zur Rechnung" opens the form with that invoice chosen.
    page.get_by_test_id("nav-invoices").click()
    page.get_by_test_id("invoice-row").filter(has_text=invoice["number"]).get_by_test_id(
        "invoice-number"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(invoice["number"])
    expect(page.get_by_test_id("invoice-number")).to_have_text(invoice["number"])
    page.get_by_role("link", name="Frage zur Rechnung").click()
    expect(page).to_have_url(re.compile(r"#/support\?invoice="))
    expect(page.get_by_test_id("support-invoice")).to_have_value(invoice["invoice_id"])

    # An empty form is not sent.
    page.get_by_test_id("support-submit").click()
    expect(page.get_by_test_id("form-error")).to_be_visible()

    page.get_by_test_id("support-subject").fill("Frage zur Lizenzrechnung")
    page.get_by_test_id("support-message").fill(
        "Hallo, ich verstehe die Position auf meiner Rechnung nicht. Viele Grüße"
    )
    page.get_by_test_id("support-submit").click()
    expect(page.get_by_test_id("support-done")).to_be_visible()
    expect(page.get_by_test_id("support-done")).to_contain_text("Danke")
    expect_no_horizontal_scroll(page)

    mail = wait_for_mail(stack, about_invoice)
    assert "Frage zur Lizenzrechnung" in mail["subject"] + mail["text"]


# ---------------------------------------------------------------------------------------------
# Layout: a table on the desktop, no horizontal scrolling on a phone


def test_invoice_list_layout(
    page: Page,
    stack: dict[str, Any],
    portal: Callable[..., dict[str, Any]],
) -> None:
    owner = new_owner(stack, portal, invoices=3, prefix="inhaber")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(stack["url"])
    sign_in(page, owner["email"], owner["password"])
    expect(page.get_by_test_id("profile-store-name")).to_be_visible()
    page.get_by_test_id("nav-invoices").click()

    table = page.get_by_role("table")
    expect(page.get_by_test_id("invoice-row")).to_have_count(3)
    expect(table).to_have_css("display", "table")
    for name in ("Nummer", "Datum", "Beschreibung", "Betrag", "Status"):
        expect(page.get_by_role("columnheader", name=name)).to_be_visible()
    expect(page.get_by_test_id("invoice-row").first).to_have_css("display", "table-row")

    page.set_viewport_size({"width": 375, "height": 812})
    expect(page.get_by_role("columnheader", name="Betrag")).to_be_hidden()
    expect(page.get_by_test_id("invoice-row").first).to_have_css("display", "grid")
    for row in page.get_by_test_id("invoice-row").all():
        expect(row).to_be_visible()
        expect(row).to_contain_text(EURO)
    expect_no_horizontal_scroll(page)
