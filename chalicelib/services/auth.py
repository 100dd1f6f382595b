"""Use cases of signing in and out, with rate limits on guessable steps.

Limits are kept per (e-mail, client address) pair and per client address, never per e-mail
alone: a stranger guessing from elsewhere cannot lock the owner out. Only a global safety
limit per e-mail is kept, high enough that it takes many addresses (a distributed attack)
to reach it.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable

from chalicelib.domain.errors import (
    InvalidCodeError,
    InvalidCredentialsError,
    RateLimitedError,
    UnauthorizedError,
)
from chalicelib.domain.passwords import check_password
from chalicelib.domain.stores import normalize_email
from chalicelib.services.ports import (
    MembershipRepository,
    Principal,
    RateLimiter,
    Tokens,
    TokenVerifier,
    UserDirectory,
)

WINDOW_S = 15 * 60
# Failures of one address from one client lock only that pair; a client guessing many
# addresses is stopped by the per-client limit.
PAIR_FAILURE_LIMIT = 5
CLIENT_FAILURE_LIMIT = 20
# The global safety limit per e-mail (failures in 15 minutes, from all clients together):
# with 5 per pair it takes at least 20 client addresses to reach it, so it stops only a
# distributed attack, at most 400 guesses an hour against one account.
EMAIL_FAILURE_LIMIT = 100
FORGOT_PER_PAIR = 5
FORGOT_PER_CLIENT = 20
# Reset codes mailed to one address in 15 minutes: at least 10 client addresses to reach.
FORGOT_PER_EMAIL = 50


def limit_keys(
    action: str, email: str, client_ip: str, pair: int, client: int, per_email: int
) -> list[tuple[str, int]]:
    """The rate-limit keys of one guessable step: pair, client and the global e-mail limit."""
    address = normalize_email(email)
    return [
        (f"{action}:pair:{address}|{client_ip}", pair),
        (f"{action}:client:{client_ip}", client),
        (f"{action}:email:{address}", per_email),
    ]


@dataclasses.dataclass(frozen=True)
class AuthService:
    users: UserDirectory
    verifier: TokenVerifier
    memberships: MembershipRepository
    limiter: RateLimiter
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep

    def _guarded(self, action: str, email: str, client_ip: str) -> list[tuple[str, int]]:
        keys = limit_keys(
            action, email, client_ip, PAIR_FAILURE_LIMIT, CLIENT_FAILURE_LIMIT, EMAIL_FAILURE_LIMIT
        )
        if self.limiter.blocked(keys, WINDOW_S):
            raise RateLimitedError()
        return keys

    def failed(self, keys: list[tuple[str, int]]) -> None:
        self.limiter.hit([key for key, _ in keys], WINDOW_S)

    def guard(self, action: str, email: str, client_ip: str) -> list[tuple[str, int]]:
        """For other guessable steps (MFA codes): raise if limited; pass the keys to failed()."""
        return self._guarded(action, email, client_ip)

    def login(self, email: str, password: str, client_ip: str) -> Tokens:
        keys = self._guarded("login", email, client_ip)
        try:
            return self.users.login(normalize_email(email), password)
        except InvalidCredentialsError:
            self.failed(keys)
            raise

    def refresh(self, refresh_token: str) -> Tokens:
        return self.users.refresh(refresh_token)

    def authenticate(self, access_token: str) -> Principal:
        user_sub = self.verifier.verify(access_token)
        member = self.memberships.member(user_sub)  # the one membership read
        if member is None:
            raise UnauthorizedError()
        if member.signed_out_at is not None and (
            self.verifier.issued_at(access_token) < member.signed_out_at
        ):
            raise UnauthorizedError()  # signed out since this token was issued
        return Principal(user_sub=user_sub, store_id=member.store_id, access_token=access_token)

    def logout(self, principal: Principal) -> None:
        """Ends this token and every other token of the user issued so far.

        Tokens carry their issue time in whole seconds, so the cut-off is the next full
        second: every token issued until now (this second included) is refused. The answer
        waits for that second to begin, so a sign-in after it gets a token that counts.
        """
        cutoff = math.floor(self.clock()) + 1
        self.memberships.sign_out(principal.user_sub, cutoff)
        self.users.logout(principal.access_token)  # revokes the refresh tokens
        wait = cutoff - self.clock()
        if wait > 0:
            self.sleep(wait)

    def forgot_password(self, email: str, client_ip: str) -> None:
        keys = limit_keys(
            "forgot", email, client_ip, FORGOT_PER_PAIR, FORGOT_PER_CLIENT, FORGOT_PER_EMAIL
        )
        if self.limiter.blocked(keys, WINDOW_S):
            raise RateLimitedError()
        self.failed(keys)  # every request counts: each one sends a mail
        self.users.forgot_password(normalize_email(email))

    def reset_password(self, email: str, code: str, password: str, client_ip: str) -> None:
        check_password(password)
        keys = self._guarded("reset", email, client_ip)
        try:
            self.users.reset_password(normalize_email(email), code, password)
        except InvalidCodeError:
            self.failed(keys)
            raise
