"""Forwarding new documents to the accountant (a DocumentStore decorator) on fakes: each
document once, with the files it has, whatever order they are archived in."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from chalicelib.domain.documents import Document, DocumentKind, DocumentRef
from chalicelib.services.forwarding import Forwarding, ForwardingDocumentStore
from tests.fakes import T0, FakeClock, FakeDocuments, FakeMailer, FakeStores, make_store
from tests.fakes_account import FakeActivityLog


class Records:
    def __init__(self, *documents: Document) -> None:
        self.documents = {d.id: d for d in documents}

    def get(self, document_id: str) -> Document | None:
        return self.documents.get(document_id)


def _document(kind: DocumentKind, number: str) -> Document:
    return Document(
        id=f"doc_{number}", kind=kind, store_id="st_1", issue_date=date(2026, 3, 2),
        gross_cents=5831, currency="EUR", refers_to=(DocumentRef("inv_1", "RE-2026-000001"),),
        created_at=T0, number=number, ready=False,
    )  # fmt: skip


@pytest.fixture()
def setup():
    stores = FakeStores()
    stores.add(make_store(id="st_1", billing_email="chef@x.example"))
    stores.stores["st_1"] = dataclasses.replace(
        stores.stores["st_1"], accountant_email="kanzlei@steuer.example"
    )
    storno = _document(DocumentKind.CANCELLATION, "ST-2026-000001")
    receipt = _document(DocumentKind.RECEIPT, "ZB-2026-000001")
    mailer, activity, inner = FakeMailer(), FakeActivityLog(), FakeDocuments()
    wiring = Forwarding(stores, Records(storno, receipt), mailer, activity, FakeClock())  # type: ignore[arg-type]
    return ForwardingDocumentStore(inner, lambda: wiring), mailer, activity, inner, stores


def test_an_invoice_goes_out_when_its_pdf_follows_its_xml(setup):
    files, mailer, activity, inner, _ = setup

    files.put_xml("invoices/st_1/RE-2026-000001.xml", b"<x/>")
    assert mailer.sent == []  # not before the PDF is archived
    files.put_pdf("invoices/st_1/RE-2026-000001.pdf", b"%PDF-1")

    (mail,) = mailer.sent
    assert mail.to == "kanzlei@steuer.example"
    assert mail.subject == "Rechnung RE-2026-000001 – Trattoria Bellavista"
    assert [a.filename for a in mail.attachments] == [
        "Rechnung-RE-2026-000001.pdf",
        "Rechnung-RE-2026-000001.xml",
    ]
    assert inner.objects["invoices/st_1/RE-2026-000001.pdf"] == b"%PDF-1"  # archived as ever
    assert [e.summary for e in activity.of("st_1")] == ["Rechnung RE-2026-000001 ausgestellt."]


def test_a_correction_goes_out_when_its_xml_follows_its_pdf(setup):
    files, mailer, _, _, _ = setup

    files.put_pdf("documents/st_1/doc_ST-2026-000001.pdf", b"%PDF-2")
    assert mailer.sent == []
    files.put_xml("documents/st_1/doc_ST-2026-000001.xml", b"<x/>")

    (mail,) = mailer.sent
    assert mail.subject.startswith("Stornorechnung ST-2026-000001")
    assert [a.content_type for a in mail.attachments] == ["application/pdf", "application/xml"]


def test_a_receipt_has_no_xml_and_goes_out_with_its_pdf(setup):
    files, mailer, _, _, _ = setup

    files.put_pdf("documents/st_1/doc_ZB-2026-000001.pdf", b"%PDF-3")

    (mail,) = mailer.sent
    assert mail.subject.startswith("Zahlungsbestätigung ZB-2026-000001")
    assert [a.filename for a in mail.attachments] == ["Zahlungsbestaetigung-ZB-2026-000001.pdf"]


def test_without_an_accountant_only_the_activity_is_noted(setup):
    files, mailer, activity, _, stores = setup
    stores.stores["st_1"] = make_store(id="st_1", billing_email="chef@x.example")

    files.put_pdf("invoices/st_1/RE-2026-000002.pdf", b"%PDF")

    assert mailer.sent == []
    assert len(activity.of("st_1")) == 1


def test_a_failing_mail_never_fails_archiving(setup):
    files, mailer, _, inner, _ = setup
    mailer.faults.fail_next("send")

    files.put_pdf("invoices/st_1/RE-2026-000003.pdf", b"%PDF")

    assert inner.objects["invoices/st_1/RE-2026-000003.pdf"] == b"%PDF"
    assert mailer.faults.fired == [("send", "before")]
