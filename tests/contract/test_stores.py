"""StoreRepository and MembershipRepository: the same behaviour from fake and DynamoDB."""

from __future__ import annotations

import pytest

from chalicelib.domain.errors import ConflictError, EmailInUseError
from tests.contract import exactly_one_won, race, repos_fixture  # noqa: F401
from tests.fakes import T0, make_store, unique


def _email() -> str:
    return f"{unique('owner-')}@contract.example"


# stores ---------------------------------------------------------------------------------


def test_add_then_get_returns_the_same_store(repos):
    # Given a new store
    store = make_store(id=unique("st_"), billing_email=_email(), vat_id="DE999999999")

    # When it is added
    repos.stores.add(store)

    # Then get returns it unchanged, and it is listed
    assert repos.stores.get(store.id) == store
    assert store.id in repos.stores.list_ids()


def test_get_of_an_unknown_store_is_none(repos):
    assert repos.stores.get(unique("st_missing_")) is None


def test_a_new_store_starts_active_with_no_open_items(repos):
    # When a store is added
    store = repos.new_store()

    # Then it is active and owes nothing
    assert store.account_status == "active"
    assert store.open_items == ()
    assert store.blocked_since is None
    assert store.open_balance_cents() == 0


def test_an_email_address_belongs_to_one_store_only(repos):
    # Given a store with an address
    email = _email()
    first = make_store(id=unique("st_"), billing_email=email)
    repos.stores.add(first)

    # When another store claims the same address
    second = make_store(id=unique("st_"), billing_email=email)
    with pytest.raises(EmailInUseError):
        repos.stores.add(second)

    # Then the second store was not created and the first is untouched
    assert repos.stores.get(second.id) is None
    assert repos.stores.get(first.id) == first


def test_the_repository_claims_the_address_exactly_as_given(repos):
    # Given a store with a lower-case address (normalising is the service's job)
    email = _email()
    repos.stores.add(make_store(id=unique("st_"), billing_email=email))

    # When a store with the same address in other case is added at repository level
    other = make_store(id=unique("st_"), billing_email=email.upper())
    repos.stores.add(other)

    # Then it is a different claim
    assert repos.stores.get(other.id) == other


def test_adding_a_store_again_after_a_lost_answer_is_no_conflict(repos):
    # Given a store whose add went through but whose answer was lost (the client retries)
    store = make_store(id=unique("st_"), billing_email=_email())
    repos.stores.add(store)

    # When the same store is added again, it is no "address in use": it is its own address
    repos.stores.add(store)

    # and nothing changed
    assert repos.stores.get(store.id).billing_email == store.billing_email


def test_two_concurrent_adds_with_one_address_let_exactly_one_win(repos):
    # Given two stores with the same address
    email = _email()
    a = make_store(id=unique("st_a_"), billing_email=email)
    b = make_store(id=unique("st_b_"), billing_email=email)

    # When both are added at the same moment
    results = race(lambda: repos.stores.add(a), lambda: repos.stores.add(b))

    # Then exactly one wins and the other is told the address is in use
    exactly_one_won(repos, results, EmailInUseError)
    stored = [s for s in (repos.stores.get(a.id), repos.stores.get(b.id)) if s is not None]
    assert len(stored) == 1


def test_set_access_blocks_and_unblocks_once(repos):
    # Given an active store
    store = repos.new_store()
    later = T0.replace(hour=12)

    # When it is blocked
    changed = repos.stores.set_access(store.id, "blocked", later)

    # Then it is blocked since then; blocking again changes nothing
    assert changed is True
    blocked = repos.stores.get(store.id)
    assert (blocked.account_status, blocked.blocked_since) == ("blocked", later)
    assert repos.stores.set_access(store.id, "blocked", later) is False

    # When it is unblocked, the block date goes away
    assert repos.stores.set_access(store.id, "active", later) is True
    active = repos.stores.get(store.id)
    assert (active.account_status, active.blocked_since) == ("active", None)
    assert repos.stores.set_access(store.id, "active", later) is False


def test_set_access_of_an_unknown_store_changes_nothing(repos):
    missing = unique("st_missing_")
    assert repos.stores.set_access(missing, "blocked", T0) is False
    assert repos.stores.get(missing) is None


# memberships ----------------------------------------------------------------------------


def test_a_membership_maps_the_user_to_its_store(repos):
    # Given a user of a store
    sub, store_id = unique("sub-"), unique("st_")

    # When the membership is added
    repos.memberships.add(sub, store_id, _email())

    # Then the user's store is known; strangers have none
    assert repos.memberships.store_of(sub) == store_id
    assert repos.memberships.store_of(unique("sub-")) is None


def test_adding_the_same_membership_again_is_harmless(repos):
    sub, store_id, email = unique("sub-"), unique("st_"), _email()
    repos.memberships.add(sub, store_id, email)

    repos.memberships.add(sub, store_id, email)

    assert repos.memberships.store_of(sub) == store_id


def test_a_user_cannot_move_to_another_store(repos):
    # Given a user of one store
    sub, store_id = unique("sub-"), unique("st_")
    repos.memberships.add(sub, store_id, _email())

    # When the same user is added to another store
    with pytest.raises(ConflictError):
        repos.memberships.add(sub, unique("st_other_"), _email())

    # Then the user still belongs to the first
    assert repos.memberships.store_of(sub) == store_id
