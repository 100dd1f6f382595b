"""DATEV "Buchungsstapel" (format category 21, version 13) as the EXTF import file: the
bookings of the owner's SIDES documents for their accountant.

Header (line 1) and column names (line 2) follow DATEV's published EXTF layout; the rows use
the first 14 columns of the format (amount without sign, debit/credit flag, currencies,
account, contra account, tax key, document date as DDMM, document numbers, cash discount,
posting text). Amounts: decimal comma, no thousands separator, always positive. The file is
Windows-1252 with CRLF line ends, as DATEV reads it.

Accounts are SKR03 defaults the accountant can re-map on import: the licence fee as expense
4964 (licences) with input tax key 9 (19 %), SIDES as creditor 70000, payments over 1360
(money in transit).
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")

EXPENSE_ACCOUNT = "4964"
CREDITOR_ACCOUNT = "70000"
TRANSIT_ACCOUNT = "1360"
TAX_KEYS = {19: "9", 7: "8"}  # SKR03 input tax keys by rate
COLUMNS = (
    "Umsatz (ohne Soll/Haben-Kz)",
    "Soll/Haben-Kennzeichen",
    "WKZ Umsatz",
    "Kurs",
    "Basis-Umsatz",
    "WKZ Basis-Umsatz",
    "Konto",
    "Gegenkonto (ohne BU-Schlüssel)",
    "BU-Schlüssel",
    "Belegdatum",
    "Belegfeld 1",
    "Belegfeld 2",
    "Skonto",
    "Buchungstext",
)


@dataclasses.dataclass(frozen=True)
class Booking:
    amount_cents: int  # positive
    debit: bool  # S (Soll) or H (Haben) on `account`
    account: str
    contra_account: str
    tax_key: str
    day: date
    number: str
    text: str


def amount(cents: int) -> str:
    return f"{abs(cents) // 100},{abs(cents) % 100:02d}"


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def header(year: int, created: datetime, name: str) -> list[str]:
    """The 31 fields of the EXTF header line of a Buchungsstapel for one calendar year
    (created: German local time)."""
    created = created.astimezone(BERLIN)
    return [
        '"EXTF"', "700", "21", '"Buchungsstapel"', "13",
        created.strftime("%Y%m%d%H%M%S") + f"{created.microsecond // 1000:03d}",
        "", '""', '""', '""',
        "1001", "1",  # Beraternummer, Mandantennummer: set by the accountant on import
        f"{year}0101", "4", f"{year}0101", f"{year}1231",
        _quoted(name[:30]), '""', "1", "0", "0", '"EUR"',
        "", '""', "", "", '""', "", "", '""', '""',
    ]  # fmt: skip


def row(booking: Booking) -> list[str]:
    return [
        amount(booking.amount_cents),
        '"S"' if booking.debit else '"H"',
        '"EUR"', "", "", "",
        booking.account,
        booking.contra_account,
        _quoted(booking.tax_key),
        booking.day.strftime("%d%m"),
        _quoted(booking.number[:36]),
        '""', "",
        _quoted(booking.text[:60]),
    ]  # fmt: skip


def buchungsstapel(year: int, created: datetime, name: str, bookings: list[Booking]) -> bytes:
    lines = [";".join(header(year, created, name)), ";".join(COLUMNS)]
    lines += [";".join(row(b)) for b in bookings]
    return ("\r\n".join(lines) + "\r\n").encode("cp1252", errors="replace")
