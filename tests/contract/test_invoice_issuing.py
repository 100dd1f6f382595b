"""InvoiceRepository.issue, claim_render and mark_ready: the same behaviour from the fake and
DynamoDB (docs/adr/0006-issue-then-render.md)."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest

from chalicelib.domain.errors import StoreNotFoundError
from chalicelib.domain.invoices import format_number
from tests.contract import fresh_year, repos_fixture  # noqa: F401
from tests.fakes import T0, make_invoice, unique

LEASE = T0 + timedelta(seconds=120)


def _draft(store_id, year, **fields):
    return make_invoice(
        id=unique("inv_"), store_id=store_id, number="", issue_date=date(year, 1, 5), **fields
    )


def _listed(repos, store_id):
    return [i.id for i in repos.invoices.list_for_store(store_id, None, 50, None).items]


def test_issue_numbers_commits_not_ready_and_owes_without_listing(repos):
    store, year = repos.new_store(), fresh_year()

    first, new_first = repos.invoices.issue(_draft(store.id, year), LEASE)
    second, new_second = repos.invoices.issue(_draft(store.id, year), LEASE)

    assert (new_first, new_second) == (True, True)
    assert (first.number, second.number) == (format_number(year, 1), format_number(year, 2))
    assert repos.invoices.get(first.id) == first and not first.ready
    # owed at once (the open item came in the same transaction), but not shown yet
    owed = {item.invoice_id for item in repos.stores.get(store.id).open_items}
    assert owed == {first.id, second.id}
    assert _listed(repos, store.id) == []
    assert repos.invoices.next_number(year) == 3


def test_issue_of_an_id_that_exists_returns_it_and_takes_no_number(repos):
    store, year = repos.new_store(), fresh_year()
    draft = _draft(store.id, year)
    issued, _ = repos.invoices.issue(draft, LEASE)

    again, new = repos.invoices.issue(draft, LEASE)

    assert (again, new) == (issued, False)
    assert repos.invoices.next_number(year) == 2


def test_issue_for_an_unknown_store_takes_no_number(repos):
    year = fresh_year()

    with pytest.raises(StoreNotFoundError):
        repos.invoices.issue(_draft(unique("st_missing_"), year), LEASE)

    assert repos.invoices.next_number(year) == 1


def test_the_render_lease_is_taken_over_only_after_it_ran_out_and_never_once_ready(repos):
    store, year = repos.new_store(), fresh_year()
    issued, _ = repos.invoices.issue(_draft(store.id, year), LEASE)
    later = LEASE + timedelta(seconds=1)

    assert not repos.invoices.claim_render(issued.id, T0, LEASE)  # its issuer still holds it
    assert repos.invoices.claim_render(issued.id, later, later + timedelta(seconds=120))
    assert not repos.invoices.claim_render(issued.id, later, later + timedelta(seconds=120))

    ready = repos.invoices.mark_ready(issued)

    assert ready.ready and repos.invoices.get(issued.id) == ready
    assert _listed(repos, store.id) == [issued.id]
    far = later + timedelta(days=1)
    assert not repos.invoices.claim_render(issued.id, far, far)


def test_parallel_issuers_take_every_number_once_without_gaps(repos):
    """Eight workers at once, five invoices each: the counter's critical section under
    contention (each issue one conditional transaction, retried with the number it lost
    to)."""
    store, year = repos.new_store(), fresh_year()
    issued: list[tuple[str, str]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        try:
            for _ in range(5):
                invoice, _ = repos.invoices.issue(_draft(store.id, year), LEASE)
                issued.append((invoice.id, invoice.number))
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    numbers = sorted(number for _, number in issued)
    assert numbers == [format_number(year, n) for n in range(1, 41)]
    for invoice_id, number in issued:
        assert repos.invoices.get(invoice_id).number == number
