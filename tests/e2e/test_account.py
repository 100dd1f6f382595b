"""The owner's account in Chromium (#/konto): a changed address reaches the next invoice
only; sign-in with a one-time code; the year's ZIP holds every document; the screen at 375 px
and on a desktop, by keyboard, without serious or critical axe findings."""

from __future__ import annotations

import io
import re
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyotp
import pytest
import requests
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from tests.e2e.owner import new_owner, sign_in
from tests.e2e.support import api_token, expect_accessible

pytestmark = pytest.mark.e2e

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}
SCREENS = Path("/work/screens")


def _shot(page: Page, name: str) -> None:
    """Screenshots of the account screens for the record (only where that folder exists)."""
    if SCREENS.is_dir():
        page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=True)


def _open_account(page: Page) -> None:
    page.get_by_test_id("nav-account").click()
    expect(page).to_have_url(re.compile(r"#/konto$"))
    expect(page.get_by_role("heading", name="Dein Konto", level=1)).to_be_visible()


def _pdf_text(stack: dict[str, Any], token: str, invoice_id: str) -> str:
    link = requests.get(
        f"{stack['url']}/api/invoices/{invoice_id}/pdf",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert link.status_code == 200, link.text
    body = requests.get(link.json()["url"], timeout=30).content
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(body)).pages)


def test_a_changed_address_reaches_the_next_invoice_only(
    page: Page, stack: dict[str, Any], portal: Callable[..., dict[str, Any]]
) -> None:
    owner = new_owner(stack, portal, invoices=1)
    (old,) = owner["invoices"]
    sign_in(page, stack, owner)
    _open_account(page)

    # The owner moves: new street, postal code and city, saved from the account screen.
    page.get_by_test_id("account-street").fill("Hauptmarkt 7")
    page.get_by_test_id("account-postal-code").fill("08056")
    page.get_by_test_id("account-city").fill("Zwickau")
    page.get_by_test_id("billing-save").click()
    expect(page.get_by_test_id("notice")).to_contain_text("Rechnungsdaten sind gespeichert")
    expect(page.get_by_test_id("account-city")).to_have_value("Zwickau")
    expect(page.get_by_test_id("activity-list")).to_contain_text("Adresse geändert")

    # A wrong VAT ID is named, nothing is saved.
    page.get_by_test_id("account-vat-id").fill("DE123456789")
    page.get_by_test_id("billing-save").click()
    expect(page.get_by_test_id("billing-error")).to_contain_text("USt-IdNr.")

    # The next invoice carries the new address; the old PDF is unchanged.
    new = portal(
        "invoices", "issue", "--store", owner["store_id"], "--line", "SIDES Kassenlizenz;1;4900;19"
    )
    token = api_token(stack, owner)
    new_text = _pdf_text(stack, token, new["invoice_id"])
    old_text = _pdf_text(stack, token, old["invoice_id"])
    assert "Zwickau" in new_text and "Hauptmarkt 7" in new_text
    assert "Zwickau" not in old_text and "Berlin" in old_text


def _code_of_a_new_step(secret: str, used: set[str]) -> str:
    """The current code, once it is one not used yet (a code counts once)."""
    totp = pyotp.TOTP(secret)
    deadline = time.monotonic() + 40
    while totp.now() in used:
        assert time.monotonic() < deadline
        time.sleep(1)
    code = totp.now()
    used.add(code)
    return code


def test_turn_on_the_one_time_code_sign_out_and_sign_in_with_it(
    page: Page, stack: dict[str, Any], portal: Callable[..., dict[str, Any]]
) -> None:
    owner = new_owner(stack, portal, invoices=0)
    sign_in(page, stack, owner)
    _open_account(page)
    used: set[str] = set()

    page.get_by_test_id("mfa-setup").click()
    expect(page.get_by_test_id("mfa-qr")).to_be_visible()
    secret = page.get_by_test_id("mfa-secret").inner_text().strip()
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret), secret
    _shot(page, "account-mfa-setup-375")
    page.get_by_test_id("mfa-code").fill(_code_of_a_new_step(secret, used))
    page.get_by_test_id("mfa-enable").click()
    expect(page.get_by_test_id("notice")).to_contain_text("Einmalcode ist eingeschaltet")
    expect(page.get_by_test_id("mfa-state")).to_contain_text("Eingeschaltet")

    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("notice")).to_contain_text("abgemeldet")

    # The password alone no longer signs in: the code step follows.
    page.get_by_test_id("login-email").fill(owner["email"])
    page.get_by_test_id("login-password").fill(owner["password"])
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-code")).to_be_focused()
    _shot(page, "account-login-code-375")
    page.get_by_test_id("login-code").fill(_code_of_a_new_step(secret, used))
    page.get_by_test_id("login-code-submit").click()
    expect(page).to_have_url(re.compile(r"#/profil$"))
    expect(page.get_by_test_id("profile-store-name")).to_be_visible()
    _open_account(page)
    expect(page.get_by_test_id("activity-list")).to_contain_text("mit Einmalcode")


def test_the_years_zip_holds_every_document(
    page: Page, stack: dict[str, Any], portal: Callable[..., dict[str, Any]]
) -> None:
    owner = new_owner(stack, portal, invoices=2)
    sign_in(page, stack, owner)
    token = api_token(stack, owner)
    numbers = []
    for issued in owner["invoices"]:
        detail = requests.get(
            f"{stack['url']}/api/invoices/{issued['invoice_id']}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        ).json()
        numbers.append((detail["number"], detail["issue_date"][:4]))
    year = numbers[0][1]
    _open_account(page)

    page.get_by_test_id("export-year").select_option(year)
    page.get_by_test_id("export-start").click()
    expect(page.get_by_test_id("export-progress")).to_contain_text("ist bereit")
    _shot(page, "account-export-375")
    with page.expect_download(timeout=10_000) as download_info:
        page.get_by_test_id("export-download").click()
    download = download_info.value
    assert download.suggested_filename == f"SIDES-Belege-{year}.zip"

    archive = zipfile.ZipFile(io.BytesIO(Path(download.path()).read_bytes()))
    names = set(archive.namelist())
    for number, _ in numbers:
        assert f"Rechnungen/Rechnung-{number}.pdf" in names, names
        assert archive.read(f"Rechnungen/Rechnung-{number}.pdf").startswith(b"%PDF")
    overview = archive.read("Uebersicht.csv").decode("utf-8-sig")
    assert all(number in overview for number, _ in numbers)
    stapel = archive.read(f"EXTF_Buchungsstapel_SIDES_{year}.csv").decode("cp1252")
    assert stapel.startswith('"EXTF";700;21;"Buchungsstapel"')
    assert all(number in stapel for number, _ in numbers)


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["375px", "desktop"])
def test_the_account_screen_by_keyboard_and_accessible(
    page: Page,
    stack: dict[str, Any],
    portal: Callable[..., dict[str, Any]],
    viewport: dict[str, int],
) -> None:
    owner = new_owner(stack, portal, invoices=1)
    sign_in(page, stack, owner)

    # By keyboard: to the account screen from the navigation, and a form sent with Enter.
    page.get_by_test_id("nav-account").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#/konto$"))
    expect(page.get_by_role("heading", name="Dein Konto", level=1)).to_be_focused()
    width = "375" if viewport["width"] == 375 else "desktop"
    _shot(page, f"account-{width}")
    expect_accessible(page, "Konto")

    page.get_by_test_id("accountant-email").focus()
    page.keyboard.type("kanzlei@steuer.example")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("notice")).to_contain_text("auch an kanzlei@steuer.example")
    expect(page.get_by_test_id("accountant-email")).to_have_value("kanzlei@steuer.example")

    # Errors and the started e-mail change are accessible too.
    page.get_by_test_id("email-new").fill("kein-at")
    page.get_by_test_id("email-new").press("Enter")
    expect(page.get_by_test_id("email-error")).to_be_visible()
    page.get_by_test_id("mfa-setup").click()
    expect(page.get_by_test_id("mfa-qr")).to_be_visible()
    expect_accessible(page, "Konto mit Fehler und Einrichtung")
    _shot(page, f"account-forms-{width}")


# Creates a store whose invoice was issued 20 days ago (due after 14): overdue for 6 days,
# the till not locked yet; prints JSON.
OVERDUE_STORE_SCRIPT = """
import dataclasses, json, sys
from datetime import timedelta
from decimal import Decimal

from chalicelib.bootstrap import get_container
from chalicelib.domain.invoices import InvoiceLine
from chalicelib.domain.stores import Address
from chalicelib.services.stores import NewStore
from local.seed import FixedClock

name, email = sys.argv[1], sys.argv[2]
container = get_container()
store_id = container.store_service.create(
    NewStore(name=name, email=email, address=Address("Teststraße 1", "10115", "Berlin", "DE"))
)
issuer = dataclasses.replace(
    container.invoice_issuer, clock=FixedClock(container.clock.now() - timedelta(days=20))
)
invoice = issuer.issue(
    store_id, [InvoiceLine("SIDES Kassenlizenz", 1, 4900, Decimal(19))], due_days=14
)
print(json.dumps({
    "store_id": store_id,
    "due_date": invoice.due_date.isoformat(),
    "invitation_url": container.invitation_service.send(store_id).url,
}))
"""


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["375px", "desktop"])
def test_the_profile_announces_the_lock_with_a_way_to_pay(
    page: Page, stack: dict[str, Any], viewport: dict[str, int]
) -> None:
    import json
    import os
    import subprocess
    import sys
    import uuid
    from datetime import date, timedelta

    from tests.e2e.conftest import ROOT
    from tests.e2e.owner import accept_invitation

    tag = uuid.uuid4().hex[:8]
    email = f"faellig-{tag}@e2e.example"
    done = subprocess.run(
        [sys.executable, "-c", OVERDUE_STORE_SCRIPT, f"Trattoria Fällig {tag}", email],
        cwd=ROOT,
        env={**os.environ, **stack["env"]},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout.strip().splitlines()[-1])
    owner = {"email": email, "password": f"Faellig-{tag}-2026"}
    accept_invitation(stack, created["invitation_url"], owner["password"])
    lock_day = date.fromisoformat(created["due_date"]) + timedelta(days=15)

    sign_in(page, stack, owner)

    warning = page.get_by_test_id("lock-warning")
    expect(warning).to_contain_text(
        f"Deine Kasse wird am {lock_day.strftime('%d.%m.')} gesperrt, wenn 58,31 € bis dahin "
        "nicht bezahlt sind."
    )
    expect(page.get_by_test_id("lock-warning-pay")).to_have_attribute("href", "#/bezahlen")
    width = "375" if viewport["width"] == 375 else "desktop"
    _shot(page, f"profile-lock-warning-{width}")
    expect_accessible(page, "Profil mit Sperrankündigung")


def test_change_email_with_the_code_then_the_password(
    page: Page, stack: dict[str, Any], portal: Callable[..., dict[str, Any]]
) -> None:
    from tests.e2e.support import wait_for_mail

    owner = new_owner(stack, portal, invoices=0)
    sign_in(page, stack, owner)
    _open_account(page)
    new_email = f"neu-{owner['email']}"

    # A new address: the code goes there, and confirming it moves the sign-in name.
    page.get_by_test_id("email-new").fill(new_email)
    page.get_by_test_id("email-send").click()
    expect(page.get_by_test_id("notice")).to_contain_text(f"Code an {new_email}")
    mail = wait_for_mail(stack, lambda m: m["to"] == new_email)
    code = re.search(r"Dein Code lautet: (\d{6})", mail["text"])
    assert code, mail["text"]
    page.get_by_test_id("email-code").fill(code.group(1))
    page.get_by_test_id("email-confirm").click()
    expect(page.get_by_test_id("notice")).to_contain_text(f"jetzt {new_email}")
    expect(page.get_by_test_id("email-current")).to_have_text(new_email)

    # The password: the current one is needed; afterwards every session ends.
    new_password = f"Neu-{owner['password']}"
    page.get_by_test_id("password-current").fill(owner["password"])
    page.get_by_test_id("password-new").fill(new_password)
    page.get_by_test_id("password-repeat").fill(new_password)
    page.get_by_test_id("password-save").click()
    expect(page).to_have_url(re.compile(r"#/anmelden$"))
    expect(page.get_by_test_id("notice")).to_contain_text("Dein Passwort ist geändert")
    page.get_by_test_id("login-email").fill(new_email)
    page.get_by_test_id("login-password").fill(new_password)
    page.get_by_test_id("login-submit").click()
    # back where the change was made
    expect(page).to_have_url(re.compile(r"#/konto$"))
    expect(page.get_by_test_id("activity-list")).to_contain_text("Passwort geändert")
    expect(page.get_by_test_id("activity-list")).to_contain_text("E-Mail-Adresse von")
