"""Stores (balances, e-mail normalisation) and invitation tokens."""

from __future__ import annotations

import hashlib
import re
from datetime import date

from chalicelib.domain.invitations import hash_token, new_token
from chalicelib.domain.stores import OpenItem, normalize_email
from tests.fakes import make_store


def test_normalize_email_trims_and_lowercases():
    assert normalize_email("  Chef@BellaVista.Example \n") == "chef@bellavista.example"


def test_balances_sum_open_items_and_overdue_ones():
    store = make_store(
        open_items=(
            OpenItem("inv_1", 5831, date(2026, 3, 1)),
            OpenItem("inv_2", 1190, date(2026, 3, 20)),
        )
    )

    assert store.open_balance_cents() == 7021
    assert store.overdue_balance_cents(date(2026, 3, 1)) == 0
    assert store.overdue_balance_cents(date(2026, 3, 2)) == 5831
    assert store.overdue_balance_cents(date(2026, 4, 1)) == 7021


def test_tokens_carry_256_bits_and_are_url_safe():
    tokens = {new_token() for _ in range(100)}

    assert len(tokens) == 100
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", token) for token in tokens)


def test_the_hash_is_sha256_hex():
    assert hash_token("abc") == hashlib.sha256(b"abc").hexdigest()
    assert hash_token("abc") != hash_token("abd")
