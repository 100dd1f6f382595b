"""Use cases of stores: create, list, show and change one (operator), read its billing
profile (owner). Every input is checked (domain.validation) before anything is written."""

from __future__ import annotations

import dataclasses
import secrets

from chalicelib.domain.errors import InvalidRequestError, StoreNotFoundError
from chalicelib.domain.stores import Address, Store, normalize_email
from chalicelib.domain.validation import (
    check_monthly_fee,
    check_store_fields,
    normalize_vat_id,
)
from chalicelib.services.ports import Clock, StoreRepository

STATUSES = ("active", "blocked", "closed")


@dataclasses.dataclass(frozen=True)
class NewStore:
    name: str
    email: str
    address: Address
    vat_id: str | None = None
    monthly_fee_cents: int = 4900


@dataclasses.dataclass(frozen=True)
class StoreChanges:
    """What the operator changes; None leaves a field as it is. vat_id "" removes it."""

    name: str | None = None
    email: str | None = None
    street: str | None = None
    postal_code: str | None = None
    city: str | None = None
    vat_id: str | None = None

    def given(self) -> dict[str, str]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclasses.dataclass(frozen=True)
class StoreOverview:
    store: Store
    invited: bool


def status_of(store: Store) -> str:
    return "closed" if store.closed_at is not None else store.account_status


@dataclasses.dataclass(frozen=True)
class StoreService:
    stores: StoreRepository
    clock: Clock

    def create(self, new: NewStore) -> str:
        fields = {
            "name": new.name,
            "email": new.email,
            "street": new.address.street,
            "postal_code": new.address.postal_code,
            "city": new.address.city,
            "country": new.address.country,
        }
        if new.vat_id is not None:
            fields["vat_id"] = new.vat_id
        check_store_fields(fields)
        check_monthly_fee(new.monthly_fee_cents)
        store = Store(
            id="st_" + secrets.token_hex(8),
            name=new.name.strip(),
            billing_email=normalize_email(new.email),
            address=_clean(new.address),
            vat_id=normalize_vat_id(new.vat_id) if new.vat_id else None,
            monthly_fee_cents=new.monthly_fee_cents,
            created_at=self.clock.now(),
        )
        self.stores.add(store)
        return store.id

    def update(self, store_id: str, changes: StoreChanges) -> Store:
        """Change name, address, VAT ID and billing e-mail; the e-mail's one-store claim
        moves in the same transaction. Issued documents never change."""
        given = changes.given()
        if not given:
            raise InvalidRequestError(
                "Nichts zu ändern: gib mindestens eine Angabe an (z. B. --city Hamburg)."
            )
        store = self.profile(store_id)
        check_store_fields({**given, "country": store.address.country})
        address = Address(
            street=(changes.street or store.address.street).strip(),
            postal_code=(changes.postal_code or store.address.postal_code).strip(),
            city=(changes.city or store.address.city).strip(),
            country=store.address.country,
        )
        vat_id = store.vat_id
        if changes.vat_id is not None:
            vat_id = normalize_vat_id(changes.vat_id)
        updated = dataclasses.replace(
            store,
            name=changes.name.strip() if changes.name is not None else store.name,
            address=address,
            vat_id=vat_id,
        )
        new_email = normalize_email(changes.email) if changes.email is not None else None
        self.stores.update_details(updated, new_email)
        return self.profile(store_id)

    def list(self, status: str | None = None) -> list[Store]:
        if status is not None and status not in STATUSES:
            raise InvalidRequestError(
                f"--status: „{status}“ gibt es nicht (active, blocked oder closed)."
            )
        stores = [s for s in self.stores.list_all() if status in (None, status_of(s))]
        return sorted(stores, key=lambda s: (s.name.lower(), s.id))

    def overview(self, store_id: str) -> StoreOverview:
        store = self.profile(store_id)
        return StoreOverview(store=store, invited=self.stores.invited(store_id))

    def close(self, store_id: str) -> Store:
        if not self.stores.close(store_id, self.clock.now()) and self.stores.get(store_id) is None:
            raise StoreNotFoundError()
        return self.profile(store_id)

    def profile(self, store_id: str) -> Store:
        store = self.stores.get(store_id)
        if store is None:
            raise StoreNotFoundError()
        return store


def _clean(address: Address) -> Address:
    return Address(
        street=address.street.strip(),
        postal_code=address.postal_code.strip(),
        city=address.city.strip(),
        country=address.country.strip().upper(),
    )
