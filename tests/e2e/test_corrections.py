"""The owner sees a correction the operator made: a Stornorechnung listed on the voided
invoice and downloaded as a PDF that carries its own number and the invoice's."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.e2e.owner import new_owner, open_invoice, sign_in
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
