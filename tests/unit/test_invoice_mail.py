"""Every invoice reaches its owner: one mail with the PDF, also without an invitation;
resend; reminders and lock mails only where invoice mails go; stores admin; VAT per rate."""

from __future__ import annotations

import dataclasses
import io
from datetime import date, timedelta

import pytest
from pypdf import PdfReader

from chalicelib.adapters.invoice_pdf import render_invoice_pdf
from chalicelib.api.presenters import invoice_detail
from chalicelib.domain.errors import EmailInUseError, InvoiceNotFoundError, StoreNotFoundError
from chalicelib.domain.periods import licence_invoice_id
from chalicelib.domain.supplier import SAMPLE_SUPPLIER
from chalicelib.domain.validation import FieldError
from chalicelib.services.invoices import pdf_key, xml_key
from chalicelib.services.stores import StoreChanges
from tests.fakes import T0, make_container, make_invoice, make_line, make_store

PERIOD = "2026-03"  # the month the test stores open in (T0)


def _invoice_mails(c, address):
    return [m for m in c.mailer.to(address) if m.subject.startswith("Deine Rechnung")]


def test_issuing_mails_the_pdf_once_to_a_store_that_was_never_invited():
    c = make_container()
    store = make_store(id="st_1")
    c.stores.add(store)
    assert not c.stores.invited("st_1")

    invoice = c.invoice_issuer.issue("st_1", [make_line()])

    (mail,) = c.mailer.sent
    assert mail.to == store.billing_email
    assert mail.subject == f"Deine Rechnung {invoice.number}"
    assert f"/#/rechnungen/{invoice.id}" in mail.text and "im Anhang" in mail.text
    attachment, e_invoice = mail.attachments
    assert attachment.filename == f"Rechnung-{invoice.number}.pdf"
    assert attachment.content_type == "application/pdf"
    assert attachment.body == c.documents.objects[pdf_key(invoice)]
    # and its XRechnung next to it
    assert e_invoice.filename == f"Rechnung-{invoice.number}.xml"
    assert e_invoice.content_type == "application/xml"
    assert e_invoice.body == c.documents.objects[xml_key(invoice)]
    # remembered, so the charge worker does not send it again
    (item,) = c.stores.get("st_1").open_items
    assert item.mailed


@pytest.mark.parametrize("autopay", [False, True])
def test_the_billing_run_sends_each_licence_invoice_once(autopay):
    c = make_container()
    store = make_store(id="st_1")
    c.stores.add(store)
    if autopay:
        secret = c.payment_methods.start_setup("st_1")
        c.payment_methods.confirm_setup("st_1", c.cards.complete_setup(secret, "pm_1", "succeed"))
        c.payment_methods.set_autopay("st_1", True)

    c.billing.run(PERIOD)
    c.billing.run(PERIOD)  # a second run issues nothing
    c.charge_queue.drain(c.charges.charge)

    (mail,) = _invoice_mails(c, store.billing_email)
    assert mail.attachments[0].filename.endswith(".pdf")
    invoice = c.invoices.get(licence_invoice_id("st_1", PERIOD))
    assert invoice.number in mail.subject
    assert ("von deiner hinterlegten Karte ab" in mail.text) is autopay


def test_resend_mails_the_archived_pdf_again():
    c = make_container()
    store = make_store(id="st_1")
    c.stores.add(store)
    invoice = c.invoice_issuer.issue("st_1", [make_line()])
    c.mailer.sent.clear()

    sent_to = c.invoice_issuer.resend(invoice.id)

    assert sent_to == (store.billing_email,)
    (mail,) = c.mailer.sent
    assert mail.attachments[0].body == c.documents.objects[pdf_key(invoice)]
    with pytest.raises(InvoiceNotFoundError):
        c.invoice_issuer.resend("inv_missing")


def test_a_paid_invoice_is_resent_as_paid():
    c = make_container()
    c.stores.add(make_store(id="st_1"))
    invoice = c.invoice_issuer.issue("st_1", [make_line()])
    c.invoices.move(invoice, invoice.status.__class__("paid"), c.clock.now())
    c.mailer.sent.clear()

    c.invoice_issuer.resend(invoice.id)

    assert "bereits bezahlt" in c.mailer.sent[0].text


def test_reminders_and_lock_mails_go_only_where_invoice_mails_go():
    c = make_container()
    # a store record from before validation, with a list in its e-mail field
    c.stores.add(make_store(id="st_1", billing_email="a@x.example, victim@y.example"))
    c.invoice_issuer.issue("st_1", [make_line()], due_days=0)
    today = c.clock.now().date()

    c.dunning.run(today + timedelta(days=1))
    c.dunning.run(today + timedelta(days=30))

    assert c.stores.get("st_1").account_status == "blocked"
    assert c.mailer.sent == []  # no address of that list got anything, neither a reminder


def test_reminders_and_lock_mails_reach_the_invoice_address():
    c = make_container()
    store = make_store(id="st_1")
    c.stores.add(store)
    c.invoice_issuer.issue("st_1", [make_line()], due_days=0)
    today = c.clock.now().date()

    c.dunning.run(today + timedelta(days=1))
    c.dunning.run(today + timedelta(days=30))

    assert {m.to for m in c.mailer.sent} == {store.billing_email}
    assert [m.subject.split(" ")[0] for m in c.mailer.sent] == [
        "Deine",
        "Zahlungserinnerung",
        "Deine",
    ]


# stores admin ----------------------------------------------------------------------------


def test_update_changes_the_given_fields_and_moves_the_email_claim():
    c = make_container()
    c.stores.add(make_store(id="st_1", billing_email="old@x.example"))

    store = c.store_service.update(
        "st_1",
        StoreChanges(
            email=" New@X.example ", city="Hamburg", postal_code="20095", vat_id="DE 123456788"
        ),
    )

    assert store.billing_email == "new@x.example"
    assert (store.address.city, store.address.postal_code) == ("Hamburg", "20095")
    assert store.address.street == "Königsallee 27" and store.vat_id == "DE123456788"
    assert c.stores.claims == {"new@x.example": "st_1"}


def test_update_refuses_an_address_of_another_store_and_changes_nothing():
    c = make_container()
    c.stores.add(make_store(id="st_1", billing_email="one@x.example"))
    c.stores.add(make_store(id="st_2", billing_email="two@x.example"))
    before = c.stores.get("st_1")

    with pytest.raises(EmailInUseError):
        c.store_service.update("st_1", StoreChanges(email="two@x.example", city="Hamburg"))

    assert c.stores.get("st_1") == before
    assert c.stores.claims == {"one@x.example": "st_1", "two@x.example": "st_2"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (StoreChanges(email="a@x.example, victim@y.example"), "E-Mail"),
        (StoreChanges(postal_code="ABCDE"), "Postleitzahl"),
        (StoreChanges(street=" "), "Straße"),
        (StoreChanges(city=""), "Ort"),
        (StoreChanges(vat_id="12345"), "USt-IdNr."),
        (StoreChanges(name="Neu", email="x@y.example\r\nBcc: z@y.example"), "E-Mail"),
    ],
)
def test_update_checks_everything_before_it_writes(changes, field):
    c = make_container()
    c.stores.add(make_store(id="st_1"))
    before = c.stores.get("st_1")

    with pytest.raises(FieldError) as raised:
        c.store_service.update("st_1", changes)

    assert raised.value.field == field
    assert c.stores.get("st_1") == before


def test_update_of_an_unknown_store():
    with pytest.raises(StoreNotFoundError):
        make_container().store_service.update("st_missing", StoreChanges(city="Hamburg"))


def test_list_filters_by_status_and_show_says_whether_invited():
    c = make_container()
    c.stores.add(make_store(id="st_a", name="A"))
    c.stores.add(make_store(id="st_b", name="B", account_status="blocked"))
    c.stores.add(make_store(id="st_c", name="C"))
    c.store_service.close("st_c")
    c.invitation_service.send("st_a")

    assert [s.id for s in c.store_service.list()] == ["st_a", "st_b", "st_c"]
    assert [s.id for s in c.store_service.list("blocked")] == ["st_b"]
    assert [s.id for s in c.store_service.list("closed")] == ["st_c"]
    assert c.store_service.overview("st_a").invited
    assert not c.store_service.overview("st_b").invited


# VAT per rate -----------------------------------------------------------------------------


def test_the_tax_breakdown_is_what_the_pdf_prints():
    lines = [
        make_line("Bondrucker", 1, 32900, 19),
        make_line("Thermopapier", 3, 1333, 7),  # 39,99 € net, 2,7993 € VAT -> 2,80 €
        make_line("Zusatzterminal", 2, 1505, 19),  # 5,719 € VAT -> 5,72 €
    ]
    invoice = make_invoice(lines=lines)

    breakdown = invoice_detail(invoice, date(2026, 3, 3))["tax_breakdown"]

    assert breakdown == [
        {"rate_percent": 7, "net_cents": 3999, "tax_cents": 280},
        {"rate_percent": 19, "net_cents": 35910, "tax_cents": 6251 + 572},
    ]
    text = "".join(
        page.extract_text()
        for page in PdfReader(
            io.BytesIO(render_invoice_pdf(invoice, make_store(), SAMPLE_SUPPLIER))
        ).pages
    )
    for row in breakdown:
        net = f"{row['net_cents'] // 100},{row['net_cents'] % 100:02d} €"
        tax = f"{row['tax_cents'] // 100},{row['tax_cents'] % 100:02d} €"
        assert f"Nettobetrag {row['rate_percent']} %" in text and net in text
        assert f"Umsatzsteuer {row['rate_percent']} %" in text and tax in text
    assert sum(r["tax_cents"] for r in breakdown) == invoice.totals.tax_cents


def test_the_pdf_footer_carries_what_section_35a_gmbhg_asks_for():
    pdf = render_invoice_pdf(make_invoice(), make_store(), SAMPLE_SUPPLIER)
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).replace(
        "\n", " "
    )
    for expected in (
        "SIDES GmbH",
        "Sitz der Gesellschaft: Berlin",
        "Amtsgericht Charlottenburg",
        "HRB 123456 B",
        "Erika Mustermann",
        "Max Mustermann",
        "USt-IdNr. DE123456788",
        "IBAN DE89 3704 0044 0532 0130 00",
    ):
        assert expected in text, expected


def test_receipt_mail_can_carry_an_attachment():
    from chalicelib.services import emails

    invoice = make_invoice()
    attachment = emails.pdf_attachment("Beleg.pdf", b"%PDF")
    mail = emails.receipt_mail("a@x.example", invoice, 5831, T0, [attachment])
    assert mail.attachments == (attachment,)
    assert dataclasses.replace(mail, attachments=()).attachments == ()


def test_a_failed_mail_does_not_undo_the_invoice_and_is_sent_later():
    c = make_container()
    store = make_store(id="st_1")
    c.stores.add(store)
    c.mailer.faults.fail_next("send")

    invoice = c.invoice_issuer.issue("st_1", [make_line()])

    # the invoice exists, archived and owed; the mail is still to be sent
    assert c.invoices.get(invoice.id) == invoice
    assert pdf_key(invoice) in c.documents.objects
    (item,) = c.stores.get("st_1").open_items
    assert not item.mailed and c.mailer.sent == []
    assert c.metrics.counts["InvoiceMailsFailed"] == 1
    # and resend delivers it
    assert c.invoice_issuer.resend(invoice.id) == (store.billing_email,)
    assert c.mailer.sent[0].attachments[0].body == c.documents.objects[pdf_key(invoice)]
