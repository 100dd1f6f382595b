"""The invoice PDF carries every §14 Abs. 4 UStG field in German notation."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

from pypdf import PdfReader

from chalicelib.adapters.invoice_pdf import render_invoice_pdf
from chalicelib.domain.invoices import Invoice, InvoiceLine, InvoiceStatus
from chalicelib.domain.stores import Address, Store
from chalicelib.domain.supplier import DEFAULT_SUPPLIER

EN_DASH = "\u2013"

LICENCE = InvoiceLine("SIDES Kassenlizenz Monatsgebühr", 1, 4900, Decimal(19))
TERMINAL = InvoiceLine("Zusatzterminal je Gerät", 2, 1500, Decimal(19))
PAPER = InvoiceLine("Bonrollen für Drucker", 3, 1234, Decimal(7))


def make_invoice(
    lines: tuple[InvoiceLine, ...] = (LICENCE, TERMINAL, PAPER),
    *,
    status: InvoiceStatus = InvoiceStatus.OPEN,
    period: str | None = "2026-11",
    number: str = "RE-2026-000042",
) -> Invoice:
    return Invoice(
        id="inv-1",
        store_id="store-1",
        number=number,
        issue_date=date(2026, 12, 1),
        due_date=date(2026, 12, 15),
        period=period,
        description="POS-Lizenz November 2026",
        lines=lines,
        status=status,
    )


def make_store(*, name: str = "Trattoria Bellavista", vat_id: str | None = None) -> Store:
    return Store(
        id="store-1",
        name=name,
        billing_email="chef@bellavista.example",
        address=Address(street="Königsallee 27", postal_code="40212", city="Düsseldorf"),
        vat_id=vat_id,
        monthly_fee_cents=4900,
    )


def render(invoice: Invoice, store: Store | None = None) -> bytes:
    return render_invoice_pdf(invoice, store or make_store(), DEFAULT_SUPPLIER)


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_output_is_a_one_page_pdf_for_a_three_line_invoice() -> None:
    # Given
    invoice = make_invoice()

    # When
    pdf = render(invoice)

    # Then
    assert pdf.startswith(b"%PDF")
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1


def test_document_title_names_the_invoice_number() -> None:
    # Given
    invoice = make_invoice(number="RE-2026-000777")

    # When (PDF/A keeps the document's metadata in its XMP packet)
    metadata = PdfReader(io.BytesIO(render(invoice))).xmp_metadata

    # Then
    assert metadata is not None
    assert metadata.dc_title == {"x-default": "Rechnung RE-2026-000777"}


def test_shows_invoice_number_dates_and_service_period() -> None:
    # Given
    invoice = make_invoice(number="RE-2026-000042", period="2026-11")

    # When
    text = text_of(render(invoice))

    # Then
    assert "RE-2026-000042" in text
    assert "01.12.2026" in text
    assert "15.12.2026" in text
    assert f"01.11.2026 {EN_DASH} 30.11.2026" in text


def test_without_period_the_issue_date_is_the_service_date() -> None:
    # Given
    invoice = make_invoice(period=None)

    # When
    text = text_of(render(invoice))

    # Then
    assert "Leistungsdatum 01.12.2026" in text
    assert "Leistungszeitraum" not in text


def test_shows_supplier_tax_identifiers_and_recipient_address() -> None:
    # Given
    store = make_store(name="Trattoria Bellavista")

    # When
    text = text_of(render(make_invoice(), store))

    # Then
    assert DEFAULT_SUPPLIER.name in text
    assert DEFAULT_SUPPLIER.vat_id in text
    assert DEFAULT_SUPPLIER.tax_number in text
    assert "Trattoria Bellavista" in text
    assert "Königsallee 27" in text
    assert "40212 Düsseldorf" in text


def test_shows_recipient_vat_id_when_known() -> None:
    # Given
    store = make_store(vat_id="DE987654321")

    # When
    text = text_of(render(make_invoice(), store))

    # Then
    assert "DE987654321" in text


def test_has_no_recipient_vat_id_line_when_unknown() -> None:
    # Given
    store = make_store(vat_id=None)

    # When
    text = text_of(render(make_invoice(), store))

    # Then
    vat_lines = [line for line in text.splitlines() if "USt-IdNr." in line]
    assert vat_lines
    assert all(DEFAULT_SUPPLIER.vat_id in line for line in vat_lines)


def test_lists_every_line_description_with_unit_price_and_rate() -> None:
    # Given
    invoice = make_invoice()

    # When
    text = text_of(render(invoice))

    # Then
    assert "SIDES Kassenlizenz Monatsgebühr" in text
    assert "Zusatzterminal je Gerät" in text
    assert "Bonrollen für Drucker" in text
    assert "15,00 €" in text
    assert "12,34 €" in text
    assert "37,02 €" in text


def test_shows_german_formatted_gross_total() -> None:
    # Given 1 x 1.234,56 € at 19 % and 2 x 25,00 € at 7 %
    invoice = make_invoice(
        (
            InvoiceLine("Jahreslizenz Kasse", 1, 123456, Decimal(19)),
            InvoiceLine("Thermopapier", 2, 2500, Decimal(7)),
        )
    )

    # When
    text = text_of(render(invoice))

    # Then
    assert "Gesamtbetrag 1.522,63 €" in text


def test_shows_net_and_tax_per_rate_for_mixed_rates() -> None:
    # Given
    invoice = make_invoice(
        (
            InvoiceLine("Jahreslizenz Kasse", 1, 123456, Decimal(19)),
            InvoiceLine("Thermopapier", 2, 2500, Decimal(7)),
        )
    )

    # When
    text = text_of(render(invoice))

    # Then
    assert "Nettobetrag 19 % 1.234,56 €" in text
    assert "Umsatzsteuer 19 % 234,57 €" in text
    assert "Nettobetrag 7 % 50,00 €" in text
    assert "Umsatzsteuer 7 % 3,50 €" in text


def test_open_invoice_explains_how_to_pay() -> None:
    # Given
    invoice = make_invoice(number="RE-2026-000042")

    # When
    text = text_of(render(invoice))

    # Then
    assert f"Kreditkarte oder PayPal: {DEFAULT_SUPPLIER.portal_url}" in text
    assert DEFAULT_SUPPLIER.iban in text
    assert DEFAULT_SUPPLIER.bic in text
    assert "Verwendungszweck RE-2026-000042" in text


def test_void_invoice_is_marked_storniert() -> None:
    # Given
    invoice = make_invoice(status=InvoiceStatus.VOID)

    # When
    text = text_of(render(invoice))

    # Then
    assert "STORNIERT" in text


def test_open_invoice_is_not_marked_storniert() -> None:
    # Given
    invoice = make_invoice(status=InvoiceStatus.OPEN)

    # When
    text = text_of(render(invoice))

    # Then
    assert "STORNIERT" not in text


def test_characters_outside_cp1252_do_not_break_rendering() -> None:
    # Given a name with Turkish letters and a symbol the core fonts cannot draw
    store = make_store(name="Çiğ Köfte Şahin ≥ 1")

    # When
    text = text_of(render(make_invoice(), store))

    # Then
    assert "Çig Köfte Sahin ? 1" in text


def test_rendering_twice_gives_identical_pages() -> None:
    # Given
    invoice = make_invoice()

    # When (only the XMP packet's modification time may differ)
    first, second = (PdfReader(io.BytesIO(render(invoice))) for _ in range(2))

    # Then
    assert [p.get_contents().get_data() for p in first.pages] == [  # type: ignore[union-attr]
        p.get_contents().get_data()  # type: ignore[union-attr]
        for p in second.pages
    ]
