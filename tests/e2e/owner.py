"""What an owner has and does in the end-to-end tests: a store of their own made through the
operator CLI (or, blocked with backdated invoices, through the seed's object graph), the
invitation accepted through the API, signing in, the invoice page, the card form, and the
events the portal sends to the POS queue."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.e2e.support import _tag, badge

ROOT = Path(__file__).resolve().parents[2]
# The seeded demo store's owner and the password the journey gives them
DEMO_EMAIL = "mario@pizzeria-da-mario.example"
NEW_PASSWORD = "Neue-Pizza-2026?"
LICENCE_LINE = "SIDES Kassenlizenz;1;4900;19"
CARD_OK = "4242424242424242"
CARD_3DS = "4000002760003184"
CARD_DECLINED = "4000000000000002"
THREE_DS_MSG = "Die Bestätigung (3-D Secure) wurde abgebrochen oder ist fehlgeschlagen."
PAYPAL_CANCELED_MSG = re.compile(r"Du hast die Zahlung (bei PayPal )?abgebrochen\.")
WAIT_MS = 15_000  # the longest a person waits for an outcome on screen

# Creates a store whose two invoices were issued 75 and 60 days ago (far past due date plus
# the dunning grace) and blocks it, as local/seed.py does for the demo store; prints JSON.
BLOCKED_STORE_SCRIPT = """
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
    NewStore(
        name=name,
        email=email,
        address=Address("Teststraße 1", "10115", "Berlin", "DE"),
        monthly_fee_cents=4900,
    )
)
now = container.clock.now()
invoices = []
for days_ago in (75, 60):
    issuer = dataclasses.replace(
        container.invoice_issuer, clock=FixedClock(now - timedelta(days=days_ago))
    )
    invoice = issuer.issue(
        store_id, [InvoiceLine("SIDES Kassenlizenz", 1, 4900, Decimal(19))], due_days=14
    )
    invoices.append({"invoice_id": invoice.id, "number": invoice.number})
container.stores.set_access(store_id, "blocked", now)
print(json.dumps({
    "store_id": store_id,
    "invoices": invoices,
    "invitation_url": container.invitation_service.send(store_id).url,
}))
"""


# ---------------------------------------------------------------------------------------------
# Helpers: owners, the API, the outbox and the bus


def invitation_token(invitation_url: str) -> str:
    match = re.fullmatch(r"/einladung/([^/?]+)", urlsplit(invitation_url).fragment)
    assert match, f"unerwarteter Einladungslink: {invitation_url}"
    return match.group(1)


def accept_invitation(stack: dict[str, Any], invitation_url: str, password: str) -> None:
    response = requests.post(
        f"{stack['url']}/api/invitations/{invitation_token(invitation_url)}/accept",
        json={"password": password},
        timeout=30,
    )
    assert response.status_code == 201, response.text


def new_owner(
    stack: dict[str, Any],
    portal: Callable[..., dict[str, Any]],
    invoices: int = 1,
    prefix: str = "zahlung",
) -> dict[str, Any]:
    """A store of its own with `invoices` open invoices; its owner has set a password.
    `prefix` starts the owner's e-mail address, so a test's mails are easy to tell apart."""
    tag = _tag()
    email = f"{prefix}-{tag}@e2e.example"
    store_id = portal(
        "stores",
        "create",
        "--name",
        f"Zahlcafé {tag}",
        "--email",
        email,
        "--street",
        "Teststraße 1",
        "--postal-code",
        "10115",
        "--city",
        "Berlin",
    )["store_id"]
    issued = [
        portal("invoices", "issue", "--store", store_id, "--line", LICENCE_LINE)
        for _ in range(invoices)
    ]
    invitation_url = portal("invitations", "send", "--store", store_id)["invitation_url"]
    password = f"Zahlen-{tag}-2026"
    accept_invitation(stack, invitation_url, password)
    return {"store_id": store_id, "email": email, "password": password, "invoices": issued}


def blocked_owner(stack: dict[str, Any]) -> dict[str, Any]:
    """A blocked store with two far-overdue invoices, built like the seeded demo store."""
    tag = _tag()
    email = f"gesperrt-{tag}@e2e.example"
    done = subprocess.run(
        [sys.executable, "-c", BLOCKED_STORE_SCRIPT, f"Gesperrte Pizzeria {tag}", email],
        cwd=ROOT,
        env={**os.environ, **stack["env"]},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    created = dict(json.loads(done.stdout.strip().splitlines()[-1]))
    password = f"Gesperrt-{tag}-2026"
    accept_invitation(stack, created["invitation_url"], password)
    return {**created, "email": email, "password": password}


def api_invoice(stack: dict[str, Any], token: str, invoice_id: str) -> dict[str, Any]:
    response = requests.get(
        f"{stack['url']}/api/invoices/{invoice_id}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def _pos_events(stack: dict[str, Any]) -> list[dict[str, Any]]:
    """Every event on the POS queue right now, without consuming any of them."""
    import boto3

    env = stack["env"]
    sqs = boto3.client(
        "sqs",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    url = sqs.get_queue_url(QueueName=f"{env['PORTAL_PREFIX']}-pos-events")["QueueUrl"]
    events: list[dict[str, Any]] = []
    handles: list[str] = []
    try:
        # Page through the queue: each message received stays hidden for a moment, so the
        # next call returns the next ones; afterwards all are made visible again at once.
        for _ in range(50):
            batch = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30, WaitTimeSeconds=0
            ).get("Messages", [])
            if not batch:
                break
            for message in batch:
                handles.append(message["ReceiptHandle"])
                try:
                    events.append(dict(json.loads(message["Body"])))
                except ValueError:
                    continue
    finally:
        for start in range(0, len(handles), 10):
            sqs.change_message_visibility_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                    for i, handle in enumerate(handles[start : start + 10])
                ],
            )
    return events


def wait_for_pos_event(
    stack: dict[str, Any], matches: Callable[[dict[str, Any]], bool], timeout_s: float = 10.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        hits = [e for e in _pos_events(stack) if matches(e)]
        if hits:
            return hits[-1]
        if time.monotonic() > deadline:
            pytest.fail(f"Kein passendes Ereignis nach {timeout_s:.0f} s auf der POS-Queue.")
        time.sleep(0.5)


# ---------------------------------------------------------------------------------------------
# Helpers: what the owner does on the page


def sign_in(page: Page, stack: dict[str, Any], owner: dict[str, Any]) -> None:
    page.goto(stack["url"])
    expect(page.get_by_role("heading", name="Anmelden", exact=True)).to_be_visible()
    page.get_by_test_id("login-email").fill(owner["email"])
    page.get_by_test_id("login-password").fill(owner["password"])
    page.get_by_test_id("login-submit").click()
    expect(page).to_have_url(re.compile(r"#/profil$"))
    expect(page.get_by_test_id("profile-store-name")).to_be_visible()


def open_invoice(page: Page, number: str) -> None:
    page.get_by_test_id("nav-invoices").click()
    expect(page).to_have_url(re.compile(r"#/rechnungen$"))
    expect(page.get_by_test_id("filter-all")).to_have_attribute("aria-current", "true")
    row = page.get_by_test_id("invoice-row").filter(has_text=number)
    expect(row).to_have_count(1)
    row.get_by_test_id("invoice-number").click()
    expect(page).to_have_url(re.compile(r"#/rechnungen/[^/?]+$"))
    # The address changes before the page has handled it: wait for the detail's heading.
    expect(page.get_by_role("heading", level=1)).to_contain_text(number)
    expect(page.get_by_test_id("invoice-number")).to_have_text(number)


def choose_card(page: Page) -> None:
    page.get_by_test_id("pay-method-card").click()
    expect(
        page.get_by_test_id("card-element").locator('input[placeholder="number"]')
    ).to_be_visible()


def fill_card(page: Page, number: str) -> None:
    element = page.get_by_test_id("card-element")
    element.locator('input[placeholder="number"]').fill(number)
    element.locator('input[placeholder="exp_month"]').fill("12")
    element.locator('input[placeholder="exp_year"]').fill("30")
    element.locator('input[placeholder="cvc"]').fill("123")


def start_card_payment(page: Page, number: str) -> None:
    """From an open invoice's detail page up to a filled card form."""
    page.get_by_test_id("pay-now").click()
    choose_card(page)
    fill_card(page, number)


def mark_document(page: Page) -> None:
    """A marker that only survives as long as the document does (no reload, no navigation)."""
    page.evaluate("window.__marker = 1")


def expect_same_document(page: Page, url: str) -> None:
    assert page.url == url, f"Die Seite ist weitergegangen: {page.url}"
    assert page.evaluate("window.__marker") == 1, "Die Seite wurde neu geladen."


def euro(cents: int) -> re.Pattern[str]:
    """An amount as the page shows it (German format, e.g. 58,31 €)."""
    whole = f"{cents // 100:,}".replace(",", ".")
    return re.compile(rf"{re.escape(whole)},{cents % 100:02d}\s€")


def expect_paid_in_place(page: Page, url: str) -> None:
    expect(page.get_by_test_id("pay-success")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_test_id("pay-success")).to_contain_text("Bezahlt")
    expect(badge(page)).to_have_attribute("data-status", "paid")
    expect(page.get_by_test_id("pay-error")).to_have_count(0)
    expect_same_document(page, url)
