"""Logout ends every earlier token; rate limits never let a stranger lock the owner out."""

from __future__ import annotations

import dataclasses

import pytest

from chalicelib.domain.errors import InvalidCredentialsError, RateLimitedError, UnauthorizedError
from chalicelib.services.auth import EMAIL_FAILURE_LIMIT, PAIR_FAILURE_LIMIT
from tests.fakes import make_container

EMAIL = "chef@bellavista.example"
PASSWORD = "Sicheres-Passwort-2026"
OWNER_IP = "198.51.100.7"


class Time:
    def __init__(self, now: float) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture()
def c():
    container = make_container()
    sub = container.users.create_user(EMAIL, PASSWORD)
    container.memberships.add(sub, "st_1", EMAIL)
    return container


def _auth(c, time: Time):
    return dataclasses.replace(c.auth, clock=time, sleep=time.sleep)


def test_logout_refuses_every_token_issued_before_it_and_accepts_later_ones(c):
    time = Time(1_800_000_000.25)
    auth = _auth(c, time)
    c.verifier.now = 1_800_000_000  # issued in the very second of the logout
    kept = auth.login(EMAIL, PASSWORD, OWNER_IP)
    other = auth.login(EMAIL, PASSWORD, OWNER_IP)

    auth.logout(auth.authenticate(other.access_token))

    for token in (kept.access_token, other.access_token):
        with pytest.raises(UnauthorizedError):
            auth.authenticate(token)
    # the answer waited until the next second began, so a new sign-in counts
    assert time.slept == [pytest.approx(0.75)]
    c.verifier.now = int(time.now)
    fresh = auth.login(EMAIL, PASSWORD, OWNER_IP)
    assert auth.authenticate(fresh.access_token).store_id == "st_1"


def test_the_sign_out_time_lives_on_the_membership(c):
    time = Time(1_800_000_123.5)
    auth = _auth(c, time)
    tokens = auth.login(EMAIL, PASSWORD, OWNER_IP)
    principal = auth.authenticate(tokens.access_token)

    auth.logout(principal)

    assert c.memberships.member(principal.user_sub).signed_out_at == 1_800_000_124


def test_failures_from_many_clients_never_lock_the_owners_pair(c):
    # strangers on many addresses, each up to its pair limit, but under the global limit
    for n in range((EMAIL_FAILURE_LIMIT - 1) // PAIR_FAILURE_LIMIT):
        for _ in range(PAIR_FAILURE_LIMIT):
            with pytest.raises(InvalidCredentialsError):
                c.auth.login(EMAIL, "Falsches-Passwort-1", f"10.9.{n}.1")

    assert c.auth.login(EMAIL, PASSWORD, OWNER_IP)


def test_the_global_limit_per_email_is_reached_only_from_many_clients(c):
    clients = EMAIL_FAILURE_LIMIT // PAIR_FAILURE_LIMIT
    assert clients >= 20
    for n in range(clients):
        for _ in range(PAIR_FAILURE_LIMIT):
            with pytest.raises(InvalidCredentialsError):
                c.auth.login(EMAIL, "Falsches-Passwort-1", f"10.8.{n}.1")

    with pytest.raises(RateLimitedError):
        c.auth.login(EMAIL, PASSWORD, OWNER_IP)
