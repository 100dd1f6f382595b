"""Use cases of signing in and out, with rate limits on guessable steps.

Limits are kept per (e-mail, client address) pair and per client address, never per e-mail
alone: a stranger guessing from elsewhere cannot lock the owner out. Only a global safety
limit per e-mail is kept, high enough that it takes many addresses (a distributed attack)
to reach it.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from chalicelib.domain.account import (
    PASSWORD_CHANGED,
    SIGN_IN,
    SIGN_IN_FAILED,
    ActivityEntry,
    MfaChallenge,
    MfaRequired,
)
from chalicelib.domain.errors import (
    InvalidCodeError,
    InvalidCredentialsError,
    RateLimitedError,
    UnauthorizedError,
)
from chalicelib.domain.passwords import check_password
from chalicelib.domain.stores import normalize_email
from chalicelib.services.activity import ActivityLog
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


class SignInDirectory(UserDirectory, Protocol):
    def login_mfa(self, session: str, code: str) -> Tokens:
        """Second sign-in step; InvalidCredentialsError for a wrong or used code."""

    def change_password(self, access_token: str, current: str, new: str) -> None:
        """InvalidCredentialsError if `current` is wrong."""


class EmailOwners(Protocol):
    def store_of_email(self, email: str) -> str | None: ...


def session_parts(session: str) -> tuple[str | None, str]:
    """The sign-in name inside an MFA session (see adapters.cognito), if readable, and a
    fingerprint of Cognito's own session in it. The name is the client's to change; the
    session is not (Cognito refuses a changed one), so the guessing limit is bound to it."""
    try:
        data = json.loads(base64.urlsafe_b64decode(session + "=" * (-len(session) % 4)))
    except (ValueError, TypeError):
        data = None
    email = data.get("u") if isinstance(data, dict) else None
    inner = data.get("s") if isinstance(data, dict) else None
    bound = inner if isinstance(inner, str) else session
    fingerprint = hashlib.sha256(bound.encode("utf-8", "replace")).hexdigest()[:32]
    return (email if isinstance(email, str) and len(email) <= 254 else None), fingerprint


@dataclasses.dataclass(frozen=True)
class AuthService:
    users: SignInDirectory
    verifier: TokenVerifier
    memberships: MembershipRepository
    limiter: RateLimiter
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    activity: ActivityLog | None = None
    accounts: EmailOwners | None = None

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

    def login(self, email: str, password: str, client_ip: str) -> Tokens | MfaChallenge:
        """Tokens, or with MFA on a challenge whose session login_mfa continues."""
        keys = self._guarded("login", email, client_ip)
        address = normalize_email(email)
        try:
            tokens = self.users.login(address, password)
        except MfaRequired as step:
            return MfaChallenge(step.session)
        except InvalidCredentialsError:
            self.failed(keys)
            self._record(
                address, SIGN_IN_FAILED, "Fehlgeschlagener Anmeldeversuch (falsches Passwort)."
            )
            raise
        self._record(address, SIGN_IN, "Anmeldung im Kundenportal.")
        return tokens

    def login_mfa(self, session: str, code: str, client_ip: str) -> Tokens:
        """The second step with a one-time code; limited per client like the password."""
        address, fingerprint = session_parts(session)
        keys = limit_keys(
            "login-mfa",
            address or "",
            client_ip,
            PAIR_FAILURE_LIMIT,
            CLIENT_FAILURE_LIMIT,
            EMAIL_FAILURE_LIMIT,
        )
        # however the name in it is spelled, one session gets as many guesses as one pair
        keys.append((f"login-mfa:session:{fingerprint}", PAIR_FAILURE_LIMIT))
        if self.limiter.blocked(keys, WINDOW_S):
            raise RateLimitedError()
        try:
            tokens = self.users.login_mfa(session, code)
        except InvalidCredentialsError:
            self.failed(keys)
            if address:
                self._record(
                    address,
                    SIGN_IN_FAILED,
                    "Fehlgeschlagener Anmeldeversuch (falscher Einmalcode).",
                )
            raise
        if address:
            self._record(address, SIGN_IN, "Anmeldung im Kundenportal mit Einmalcode.")
        return tokens

    def change_password(self, principal: Principal, current: str, new: str, client_ip: str) -> None:
        """Needs the current password; then every session ends, as with logout."""
        check_password(new)
        keys = [(f"change-password:{principal.user_sub}", PAIR_FAILURE_LIMIT)]
        if self.limiter.blocked(keys, WINDOW_S):
            raise RateLimitedError()
        try:
            self.users.change_password(principal.access_token, current, new)
        except InvalidCredentialsError:
            self.failed(keys)
            raise
        if self.activity is not None:
            self.activity.append(
                ActivityEntry(
                    principal.store_id,
                    self._now(),
                    PASSWORD_CHANGED,
                    "Passwort geändert; alle Sitzungen wurden beendet.",
                )
            )
        self.logout(principal)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def _record(self, email: str, kind: str, summary: str) -> None:
        """Sign-ins (and failed ones) of an account, right after the attempt; unknown
        addresses leave no trace."""
        if self.activity is None or self.accounts is None:
            return
        store_id = self.accounts.store_of_email(email)
        if store_id is not None:
            self.activity.append(ActivityEntry(store_id, self._now(), kind, summary))

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
