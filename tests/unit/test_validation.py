"""The input rules of domain.validation: e-mail, address, VAT ID, lines, totals, period."""

from __future__ import annotations

from decimal import Decimal

import pytest

from chalicelib.domain.stores import Address
from chalicelib.domain.validation import (
    FieldError,
    check_lines,
    check_store_fields,
    parse_line,
    validate_address,
    validate_email,
    validate_period,
    validate_postal_code,
    validate_vat_id,
)
from tests.fakes import make_line


@pytest.mark.parametrize(
    "email", ["inhaber@restaurant.de", "a.b+rechnung@sub.pizzeria-mario.example", " X@Y.DE "]
)
def test_one_plain_address_is_accepted(email):
    assert validate_email(email) is None


@pytest.mark.parametrize(
    "email",
    [
        "a@x.example, victim@y.example",
        "a@x.example;victim@y.example",
        "a@x.example victim@y.example",
        "Mario <a@x.example>",
        "a@x.example\r\nBcc: victim@y.example",
        "a@x.example\n",
        "a\u2028@x.example",
        "",
        "no-at-sign.example",
        "a@@x.example",
        "a@x",
        "a@-x.example",
        "a" * 250 + "@x.example",
    ],
)
def test_lists_display_names_control_characters_and_malformed_addresses_are_refused(email):
    assert validate_email(email) is not None


@pytest.mark.parametrize("code", ["10115", "01067", "99998"])
def test_german_postal_codes_have_five_digits(code):
    assert validate_postal_code(code, "DE") is None


@pytest.mark.parametrize("code", ["ABCDE", "1011", "101155", "00123", "", "1011 5"])
def test_anything_else_is_no_german_postal_code(code):
    assert "Postleitzahl" in (validate_postal_code(code, "DE") or "")


@pytest.mark.parametrize("code, country", [("8001", "CH"), ("SW1A 1AA", "GB"), ("75008", "FR")])
def test_other_countries_postal_codes_are_letters_digits_spaces_and_hyphens(code, country):
    assert validate_postal_code(code, country) is None


@pytest.mark.parametrize("code", ["<script>", "80-", " ", "1;2", "12345678901234"])
def test_markup_and_punctuation_are_no_postal_code_anywhere(code):
    assert "Postleitzahl" in (validate_postal_code(code, "CH") or "")


@pytest.mark.parametrize("country", ["XX", "ZZ", "EU", "UK"])
def test_a_country_code_must_name_a_country(country):
    problems = validate_address(Address("Hauptstr. 1", "8001", "Zürich", country))
    assert "ISO 3166" in problems["country"]


def test_real_country_codes_pass():
    assert validate_address(Address("Bahnhofstr. 1", "8001", "Zürich", "CH")) == {}


def test_austrian_postal_codes_have_four_digits():
    assert validate_postal_code("1010", "AT") is None
    assert validate_postal_code("10115", "AT") is not None


def test_an_address_needs_a_street_and_a_city():
    problems = validate_address(Address(street="  ", postal_code="ABCDE", city="", country="DE"))
    assert set(problems) == {"street", "postal_code", "city"}


@pytest.mark.parametrize("vat_id", ["DE123456788", "DE 123 456 788", "ATU13585627"])
def test_vat_ids_in_their_countrys_format_with_check_digit(vat_id):
    assert validate_vat_id(vat_id) is None


@pytest.mark.parametrize("vat_id", ["12345", "DE123456789", "DE12345678", "XX123456789", ""])
def test_malformed_vat_ids_are_refused(vat_id):
    assert validate_vat_id(vat_id) is not None


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("Lizenz;1;-5831;19", "Netto-Cent"),
        ("Lizenz;1;0;19", "Netto-Cent"),
        ("Lizenz;1;100000001;19", "Netto-Cent"),
        ("Lizenz;0;4900;19", "Menge"),
        ("Lizenz;10001;4900;19", "Menge"),
        ("Lizenz;1,5;4900;19", "Menge"),
        ("Lizenz;1;4900;16", "USt-Satz"),
        ("Lizenz;1;4900;abc", "USt-Satz"),
        (";1;4900;19", "Beschreibung"),
        ("x" * 201 + ";1;4900;19", "Beschreibung"),
        ("Lizenz\r\nBcc;1;4900;19", "Beschreibung"),
        ("Lizenz;1;4900", "--line"),
    ],
)
def test_each_part_of_a_line_is_checked_and_named(text, field):
    with pytest.raises(FieldError) as raised:
        parse_line(text)
    assert raised.value.field == field
    assert raised.value.code == "invalid_request"


def test_the_bounds_themselves_are_allowed():
    assert parse_line("Lizenz;10000;1;0").quantity == 10_000
    line = parse_line("Bondrucker;1;100000000;7,0")
    assert line.unit_net_cents == 100_000_000 and line.tax_rate_percent == Decimal(7)
    assert parse_line("x" * 200 + ";1;1;19").description == "x" * 200


def test_a_total_above_the_cap_is_refused():
    lines = [make_line(quantity=10_000, unit_net_cents=100_000_000)]  # 1.190.000.000,00 €
    with pytest.raises(FieldError) as raised:
        check_lines(lines, max_gross_cents=10_000_000)
    assert raised.value.field == "Rechnungsbetrag"
    check_lines([make_line(unit_net_cents=100)], max_gross_cents=119)


def test_the_allowed_rates_are_configurable():
    with pytest.raises(FieldError):
        parse_line("Lizenz;1;4900;7", allowed=(Decimal(19),))
    assert parse_line("Lizenz;1;4900;19", allowed=(Decimal(19),)).tax_rate_percent == 19


@pytest.mark.parametrize("period", ["2026-11", "2000-01", "2099-12"])
def test_existing_months_are_periods(period):
    assert validate_period(period) is None


@pytest.mark.parametrize("period", ["2026-13", "2026-00", "26-11", "2026/11", "1999-12", "x"])
def test_months_that_do_not_exist_are_refused(period):
    assert validate_period(period) is not None


def test_store_fields_name_the_first_mistake():
    with pytest.raises(FieldError) as raised:
        check_store_fields({"name": "A", "email": "a@x.example", "postal_code": "ABCDE"})
    assert raised.value.field == "Postleitzahl"
    with pytest.raises(FieldError) as raised:
        check_store_fields({"name": "\t", "email": "a@x.example"})
    assert raised.value.field == "Name"
