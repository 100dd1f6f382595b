"""The owner downloads an invoice as e-invoice: next to the PDF, "E-Rechnung (XML)" gives the
XRechnung, and the PDF carries the same document as factur-x.xml; the mail brings both."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.e2e.owner import new_owner, sign_in
from tests.e2e.support import expect_accessible, wait_for_mail

XRECHNUNG_3 = b"urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"


def _embedded_xml(pdf: bytes) -> bytes:
    from pypdf import PdfReader

    attachments = PdfReader(io.BytesIO(pdf)).attachments
    (xml,) = attachments["factur-x.xml"]
    return xml


def test_owner_downloads_the_e_invoice_next_to_the_pdf(
    page: Page, stack: dict[str, Any], portal: Callable[..., dict[str, Any]]
) -> None:
    owner = new_owner(stack, portal)
    number = owner["invoices"][0]["number"]
    mail = wait_for_mail(stack, lambda m: number in m["subject"] and m["to"] == owner["email"])
    assert [a["filename"] for a in mail["attachments"]] == [
        f"Rechnung-{number}.pdf",
        f"Rechnung-{number}.xml",
    ]

    sign_in(page, stack, owner)
    page.goto(f"{stack['url']}/#/rechnungen/{owner['invoices'][0]['invoice_id']}")
    expect(page.get_by_test_id("invoice-number")).to_have_text(number)

    button = page.get_by_test_id("xml-download")
    expect(button).to_have_text("E-Rechnung (XML)")
    expect(page.get_by_test_id("xml-hint")).to_contain_text("Buchhaltungssoftware")
    expect(button).to_have_attribute("aria-describedby", "xml-hint")
    expect_accessible(page, "Rechnung mit E-Rechnung, 375 px")
    with page.expect_download(timeout=15_000) as xml_download:
        button.click()
    assert xml_download.value.suggested_filename == f"Rechnung-{number}.xml"
    xml = Path(xml_download.value.path()).read_bytes()
    assert xml.startswith(b"<?xml") and XRECHNUNG_3 in xml
    assert f"<ram:ID>{number}</ram:ID>".encode() in xml
    expect(button).to_be_enabled()

    with page.expect_download(timeout=15_000) as pdf_download:
        page.get_by_test_id("pdf-download").click()
    pdf = Path(pdf_download.value.path()).read_bytes()
    embedded = _embedded_xml(pdf)
    assert embedded.replace(b"urn:cen.eu:en16931:2017<", XRECHNUNG_3 + b"<") == xml
