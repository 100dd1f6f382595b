"""The seller as it appears on every document (§14 Abs. 4 UStG, §35a GmbHG).

The values are configuration of each stage (see chalicelib/config.py and docs/deploy.md);
this module only knows their shape and checks them when they are read. A stage whose seller
data is incomplete or invalid issues nothing: `require_valid` says what is wrong.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping
from typing import Any

from chalicelib.domain.errors import PortalError
from chalicelib.domain.stores import Address
from chalicelib.domain.validation import validate_address, validate_email

# The German names of the fields, for messages that name the field.
FIELD_NAMES = {
    "legal_name": "Firma (legal_name)",
    "street": "Straße (address.street)",
    "postal_code": "Postleitzahl (address.postal_code)",
    "city": "Ort (address.city)",
    "country": "Land (address.country)",
    "register_court": "Registergericht (register_court)",
    "register_number": "Registernummer (register_number)",
    "managing_directors": "Geschäftsführer (managing_directors)",
    "vat_id": "USt-IdNr. (vat_id)",
    "tax_number": "Steuernummer (tax_number)",
    "iban": "IBAN (bank.iban)",
    "bic": "BIC (bank.bic)",
    "bank": "Bank (bank.name)",
    "email": "E-Mail (contact.email)",
    "phone": "Telefon (contact.phone)",
    "portal_url": "Portal-Adresse (contact.portal_url)",
}


class SellerDataError(PortalError):
    """The stage's seller data cannot go on a document."""

    code = "seller_data_invalid"
    message = "Die Verkäuferdaten dieser Stage sind ungültig; es wird nichts ausgestellt."


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
    register_court: str = ""
    register_number: str = ""
    managing_directors: tuple[str, ...] = ()
    source: str = ""
    # Why the configuration could not even be read (missing file, no JSON object).
    load_problems: tuple[str, ...] = ()
    # The configuration as read; checked on first use of `problems`.
    raw: Mapping[str, Any] | None = dataclasses.field(
        default=None, compare=False, hash=False, repr=False
    )

    @functools.cached_property
    def problems(self) -> tuple[str, ...]:
        """Why this seller must not go on a document; empty when it is valid. Checked on
        first use, so functions that never issue anything never load the checks."""
        found = list(self.load_problems)
        if self.raw is not None:
            found.extend(check_seller(self.raw))
        return tuple(found)

    @property
    def register_entry(self) -> str:
        """ "Amtsgericht Charlottenburg, HRB 123456 B" as §35a GmbHG wants it on letters."""
        return f"{self.register_court}, {self.register_number}"

    def require_valid(self) -> Supplier:
        if self.problems:
            where = f" ({self.source})" if self.source else ""
            raise SellerDataError(
                f"Die Verkäuferdaten{where} sind ungültig, deshalb wird nichts ausgestellt: "
                + "; ".join(self.problems)
            )
        return self


def _text(data: Mapping[str, Any], *path: str) -> str:
    value: Any = data
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value.strip() if isinstance(value, str) else ""


def _directors(data: Mapping[str, Any]) -> tuple[str, ...]:
    raw = data.get("managing_directors")
    if not isinstance(raw, list | tuple):
        return ()
    return tuple(d.strip() for d in raw if isinstance(d, str) and d.strip())


def _compact(value: str) -> str:
    return re.sub(r"[\s.\-/]", "", value).upper()


def _iban_display(value: str) -> str:
    """The IBAN in groups of four, as printed on paper (DE89 3704 0044 …)."""
    compact = re.sub(r"\s", "", value).upper()
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def parse_supplier(data: Mapping[str, Any], source: str = "") -> Supplier:
    """The seller as configured; `problems` says (on first use) whether it may be printed."""
    return Supplier(
        name=_text(data, "legal_name"),
        address=Address(
            street=_text(data, "address", "street"),
            postal_code=_text(data, "address", "postal_code"),
            city=_text(data, "address", "city"),
            country=_text(data, "address", "country") or "DE",
        ),
        vat_id=_compact(_text(data, "vat_id")),
        tax_number=_text(data, "tax_number"),
        email=_text(data, "contact", "email"),
        phone=_text(data, "contact", "phone"),
        iban=_iban_display(_text(data, "bank", "iban")),
        bic=re.sub(r"\s", "", _text(data, "bank", "bic")).upper(),
        bank=_text(data, "bank", "name"),
        portal_url=_text(data, "contact", "portal_url").rstrip("/"),
        register_court=_text(data, "register_court"),
        register_number=_text(data, "register_number"),
        managing_directors=_directors(data),
        source=source,
        raw=data,
    )


def check_seller(data: Mapping[str, Any]) -> list[str]:
    """Every problem of a seller configuration, each naming its field (python-stdnum checks
    IBAN, BIC, VAT ID, tax number and the Handelsregister entry)."""
    from stdnum import bic as stdnum_bic
    from stdnum import iban as stdnum_iban
    from stdnum.de import stnr
    from stdnum.eu import vat as eu_vat

    problems: list[str] = []

    def required(field: str, *path: str) -> str:
        value = _text(data, *path)
        if not value:
            problems.append(f"{FIELD_NAMES[field]} fehlt")
        return value

    required("legal_name", "legal_name")
    address = Address(
        street=_text(data, "address", "street"),
        postal_code=_text(data, "address", "postal_code"),
        city=_text(data, "address", "city"),
        country=_text(data, "address", "country") or "DE",
    )
    problems.extend(f"{FIELD_NAMES[f]}: {m}" for f, m in validate_address(address).items())
    court = required("register_court", "register_court")
    number = required("register_number", "register_number")
    if court and number:
        problems.extend(_check_register(court, number))
    if not _directors(data):
        problems.append(f"{FIELD_NAMES['managing_directors']} fehlt (mindestens ein Name)")
    _checked(required("vat_id", "vat_id"), "vat_id", eu_vat, problems)
    _checked(required("tax_number", "tax_number"), "tax_number", stnr, problems)
    _checked(required("iban", "bank", "iban"), "iban", stdnum_iban, problems)
    _checked(required("bic", "bank", "bic"), "bic", stdnum_bic, problems)
    required("bank", "bank", "name")
    email = required("email", "contact", "email")
    if email and (error := validate_email(email)):
        problems.append(f"{FIELD_NAMES['email']}: {error}")
    required("phone", "contact", "phone")
    portal_url = required("portal_url", "contact", "portal_url")
    if portal_url and not portal_url.startswith("https://"):
        problems.append(f"{FIELD_NAMES['portal_url']}: muss mit https:// beginnen")
    return problems


def _checked(value: str, field: str, module: Any, problems: list[str]) -> None:
    """Let the standard's own check (format, checksum) judge the value."""
    from stdnum.exceptions import ValidationError

    if not value:
        return
    try:
        module.validate(value)
    except ValidationError:
        problems.append(f"{FIELD_NAMES[field]} „{value}“ ist ungültig")


def _check_register(court: str, number: str) -> list[str]:
    """Court and HRA/HRB number as the Handelsregister writes them."""
    from stdnum.de import handelsregisternummer
    from stdnum.exceptions import ValidationError

    # stdnum knows the register courts by their place ("Charlottenburg"), not "Amtsgericht".
    place = court.removeprefix("Amtsgericht").strip()
    try:
        handelsregisternummer.validate(f"{place} {number}")
    except ValidationError:
        return [
            f"{FIELD_NAMES['register_court']} und {FIELD_NAMES['register_number']} "
            f"„{court}, {number}“ sind kein gültiger Handelsregistereintrag"
        ]
    return []


def missing_supplier(source: str, reason: str) -> Supplier:
    """The seller of a stage whose configuration could not be read at all."""
    empty = Address(street="", postal_code="", city="")
    return Supplier(
        name="",
        address=empty,
        vat_id="",
        tax_number="",
        email="",
        phone="",
        iban="",
        bic="",
        bank="",
        portal_url="",
        source=source,
        load_problems=(reason,),
    )


# Sample values (the local stack's and the tests'): a made-up company whose identifiers
# pass their checksums. Real stages configure their own (docs/deploy.md).
SAMPLE_SELLER: dict[str, Any] = {
    "legal_name": "SIDES GmbH",
    "address": {
        "street": "Musterstraße 1",
        "postal_code": "10115",
        "city": "Berlin",
        "country": "DE",
    },
    "register_court": "Amtsgericht Charlottenburg",
    "register_number": "HRB 123456 B",
    "managing_directors": ["Erika Mustermann", "Max Mustermann"],
    "vat_id": "DE123456788",
    "tax_number": "37/123/45678",
    "bank": {
        "iban": "DE89 3704 0044 0532 0130 00",
        "bic": "COBADEFFXXX",
        "name": "Commerzbank Berlin",
    },
    "contact": {
        "email": "billing@sides.example",
        "phone": "+49 30 1234567",
        "portal_url": "https://portal.sides.example",
    },
}

SAMPLE_SUPPLIER = parse_supplier(SAMPLE_SELLER, source="Beispieldaten")
# Kept for callers written before the seller became configuration.
DEFAULT_SUPPLIER = SAMPLE_SUPPLIER
