"""SupportService on fakes: a request is stored and mailed to support and to the owner."""

from __future__ import annotations

import pytest

from chalicelib.domain.errors import InvoiceNotFoundError, StoreNotFoundError
from tests.fakes import make_container, make_line, make_store

SUBJECT = "Frage zur Rechnung"
MESSAGE = "Hallo, warum ist die Rechnung höher als letzten Monat?"


@pytest.fixture()
def c():
    container = make_container()
    container.stores.add(
        make_store(id="st_1", name="Trattoria Bellavista", billing_email="chef@bellavista.example")
    )
    container.stores.add(make_store(id="st_2", billing_email="other@example.org"))
    return container


def test_a_request_is_stored_and_mailed_to_support_and_the_owner(c):
    # Given an invoice of the store
    invoice = c.invoice_issuer.issue("st_1", [make_line()])
    c.mailer.sent.clear()  # the invoice's own mail

    # When the owner asks about it
    request_id = c.support.submit("st_1", SUBJECT, MESSAGE, invoice.id)

    # Then the request is stored
    stored = c.support_requests.requests[request_id]
    assert (stored.store_id, stored.subject, stored.message, stored.invoice_id) == (
        "st_1",
        SUBJECT,
        MESSAGE,
        invoice.id,
    )
    assert stored.created_at == c.clock.now()
    # and two e-mails go out: a copy to support, a confirmation to the owner
    to_support, to_owner = c.mailer.sent
    assert to_support.to == "support@sides.example"
    assert SUBJECT in to_support.subject and "Trattoria Bellavista" in to_support.subject
    assert MESSAGE in to_support.text
    assert "chef@bellavista.example" in to_support.text
    assert invoice.number in to_support.text
    assert to_owner.to == "chef@bellavista.example"
    assert SUBJECT in to_owner.subject and MESSAGE in to_owner.text


def test_a_request_without_an_invoice(c):
    request_id = c.support.submit("st_1", SUBJECT, MESSAGE, None)

    assert c.support_requests.requests[request_id].invoice_id is None
    assert "Rechnung:" not in c.mailer.sent[0].text
    assert len(c.mailer.sent) == 2


@pytest.mark.parametrize("whose", ["another store's", "unknown"])
def test_an_invoice_the_store_does_not_own_is_not_found_and_nothing_happens(c, whose):
    # Given an invoice id of another store, or one that does not exist
    invoice_id = (
        c.invoice_issuer.issue("st_2", [make_line()]).id if whose != "unknown" else "inv_missing"
    )
    c.mailer.sent.clear()  # the invoice's own mail

    # When store 1 refers to it
    with pytest.raises(InvoiceNotFoundError):
        c.support.submit("st_1", SUBJECT, MESSAGE, invoice_id)

    # Then nothing is stored or sent
    assert c.support_requests.requests == {}
    assert c.mailer.sent == []


def test_a_request_of_an_unknown_store_is_refused(c):
    with pytest.raises(StoreNotFoundError):
        c.support.submit("st_missing", SUBJECT, MESSAGE, None)

    assert c.support_requests.requests == {} and c.mailer.sent == []


def test_each_request_gets_its_own_id(c):
    first = c.support.submit("st_1", SUBJECT, MESSAGE, None)
    second = c.support.submit("st_1", SUBJECT, MESSAGE, None)

    assert first != second and len(c.support_requests.requests) == 2
