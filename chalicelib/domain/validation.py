"""The rules for what an operator or owner may type: e-mail, address, VAT ID, invoice lines.

Pure functions, shared by the command line, the services and (later) the HTTP API. Each
rule answers a German sentence naming what is wrong, or None; `FieldError` carries the
field's name so every caller can say which input it was.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation

from chalicelib.domain.errors import InvalidRequestError
from chalicelib.domain.invoices import InvoiceLine, compute_totals
from chalicelib.domain.stores import Address

MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 120
MAX_STREET_LENGTH = 120
MAX_CITY_LENGTH = 80
MAX_DESCRIPTION_LENGTH = 200
MIN_QUANTITY, MAX_QUANTITY = 1, 10_000
MIN_UNIT_NET_CENTS, MAX_UNIT_NET_CENTS = 1, 100_000_000  # 0,01 € to 1.000.000,00 €
DEFAULT_VAT_RATES: tuple[Decimal, ...] = (Decimal(0), Decimal(7), Decimal(19))
DEFAULT_MAX_INVOICE_GROSS_CENTS = 10_000_000  # 100.000,00 €
MIN_YEAR, MAX_YEAR = 2000, 2099
MAX_MONTHLY_FEE_CENTS = 1_000_000  # 10.000,00 € a month

# dot-atom local part and a domain of LDH labels with a top-level domain of letters
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"{_LOCAL}@(?:{_LABEL}\.)+[A-Za-z]{{2,63}}")
_POSTAL_CODES = {
    "DE": (re.compile(r"\d{5}"), "5 Ziffern, z. B. 10115"),
    "AT": (re.compile(r"\d{4}"), "4 Ziffern, z. B. 1010"),
    "CH": (re.compile(r"\d{4}"), "4 Ziffern, z. B. 8001"),
}
_PERIOD = re.compile(r"(\d{4})-(\d{2})")


class FieldError(InvalidRequestError):
    """One input is not acceptable; the message names the field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


# Our record ids (stores, invoices, payments, documents): what any id we made looks like.
RECORD_ID = re.compile(r"[A-Za-z0-9_-]{1,128}", re.ASCII)


def is_record_id(value: object) -> bool:
    return isinstance(value, str) and RECORD_ID.fullmatch(value) is not None


def has_control_characters(text: str) -> bool:
    return any(unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") for char in text)


def validate_text(value: str, max_length: int, what: str = "Text") -> str | None:
    if has_control_characters(value):
        return f"{what} darf keine Steuerzeichen (z. B. Zeilenumbrüche) enthalten"
    if not value.strip():
        return f"{what} darf nicht leer sein"
    if len(value.strip()) > max_length:
        return f"{what} darf höchstens {max_length} Zeichen lang sein"
    return None


def validate_email(value: str) -> str | None:
    """Exactly one address, no display name, list or control character."""
    if has_control_characters(value):
        return "Die E-Mail-Adresse darf keine Steuerzeichen (z. B. Zeilenumbrüche) enthalten"
    text = value.strip()
    if not text:
        return "Die E-Mail-Adresse darf nicht leer sein"
    if any(sep in text for sep in (",", ";", " ", "<", ">")) or text.count("@") > 1:
        return "Bitte genau eine E-Mail-Adresse angeben, z. B. inhaber@restaurant.de"
    if len(text) > MAX_EMAIL_LENGTH or not _EMAIL.fullmatch(text):
        return f"„{text}“ ist keine gültige E-Mail-Adresse (z. B. inhaber@restaurant.de)"
    return None


def validate_postal_code(value: str, country: str) -> str | None:
    text = value.strip()
    rule = _POSTAL_CODES.get(country.upper())
    if rule is not None:
        pattern, example = rule
        if not pattern.fullmatch(text) or (country.upper() == "DE" and text.startswith("00")):
            return f"„{text}“ ist keine gültige Postleitzahl ({example})"
        return None
    if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9 -]{0,10}[A-Za-z0-9])?", text):
        return f"„{text}“ ist keine gültige Postleitzahl (Ziffern und Buchstaben, z. B. 8001)"
    return None


def validate_country(value: str) -> str | None:
    if not re.fullmatch(r"[A-Z]{2}", value.strip()):
        return f"„{value}“ ist kein Ländercode mit zwei Großbuchstaben (z. B. DE)"
    import pycountry  # the ISO 3166 list; loaded only where an address is checked

    if pycountry.countries.get(alpha_2=value.strip()) is None:
        return f"„{value.strip()}“ ist kein Ländercode nach ISO 3166 (z. B. DE, AT, CH)"
    return None


def validate_address(address: Address) -> dict[str, str]:
    """Problems by field (street, postal_code, city, country); empty when valid."""
    problems: dict[str, str] = {}
    if error := validate_country(address.country):
        problems["country"] = error
    if error := validate_text(address.street, MAX_STREET_LENGTH, "Die Straße"):
        problems["street"] = error
    if error := validate_postal_code(address.postal_code, address.country):
        problems["postal_code"] = error
    if error := validate_text(address.city, MAX_CITY_LENGTH, "Der Ort"):
        problems["city"] = error
    return problems


def validate_vat_id(value: str) -> str | None:
    """An EU VAT ID in the format (and with the check digits) of the country it names."""
    from stdnum.eu import vat as eu_vat
    from stdnum.exceptions import ValidationError

    text = value.strip()
    if has_control_characters(text) or not text:
        return "Die USt-IdNr. darf nicht leer sein und keine Steuerzeichen enthalten"
    try:
        eu_vat.validate(text)
    except ValidationError:
        return (
            f"„{text}“ ist keine gültige USt-IdNr. (Ländercode und Nummer mit Prüfziffer, "
            "z. B. DE123456788)"
        )
    return None


def normalize_vat_id(value: str) -> str:
    from stdnum.eu import vat as eu_vat

    return str(eu_vat.compact(value))


def validate_period(value: str) -> str | None:
    match = _PERIOD.fullmatch(value.strip())
    if match is None:
        return f"„{value}“ ist kein Zeitraum im Format JJJJ-MM (z. B. 2026-11)"
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        return f"„{value}“ ist kein existierender Monat (z. B. 2026-11)"
    if not MIN_YEAR <= year <= MAX_YEAR:
        return f"„{value}“ liegt nicht zwischen {MIN_YEAR} und {MAX_YEAR}"
    return None


def parse_rate(text: str, allowed: Sequence[Decimal] = DEFAULT_VAT_RATES) -> Decimal:
    try:
        rate = Decimal(text.strip().rstrip("%").strip().replace(",", "."))
    except InvalidOperation as exc:
        raise FieldError("USt-Satz", f"„{text}“ ist keine Zahl") from exc
    if rate not in allowed:
        choices = ", ".join(f"{r.normalize():f} %" for r in allowed)
        raise FieldError("USt-Satz", f"„{text}“ ist nicht erlaubt (erlaubt: {choices})")
    return rate


def _german(number: int) -> str:
    return f"{number:,}".replace(",", ".")


def check_line(line: InvoiceLine, allowed: Sequence[Decimal] = DEFAULT_VAT_RATES) -> None:
    if error := validate_text(line.description, MAX_DESCRIPTION_LENGTH, "Die Beschreibung"):
        raise FieldError("Beschreibung", error)
    if not MIN_QUANTITY <= line.quantity <= MAX_QUANTITY:
        raise FieldError(
            "Menge",
            f"{line.quantity} liegt nicht zwischen {MIN_QUANTITY} und {_german(MAX_QUANTITY)}",
        )
    if not MIN_UNIT_NET_CENTS <= line.unit_net_cents <= MAX_UNIT_NET_CENTS:
        raise FieldError(
            "Netto-Cent",
            f"{line.unit_net_cents} liegt nicht zwischen 1 Cent und 1.000.000,00 € "
            f"({MAX_UNIT_NET_CENTS} Cent)",
        )
    if line.tax_rate_percent not in allowed:
        choices = ", ".join(f"{r.normalize():f} %" for r in allowed)
        raise FieldError(
            "USt-Satz", f"{line.tax_rate_percent.normalize():f} % ist nicht erlaubt ({choices})"
        )


def parse_line(text: str, allowed: Sequence[Decimal] = DEFAULT_VAT_RATES) -> InvoiceLine:
    """ "Beschreibung;Menge;Netto-Cent;USt-%" as the command line takes a line."""
    parts = text.split(";")
    if len(parts) != 4:
        raise FieldError(
            "--line", f"„{text}“ hat nicht die Form Beschreibung;Menge;Netto-Cent;USt-%"
        )
    description, quantity, net, rate = parts
    line = InvoiceLine(
        description.strip() if not has_control_characters(description) else description,
        _integer(quantity, "Menge"),
        _integer(net, "Netto-Cent"),
        parse_rate(rate, allowed),
    )
    check_line(line, allowed)
    return line


def _integer(text: str, field: str) -> int:
    value = text.strip()
    if not re.fullmatch(r"-?\d{1,15}", value):
        raise FieldError(field, f"„{text.strip()}“ ist keine ganze Zahl")
    return int(value)


def check_lines(
    lines: Sequence[InvoiceLine],
    allowed: Sequence[Decimal] = DEFAULT_VAT_RATES,
    max_gross_cents: int = DEFAULT_MAX_INVOICE_GROSS_CENTS,
) -> None:
    if not lines:
        raise FieldError("--line", "Eine Rechnung braucht mindestens eine Position")
    for line in lines:
        check_line(line, allowed)
    gross = compute_totals(lines).gross_cents
    if gross > max_gross_cents:
        raise FieldError(
            "Rechnungsbetrag",
            f"{_eur(gross)} brutto liegt über der Obergrenze von {_eur(max_gross_cents)}",
        )


def check_store_fields(fields: Mapping[str, str]) -> None:
    """Check the given store fields (name, email, street, postal_code, city, country,
    vat_id) in a fixed order; raise FieldError for the first mistake."""
    labels = {
        "name": "Name",
        "email": "E-Mail",
        "street": "Straße",
        "postal_code": "Postleitzahl",
        "city": "Ort",
        "country": "Land",
        "vat_id": "USt-IdNr.",
    }
    country = fields.get("country", "DE")
    checks = {
        "name": lambda v: validate_text(v, MAX_NAME_LENGTH, "Der Name"),
        "email": validate_email,
        "country": validate_country,
        "street": lambda v: validate_text(v, MAX_STREET_LENGTH, "Die Straße"),
        "postal_code": lambda v: validate_postal_code(v, country),
        "city": lambda v: validate_text(v, MAX_CITY_LENGTH, "Der Ort"),
        "vat_id": validate_vat_id,
    }
    for key, check in checks.items():
        if key in fields and (error := check(fields[key])):
            raise FieldError(labels[key], error)


def check_monthly_fee(cents: int) -> None:
    if not 0 <= cents <= MAX_MONTHLY_FEE_CENTS:
        raise FieldError(
            "Monatsgebühr", f"{cents} Cent liegt nicht zwischen 0 und {MAX_MONTHLY_FEE_CENTS}"
        )


def _eur(cents: int) -> str:
    from chalicelib.domain.money import format_eur

    return format_eur(cents)
