"""InvoiceIssuer and InvoiceReader on fakes: amounts, numbering, void, list, read, PDF."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

import pytest

from chalicelib.domain.einvoice import EInvoiceFiles
from chalicelib.domain.errors import (
    InvalidCursorError,
    InvalidRequestError,
    InvoiceNotFoundError,
    InvoiceNotVoidableError,
    StoreNotFoundError,
)
from chalicelib.domain.invoices import InvoiceStatus
from chalicelib.domain.stores import OpenItem
from chalicelib.services.cursors import CursorCodec
from chalicelib.services.invoices import RENDER_LEASE, RenderPendingError, pdf_key
from tests.fakes import (
    InjectedFault,
    make_container,
    make_line,
    make_store,
)


@pytest.fixture()
def c():
    container = make_container()
    container.stores.add(make_store(id="st_1"))
    container.stores.add(make_store(id="st_2"))
    return container


def _issue(c, store_id="st_1", lines=None, **kwargs):
    return c.invoice_issuer.issue(store_id, lines or [make_line()], **kwargs)


# amounts --------------------------------------------------------------------------------


def test_vat_is_rounded_half_up_per_line(c):
    # Given a line of 10,50 € at 7 % (73,5 cent of VAT)
    line = make_line(quantity=1, unit_net_cents=1050, tax_rate_percent=7)

    # When it is invoiced
    invoice = _issue(c, lines=[line])

    # Then the VAT is 74 cent, not 73 (half-up, not banker's rounding)
    assert line.tax_cents == 74
    assert (invoice.totals.net_cents, invoice.totals.tax_cents, invoice.totals.gross_cents) == (
        1050,
        74,
        1124,
    )


def test_totals_are_the_sums_of_the_rounded_lines(c):
    # Given two lines of 10,50 € at 7 % (147 cent on the sum, 2 × 74 per line)
    lines = [make_line("A", 1, 1050, 7), make_line("B", 1, 1050, 7)]

    # When invoiced
    totals = _issue(c, lines=lines).totals

    # Then the total VAT is the sum of the rounded lines
    assert totals.tax_cents == 148
    assert totals.gross_cents == 2100 + 148


def test_totals_per_tax_rate(c):
    lines = [
        make_line("Lizenz", 1, 4900, 19),
        make_line("Terminal", 2, 1500, 19),
        make_line("Bonrollen", 3, 1234, 7),
    ]

    totals = _issue(c, lines=lines).totals

    # 19 %: 4900 → 931, 3000 → 570; 7 %: 3702 → 259,14 → 259
    assert [(str(rate), net, tax) for rate, net, tax in totals.by_rate] == [
        ("7", 3702, 259),
        ("19", 7900, 1501),
    ]
    assert totals.gross_cents == 7900 + 3702 + 1501 + 259


# issue ----------------------------------------------------------------------------------


def test_numbers_are_gap_free_per_year(c):
    # When two invoices are issued
    first, second = _issue(c), _issue(c, store_id="st_2")

    # Then they are numbered 1 and 2 of the year
    assert (first.number, second.number) == ("RE-2026-000001", "RE-2026-000002")


def test_the_year_is_the_one_in_berlin():
    # Given it is 23:30 UTC on New Year's Eve, already 2027 in Berlin
    c = make_container()
    c.stores.add(make_store(id="st_1"))
    c.clock.set(datetime(2026, 12, 31, 23, 30, tzinfo=UTC))

    invoice = _issue(c)

    assert invoice.number == "RE-2027-000001"
    assert invoice.issue_date == date(2027, 1, 1)


def test_issue_stores_the_invoice_its_pdf_and_the_open_item(c):
    # When an invoice is issued with 14 days to pay
    invoice = _issue(c, period="2026-03", due_days=14)

    # Then it is open, stored, due in 14 days and owed by the store
    assert invoice.status == InvoiceStatus.OPEN
    assert c.invoices.get(invoice.id) == invoice
    assert invoice.due_date == date(2026, 3, 16)
    assert c.documents.objects[pdf_key(invoice)] == b"%PDF-fake RE-2026-000001"
    assert c.stores.get("st_1").open_items == (
        OpenItem(invoice.id, invoice.totals.gross_cents, invoice.due_date, mailed=True),
    )


def test_the_number_is_committed_before_the_pdf_is_rendered_for_it(c):
    # Given a renderer that looks at what is committed while it renders
    seen = []

    def render(invoice, store, supplier):
        stored = c.invoices.get(invoice.id)
        seen.append((stored.number, stored.ready, invoice.number))
        return EInvoiceFiles(pdf=b"%PDF-fake " + invoice.number.encode(), xml=b"<x/>")

    issuer = dataclasses.replace(c.invoice_issuer, render_einvoice=render)

    # When an invoice is issued
    invoice = issuer.issue("st_1", [make_line()])

    # Then it was committed (not yet ready) with the very number the file carries
    assert seen == [("RE-2026-000001", False, "RE-2026-000001")]
    assert invoice.ready and c.invoices.get(invoice.id).ready


def test_a_crash_between_commit_and_render_is_finished_by_the_next_delivery(c):
    # Given the issuer died right after its commit (its files were never stored)
    c.invoices.faults.fail_next("issue", when="after")
    with pytest.raises(InjectedFault):
        _issue(c, invoice_id="lic_st_1_202603", period="2026-03")
    committed = c.invoices.get("lic_st_1_202603")
    assert committed is not None and not committed.ready and c.documents.objects == {}
    assert c.mailer.sent == []
    # and the owner does not see it yet
    assert c.invoice_reader.list("st_1", "all", 10, None).items == []
    with pytest.raises(InvoiceNotFoundError):
        c.invoice_reader.get("st_1", committed.id)

    # When the same invoice is issued again while the dead issuer's lease still holds
    with pytest.raises(RenderPendingError):
        _issue(c, invoice_id="lic_st_1_202603", period="2026-03")

    # and once it ran out
    c.clock.advance(seconds=RENDER_LEASE.total_seconds() + 1)
    finished = _issue(c, invoice_id="lic_st_1_202603", period="2026-03")

    # Then the committed invoice is finished: same number, its PDF stored under it, mailed
    assert finished.number == committed.number == "RE-2026-000001" and finished.ready
    assert c.documents.objects[pdf_key(finished)] == b"%PDF-fake RE-2026-000001"
    assert len(c.mailer.sent) == 1
    assert c.invoices.counters == {2026: 1}
    assert [i.id for i in c.invoice_reader.list("st_1", "all", 10, None).items] == [finished.id]


def test_issuing_an_invoice_that_exists_renders_nothing(c):
    renders = []
    render = c.invoice_issuer.render_einvoice

    def counting(invoice, store, supplier):
        renders.append(invoice.number)
        return render(invoice, store, supplier)

    issuer = dataclasses.replace(c.invoice_issuer, render_einvoice=counting)
    first = issuer.issue("st_1", [make_line()], invoice_id="lic_st_1_202603")
    again = issuer.issue("st_1", [make_line()], invoice_id="lic_st_1_202603")

    assert again == first and renders == ["RE-2026-000001"]


def test_issue_for_an_unknown_store_fails(c):
    with pytest.raises(StoreNotFoundError):
        _issue(c, store_id="st_missing")

    assert c.invoices.invoices == {} and c.documents.objects == {}


@pytest.mark.parametrize("kwargs", [{"lines": []}, {"due_days": -1}, {"due_days": 366}])
def test_issue_refuses_an_invoice_without_lines_or_with_a_bad_due_date(c, kwargs):
    lines = kwargs.pop("lines", [make_line()])

    with pytest.raises(InvalidRequestError):
        c.invoice_issuer.issue("st_1", lines, **kwargs)

    assert c.invoices.invoices == {}


# void -----------------------------------------------------------------------------------


def test_void_moves_an_open_invoice_and_settles_it(c):
    invoice = _issue(c)

    voided = c.corrections.void(invoice.id).invoice

    assert voided.status == InvoiceStatus.VOID
    assert c.invoices.get(invoice.id).status == InvoiceStatus.VOID
    assert c.stores.get("st_1").open_items == ()


@pytest.mark.parametrize(
    "status", [InvoiceStatus.PAID, InvoiceStatus.PROCESSING, InvoiceStatus.VOID]
)
def test_only_open_invoices_can_be_voided(c, status):
    # Given an invoice that is paid, being paid or void already
    invoice = _issue(c)
    c.invoices.move(invoice, status, c.clock.now())

    # When it is voided
    with pytest.raises(InvoiceNotVoidableError):
        c.corrections.void(invoice.id)

    # Then it keeps its status
    assert c.invoices.get(invoice.id).status == status


def test_void_of_an_unknown_invoice_is_not_found(c):
    with pytest.raises(InvoiceNotFoundError):
        c.corrections.void("inv_missing")


# list -----------------------------------------------------------------------------------


def _pages(c, store_id="st_1", status="all", limit=2):
    pages, cursor = [], None
    while True:
        page = c.invoice_reader.list(store_id, status, limit, cursor)
        pages.append(page)
        cursor = page.next_cursor
        if cursor is None:
            return pages


def test_list_pages_through_every_invoice_with_a_cursor(c):
    # Given five invoices issued on different days
    issued = []
    for _ in range(5):
        issued.append(_issue(c))
        c.clock.advance(days=1)

    # When the list is read two at a time
    pages = _pages(c, limit=2)

    # Then all five come once, newest first, and the last page has no cursor
    ids = [invoice.id for page in pages for invoice in page.items]
    assert ids == [invoice.id for invoice in reversed(issued)]
    assert [len(page.items) for page in pages] == [2, 2, 1]
    assert all(isinstance(page.next_cursor, str) for page in pages[:-1])


def test_list_filters_by_status_and_open_includes_processing(c):
    opened, processing, paid = _issue(c), _issue(c), _issue(c)
    c.invoices.move(processing, InvoiceStatus.PROCESSING, c.clock.now())
    c.invoices.move(paid, InvoiceStatus.PAID, c.clock.now())

    def ids(status):
        return {invoice.id for invoice in c.invoice_reader.list("st_1", status, 10, None).items}

    assert ids("open") == {opened.id, processing.id}
    assert ids("paid") == {paid.id}
    assert ids("all") == {opened.id, processing.id, paid.id}


def test_list_shows_only_the_own_stores_invoices(c):
    own = _issue(c, store_id="st_1")
    _issue(c, store_id="st_2")

    page = c.invoice_reader.list("st_1", "all", 10, None)

    assert [invoice.id for invoice in page.items] == [own.id]
    assert page.next_cursor is None


def _first_cursor(c, store_id="st_1", status="all"):
    for _ in range(3):
        _issue(c, store_id=store_id)
    cursor = c.invoice_reader.list(store_id, status, 1, None).next_cursor
    assert cursor
    return cursor


def _flip(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


@pytest.mark.parametrize(
    "tamper",
    [
        lambda cursor: _flip(cursor, 5),  # in the payload
        lambda cursor: _flip(cursor, len(cursor) - 2),  # in the signature
        lambda cursor: cursor.split(".")[0],  # signature cut off
        lambda cursor: cursor + "x",
        lambda cursor: "not-a-cursor",
        lambda cursor: "%%%.%%%",
    ],
    ids=["payload", "signature", "unsigned", "appended", "garbage", "bad-base64"],
)
def test_a_tampered_cursor_is_refused(c, tamper):
    cursor = _first_cursor(c)

    with pytest.raises(InvalidCursorError):
        c.invoice_reader.list("st_1", "all", 1, tamper(cursor))


def test_a_cursor_signed_with_another_key_is_refused(c):
    forged = CursorCodec(b"z" * 32).encode("st_1|all", {"invoice_id": {"S": "inv_x"}})

    with pytest.raises(InvalidCursorError):
        c.invoice_reader.list("st_1", "all", 1, forged)


def test_a_cursor_of_another_store_is_refused(c):
    # Given a cursor of store 2's list
    cursor = _first_cursor(c, store_id="st_2")

    # When store 1 hands it in
    with pytest.raises(InvalidCursorError):
        c.invoice_reader.list("st_1", "all", 1, cursor)


def test_a_cursor_of_another_status_filter_is_refused(c):
    cursor = _first_cursor(c, status="all")

    with pytest.raises(InvalidCursorError):
        c.invoice_reader.list("st_1", "open", 1, cursor)


# get and PDF ----------------------------------------------------------------------------


def test_get_returns_the_own_invoice(c):
    invoice = _issue(c)

    assert c.invoice_reader.get("st_1", invoice.id) == invoice


def _not_found(call):
    with pytest.raises(InvoiceNotFoundError) as raised:
        call()
    return type(raised.value), raised.value.code, str(raised.value)


@pytest.mark.parametrize("action", ["get", "pdf_link"])
def test_another_stores_invoice_answers_like_an_unknown_one(c, action):
    # Given an invoice of store 2
    theirs = _issue(c, store_id="st_2")
    read = getattr(c.invoice_reader, action)

    # When store 1 asks for it, and for an id that does not exist
    foreign = _not_found(lambda: read("st_1", theirs.id))
    unknown = _not_found(lambda: read("st_1", "inv_missing"))

    # Then both answers are the same, and no link was signed
    assert foreign == unknown
    assert c.documents.links == []


def test_pdf_link_is_short_lived_and_named_after_the_number(c):
    invoice = _issue(c)

    link = c.invoice_reader.pdf_link("st_1", invoice.id)

    assert 0 < link.expires_in <= 300
    assert link.filename == "Rechnung-RE-2026-000001.pdf"
    assert pdf_key(invoice) in link.url
    assert c.documents.links == [(pdf_key(invoice), "Rechnung-RE-2026-000001.pdf", link.expires_in)]


def test_pdf_link_points_at_the_stored_pdf(c):
    invoice = _issue(c)

    c.invoice_reader.pdf_link("st_1", invoice.id)

    (key, _, _) = c.documents.links[0]
    assert c.documents.objects[key].startswith(b"%PDF")


def test_a_paid_invoice_can_still_be_read(c):
    invoice = _issue(c)
    c.invoices.move(invoice, InvoiceStatus.PAID, c.clock.now())

    read = c.invoice_reader.get("st_1", invoice.id)

    assert read.status == InvoiceStatus.PAID
    assert read.paid_at == c.clock.now()
    assert dataclasses.replace(read, status=InvoiceStatus.OPEN, paid_at=None) == invoice
