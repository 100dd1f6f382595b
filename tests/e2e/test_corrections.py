"""The owner sees a correction the operator made: a Stornorechnung listed on the voided
invoice and downloaded as a PDF that carries its own number and the invoice's."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.e2e.owner import (
    CARD_OK,
    WAIT_MS,
    euro,
    new_owner,
    open_invoice,
    sign_in,
    start_card_payment,
)
from tests.e2e.support import badge, expect_accessible, wait_for_mail


def _pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages)


def test_owner_sees_and_downloads_the_stornorechnung(
    page: Page, stack: dict[str, Any], portal: Callable[..., dict[str, Any]]
) -> None:
    owner = new_owner(stack, portal)
    invoice = owner["invoices"][0]
    voided = portal("invoices", "void", "--invoice", invoice["invoice_id"], "--reason", "Doppelt")
    number = voided["cancellation"]["number"]
    assert voided["status"] == "void" and re.fullmatch(r"ST-\d{4}-\d{6}", number)
    mail = wait_for_mail(stack, lambda m: number in m["subject"] and m["to"] == owner["email"])
    assert [a["filename"] for a in mail["attachments"]] == [
        f"Storno-{number}.pdf",
        f"Storno-{number}.xml",
    ]

    sign_in(page, stack, owner)
    open_invoice(page, invoice["number"])

    expect(badge(page)).to_have_attribute("data-status", "void")
    expect(page.get_by_test_id("pay-now")).to_have_count(0)  # nothing to pay any more
    storno = page.get_by_test_id("document").and_(page.locator('[data-kind="cancellation"]'))
    expect(storno).to_contain_text("Stornorechnung")
    expect(storno).to_contain_text(number)
    expect_accessible(page, "Rechnung storniert, 375 px")
    with page.expect_download(timeout=15_000) as download_info:
        storno.get_by_test_id("doc-download").click()
    data = Path(download_info.value.path()).read_bytes()
    assert data.startswith(b"%PDF")
    text = _pdf_text(data)
    assert "Stornorechnung" in text and number in text and invoice["number"] in text


def test_a_partly_credited_invoice_is_paid_for_what_is_still_due(
    page: Page, stack: dict[str, Any], portal: Callable[..., dict[str, Any]]
) -> None:
    owner = new_owner(stack, portal)  # one licence invoice: 49,00 € + 19 % = 58,31 €
    invoice = owner["invoices"][0]
    credit = portal(
        "invoices", "credit", "--invoice", invoice["invoice_id"],
        "--line", "SIDES Kassenlizenz;1;1000;19", "--reason", "Ausfall im November",
    )  # fmt: skip
    assert credit["credit_note"]["gross_cents"] == -1190
    due = euro(5831 - 1190)  # 46,41 €

    sign_in(page, stack, owner)
    open_invoice(page, invoice["number"])
    expect(page.get_by_test_id("invoice-due")).to_contain_text(due)
    start_card_payment(page, CARD_OK)
    expect(page.get_by_test_id("pay-submit")).to_have_text(re.compile(due.pattern + " bezahlen"))
    page.get_by_test_id("pay-submit").click()

    success = page.get_by_test_id("pay-success")
    expect(success).to_be_visible(timeout=WAIT_MS)
    expect(success).to_contain_text(due)
    expect(badge(page)).to_have_attribute("data-status", "paid")
    expect(badge(page)).to_have_text("bezahlt")
    # and the page follows without a reload: nothing due any more, the receipt listed
    expect(page.get_by_test_id("invoice-due")).to_have_count(0)
    receipt = page.get_by_test_id("document").and_(page.locator('[data-kind="receipt"]'))
    expect(receipt).to_be_visible(timeout=WAIT_MS)
