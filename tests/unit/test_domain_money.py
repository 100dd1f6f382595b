"""Integer-cent money: VAT rounded half-up, German notation."""

from __future__ import annotations

from decimal import Decimal

import pytest

from chalicelib.domain.money import format_eur, vat_cents


@pytest.mark.parametrize(
    ("cents", "text"),
    [
        (123456, "1.234,56 €"),
        (0, "0,00 €"),
        (5, "0,05 €"),
        (4900, "49,00 €"),
        (100000000, "1.000.000,00 €"),
        (-123456, "-1.234,56 €"),
        (-5, "-0,05 €"),
    ],
)
def test_format_eur_uses_german_notation(cents, text):
    assert format_eur(cents) == text


@pytest.mark.parametrize(
    ("net", "rate", "vat"),
    [
        (1050, 7, 74),  # 73,5 → 74
        (50, 7, 4),  # 3,5 → 4 (banker's rounding would give 4 too)
        (150, 7, 11),  # 10,5 → 11 (banker's rounding would give 10)
        (4900, 19, 931),
        (1, 19, 0),  # 0,19 → 0
        (3, 19, 1),  # 0,57 → 1
        (0, 19, 0),
        (1000, "7.5", 75),
    ],
)
def test_vat_is_rounded_half_up_to_the_cent(net, rate, vat):
    assert vat_cents(net, Decimal(rate)) == vat


def test_vat_is_an_int():
    assert type(vat_cents(1050, Decimal(7))) is int
