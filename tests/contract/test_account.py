"""AccountRepository and ActivityLog: the same behaviour from the fakes and DynamoDB."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.domain.account import ActivityEntry, PendingEmailChange
from chalicelib.domain.errors import ConflictError, EmailInUseError
from chalicelib.domain.stores import Address
from tests.contract import race
from tests.fakes import T0, FakeStores, make_store, unique
from tests.fakes_account import FakeAccounts, FakeActivityLog


@dataclasses.dataclass
class Backend:
    kind: str
    stores: Any
    accounts: Any
    activity: Any

    def new_store(self) -> Any:
        store = make_store(id=unique("st_"), billing_email=_email())
        self.stores.add(store)
        return self.stores.get(store.id)


def _email() -> str:
    return f"{unique('owner-')}@contract.example"


@pytest.fixture(params=["fake", "dynamo"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "fake":
        stores = FakeStores()
        activity = FakeActivityLog()
        return Backend("fake", stores, FakeAccounts(stores, activity), activity)
    container = request.getfixturevalue("container")
    return Backend("dynamo", container.stores, container.accounts, container.activity_log)


def _entry(store_id: str, n: int = 0, summary: str = "Eintrag.") -> ActivityEntry:
    return ActivityEntry(store_id, T0 + timedelta(seconds=n), "sign_in", summary)


# activity log ---------------------------------------------------------------------------


def test_the_log_pages_newest_first_and_continues_after_the_key(backend):
    store_id = unique("st_")
    for n in range(5):
        backend.activity.append(_entry(store_id, n, f"Nummer {n}."))

    first, after = backend.activity.page(store_id, 3, None)
    rest, end = backend.activity.page(store_id, 3, after)

    assert [e.summary for e in first] == ["Nummer 4.", "Nummer 3.", "Nummer 2."]
    assert [e.summary for e in rest] == ["Nummer 1.", "Nummer 0."]
    assert after == first[-1].key and end is None
    assert first[0].at == T0 + timedelta(seconds=4) and first[0].type == "sign_in"


def test_an_entry_is_never_overwritten(backend):
    entry = _entry(unique("st_"))
    backend.activity.append(entry)

    with pytest.raises(Exception):  # noqa: B017 - fake and adapter name it differently
        backend.activity.append(dataclasses.replace(entry, summary="Gefälscht."))

    (kept,), _ = backend.activity.page(entry.store_id, 10, None)
    assert kept.summary == "Eintrag."


def test_the_log_of_another_store_is_empty(backend):
    backend.activity.append(_entry(unique("st_")))

    assert backend.activity.page(unique("st_"), 10, None) == ([], None)


# account fields -------------------------------------------------------------------------


def test_details_and_their_entry_are_written_together(backend):
    store = backend.new_store()
    address = Address("Hafenstraße 3", "20457", "Hamburg", "DE")

    backend.accounts.save_details(
        store.id, address, "DE136695976", "kanzlei@steuer.example", _entry(store.id)
    )

    changed = backend.stores.get(store.id)
    assert changed.address == address and changed.vat_id == "DE136695976"
    assert changed.accountant_email == "kanzlei@steuer.example"
    assert changed.billing_email == store.billing_email  # untouched
    assert len(backend.activity.page(store.id, 10, None)[0]) == 1
    # None removes VAT ID and accountant
    backend.accounts.save_details(store.id, address, None, None, _entry(store.id, 1))
    assert backend.stores.get(store.id).vat_id is None
    assert backend.stores.get(store.id).accountant_email is None


def test_mfa_flag_round_trips(backend):
    store = backend.new_store()
    assert store.mfa_enabled is False

    backend.accounts.set_mfa(store.id, True, _entry(store.id))

    assert backend.stores.get(store.id).mfa_enabled is True


def test_a_change_of_an_unknown_store_writes_nothing(backend):
    store_id = unique("st_missing_")

    with pytest.raises(Exception):  # noqa: B017 - StoreNotFoundError in both
        backend.accounts.set_mfa(store_id, True, _entry(store_id))

    assert backend.activity.page(store_id, 10, None) == ([], None)
    assert backend.stores.get(store_id) is None


def _pending(email: str) -> PendingEmailChange:
    return PendingEmailChange(email=email, code_hash="h" * 64, expires_at=T0 + timedelta(hours=1))


def test_moving_the_email_moves_the_claim_with_its_entry(backend):
    store = backend.new_store()
    new_email = _email()
    backend.accounts.start_email_change(store.id, _pending(new_email))
    assert backend.accounts.pending_email_change(store.id) == _pending(new_email)

    backend.accounts.move_email(store.id, store.billing_email, new_email, _entry(store.id))

    assert backend.stores.get(store.id).billing_email == new_email
    assert backend.accounts.store_of_email(new_email) == store.id
    assert backend.accounts.store_of_email(store.billing_email) is None
    assert backend.accounts.pending_email_change(store.id) is None
    assert len(backend.activity.page(store.id, 10, None)[0]) == 1
    # the old address is free for another store now
    other = make_store(id=unique("st_"), billing_email=store.billing_email)
    backend.stores.add(other)


def test_moving_to_an_address_of_another_store_is_email_in_use(backend):
    store, taken = backend.new_store(), backend.new_store()
    backend.accounts.start_email_change(store.id, _pending(taken.billing_email))

    with pytest.raises(EmailInUseError):
        backend.accounts.move_email(
            store.id, store.billing_email, taken.billing_email, _entry(store.id)
        )

    assert backend.stores.get(store.id).billing_email == store.billing_email
    assert backend.accounts.email_taken(taken.billing_email, store.id)
    assert backend.activity.page(store.id, 10, None) == ([], None)


def test_moving_without_that_pending_change_is_a_conflict(backend):
    store = backend.new_store()
    backend.accounts.start_email_change(store.id, _pending(_email()))

    with pytest.raises(ConflictError):
        backend.accounts.move_email(store.id, store.billing_email, _email(), _entry(store.id))


def test_two_stores_moving_to_one_address_one_wins(backend):
    a, b = backend.new_store(), backend.new_store()
    target = _email()
    backend.accounts.start_email_change(a.id, _pending(target))
    backend.accounts.start_email_change(b.id, _pending(target))

    results = race(
        lambda: backend.accounts.move_email(a.id, a.billing_email, target, _entry(a.id)),
        lambda: backend.accounts.move_email(b.id, b.billing_email, target, _entry(b.id)),
    )

    kinds = sorted(kind for kind, _ in results)
    assert kinds == ["error", "ok"], results
    loser = next(value for kind, value in results if kind == "error")
    assert isinstance(loser, EmailInUseError)
    winner = a if results[0][0] == "ok" else b
    assert backend.accounts.store_of_email(target) == winner.id


def test_restore_gives_the_old_address_back(backend):
    store = backend.new_store()
    new_email = _email()
    backend.accounts.start_email_change(store.id, _pending(new_email))
    backend.accounts.move_email(store.id, store.billing_email, new_email, _entry(store.id))

    backend.accounts.restore_email(store.id, new_email, store.billing_email)

    assert backend.stores.get(store.id).billing_email == store.billing_email
    assert backend.accounts.store_of_email(store.billing_email) == store.id
    assert backend.accounts.store_of_email(new_email) is None
