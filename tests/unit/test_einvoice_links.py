"""Links to e-invoices: an invoice's and a correction's XRechnung next to its PDF; a receipt
is no e-invoice and answers like a document that does not exist."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from chalicelib.domain.documents import Document, DocumentKind, DocumentRef
from chalicelib.domain.errors import DocumentNotFoundError, InvoiceNotFoundError
from chalicelib.services.documents import xml_key
from chalicelib.services.invoices import pdf_key
from chalicelib.services.invoices import xml_key as invoice_xml_key
from tests.fakes import make_container

from .test_einvoice import make_invoice


def _document(kind: DocumentKind, number: str, *, ready: bool = True) -> Document:
    return Document(
        id=f"doc-{number}",
        kind=kind,
        store_id="store-1",
        issue_date=date(2026, 12, 10),
        gross_cents=-5831,
        currency="EUR",
        refers_to=(DocumentRef("inv-1", "RE-2026-000042"),),
        created_at=datetime(2026, 12, 10, tzinfo=UTC),
        number=number,
        ready=ready,
    )


@pytest.mark.parametrize(
    ("kind", "number", "filename"),
    [
        (DocumentKind.CANCELLATION, "ST-2026-000001", "Storno-ST-2026-000001.xml"),
        (DocumentKind.CREDIT_NOTE, "GS-2026-000001", "Gutschrift-GS-2026-000001.xml"),
    ],
)
def test_a_corrections_xml_lies_next_to_its_pdf(
    kind: DocumentKind, number: str, filename: str
) -> None:
    c = make_container()
    document = _document(kind, number)
    c.document_records.documents[document.id] = document

    link = c.document_reader.xml_link("store-1", document.id)

    assert link.filename == filename and link.expires_in <= 300
    assert c.documents.links[-1] == (f"documents/store-1/{document.id}.xml", filename, 300)
    assert xml_key(document.pdf_key) == f"documents/store-1/{document.id}.xml"


@pytest.mark.parametrize(
    "document",
    [
        _document(DocumentKind.RECEIPT, "ZB-2026-000001"),  # no e-invoice
        _document(DocumentKind.CREDIT_NOTE, "GS-2026-000002", ready=False),  # not stored yet
    ],
)
def test_no_xml_link_for_a_receipt_or_a_document_not_ready(document: Document) -> None:
    c = make_container()
    c.document_records.documents[document.id] = document

    with pytest.raises(DocumentNotFoundError):
        c.document_reader.xml_link("store-1", document.id)


def test_an_invoices_xml_link_names_its_number_and_only_its_store_gets_it() -> None:
    c = make_container()
    invoice = make_invoice()
    c.invoices.invoices[invoice.id] = invoice

    link = c.invoice_reader.xml_link("store-1", invoice.id)

    assert link.filename == "Rechnung-RE-2026-000042.xml"
    assert c.documents.links[-1] == (invoice_xml_key(invoice), link.filename, 300)
    assert invoice_xml_key(invoice).startswith("invoices/store-1/")
    assert invoice_xml_key(invoice).removesuffix(".xml") == pdf_key(invoice).removesuffix(".pdf")
    with pytest.raises(InvoiceNotFoundError):
        c.invoice_reader.xml_link("store-2", invoice.id)


def test_a_resent_invoice_mail_brings_its_xrechnung_again() -> None:
    from tests.fakes import make_line
    from tests.fakes import make_store as make_fake_store

    c = make_container()
    c.stores.add(make_fake_store(id="st_1"))
    invoice = c.invoice_issuer.issue("st_1", [make_line()])

    c.invoice_issuer.resend(invoice.id)

    first, again = c.mailer.sent
    assert [a.filename for a in again.attachments] == [a.filename for a in first.attachments]
    assert again.attachments[1].body == c.documents.objects[invoice_xml_key(invoice)]
