"""Fakes of the owner's account ports (part of tests/fakes.py's container): the account
fields and e-mail move, the activity log, and a user directory with TOTP sign-in."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid

import pyotp

from chalicelib.domain.account import ActivityEntry, MfaRequired, PendingEmailChange
from chalicelib.domain.errors import (
    ConflictError,
    EmailInUseError,
    InvalidCodeError,
    InvalidCredentialsError,
    StoreNotFoundError,
)
from chalicelib.domain.passwords import check_password
from chalicelib.domain.stores import Address
from chalicelib.services.ports import Tokens
from tests.fakes import FakeStores, FakeUserDirectory


class FakeActivityLog:
    """ActivityLog: entries per store, newest first by key; an entry is never replaced."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.entries: dict[str, dict[str, ActivityEntry]] = {}

    def append(self, entry: ActivityEntry) -> None:
        with self._lock:
            log = self.entries.setdefault(entry.store_id, {})
            if entry.key in log:
                raise ConflictError()
            log[entry.key] = entry

    def page(
        self, store_id: str, limit: int, after: str | None
    ) -> tuple[list[ActivityEntry], str | None]:
        keys = sorted(self.entries.get(store_id, {}), reverse=True)
        if after is not None:
            keys = [key for key in keys if key < after]
        chosen = keys[:limit]
        items = [self.entries[store_id][key] for key in chosen]
        more = len(keys) > limit
        return items, (chosen[-1] if more and chosen else None)

    def of(self, store_id: str) -> list[ActivityEntry]:
        return [
            self.entries.get(store_id, {})[k]
            for k in sorted(self.entries.get(store_id, {}), reverse=True)
        ]


class FakeAccounts:
    """AccountRepository on FakeStores: each change and its entry land together."""

    def __init__(self, stores: FakeStores, activity: FakeActivityLog) -> None:
        self.stores = stores
        self.activity = activity
        self.pending: dict[str, PendingEmailChange] = {}

    def _replace(self, store_id: str, entry: ActivityEntry | None, **fields: object) -> None:
        with self.stores._lock:
            store = self.stores.stores.get(store_id)
            if store is None:
                raise StoreNotFoundError()
            if entry is not None:
                self.activity.append(entry)
            self.stores.stores[store_id] = dataclasses.replace(store, **fields)  # type: ignore[arg-type]

    def save_details(
        self,
        store_id: str,
        address: Address,
        vat_id: str | None,
        accountant_email: str | None,
        entry: ActivityEntry,
    ) -> None:
        self._replace(
            store_id, entry, address=address, vat_id=vat_id, accountant_email=accountant_email
        )

    def set_mfa(self, store_id: str, enabled: bool, entry: ActivityEntry) -> None:
        self._replace(store_id, entry, mfa_enabled=enabled)

    def start_email_change(self, store_id: str, pending: PendingEmailChange) -> None:
        if store_id not in self.stores.stores:
            raise StoreNotFoundError()
        self.pending[store_id] = pending

    def pending_email_change(self, store_id: str) -> PendingEmailChange | None:
        return self.pending.get(store_id)

    def move_email(
        self, store_id: str, old_email: str, new_email: str, entry: ActivityEntry
    ) -> None:
        with self.stores._lock:
            store = self.stores.stores.get(store_id)
            pending = self.pending.get(store_id)
            if new_email in self.stores.claims:
                if self.stores.claims[new_email] != store_id:
                    raise EmailInUseError()
                raise ConflictError()
            if store is None or store.billing_email != old_email or pending is None:
                raise ConflictError()
            if pending.email != new_email:
                raise ConflictError()
            del self.stores.claims[old_email]
            self.stores.claims[new_email] = store_id
            self.stores.stores[store_id] = dataclasses.replace(store, billing_email=new_email)
            del self.pending[store_id]
            self.activity.append(entry)

    def restore_email(self, store_id: str, new_email: str, old_email: str) -> None:
        with self.stores._lock:
            store = self.stores.stores[store_id]
            del self.stores.claims[new_email]
            self.stores.claims[old_email] = store_id
            self.stores.stores[store_id] = dataclasses.replace(store, billing_email=old_email)

    def email_taken(self, email: str, store_id: str) -> bool:
        owner = self.stores.claims.get(email)
        return owner is not None and owner != store_id

    def store_of_email(self, email: str) -> str | None:
        return self.stores.claims.get(email)


class FakeAccountUsers(FakeUserDirectory):
    """FakeUserDirectory with what Cognito does for the owner's account: password change,
    a new sign-in name, and TOTP as second step (own secret per user, each code once)."""

    def __init__(self, verifier: object = None) -> None:
        super().__init__(verifier)  # type: ignore[arg-type]
        self.totp: dict[str, str] = {}  # sub -> active secret
        self.pending_totp: dict[str, str] = {}
        self.used_steps: dict[str, set[int]] = {}
        self.sessions: dict[str, str] = {}  # session -> e-mail
        self.email_changes: list[tuple[str, str]] = []

    def _email_of_token(self, access_token: str) -> str:
        sub = self.verifier.verify(access_token)
        return next(email for email, (s, _) in self.users.items() if s == sub)

    def login(self, email: str, password: str) -> Tokens:
        user = self.users.get(email)
        if user is not None and user[1] == password and user[0] in self.totp:
            self.logins.append(email)
            session = uuid.uuid4().hex
            self.sessions[session] = email
            raise MfaRequired(session)
        return super().login(email, password)

    def _code_ok(self, sub: str, secret: str, code: str) -> bool:
        totp = pyotp.TOTP(secret)
        step = int(time.time()) // 30
        used = self.used_steps.setdefault(sub, set())
        for candidate in (step - 1, step, step + 1):
            if totp.verify(code, for_time=candidate * 30) and candidate not in used:
                used.add(candidate)
                return True
        return False

    def login_mfa(self, session: str, code: str) -> Tokens:
        email = self.sessions.pop(session, None)
        if email is None:
            raise InvalidCredentialsError()
        sub = self.users[email][0]
        if not self._code_ok(sub, self.totp[sub], code):
            raise InvalidCredentialsError()
        return self._tokens(sub)

    def change_password(self, access_token: str, current: str, new: str) -> None:
        email = self._email_of_token(access_token)
        sub, password = self.users[email]
        if password != current:
            raise InvalidCredentialsError()
        check_password(new)
        self.users[email] = (sub, new)

    def change_email(self, old_email: str, new_email: str) -> None:
        if new_email in self.users:
            raise EmailInUseError()
        if old_email not in self.users:
            return  # like the adapter: a store whose owner has not signed up yet
        self.users[new_email] = self.users.pop(old_email)
        self.email_changes.append((old_email, new_email))

    def mfa_secret(self, access_token: str) -> str:
        sub = self.verifier.verify(access_token)
        secret = pyotp.random_base32()
        self.pending_totp[sub] = secret
        return secret

    def mfa_enable(self, access_token: str, code: str) -> None:
        sub = self.verifier.verify(access_token)
        secret = self.pending_totp.get(sub)
        if secret is None or not self._code_ok(sub, secret, code):
            raise InvalidCodeError()
        self.totp[sub] = self.pending_totp.pop(sub)

    def mfa_disable(self, access_token: str, code: str) -> None:
        sub = self.verifier.verify(access_token)
        secret = self.totp.get(sub)
        if secret is None or not self._code_ok(sub, secret, code):
            raise InvalidCodeError()
        del self.totp[sub]

    def reset_mfa(self, email: str) -> None:
        if email in self.users:
            self.totp.pop(self.users[email][0], None)
