"""InvoiceRepository: the same behaviour from fake and DynamoDB."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from chalicelib.domain.errors import ConflictError
from chalicelib.domain.invoices import InvoiceStatus, format_number
from chalicelib.domain.stores import OpenItem
from tests.contract import fresh_year, repos_fixture  # noqa: F401
from tests.fakes import T0, make_invoice, make_line, unique

PAID_AT = T0 + timedelta(days=3)


def _add(repos, store, year, day=1, **fields):
    """Number and add an invoice of `store` issued on `day` of January `year`."""
    sequence = repos.invoices.next_number(year)
    invoice = make_invoice(
        store_id=store.id,
        number=format_number(year, sequence),
        issue_date=date(year, 1, day),
        **fields,
    )
    repos.invoices.add_numbered(invoice, sequence)
    return invoice


def _list_all(repos, store_id, group, limit):
    """Every page of the list; returns (pages of ids, last keys)."""
    pages, last_keys, start_key = [], [], None
    for _ in range(50):
        page = repos.invoices.list_for_store(store_id, group, limit, start_key)
        pages.append([invoice.id for invoice in page.items])
        last_keys.append(page.last_key)
        if page.last_key is None:
            return pages, last_keys
        start_key = page.last_key
    raise AssertionError("pagination never ended")


# add and get ----------------------------------------------------------------------------


def test_add_numbered_then_get_returns_the_same_invoice(repos):
    # Given a store and an invoice with lines at two tax rates
    store, year = repos.new_store(), fresh_year()
    lines = (make_line(unit_net_cents=4900), make_line("Bonrollen", 3, 1234, 7))

    # When it is numbered and added
    invoice = _add(repos, store, year, lines=lines, period="2026-01")

    # Then it reads back unchanged
    assert repos.invoices.get(invoice.id) == invoice


def test_get_of_an_unknown_invoice_is_none(repos):
    assert repos.invoices.get(unique("inv_missing_")) is None


def test_numbers_are_gap_free_per_year(repos):
    # Given a year nobody has invoiced in
    store, year = repos.new_store(), fresh_year()
    assert repos.invoices.next_number(year) == 1

    # When three invoices are added
    numbers = [_add(repos, store, year).number for _ in range(3)]

    # Then they are numbered 1, 2, 3 and the next would be 4; other years are untouched
    assert numbers == [format_number(year, n) for n in (1, 2, 3)]
    assert repos.invoices.next_number(year) == 4
    assert repos.invoices.next_number(year + 1) == 1


def test_add_numbered_with_a_stale_sequence_is_a_conflict(repos):
    # Given an invoice that took number 1
    store, year = repos.new_store(), fresh_year()
    _add(repos, store, year)

    # When another writer, who also read "1", tries to take it
    late = make_invoice(
        store_id=store.id, number=format_number(year, 1), issue_date=date(year, 1, 2)
    )
    with pytest.raises(ConflictError):
        repos.invoices.add_numbered(late, 1)

    # Then nothing of it was written and the counter did not move
    assert repos.invoices.get(late.id) is None
    assert repos.invoices.next_number(year) == 2
    assert late.id not in {item.invoice_id for item in repos.stores.get(store.id).open_items}


def test_add_numbered_cannot_skip_a_number(repos):
    store, year = repos.new_store(), fresh_year()
    _add(repos, store, year)

    skipping = make_invoice(
        store_id=store.id, number=format_number(year, 3), issue_date=date(year, 1, 2)
    )
    with pytest.raises(ConflictError):
        repos.invoices.add_numbered(skipping, 3)

    assert repos.invoices.get(skipping.id) is None
    assert repos.invoices.next_number(year) == 2


def test_add_numbered_for_an_unknown_store_is_a_conflict(repos):
    year = fresh_year()
    orphan = make_invoice(
        store_id=unique("st_missing_"), number=format_number(year, 1), issue_date=date(year, 1, 1)
    )

    with pytest.raises(ConflictError):
        repos.invoices.add_numbered(orphan, 1)

    assert repos.invoices.get(orphan.id) is None
    assert repos.invoices.next_number(year) == 1


def test_add_numbered_puts_the_invoice_on_the_stores_open_items(repos):
    # Given a store that owes nothing
    store, year = repos.new_store(), fresh_year()

    # When two invoices are added
    first = _add(repos, store, year, day=1, lines=(make_line(unit_net_cents=4900),))
    second = _add(repos, store, year, day=5, lines=(make_line(unit_net_cents=1000),))

    # Then both are open items with their gross amount and due date, earliest due first
    assert repos.stores.get(store.id).open_items == (
        OpenItem(first.id, 5831, first.due_date),
        OpenItem(second.id, 1190, second.due_date),
    )
    assert repos.stores.get(store.id).open_balance_cents() == 5831 + 1190


# list -----------------------------------------------------------------------------------


def test_list_is_newest_first_by_issue_date_then_number(repos):
    # Given invoices added out of date order
    store, year = repos.new_store(), fresh_year()
    a = _add(repos, store, year, day=5)  # number 1
    b = _add(repos, store, year, day=1)  # number 2
    c = _add(repos, store, year, day=5)  # number 3
    d = _add(repos, store, year, day=9)  # number 4

    # When the store's list is read
    page = repos.invoices.list_for_store(store.id, None, 10, None)

    # Then it is ordered by issue date, then number, newest first
    assert [invoice.id for invoice in page.items] == [d.id, c.id, a.id, b.id]
    assert page.last_key is None


def test_list_shows_only_the_stores_own_invoices(repos):
    mine, theirs, year = repos.new_store(), repos.new_store(), fresh_year()
    own = _add(repos, mine, year)
    _add(repos, theirs, year)

    page = repos.invoices.list_for_store(mine.id, None, 10, None)

    assert [invoice.id for invoice in page.items] == [own.id]
    assert repos.invoices.list_for_store(unique("st_none_"), None, 10, None).items == []


def test_status_groups_open_includes_processing(repos):
    # Given an open, a processing, a paid and a void invoice
    store, year = repos.new_store(), fresh_year()
    opened = _add(repos, store, year, day=1)
    processing = _add(repos, store, year, day=2)
    paid = _add(repos, store, year, day=3)
    void = _add(repos, store, year, day=4)
    repos.invoices.move(processing, InvoiceStatus.PROCESSING, T0)
    repos.invoices.move(paid, InvoiceStatus.PAID, PAID_AT)
    repos.invoices.move(void, InvoiceStatus.VOID, T0)

    def ids(group):
        return [i.id for i in repos.invoices.list_for_store(store.id, group, 10, None).items]

    # Then each group lists its own, and no group lists everything
    assert ids("open") == [processing.id, opened.id]
    assert ids("paid") == [paid.id]
    assert ids("void") == [void.id]
    assert ids(None) == [void.id, paid.id, processing.id, opened.id]
    listed = {i.id: i for i in repos.invoices.list_for_store(store.id, None, 10, None).items}
    assert listed[processing.id].status == InvoiceStatus.PROCESSING
    assert listed[paid.id].paid_at == PAID_AT


@pytest.mark.parametrize(("count", "limit"), [(7, 3), (6, 3), (3, 3), (1, 1), (2, 5)])
def test_pagination_returns_everything_once(repos, count, limit):
    # Given a store with `count` invoices
    store, year = repos.new_store(), fresh_year()
    added = [_add(repos, store, year, day=1 + n % 28) for n in range(count)]

    # When it is paged through with `limit`
    pages, last_keys = _list_all(repos, store.id, None, limit)

    # Then nothing is missing or doubled, pages are full but the last, and only the last
    # page has no last_key
    flat = [invoice_id for page in pages for invoice_id in page]
    assert sorted(flat) == sorted(invoice.id for invoice in added)
    assert len(flat) == len(set(flat))
    assert all(len(page) == limit for page in pages[:-1])
    assert 1 <= len(pages[-1]) <= limit
    assert len(pages) == -(-count // limit)
    assert last_keys[-1] is None and all(key is not None for key in last_keys[:-1])
    # and the concatenated pages are the one-page list
    one_page = repos.invoices.list_for_store(store.id, None, 100, None)
    assert flat == [invoice.id for invoice in one_page.items]


def test_pagination_within_a_status_group(repos):
    # Given five open and two paid invoices
    store, year = repos.new_store(), fresh_year()
    added = [_add(repos, store, year, day=1 + n) for n in range(7)]
    for invoice in added[:2]:
        repos.invoices.move(invoice, InvoiceStatus.PAID, PAID_AT)

    # When the open ones are paged two at a time
    pages, _ = _list_all(repos, store.id, "open", 2)

    # Then the pages hold the five open ones, newest first
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [i for page in pages for i in page] == [invoice.id for invoice in reversed(added[2:])]


def test_last_key_is_json_serialisable(repos):
    import json

    store, year = repos.new_store(), fresh_year()
    for _ in range(3):
        _add(repos, store, year)

    page = repos.invoices.list_for_store(store.id, "open", 2, None)

    # The service signs it into a cursor and the client hands it back
    round_tripped = json.loads(json.dumps(page.last_key))
    rest = repos.invoices.list_for_store(store.id, "open", 2, round_tripped)
    assert len(rest.items) == 1 and rest.last_key is None


# move -----------------------------------------------------------------------------------


def test_move_forward_and_paid_settles_the_open_item(repos):
    # Given an open invoice on the store's open items
    store, year = repos.new_store(), fresh_year()
    invoice = _add(repos, store, year)

    # When a payment starts, the invoice stays an open item
    processing = repos.invoices.move(invoice, InvoiceStatus.PROCESSING, T0)
    assert processing.status == InvoiceStatus.PROCESSING
    assert [i.invoice_id for i in repos.stores.get(store.id).open_items] == [invoice.id]

    # When it is paid
    paid = repos.invoices.move(processing, InvoiceStatus.PAID, PAID_AT)

    # Then it is paid at that moment and the store no longer owes it
    assert (paid.status, paid.paid_at) == (InvoiceStatus.PAID, PAID_AT)
    stored = repos.invoices.get(invoice.id)
    assert (stored.status, stored.paid_at) == (InvoiceStatus.PAID, PAID_AT)
    assert repos.stores.get(store.id).open_items == ()


def test_move_back_to_open_keeps_the_open_item(repos):
    store, year = repos.new_store(), fresh_year()
    invoice = _add(repos, store, year)
    processing = repos.invoices.move(invoice, InvoiceStatus.PROCESSING, T0)

    reopened = repos.invoices.move(processing, InvoiceStatus.OPEN, T0)

    assert repos.invoices.get(invoice.id).status == InvoiceStatus.OPEN == reopened.status
    assert [i.invoice_id for i in repos.stores.get(store.id).open_items] == [invoice.id]


def test_void_settles_only_its_own_open_item(repos):
    store, year = repos.new_store(), fresh_year()
    kept = _add(repos, store, year, day=1)
    voided = _add(repos, store, year, day=2)

    repos.invoices.move(voided, InvoiceStatus.VOID, T0)

    assert [i.invoice_id for i in repos.stores.get(store.id).open_items] == [kept.id]
    assert repos.invoices.get(voided.id).paid_at is None


def test_move_with_a_wrong_expected_status_is_a_conflict(repos):
    # Given an invoice that was paid meanwhile
    store, year = repos.new_store(), fresh_year()
    invoice = _add(repos, store, year)
    repos.invoices.move(invoice, InvoiceStatus.PAID, PAID_AT)

    # When a stale copy (still "open") is moved
    with pytest.raises(ConflictError):
        repos.invoices.move(invoice, InvoiceStatus.VOID, T0)

    # Then the invoice stays paid
    assert repos.invoices.get(invoice.id).status == InvoiceStatus.PAID


def test_move_of_an_unknown_invoice_is_a_conflict(repos):
    store = repos.new_store()
    ghost = make_invoice(store_id=store.id)

    with pytest.raises(ConflictError):
        repos.invoices.move(ghost, InvoiceStatus.PAID, PAID_AT)

    assert repos.invoices.get(ghost.id) is None
