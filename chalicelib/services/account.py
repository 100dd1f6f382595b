"""Use cases of the owner's own account: billing data, the accountant's address, a new
sign-in e-mail (confirmed by a code), and sign-in with a one-time code (TOTP)."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
import urllib.parse
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Protocol

from chalicelib.domain import account
from chalicelib.domain.account import (
    ActivityEntry,
    InvalidAddressError,
    InvalidEmailError,
    InvalidVatIdError,
    PendingEmailChange,
)
from chalicelib.domain.errors import EmailInUseError, InvalidCodeError, RateLimitedError
from chalicelib.domain.stores import Address, Store, normalize_email
from chalicelib.domain.validation import (
    normalize_vat_id,
    validate_address,
    validate_email,
    validate_vat_id,
)
from chalicelib.services import emails
from chalicelib.services.activity import ActivityLog
from chalicelib.services.ports import (
    Clock,
    Mailer,
    Principal,
    RateLimiter,
    StoreRepository,
)

EMAIL_CODE_VALID = timedelta(minutes=30)
CODE_WINDOW_S = 15 * 60
CODE_FAILURES = 5  # wrong codes per store in 15 minutes before the step is locked
ISSUER = "SIDES Kundenportal"
UNSET: Any = object()
ADDRESS_LABELS = {
    "street": "Straße",
    "postal_code": "Postleitzahl",
    "city": "Ort",
    "country": "Land",
}


class AccountRepository(Protocol):
    def save_details(
        self,
        store_id: str,
        address: Address,
        vat_id: str | None,
        accountant_email: str | None,
        entry: ActivityEntry,
    ) -> None:
        """Address, VAT ID and accountant e-mail with the activity entry, in one write."""

    def set_mfa(self, store_id: str, enabled: bool, entry: ActivityEntry) -> None: ...

    def start_email_change(self, store_id: str, pending: PendingEmailChange) -> None: ...

    def pending_email_change(self, store_id: str) -> PendingEmailChange | None: ...

    def move_email(
        self, store_id: str, old_email: str, new_email: str, entry: ActivityEntry
    ) -> None:
        """Billing e-mail and claim move with the entry in one transaction, only while the
        change to new_email is pending; EmailInUseError if another store holds it."""

    def restore_email(self, store_id: str, new_email: str, old_email: str) -> None: ...

    def email_taken(self, email: str, store_id: str) -> bool: ...

    def store_of_email(self, email: str) -> str | None: ...


class AccountDirectory(Protocol):
    """The identity provider's account calls (Cognito)."""

    def change_email(self, old_email: str, new_email: str) -> None:
        """Make new_email the user's (verified) sign-in name; EmailInUseError if taken."""

    def mfa_secret(self, access_token: str) -> str:
        """Start a software-token association; the base32 secret."""

    def mfa_enable(self, access_token: str, code: str) -> None:
        """Confirm the association with a code and make TOTP the sign-in's second step."""

    def mfa_disable(self, access_token: str, code: str) -> None: ...

    def reset_mfa(self, email: str) -> None:
        """The operator's reset: sign-in with the password alone again."""


@dataclasses.dataclass(frozen=True)
class MfaSetup:
    secret: str
    otpauth_uri: str
    qr_svg: str


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def _address(current: Address, given: Mapping[str, Any]) -> Address:
    unknown = set(given) - set(ADDRESS_LABELS)
    if unknown:
        raise InvalidAddressError(f"Unbekanntes Feld der Adresse: {sorted(unknown)[0]}.")
    values: dict[str, str] = {}
    for key in ADDRESS_LABELS:
        value = given.get(key, getattr(current, key))
        if not isinstance(value, str):
            raise InvalidAddressError(f"{ADDRESS_LABELS[key]}: muss ein Text sein.")
        values[key] = value.strip().upper() if key == "country" else value.strip()
    address = Address(**values)
    problems = validate_address(address)
    if problems:
        key = next(k for k in ("street", "postal_code", "city", "country") if k in problems)
        raise InvalidAddressError(f"{ADDRESS_LABELS[key]}: {problems[key]}.")
    return address


def _vat_id(value: Any) -> str | None:
    if value is None or not str(value).strip():
        return None
    if error := validate_vat_id(str(value)):
        raise InvalidVatIdError(f"USt-IdNr.: {error}.")
    return normalize_vat_id(str(value))


def _accountant(value: Any) -> str | None:
    if value is None or not str(value).strip():
        return None
    if error := validate_email(str(value)):
        raise InvalidEmailError(f"E-Mail für die Steuerberatung: {error}.")
    return normalize_email(str(value))


def otpauth_uri(secret: str, email: str) -> str:
    label = urllib.parse.quote(f"{ISSUER}:{email}")
    query = urllib.parse.urlencode({"secret": secret, "issuer": ISSUER, "digits": 6, "period": 30})
    return f"otpauth://totp/{label}?{query}"


def qr_svg(uri: str) -> str:
    """A standalone SVG document (with its namespace, so it also works as an image)."""
    import io

    import segno  # only the setup step needs it

    out = io.BytesIO()
    segno.make(uri, error="m").save(
        out, kind="svg", xmldecl=False, svgns=True, scale=4, border=4, title="QR-Code", light="#fff"
    )
    return out.getvalue().decode("utf-8")


@dataclasses.dataclass(frozen=True)
class AccountService:
    stores: StoreRepository
    accounts: AccountRepository
    activity: ActivityLog
    users: AccountDirectory
    mailer: Mailer
    limiter: RateLimiter
    clock: Clock

    def _store(self, store_id: str) -> Store:
        from chalicelib.domain.errors import StoreNotFoundError

        store = self.stores.get(store_id)
        if store is None:
            raise StoreNotFoundError()
        return store

    # --- billing data -----------------------------------------------------------------

    def update_profile(
        self,
        store_id: str,
        address: Mapping[str, Any] | None = None,
        vat_id: Any = UNSET,
        accountant_email: Any = UNSET,
    ) -> Store:
        """Later documents use the new data; issued ones keep theirs (they copy it)."""
        store = self._store(store_id)
        new_address = store.address if address is None else _address(store.address, address)
        new_vat = store.vat_id if vat_id is UNSET else _vat_id(vat_id)
        new_accountant = (
            store.accountant_email if accountant_email is UNSET else _accountant(accountant_email)
        )
        changed = [
            name
            for name, before, after in (
                ("address", store.address, new_address),
                ("vat_id", store.vat_id, new_vat),
                ("accountant_email", store.accountant_email, new_accountant),
            )
            if before != after
        ]
        if changed:
            entry = account.profile_changed(store_id, self.clock.now(), changed)
            self.accounts.save_details(store_id, new_address, new_vat, new_accountant, entry)
        return self._store(store_id)

    # --- e-mail -----------------------------------------------------------------------

    def request_email_change(self, store_id: str, new_email: str) -> None:
        if error := validate_email(new_email):
            raise InvalidEmailError(f"Neue E-Mail-Adresse: {error}.")
        address = normalize_email(new_email)
        store = self._store(store_id)
        if address == store.billing_email:
            raise InvalidEmailError("Das ist schon deine E-Mail-Adresse.")
        if self.accounts.email_taken(address, store_id):
            raise EmailInUseError()
        keys = [(f"email-change:send:{store_id}", CODE_FAILURES)]
        if self.limiter.blocked(keys, CODE_WINDOW_S):
            raise RateLimitedError()
        self.limiter.hit([key for key, _ in keys], CODE_WINDOW_S)
        code = f"{secrets.randbelow(1_000_000):06d}"
        pending = PendingEmailChange(
            email=address, code_hash=_hash(code), expires_at=self.clock.now() + EMAIL_CODE_VALID
        )
        self.accounts.start_email_change(store_id, pending)
        self.mailer.send(emails.email_change_code_mail(address, code))

    def confirm_email_change(self, store_id: str, code: str) -> Store:
        keys = [(f"email-change:code:{store_id}", CODE_FAILURES)]
        if self.limiter.blocked(keys, CODE_WINDOW_S):
            raise RateLimitedError()
        pending = self.accounts.pending_email_change(store_id)
        now = self.clock.now()
        if (
            pending is None
            or pending.expires_at < now
            or not hmac.compare_digest(pending.code_hash, _hash(code.strip()))
        ):
            self.limiter.hit([key for key, _ in keys], CODE_WINDOW_S)
            raise InvalidCodeError()
        store = self._store(store_id)
        old = store.billing_email
        entry = ActivityEntry(
            store_id,
            now,
            account.EMAIL_CHANGED,
            f"E-Mail-Adresse von {old} auf {pending.email} geändert.",
        )
        # The claim decides a race between two stores; the sign-in name follows it, and
        # goes back if the identity provider refuses.
        self.accounts.move_email(store_id, old, pending.email, entry)
        try:
            self.users.change_email(old, pending.email)
        except Exception:
            self.accounts.restore_email(store_id, pending.email, old)
            raise
        self.mailer.send(emails.email_changed_notice_mail(old, pending.email))
        return self._store(store_id)

    # --- one-time codes (TOTP) --------------------------------------------------------

    def mfa_setup(self, principal: Principal) -> MfaSetup:
        store = self._store(principal.store_id)
        secret = self.users.mfa_secret(principal.access_token)
        uri = otpauth_uri(secret, store.billing_email)
        return MfaSetup(secret=secret, otpauth_uri=uri, qr_svg=qr_svg(uri))

    def _code_step(self, principal: Principal) -> list[tuple[str, int]]:
        keys = [(f"mfa-code:{principal.user_sub}", CODE_FAILURES)]
        if self.limiter.blocked(keys, CODE_WINDOW_S):
            raise RateLimitedError()
        return keys

    def mfa_verify(self, principal: Principal, code: str) -> Store:
        keys = self._code_step(principal)
        try:
            self.users.mfa_enable(principal.access_token, code.strip())
        except InvalidCodeError:
            self.limiter.hit([key for key, _ in keys], CODE_WINDOW_S)
            raise
        entry = ActivityEntry(
            principal.store_id,
            self.clock.now(),
            account.MFA_ENABLED,
            "Anmeldung mit Einmalcode (Zwei-Faktor) eingeschaltet.",
        )
        self.accounts.set_mfa(principal.store_id, True, entry)
        return self._store(principal.store_id)

    def mfa_disable(self, principal: Principal, code: str) -> Store:
        keys = self._code_step(principal)
        try:
            self.users.mfa_disable(principal.access_token, code.strip())
        except InvalidCodeError:
            self.limiter.hit([key for key, _ in keys], CODE_WINDOW_S)
            raise
        entry = ActivityEntry(
            principal.store_id,
            self.clock.now(),
            account.MFA_DISABLED,
            "Anmeldung mit Einmalcode (Zwei-Faktor) ausgeschaltet.",
        )
        self.accounts.set_mfa(principal.store_id, False, entry)
        return self._store(principal.store_id)

    # --- the operator (portal stores update / reset-mfa) ---------------------------------

    def operator_changed(self, before: Store, after: Store) -> None:
        """After `portal stores update`: the sign-in name follows a new billing e-mail (as
        the owner's own change does), the old address is told, and the log says it."""
        changed = [
            name
            for name, old, new in (
                ("name", before.name, after.name),
                ("address", before.address, after.address),
                ("vat_id", before.vat_id, after.vat_id),
                ("email", before.billing_email, after.billing_email),
            )
            if old != new
        ]
        if not changed:
            return
        if "email" in changed:
            self.users.change_email(before.billing_email, after.billing_email)
            self.mailer.send(
                emails.email_changed_notice_mail(before.billing_email, after.billing_email)
            )
        self.activity.append(account.operator_changed(after.id, self.clock.now(), changed))

    def reset_mfa(self, store_id: str) -> Store:
        store = self._store(store_id)
        self.users.reset_mfa(store.billing_email)
        entry = ActivityEntry(
            store_id,
            self.clock.now(),
            account.MFA_RESET,
            "Anmeldung mit Einmalcode vom SIDES-Team zurückgesetzt (ausgeschaltet).",
        )
        self.accounts.set_mfa(store_id, False, entry)
        return self._store(store_id)
