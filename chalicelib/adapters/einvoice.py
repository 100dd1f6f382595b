"""E-invoices: the EN 16931 document as UN/CEFACT CII XML (built with drafthorse, checked
against the Factur-X 1.07 EN 16931 schema by factur-x) and the ZUGFeRD / Factur-X hybrid PDF
(factur-x embeds the XML as factur-x.xml, in /AF, and writes the PDF/A-3 XMP with its
extension schema). Only the billing paths import this module; the API never does.

Two XML files are made from the same data: the XRechnung 3.0 (stored and downloaded next to
the PDF) and the one embedded in the PDF (profile EN 16931 / COMFORT). They differ in the
specification identifier (BT-24) only.

An invoice's hybrid PDF is written in one pass: fpdf2 embeds factur-x.xml as the PDF/A-3
associated file (/AF, relationship Data) with the XMP packet factur-x generates. A PDF drawn
elsewhere (the corrections') gets its XML from factur-x's own embedding, which rewrites it.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from importlib import resources
from typing import Any

from drafthorse.models.accounting import ApplicableTradeTax
from drafthorse.models.document import Document as CiiDocument
from drafthorse.models.note import IncludedNote
from drafthorse.models.party import TaxRegistration
from drafthorse.models.payment import PaymentMeans, PaymentTerms
from drafthorse.models.tradelines import LineItem
from facturx import generate_from_binary, generate_xmp_bytes
from facturx.facturx import FACTURX_LEVEL2xsd
from fpdf import FPDF
from lxml import etree

from chalicelib.adapters.invoice_pdf import render_invoice_pdf
from chalicelib.domain.documents import Document
from chalicelib.domain.einvoice import (
    EInvoiceData,
    EInvoiceFiles,
    EParty,
    arithmetic_problems,
    correction_data,
    invoice_data,
)
from chalicelib.domain.invoices import Invoice
from chalicelib.domain.stores import Store
from chalicelib.domain.supplier import Supplier

FACTURX_FILENAME = "factur-x.xml"
XRECHNUNG_3 = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
EN16931 = "urn:cen.eu:en16931:2017"
BUSINESS_PROCESS = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
_CENT = Decimal("0.01")
_XMP = "http://ns.adobe.com/xap/1.0/"

# factur-x logs every step at INFO; a billing run issues thousands of documents.
logging.getLogger("factur-x").setLevel(logging.WARNING)


class EInvoiceError(ValueError):
    """The data breaks an EN 16931 rule: nothing of it may be issued."""


def _amount(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(_CENT)


def _rate(rate: Decimal) -> Decimal:
    return rate.quantize(_CENT)


def _party(target: Any, party: EParty, *, seller: bool) -> None:
    target.name = party.name
    if seller:
        if party.register_entry:
            target.description = party.register_entry
        target.contact.person_name = party.contact_name or party.name
        target.contact.telephone.number = party.phone
        target.contact.email.address = party.email
    target.address.postcode = party.address.postal_code
    target.address.line_one = party.address.street
    target.address.city_name = party.address.city
    target.address.country_id = party.address.country
    target.electronic_address.uri_ID = ("EM", party.email)
    if party.vat_id:
        target.tax_registrations.add(TaxRegistration(id=("VA", party.vat_id)))
    if seller and party.tax_number:
        target.tax_registrations.add(TaxRegistration(id=("FC", party.tax_number)))


def _document(data: EInvoiceData, guideline: str) -> CiiDocument:
    doc = CiiDocument()
    doc.context.business_parameter.id = BUSINESS_PROCESS
    doc.context.guideline_parameter.id = guideline
    doc.header.id = data.number
    doc.header.type_code = data.type_code
    doc.header.issue_date_time = data.issue_date
    for text in data.notes:
        note = IncludedNote()
        note.content = text
        note.subject_code = "REG"
        doc.header.notes.add(note)

    for line in data.lines:
        item = LineItem()
        item.document.line_id = line.line_id
        item.product.name = line.name
        item.agreement.net.amount = _amount(line.unit_net_cents)
        item.delivery.billed_quantity = (Decimal(line.quantity), "C62")
        item.settlement.trade_tax.type_code = "VAT"
        item.settlement.trade_tax.category_code = line.category
        item.settlement.trade_tax.rate_applicable_percent = _rate(line.rate_percent)
        item.settlement.monetary_summation.total_amount = _amount(line.net_cents)
        doc.trade.items.add(item)

    agreement = doc.trade.agreement
    agreement.buyer_reference = data.buyer_reference
    _party(agreement.seller, data.seller, seller=True)
    _party(agreement.buyer, data.buyer, seller=False)
    if data.delivery_date is not None:
        doc.trade.delivery.event.occurrence = data.delivery_date

    settlement = doc.trade.settlement
    settlement.payment_reference = data.payment_reference
    settlement.currency_code = data.currency
    means = PaymentMeans()
    means.type_code = data.payment_means_code
    if data.payment_means_code == "58":
        means.payee_account.iban = data.seller_iban
        means.payee_account.account_name = data.seller.name
        means.payee_institution.bic = data.seller_bic
    settlement.payment_means.add(means)
    for entry in data.vat:
        tax = ApplicableTradeTax()
        tax.calculated_amount = _amount(entry.tax_cents)
        tax.type_code = "VAT"
        tax.basis_amount = _amount(entry.basis_cents)
        tax.category_code = entry.category
        tax.rate_applicable_percent = _rate(entry.rate_percent)
        settlement.trade_tax.add(tax)
    if data.period is not None:
        settlement.period.start, settlement.period.end = data.period
    terms = PaymentTerms()
    terms.description = data.payment_terms
    if data.due_date is not None:
        terms.due = data.due_date
    settlement.terms.add(terms)
    totals = settlement.monetary_summation
    totals.line_total = _amount(data.line_total_cents)
    totals.tax_basis_total = _amount(data.tax_basis_cents)
    totals.tax_total = (_amount(data.tax_total_cents), data.currency)
    totals.grand_total = _amount(data.grand_total_cents)
    totals.due_amount = _amount(data.due_cents)
    for preceding in data.preceding:  # CII carries one BG-3; further ones go into a note
        settlement.invoice_referenced_document.issuer_assigned_id = preceding.number
        settlement.invoice_referenced_document.issue_date_time = preceding.issue_date
        break
    return doc


_GUIDELINE = "{%s}ExchangedDocumentContext/{%s}GuidelineSpecifiedDocumentContextParameter/{%s}ID"


@functools.cache
def _en16931_schema() -> etree.XMLSchema:
    """factur-x's Factur-X 1.07 EN 16931 XSD (the one `facturx.xml_check_xsd` uses),
    compiled once per process instead of for every document."""
    xsd = resources.files("facturx") / "xsd_and_schematron" / FACTURX_LEVEL2xsd["en16931"]
    return etree.XMLSchema(file=str(xsd))


# An lxml validator keeps the log of its last run on itself: one document at a time.
_SCHEMA_LOCK = threading.Lock()


def check_schema(root: etree._Element) -> None:
    """Raises EInvoiceError unless `root` is valid against the Factur-X EN 16931 schema."""
    schema = _en16931_schema()
    with _SCHEMA_LOCK:
        valid = schema.validate(root)
        error = schema.error_log.last_error
    if not valid:
        raise EInvoiceError(f"Not valid against the Factur-X EN 16931 XML Schema: {error}")


def _both_xml(data: EInvoiceData) -> tuple[bytes, bytes]:
    """The XRechnung and the embedded (Factur-X EN 16931) XML of the data: built once,
    parsed once, checked against the schema once."""
    problems = arithmetic_problems(data)
    if problems:
        raise EInvoiceError("; ".join(problems))
    xml: bytes = _document(data, XRECHNUNG_3).serialize(schema=None)
    root = etree.fromstring(xml)
    check_schema(root)
    return xml, _with_guideline(root, EN16931)


def _with_guideline(root: etree._Element, guideline: str) -> bytes:
    """The same checked document under another specification identifier (BT-24)."""
    namespaces = root.nsmap
    path = _GUIDELINE % (namespaces["rsm"], namespaces["ram"], namespaces["ram"])
    element = root.find(path)
    assert element is not None
    element.text = guideline
    return bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))


def xrechnung_xml(data: EInvoiceData) -> bytes:
    """The XRechnung 3.0 (CII) XML of the data, checked against the EN 16931 schema."""
    return _both_xml(data)[0]


def facturx_xml(data: EInvoiceData) -> bytes:
    """The same document with the Factur-X / ZUGFeRD EN 16931 (COMFORT) identifier."""
    return _both_xml(data)[1]


def _pdf_metadata(data: EInvoiceData) -> dict[str, str]:
    return {
        "author": data.seller.name,
        "keywords": "Factur-X, ZUGFeRD, XRechnung, EN 16931",
        "title": f"{data.title} {data.number}",
        "subject": f"{data.title} {data.number} vom {data.issue_date:%d.%m.%Y}",
    }


def hybrid_pdf(visual_pdf: bytes, data: EInvoiceData) -> bytes:
    """The PDF/A-3 `visual_pdf` with the document's XML embedded (ZUGFeRD 2.3 / Factur-X 1.07,
    profile EN 16931)."""
    return _embed(visual_pdf, facturx_xml(data), data)


def _embed(visual_pdf: bytes, embedded_xml: bytes, data: EInvoiceData) -> bytes:
    return bytes(
        generate_from_binary(
            visual_pdf,
            embedded_xml,
            flavor="factur-x",
            level="en16931",
            check_xsd=False,  # _both_xml checked it
            pdf_metadata=_pdf_metadata(data),
            lang="de-DE",
        )
    )


def einvoice_files(visual_pdf: bytes, data: EInvoiceData) -> EInvoiceFiles:
    """What is stored and mailed for an invoice, Stornorechnung or credit note: its hybrid
    PDF and its XRechnung. Corrections call this with `correction_data(...)` and their PDF."""
    xml, embedded = _both_xml(data)
    return EInvoiceFiles(pdf=_embed(visual_pdf, embedded, data), xml=xml)


def _attach_facturx(xml: bytes, data: EInvoiceData) -> Callable[[FPDF], None]:
    """Embeds factur-x.xml as the PDF/A-3 associated file (Data) and sets factur-x's XMP
    (pdfaid part 3 / B, the Factur-X extension schema, conformance level EN 16931)."""
    packet = generate_xmp_bytes("factur-x", "en16931", None, _pdf_metadata(data)).decode()
    # fpdf2 wraps the packet in its own xpacket processing instructions.
    xmp = packet[packet.index("<x:xmpmeta") : packet.rindex("</x:xmpmeta>") + len("</x:xmpmeta>")]
    xmp = _dated(xmp, data.issue_date)

    def attach(pdf: FPDF) -> None:
        pdf.set_xmp_metadata(xmp)
        pdf.embed_file(
            bytes=xml,
            basename=FACTURX_FILENAME,
            desc="Factur-X XML file",
            mime_type="text/xml",
            associated_file_relationship="Data",
            modification_date=datetime(*data.issue_date.timetuple()[:3], tzinfo=UTC),
            compress=True,
            checksum=True,
        )

    return attach


def _dated(xmp: str, issue_date: date) -> str:
    """factur-x dates the XMP packet with the current time; the invoice PDF is dated with
    its issue date (midnight UTC, as its creation date) so that rendering the same invoice
    again gives the same bytes."""
    root = etree.fromstring(xmp.encode())
    stamp = f"{issue_date:%Y-%m-%d}T00:00:00+00:00"
    for name in ("CreateDate", "ModifyDate"):
        for element in root.iter(f"{{{_XMP}}}{name}"):
            element.text = stamp
    return str(etree.tostring(root, encoding="unicode"))


def render_einvoice(invoice: Invoice, store: Store, supplier: Supplier) -> EInvoiceFiles:
    """The EInvoiceRenderer port: hybrid PDF and XRechnung of an invoice, in one pass."""
    data = invoice_data(invoice, store, supplier)
    xml, embedded = _both_xml(data)
    pdf = render_invoice_pdf(invoice, store, supplier, attach=_attach_facturx(embedded, data))
    return EInvoiceFiles(pdf=pdf, xml=xml)


def render_correction_einvoice(
    document: Document, invoice: Invoice, store: Store, supplier: Supplier
) -> EInvoiceFiles:
    """Hybrid PDF and XRechnung of a Stornorechnung or credit note (type 381, BG-3 = the
    corrected invoice), its PDF drawn by chalicelib/adapters/correction_pdf.py."""
    from chalicelib.adapters.correction_pdf import render_correction_pdf

    data = correction_data(
        kind=document.kind,
        number=document.number,
        issue_date=document.issue_date,
        lines=document.lines,
        store=store,
        supplier=supplier,
        corrects=[(invoice.number, document.refers_to_date or invoice.issue_date)],
        period=invoice.period,
        currency=document.currency,
    )
    return einvoice_files(render_correction_pdf(document, invoice, store, supplier), data)
