"""AuthService on fakes: sign in, rate limits, forgotten passwords, authentication."""

from __future__ import annotations

import pytest

from chalicelib.domain.errors import (
    InvalidCodeError,
    InvalidCredentialsError,
    PasswordPolicyError,
    RateLimitedError,
    UnauthorizedError,
)
from tests.fakes import make_container

EMAIL = "chef@bellavista.example"
PASSWORD = "Sicheres-Passwort-2026"
NEW_PASSWORD = "Neues-Passwort-2027"
OWNER_IP = "198.51.100.7"
ATTACKER_IP = "203.0.113.9"


@pytest.fixture()
def c():
    container = make_container()
    sub = container.users.create_user(EMAIL, PASSWORD)
    container.memberships.add(sub, "st_1", EMAIL)
    return container


def _fail_login(c, email=EMAIL, client_ip=ATTACKER_IP, times=1):
    for _ in range(times):
        with pytest.raises(InvalidCredentialsError):
            c.auth.login(email, "Falsches-Passwort-1", client_ip)


# login ----------------------------------------------------------------------------------


def test_login_with_the_right_password_returns_tokens_of_the_store(c):
    # When the owner signs in
    tokens = c.auth.login(EMAIL, PASSWORD, OWNER_IP)

    # Then the access token authenticates them for their store
    principal = c.auth.authenticate(tokens.access_token)
    assert principal.store_id == "st_1"
    assert principal.user_sub == c.users.sub_of(EMAIL)
    assert tokens.refresh_token and tokens.expires_in > 0


def test_login_normalises_the_address(c):
    tokens = c.auth.login("  Chef@BellaVista.Example ", PASSWORD, OWNER_IP)

    assert c.auth.authenticate(tokens.access_token).store_id == "st_1"
    assert c.users.logins == [EMAIL]


def test_a_wrong_password_is_refused_and_counted(c):
    # When someone signs in with a wrong password
    _fail_login(c)

    # Then the failure counts against the address from that client, against the client and
    # against the address's global safety limit
    assert c.limiter.counts == {
        f"login:pair:{EMAIL}|{ATTACKER_IP}": 1,
        f"login:client:{ATTACKER_IP}": 1,
        f"login:email:{EMAIL}": 1,
    }


def test_unknown_address_and_wrong_password_give_one_answer(c):
    with pytest.raises(InvalidCredentialsError) as unknown:
        c.auth.login("niemand@example.org", PASSWORD, OWNER_IP)
    with pytest.raises(InvalidCredentialsError) as wrong:
        c.auth.login(EMAIL, "Falsches-Passwort-1", OWNER_IP)

    assert str(unknown.value) == str(wrong.value)


def test_a_successful_login_is_not_counted(c):
    c.auth.login(EMAIL, PASSWORD, OWNER_IP)

    assert c.limiter.counts == {}


def test_five_failures_lock_the_address_for_that_client_even_with_the_right_password(c):
    # Given five failures for one address from one client
    _fail_login(c, times=5)

    # When that client tries the right password
    with pytest.raises(RateLimitedError):
        c.auth.login(EMAIL, PASSWORD, ATTACKER_IP)

    # Then the directory was not even asked the sixth time
    assert c.users.logins.count(EMAIL) == 5


def test_four_failures_do_not_lock(c):
    _fail_login(c, times=4)

    assert c.auth.login(EMAIL, PASSWORD, ATTACKER_IP)


def test_a_strangers_failures_do_not_lock_the_owner_out(c):
    # Given a stranger who failed five times for the owner's address
    _fail_login(c, client_ip=ATTACKER_IP, times=5)

    # When the owner signs in from their own client
    tokens = c.auth.login(EMAIL, PASSWORD, OWNER_IP)

    # Then it works
    assert c.auth.authenticate(tokens.access_token).store_id == "st_1"


def test_twenty_failures_from_one_client_across_addresses_block_it(c):
    # Given a client that guessed 20 different addresses (each under the pair limit)
    for n in range(20):
        _fail_login(c, email=f"guess{n}@example.org")

    # When it tries any address, even a right password
    with pytest.raises(RateLimitedError):
        c.auth.login(EMAIL, PASSWORD, ATTACKER_IP)
    with pytest.raises(RateLimitedError):
        c.auth.login("fresh@example.org", PASSWORD, ATTACKER_IP)

    # Then other clients are not affected
    assert c.auth.login(EMAIL, PASSWORD, OWNER_IP)


def test_the_lock_counts_the_address_in_any_case(c):
    for variant in (
        "chef@bellavista.example",
        "CHEF@bellavista.example",
        " Chef@BellaVista.Example",
    ):
        _fail_login(c, email=variant)
    _fail_login(c, email="Chef@bellavista.EXAMPLE", times=2)

    with pytest.raises(RateLimitedError):
        c.auth.login(EMAIL, PASSWORD, ATTACKER_IP)


# refresh and logout ---------------------------------------------------------------------


def test_refresh_returns_a_new_access_token(c):
    tokens = c.auth.login(EMAIL, PASSWORD, OWNER_IP)

    refreshed = c.auth.refresh(tokens.refresh_token)

    assert refreshed.access_token != tokens.access_token
    assert c.auth.authenticate(refreshed.access_token).store_id == "st_1"


def test_logout_ends_the_access_token(c):
    tokens = c.auth.login(EMAIL, PASSWORD, OWNER_IP)
    principal = c.auth.authenticate(tokens.access_token)

    c.auth.logout(principal)

    with pytest.raises(UnauthorizedError):
        c.auth.authenticate(tokens.access_token)


# authenticate ---------------------------------------------------------------------------


def test_authenticate_takes_the_store_from_the_membership(c):
    # Given a user whose token is valid but who has a membership to st_1 only
    token = c.verifier.issue(c.users.sub_of(EMAIL))

    principal = c.auth.authenticate(token)

    assert (principal.store_id, principal.access_token) == ("st_1", token)


def test_a_user_without_membership_is_unauthorized(c):
    # Given a valid token of a user without a membership
    token = c.verifier.issue("sub-without-store")

    # When it is used
    with pytest.raises(UnauthorizedError):
        c.auth.authenticate(token)


def test_an_invalid_token_is_unauthorized(c):
    with pytest.raises(UnauthorizedError):
        c.auth.authenticate("forged-token")


# forgot and reset -----------------------------------------------------------------------


def test_forgot_password_sends_a_code_to_a_known_address(c):
    c.auth.forgot_password(" Chef@BellaVista.Example", OWNER_IP)

    assert EMAIL in c.users.codes
    assert c.users.forgot_requests == [EMAIL]


def test_forgot_password_is_silent_for_unknown_addresses(c):
    # When a code is asked for an address nobody has
    result = c.auth.forgot_password("niemand@example.org", OWNER_IP)

    # Then it looks exactly like success, and no code exists
    assert result is None
    assert c.users.codes == {}


def test_forgot_password_is_limited_per_address_and_client(c):
    # Given five requests for one address from one client
    for _ in range(5):
        c.auth.forgot_password(EMAIL, ATTACKER_IP)

    # When a sixth comes from that client
    with pytest.raises(RateLimitedError):
        c.auth.forgot_password(EMAIL, ATTACKER_IP)

    # Then the directory was asked five times only, and the owner can still ask for a code
    assert len(c.users.forgot_requests) == 5
    c.auth.forgot_password(EMAIL, OWNER_IP)
    assert len(c.users.forgot_requests) == 6


def test_strangers_on_many_clients_cannot_block_the_owners_reset(c):
    # Given strangers asking for the owner's code from many addresses, up to their limits
    for n in range(9):
        for _ in range(5):
            c.auth.forgot_password(EMAIL, f"10.0.{n}.1")

    # When the owner asks from their own client
    c.auth.forgot_password(EMAIL, OWNER_IP)

    # Then it goes through
    assert c.users.forgot_requests[-1] == EMAIL


def test_the_global_limit_per_address_stops_a_distributed_attack(c):
    from chalicelib.services.auth import FORGOT_PER_EMAIL

    for n in range(FORGOT_PER_EMAIL):
        c.auth.forgot_password(EMAIL, f"10.1.{n}.1")

    with pytest.raises(RateLimitedError):
        c.auth.forgot_password(EMAIL, "10.2.0.1")


def test_forgot_password_is_limited_per_client(c):
    for n in range(20):
        c.auth.forgot_password(f"someone{n}@example.org", ATTACKER_IP)

    with pytest.raises(RateLimitedError):
        c.auth.forgot_password("fresh@example.org", ATTACKER_IP)


def test_forgot_password_for_unknown_addresses_is_limited_the_same_way(c):
    for _ in range(5):
        c.auth.forgot_password("niemand@example.org", OWNER_IP)

    with pytest.raises(RateLimitedError):
        c.auth.forgot_password("niemand@example.org", OWNER_IP)


def test_reset_with_the_right_code_sets_the_new_password(c):
    # Given a code was sent
    c.auth.forgot_password(EMAIL, OWNER_IP)
    code = c.users.codes[EMAIL]

    # When the owner resets with it
    c.auth.reset_password(EMAIL, code, NEW_PASSWORD, OWNER_IP)

    # Then only the new password works, and the code is spent
    assert c.auth.login(EMAIL, NEW_PASSWORD, OWNER_IP)
    with pytest.raises(InvalidCredentialsError):
        c.auth.login(EMAIL, PASSWORD, OWNER_IP)
    with pytest.raises(InvalidCodeError):
        c.auth.reset_password(EMAIL, code, "Noch-ein-Passwort-3", OWNER_IP)


def test_reset_with_a_wrong_code_is_refused_and_counted(c):
    c.auth.forgot_password(EMAIL, OWNER_IP)

    with pytest.raises(InvalidCodeError):
        c.auth.reset_password(EMAIL, "000000", NEW_PASSWORD, ATTACKER_IP)

    assert c.limiter.counts[f"reset:pair:{EMAIL}|{ATTACKER_IP}"] == 1
    assert c.auth.login(EMAIL, PASSWORD, OWNER_IP)


def test_reset_is_locked_after_five_wrong_codes(c):
    c.auth.forgot_password(EMAIL, OWNER_IP)
    code = c.users.codes[EMAIL]
    for n in range(5):
        with pytest.raises(InvalidCodeError):
            c.auth.reset_password(EMAIL, f"99999{n}", NEW_PASSWORD, ATTACKER_IP)

    with pytest.raises(RateLimitedError):
        c.auth.reset_password(EMAIL, code, NEW_PASSWORD, ATTACKER_IP)


def test_reset_with_a_weak_password_is_refused_before_the_code_is_tried(c):
    c.auth.forgot_password(EMAIL, OWNER_IP)
    code = c.users.codes[EMAIL]

    with pytest.raises(PasswordPolicyError):
        c.auth.reset_password(EMAIL, code, "zu-schwach", OWNER_IP)

    # the code is still valid
    assert c.users.codes[EMAIL] == code
    c.auth.reset_password(EMAIL, code, NEW_PASSWORD, OWNER_IP)
