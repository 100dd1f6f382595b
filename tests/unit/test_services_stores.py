"""StoreService on fakes: create a store (operator), read its billing profile (owner)."""

from __future__ import annotations

import pytest

from chalicelib.domain.errors import EmailInUseError, InvalidRequestError, StoreNotFoundError
from chalicelib.domain.stores import Address
from chalicelib.services.stores import NewStore
from tests.fakes import make_container, make_line

ADDRESS = Address(street="Königsallee 27", postal_code="40212", city="Düsseldorf")


def _new(email="chef@bellavista.example", name="Trattoria Bellavista", **fields):
    return NewStore(name=name, email=email, address=ADDRESS, **fields)


def test_create_normalises_the_address_and_stores_the_store():
    # Given an address typed with spaces and capitals
    c = make_container()

    # When the store is created
    store_id = c.store_service.create(_new(email="  Chef@BellaVista.Example ", name=" Trattoria "))

    # Then it is stored with the normalised address, trimmed name and the current time
    store = c.stores.get(store_id)
    assert store.billing_email == "chef@bellavista.example"
    assert store.name == "Trattoria"
    assert store.created_at == c.clock.now()
    assert store.account_status == "active" and store.open_items == ()
    assert store.monthly_fee_cents == 4900
    assert store_id.startswith("st_")


def test_every_store_gets_its_own_id():
    c = make_container()

    first = c.store_service.create(_new(email="a@example.org"))
    second = c.store_service.create(_new(email="b@example.org"))

    assert first != second
    assert sorted(c.stores.list_ids()) == sorted([first, second])


@pytest.mark.parametrize(
    "second_email",
    ["chef@bellavista.example", "CHEF@BELLAVISTA.EXAMPLE", " Chef@Bellavista.example  "],
)
def test_a_second_store_with_the_same_address_in_any_case_is_refused(second_email):
    # Given a store with an address
    c = make_container()
    c.store_service.create(_new(email="chef@bellavista.example"))

    # When another store is created with the same address, in any case
    with pytest.raises(EmailInUseError):
        c.store_service.create(_new(email=second_email, name="Pizzeria Zwei"))

    # Then there is still one store only
    assert len(c.stores.list_ids()) == 1


@pytest.mark.parametrize(
    "new",
    [
        _new(email="kein-at-zeichen.example"),
        _new(email="   "),
        _new(email="x" * 250 + "@a.de"),
        _new(name="   "),
        _new(monthly_fee_cents=-1),
    ],
    ids=["no-at", "blank-email", "too-long", "blank-name", "negative-fee"],
)
def test_create_refuses_bad_input(new):
    c = make_container()

    with pytest.raises(InvalidRequestError):
        c.store_service.create(new)

    assert c.stores.list_ids() == []


def test_profile_shows_the_store_with_its_open_invoices():
    # Given a store with an issued invoice
    c = make_container()
    store_id = c.store_service.create(_new())
    invoice = c.invoice_issuer.issue(store_id, [make_line(unit_net_cents=4900)])

    # When the owner reads the profile
    profile = c.store_service.profile(store_id)

    # Then the invoice is owed
    assert [item.invoice_id for item in profile.open_items] == [invoice.id]
    assert profile.open_balance_cents() == 5831


def test_profile_of_an_unknown_store_is_not_found():
    with pytest.raises(StoreNotFoundError):
        make_container().store_service.profile("st_missing")
