"""Use cases of signing in and out, with rate limits on guessable steps."""

from __future__ import annotations

import dataclasses

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
# Failures of one address from one client lock only that pair, so a stranger's guessing
# from elsewhere does not lock the owner out; a client guessing many addresses is
# stopped by the per-client limit.
PAIR_FAILURE_LIMIT = 5
CLIENT_FAILURE_LIMIT = 20
FORGOT_PER_ADDRESS = 5
FORGOT_PER_CLIENT = 20


@dataclasses.dataclass(frozen=True)
class AuthService:
    users: UserDirectory
    verifier: TokenVerifier
    memberships: MembershipRepository
    limiter: RateLimiter

    def _failure_keys(self, action: str, email: str, client_ip: str) -> list[tuple[str, int]]:
        return [
            (f"{action}:pair:{normalize_email(email)}|{client_ip}", PAIR_FAILURE_LIMIT),
            (f"{action}:client:{client_ip}", CLIENT_FAILURE_LIMIT),
        ]

    def _guarded(self, action: str, email: str, client_ip: str) -> list[tuple[str, int]]:
        keys = self._failure_keys(action, email, client_ip)
        if self.limiter.blocked(keys, WINDOW_S):
            raise RateLimitedError()
        return keys

    def login(self, email: str, password: str, client_ip: str) -> Tokens:
        keys = self._guarded("login", email, client_ip)
        try:
            return self.users.login(normalize_email(email), password)
        except InvalidCredentialsError:
            self.limiter.hit([key for key, _ in keys], WINDOW_S)
            raise

    def refresh(self, refresh_token: str) -> Tokens:
        return self.users.refresh(refresh_token)

    def authenticate(self, access_token: str) -> Principal:
        user_sub = self.verifier.verify(access_token)
        store_id = self.memberships.store_of(user_sub)
        if store_id is None:
            raise UnauthorizedError()
        return Principal(user_sub=user_sub, store_id=store_id, access_token=access_token)

    def logout(self, principal: Principal) -> None:
        self.users.logout(principal.access_token)

    def forgot_password(self, email: str, client_ip: str) -> None:
        keys = [
            (f"forgot:address:{normalize_email(email)}", FORGOT_PER_ADDRESS),
            (f"forgot:client:{client_ip}", FORGOT_PER_CLIENT),
        ]
        if self.limiter.blocked(keys, WINDOW_S):
            raise RateLimitedError()
        self.limiter.hit([key for key, _ in keys], WINDOW_S)
        self.users.forgot_password(normalize_email(email))

    def reset_password(self, email: str, code: str, password: str, client_ip: str) -> None:
        check_password(password)
        keys = self._guarded("reset", email, client_ip)
        try:
            self.users.reset_password(normalize_email(email), code, password)
        except InvalidCodeError:
            self.limiter.hit([key for key, _ in keys], WINDOW_S)
            raise
