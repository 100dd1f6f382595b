"""The password policy, mirrored from the Cognito pool so the page can name the unmet rule."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

from chalicelib.domain.errors import PasswordPolicyError

MIN_LENGTH = 12
MAX_LENGTH = 256

# Cognito counts only the basic Latin letters and digits towards these rules (ä, Ä or ٣
# are allowed in a password but do not count), so the rules here count exactly those.
_RULES: tuple[tuple[Callable[[str], bool], str], ...] = (
    (lambda p: len(p) >= MIN_LENGTH, f"mindestens {MIN_LENGTH} Zeichen"),
    (lambda p: any("a" <= c <= "z" for c in p), "mindestens einen Kleinbuchstaben (a–z)"),
    (lambda p: any("A" <= c <= "Z" for c in p), "mindestens einen Großbuchstaben (A–Z)"),
    (lambda p: any("0" <= c <= "9" for c in p), "mindestens eine Ziffer (0–9)"),
)
CONTROL_RULE = (
    "Das Passwort darf keine Steuerzeichen (z. B. Zeilenumbrüche oder Tabulatoren) und nur "
    "gültige Unicode-Zeichen enthalten."
)


def _has_control_characters(password: str) -> bool:
    return any(
        unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") or c in "\u2028\u2029" for c in password
    )


def unmet_rules(password: str) -> list[str]:
    return [text for check, text in _RULES if not check(password)]


def check_password(password: str) -> None:
    if len(password) > MAX_LENGTH:
        raise PasswordPolicyError(f"Das Passwort darf höchstens {MAX_LENGTH} Zeichen lang sein.")
    if _has_control_characters(password):
        raise PasswordPolicyError(CONTROL_RULE)
    if password != password.strip():
        raise PasswordPolicyError(
            "Das Passwort darf nicht mit einem Leerzeichen beginnen oder enden."
        )
    missing = unmet_rules(password)
    if missing:
        raise PasswordPolicyError("Das Passwort braucht " + " und ".join(missing) + ".")
