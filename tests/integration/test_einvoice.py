"""E-invoices on moto: the issued invoice's XRechnung lies next to its PDF in the object-locked
bucket, the owner gets it through GET /api/invoices/{id}/xml (404 like the PDF route), and a
store's Leitweg-ID is kept by DynamoDB and named as buyer reference."""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, datetime

import requests
from lxml import etree
from pypdf import PdfReader

from chalicelib.adapters.einvoice import EN16931, XRECHNUNG_3
from chalicelib.services.invoices import pdf_key, xml_key
from tests.integration.helpers import body, get, issue, make_store, owner

NS = {"ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"}


def test_an_issued_invoice_is_stored_as_hybrid_pdf_and_xrechnung(container):
    store_id = make_store(container)

    (invoice,) = issue(container, store_id)

    xml = container.documents.get_xml(xml_key(invoice))
    pdf = container.documents.get_pdf(pdf_key(invoice))
    assert xml is not None and XRECHNUNG_3.encode() in xml
    (embedded,) = PdfReader(io.BytesIO(pdf)).attachments["factur-x.xml"]
    assert embedded.replace(EN16931.encode() + b"<", XRECHNUNG_3.encode() + b"<") == xml
    # locked as long as the PDF
    assert container.documents.retention_of(xml_key(invoice)) == container.documents.retention_of(
        pdf_key(invoice)
    )
    mode, until = container.documents.retention_of(xml_key(invoice))
    assert mode == "COMPLIANCE" and until == datetime(invoice.issue_date.year + 9, 1, 1, tzinfo=UTC)


def test_owner_downloads_the_xrechnung_of_an_invoice(api, container):
    store_id, _, token = owner(api, container)
    (invoice,) = issue(container, store_id)

    link = get(api, f"/api/invoices/{invoice.id}/xml", token)

    assert link.status_code == 200
    answer = body(link)
    assert answer["filename"] == f"Rechnung-{invoice.number}.xml" and answer["expires_in"] <= 300
    download = requests.get(answer["url"], timeout=10)
    assert download.status_code == 200
    assert download.headers["Content-Type"] == "application/xml"
    assert f'filename="Rechnung-{invoice.number}.xml"' in download.headers["Content-Disposition"]
    assert download.content == container.documents.get_xml(xml_key(invoice))
    root = etree.fromstring(download.content)
    assert root.findtext(".//ram:BuyerReference", namespaces=NS) == store_id


def test_the_xml_routes_answer_404_like_the_pdf_routes(api, container):
    store_id, _, token = owner(api, container)
    other = make_store(container, name="Andere Trattoria")
    (foreign,) = issue(container, other)

    for path in (
        f"/api/invoices/{foreign.id}/xml",
        "/api/invoices/inv_unknown/xml",
        "/api/documents/doc_unknown/xml",
    ):
        answer = get(api, path, token)
        pdf = get(api, path.removesuffix("/xml") + "/pdf", token)
        assert answer.status_code == pdf.status_code == 404, path
        assert body(answer)["error"]["code"] == body(pdf)["error"]["code"]
    assert get(api, f"/api/invoices/{foreign.id}/xml").status_code == 401


def test_a_stores_leitweg_id_is_kept_and_becomes_the_buyer_reference(container):
    store_id = make_store(container)
    store = container.stores.get(store_id)
    assert store.leitweg_id is None

    container.stores.update_details(dataclasses.replace(store, leitweg_id="991-12345-67"), None)
    (invoice,) = issue(container, store_id)

    assert container.stores.get(store_id).leitweg_id == "991-12345-67"
    root = etree.fromstring(container.documents.get_xml(xml_key(invoice)))
    assert root.findtext(".//ram:BuyerReference", namespaces=NS) == "991-12345-67"
    container.stores.update_details(dataclasses.replace(store, leitweg_id=None), None)
    assert container.stores.get(store_id).leitweg_id is None
