"""The password policy, mirrored from the Cognito pool so the page can name the unmet rule."""

from __future__ import annotations

from collections.abc import Callable

from chalicelib.domain.errors import PasswordPolicyError

MIN_LENGTH = 12
MAX_LENGTH = 256

_RULES: tuple[tuple[Callable[[str], bool], str], ...] = (
    (lambda p: len(p) >= MIN_LENGTH, f"mindestens {MIN_LENGTH} Zeichen"),
    (lambda p: any(c.islower() for c in p), "mindestens einen Kleinbuchstaben"),
    (lambda p: any(c.isupper() for c in p), "mindestens einen Großbuchstaben"),
    (lambda p: any(c.isdigit() for c in p), "mindestens eine Ziffer"),
)


def unmet_rules(password: str) -> list[str]:
    return [text for check, text in _RULES if not check(password)]


def check_password(password: str) -> None:
    if len(password) > MAX_LENGTH:
        raise PasswordPolicyError(f"Das Passwort darf höchstens {MAX_LENGTH} Zeichen lang sein.")
    if password != password.strip():
        raise PasswordPolicyError(
            "Das Passwort darf nicht mit einem Leerzeichen beginnen oder enden."
        )
    missing = unmet_rules(password)
    if missing:
        raise PasswordPolicyError("Das Passwort braucht " + " und ".join(missing) + ".")
