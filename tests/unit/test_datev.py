"""The DATEV Buchungsstapel (EXTF) checked against the format's rules: header fields, column
count, decimal comma, document date, encoding and line ends."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime

from chalicelib.domain import datev

CREATED = datetime(2026, 12, 3, 13, 5, 9, 123456, tzinfo=UTC)  # 14:05:09 in Berlin


def _file(bookings: list[datev.Booking]) -> list[list[str]]:
    raw = datev.buchungsstapel(2026, CREATED, "SIDES 2026", bookings)
    text = raw.decode("cp1252")
    assert "\r\n" in text and "\n" not in text.replace("\r\n", "")  # CRLF only
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))


def _booking(cents: int = 5831, debit: bool = True, day: date = date(2026, 3, 1)) -> datev.Booking:
    return datev.Booking(
        cents, debit, "4964", "70000", "9", day, "RE-2026-000042", "SIDES Lizenz RE-2026-000042"
    )


def test_header_names_format_version_category_and_the_year() -> None:
    header = _file([_booking()])[0]

    assert header[0] == "EXTF" and header[1] == "700"  # EXTF, format version 700
    assert header[2] == "21" and header[3] == "Buchungsstapel" and header[4] == "13"
    assert header[5] == "20261203140509123"  # created: YYYYMMDDHHMMSSFFF
    assert re.fullmatch(r"\d{4,7}", header[10]) and re.fullmatch(r"\d{1,5}", header[11])
    assert header[12] == "20260101"  # start of the financial year
    assert header[13] == "4"  # length of general ledger accounts
    assert (header[14], header[15]) == ("20260101", "20261231")  # bookings from / to
    assert header[16] == "SIDES 2026" and header[21] == "EUR"
    assert len(header) == 31


def test_every_row_has_as_many_fields_as_the_column_line() -> None:
    rows = _file([_booking(), _booking(999, debit=False), _booking(123456)])

    columns = rows[1]
    assert columns[:10] == [
        "Umsatz (ohne Soll/Haben-Kz)", "Soll/Haben-Kennzeichen", "WKZ Umsatz", "Kurs",
        "Basis-Umsatz", "WKZ Basis-Umsatz", "Konto", "Gegenkonto (ohne BU-Schlüssel)",
        "BU-Schlüssel", "Belegdatum",
    ]  # fmt: skip
    assert columns[10] == "Belegfeld 1" and columns[13] == "Buchungstext"
    assert all(len(row) == len(columns) for row in rows[2:])
    assert len(rows) == 2 + 3


def test_amounts_use_a_decimal_comma_without_sign_or_thousands() -> None:
    rows = _file([_booking(5831), _booking(123456), _booking(7), _booking(-2500, debit=False)])

    assert [row[0] for row in rows[2:]] == ["58,31", "1234,56", "0,07", "25,00"]
    assert [row[1] for row in rows[2:]] == ["S", "S", "S", "H"]
    assert all(re.fullmatch(r"\d+,\d{2}", row[0]) for row in rows[2:])


def test_document_date_is_day_and_month_and_the_number_goes_to_belegfeld_1() -> None:
    (row,) = _file([_booking(day=date(2026, 12, 4))])[2:]

    assert row[9] == "0412"  # TTMM
    assert row[10] == "RE-2026-000042"
    assert (row[6], row[7], row[8]) == ("4964", "70000", "9")
    assert row[2] == "EUR"


def test_umlauts_are_windows_1252_and_long_texts_are_cut_to_the_field_size() -> None:
    long_text = "Gebühr " * 20
    raw = datev.buchungsstapel(
        2026,
        CREATED,
        "Größe",
        [datev.Booking(100, True, "4964", "70000", "", date(2026, 1, 2), "X", long_text)],
    )

    assert "Größe".encode("cp1252") in raw
    (row,) = list(csv.reader(io.StringIO(raw.decode("cp1252"), newline=""), delimiter=";"))[2:]
    assert len(row[13]) == 60
