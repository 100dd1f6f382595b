"""The vendor as it appears on every invoice (§14 Abs. 4 UStG)."""

from __future__ import annotations

import dataclasses

from chalicelib.domain.stores import Address


@dataclasses.dataclass(frozen=True)
class Supplier:
    name: str
    address: Address
    vat_id: str
    tax_number: str
    email: str
    phone: str
    iban: str
    bic: str
    bank: str
    portal_url: str


DEFAULT_SUPPLIER = Supplier(
    name="SIDES GmbH",
    address=Address(street="Musterstraße 1", postal_code="10115", city="Berlin", country="DE"),
    vat_id="DE123456789",
    tax_number="37/123/45678",
    email="billing@sides.example",
    phone="+49 30 1234567",
    iban="DE02 1001 0010 0123 4567 89",
    bic="PBNKDEFFXXX",
    bank="Postbank Berlin",
    portal_url="https://portal.sides.example",
)
