"""Sign-in codes (MFA) are limited like passwords: per e-mail and client pair and per client,
never per e-mail alone, so a stranger guessing codes never locks the owner out."""

from __future__ import annotations

import base64
import json

import pytest

from chalicelib.domain.errors import InvalidCredentialsError, RateLimitedError
from chalicelib.services.auth import PAIR_FAILURE_LIMIT, AuthService
from tests.fakes import FakeRateLimiter, FakeVerifier


class WrongCodes:
    """A directory where every code is wrong but the owner's own."""

    def __init__(self) -> None:
        self.calls = 0

    def login_mfa(self, session: str, code: str):
        self.calls += 1
        if code != "246810":
            raise InvalidCredentialsError()
        return "tokens"


def session_for(email: str, cognito_session: str = "cognito-session-of-the-attacker") -> str:
    raw = json.dumps({"u": email, "s": cognito_session}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_guessing_codes_is_limited_per_client_without_locking_the_owner_out() -> None:
    directory = WrongCodes()
    auth = AuthService(directory, FakeVerifier(), None, FakeRateLimiter())  # type: ignore[arg-type]
    session = session_for("owner@pizzeria.example")
    for _ in range(PAIR_FAILURE_LIMIT):
        with pytest.raises(InvalidCredentialsError):
            auth.login_mfa(session, "000000", "203.0.113.7")

    with pytest.raises(RateLimitedError):
        auth.login_mfa(session, "000000", "203.0.113.7")
    assert directory.calls == PAIR_FAILURE_LIMIT  # the limited try never reached Cognito
    # the owner, signing in at their own till (a session of their own), still gets in
    own = session_for("owner@pizzeria.example", "cognito-session-of-the-owner")
    assert auth.login_mfa(own, "246810", "198.51.100.20") == "tokens"


def test_respelling_the_name_in_a_session_buys_no_further_guesses() -> None:
    directory = WrongCodes()
    auth = AuthService(directory, FakeVerifier(), None, FakeRateLimiter())  # type: ignore[arg-type]
    for n in range(PAIR_FAILURE_LIMIT):
        with pytest.raises(InvalidCredentialsError):
            auth.login_mfa(session_for(f"x{n}@example.org"), "000000", "203.0.113.7")

    with pytest.raises(RateLimitedError):
        auth.login_mfa(session_for("x99@example.org"), "000000", "203.0.113.7")
    assert directory.calls == PAIR_FAILURE_LIMIT
