"""The password policy, as the Cognito pool enforces it."""

from __future__ import annotations

import pytest

from chalicelib.domain.errors import PasswordPolicyError
from chalicelib.domain.passwords import MAX_LENGTH, check_password, unmet_rules

LENGTH = "mindestens 12 Zeichen"
LOWER = "mindestens einen Kleinbuchstaben (a–z)"
UPPER = "mindestens einen Großbuchstaben (A–Z)"
DIGIT = "mindestens eine Ziffer (0–9)"


@pytest.mark.parametrize(
    ("password", "unmet"),
    [
        ("Sicheres-Passwort-2026", []),
        ("Abcdefghijk1", []),
        ("Abcdefghij1", [LENGTH]),
        ("abcdefghijk1", [UPPER]),
        ("ABCDEFGHIJK1", [LOWER]),
        ("Abcdefghijkl", [DIGIT]),
        ("", [LENGTH, LOWER, UPPER, DIGIT]),
        ("123456789012", [LOWER, UPPER]),
        # Cognito counts only basic Latin letters and digits: umlauts are allowed but do not
        # count, and neither do other scripts' digits
        ("Äöüßäöüßäöü1", [LOWER, UPPER]),
        ("Äöüßäöüßäöü1aA", []),
        ("Abcdefghijk٣", [DIGIT]),
    ],
)
def test_unmet_rules_names_each_rule_missing(password, unmet):
    assert unmet_rules(password) == unmet


def test_a_strong_password_passes():
    check_password("Sicheres-Passwort-2026")


def test_check_password_names_every_unmet_rule():
    with pytest.raises(PasswordPolicyError) as raised:
        check_password("kurz")

    message = str(raised.value)
    assert LENGTH in message and UPPER in message and DIGIT in message
    assert LOWER not in message


@pytest.mark.parametrize("password", [" Sicheres-Passwort-2026", "Sicheres-Passwort-2026 "])
def test_leading_or_trailing_spaces_are_refused(password):
    with pytest.raises(PasswordPolicyError, match="Leerzeichen"):
        check_password(password)


def test_a_too_long_password_is_refused():
    check_password("Aa1" + "x" * (MAX_LENGTH - 3))
    with pytest.raises(PasswordPolicyError, match=str(MAX_LENGTH)):
        check_password("Aa1" + "x" * (MAX_LENGTH - 2))


@pytest.mark.parametrize(
    "password",
    [
        "Sicheres-Pass\x00wort-2026",
        "Sicheres\nPasswort-2026",
        "Sicheres\tPasswort-2026",
        "Sicheres-\ud800Passwort-2026",
    ],
)
def test_control_characters_and_broken_unicode_are_refused_naming_the_rule(password):
    with pytest.raises(PasswordPolicyError, match="Steuerzeichen"):
        check_password(password)
