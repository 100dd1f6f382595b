"""Integer-cent arithmetic: VAT per line, rounded half-up to the cent."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CURRENCY = "EUR"


def vat_cents(net_cents: int, rate_percent: Decimal) -> int:
    """VAT of one line in cents, rounded half-up (never banker's rounding)."""
    exact = Decimal(net_cents) * rate_percent / Decimal(100)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def format_eur(cents: int) -> str:
    """German notation: 1.234,56 €."""
    sign = "-" if cents < 0 else ""
    euros, rest = divmod(abs(cents), 100)
    grouped = f"{euros:,}".replace(",", ".")
    return f"{sign}{grouped},{rest:02d} €"
