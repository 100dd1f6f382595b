"""axe-core on every screen of the page, on a phone (375 px) and on a desktop, signed out and
signed in: no violation of impact serious or critical."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.owner import (
    CARD_OK,
    WAIT_MS,
    blocked_owner,
    choose_card,
    fill_card,
    new_owner,
    open_invoice,
    sign_in,
)
from tests.e2e.support import expect_accessible

pytestmark = pytest.mark.e2e

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}
VIEWPORTS = pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["375px", "desktop"])


def _fresh_invitation(portal: Callable[..., dict[str, Any]], tag: str) -> str:
    store_id = portal(
        "stores",
        "create",
        "--name",
        f"Barrierefrei {tag}",
        "--email",
        f"a11y-{tag}@e2e.example",
        "--street",
        "Teststraße 1",
        "--postal-code",
        "10115",
        "--city",
        "Berlin",
    )["store_id"]
    return str(portal("invitations", "send", "--store", store_id)["invitation_url"])


@VIEWPORTS
def test_signed_out_screens(
    page: Page,
    stack: dict[str, Any],
    portal: Callable[..., dict[str, Any]],
    viewport: dict[str, int],
) -> None:
    base = stack["url"]

    # The invitation: empty, then with a weak password (the form says what is missing).
    invitation_url = _fresh_invitation(portal, f"{viewport['width']}-{id(page):x}")
    page.goto(invitation_url)
    expect(page.get_by_test_id("invite-store")).to_be_visible()
    expect_accessible(page, "Einladung")
    page.get_by_test_id("password").fill("kurz")
    expect(page.get_by_test_id("pw-missing")).to_contain_text("mindestens 12 Zeichen")
    expect(page.get_by_test_id("accept-submit")).to_be_disabled()
    expect_accessible(page, "Einladung, schwaches Passwort")

    # Sign-in, empty and after a failed attempt.
    page.goto(f"{base}/#/anmelden")
    expect(page.get_by_role("heading", name="Anmelden", exact=True)).to_be_visible()
    expect_accessible(page, "Anmeldung")
    page.get_by_test_id("login-email").fill("niemand@e2e.example")
    page.get_by_test_id("login-password").fill("falsch-falsch-1A")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("form-error")).to_be_visible()
    expect_accessible(page, "Anmeldung mit Fehler")

    # Forgotten password and the reset form.
    page.goto(f"{base}/#/passwort-vergessen")
    expect(page.get_by_test_id("forgot-email")).to_be_visible()
    expect_accessible(page, "Passwort vergessen")
    page.goto(f"{base}/#/passwort-zuruecksetzen")
    expect(page.get_by_test_id("reset-code")).to_be_visible()
    expect_accessible(page, "Passwort zurücksetzen")

    # An address the portal does not have.
    page.goto(f"{base}/#/gibt-es-nicht")
    expect(page.get_by_role("heading", name="Seite nicht gefunden")).to_be_visible()
    expect_accessible(page, "Seite nicht gefunden")


@VIEWPORTS
def test_signed_in_blocked_store(
    page: Page, stack: dict[str, Any], viewport: dict[str, int]
) -> None:
    owner = blocked_owner(stack)
    sign_in(page, stack, owner)
    expect(page.get_by_test_id("account-banner")).to_have_attribute("data-status", "blocked")
    expect(page.get_by_test_id("pay-overdue")).to_be_visible()
    expect_accessible(page, "Profil, gesperrt")

    page.get_by_test_id("nav-invoices").click()
    expect(page.get_by_test_id("invoice-row").first).to_be_visible()
    expect_accessible(page, "Rechnungen")
    page.get_by_test_id("filter-open").click()
    expect(page).to_have_url(re.compile(r"status=open$"))
    expect(page.get_by_test_id("invoice-row").first).to_be_visible()
    expect_accessible(page, "Rechnungen, offen")

    open_invoice(page, owner["invoices"][0]["number"])
    expect(page.get_by_test_id("pay-now")).to_be_visible()
    expect_accessible(page, "Rechnung, überfällig")
    page.get_by_test_id("pay-now").click()
    expect(page.get_by_test_id("pay-method-card")).to_be_visible()
    expect_accessible(page, "Zahlungsart wählen")
    choose_card(page)
    expect_accessible(page, "Kartenformular")

    page.goto(f"{stack['url']}/#/bezahlen")
    expect(page.get_by_test_id("pay-all-invoice")).to_have_count(2)
    expect_accessible(page, "Alle überfälligen bezahlen")

    page.get_by_test_id("nav-support").click()
    expect(page.get_by_test_id("support-subject")).to_be_visible()
    expect_accessible(page, "Support")


@VIEWPORTS
def test_signed_in_active_store_paid_invoice(
    page: Page,
    stack: dict[str, Any],
    portal: Callable[..., dict[str, Any]],
    viewport: dict[str, int],
) -> None:
    owner = new_owner(stack, portal, invoices=2)
    invoice, voided = owner["invoices"]
    portal("invoices", "void", "--invoice", voided["invoice_id"])
    sign_in(page, stack, owner)
    expect(page.get_by_test_id("account-banner")).to_have_attribute("data-status", "active")
    expect_accessible(page, "Profil, freigeschaltet")
    page.get_by_test_id("save-card").click()
    expect(page.get_by_test_id("setup-submit")).to_be_visible()
    expect_accessible(page, "Karte speichern")

    open_invoice(page, invoice["number"])
    page.get_by_test_id("pay-now").click()
    choose_card(page)
    fill_card(page, CARD_OK)
    page.get_by_test_id("pay-submit").click()
    expect(page.get_by_test_id("pay-success")).to_be_visible(timeout=WAIT_MS)
    expect_accessible(page, "Rechnung, gerade bezahlt")
    page.reload()
    expect(page.get_by_test_id("pay-paid")).to_contain_text("per Kreditkarte")
    expect_accessible(page, "Rechnung, bezahlt")

    # A voided invoice with its Stornorechnung among the documents.
    open_invoice(page, voided["number"])
    expect(page.get_by_test_id("invoice-status")).to_have_attribute("data-status", "void")
    cancellation = page.locator('[data-testid="document"][data-kind="cancellation"]')
    deadline = time.monotonic() + WAIT_MS / 1000
    while not cancellation.count() and time.monotonic() < deadline:
        time.sleep(1)
        page.reload()
        expect(page.get_by_test_id("invoice-status")).to_be_visible()
    expect(cancellation).to_contain_text("Stornorechnung")
    expect_accessible(page, "Rechnung, storniert")
