"""Use cases of stores: create one (operator) and read its billing profile (owner)."""

from __future__ import annotations

import dataclasses
import secrets

from chalicelib.domain.errors import InvalidRequestError, StoreNotFoundError
from chalicelib.domain.stores import Address, Store, normalize_email
from chalicelib.services.ports import Clock, StoreRepository


@dataclasses.dataclass(frozen=True)
class NewStore:
    name: str
    email: str
    address: Address
    vat_id: str | None = None
    monthly_fee_cents: int = 4900


@dataclasses.dataclass(frozen=True)
class StoreService:
    stores: StoreRepository
    clock: Clock

    def create(self, new: NewStore) -> str:
        email = normalize_email(new.email)
        if "@" not in email or len(email) > 254 or not new.name.strip():
            raise InvalidRequestError("Name und eine gültige E-Mail-Adresse sind nötig.")
        if new.monthly_fee_cents < 0:
            raise InvalidRequestError("Die Monatsgebühr darf nicht negativ sein.")
        store = Store(
            id="st_" + secrets.token_hex(8),
            name=new.name.strip(),
            billing_email=email,
            address=new.address,
            vat_id=new.vat_id,
            monthly_fee_cents=new.monthly_fee_cents,
            created_at=self.clock.now(),
        )
        self.stores.add(store)
        return store.id

    def close(self, store_id: str) -> Store:
        if not self.stores.close(store_id, self.clock.now()) and self.stores.get(store_id) is None:
            raise StoreNotFoundError()
        return self.profile(store_id)

    def profile(self, store_id: str) -> Store:
        store = self.stores.get(store_id)
        if store is None:
            raise StoreNotFoundError()
        return store
