"""The owner's own account: activity entries, pending e-mail changes, MFA sign-in steps."""

from __future__ import annotations

import dataclasses
import secrets
from datetime import datetime

from chalicelib.domain.errors import InvalidRequestError


class InvalidAddressError(InvalidRequestError):
    code = "invalid_address"
    message = "Die Adresse ist ungültig."


class InvalidVatIdError(InvalidRequestError):
    code = "invalid_vat_id"
    message = "Die USt-IdNr. ist ungültig."


class InvalidEmailError(InvalidRequestError):
    code = "invalid_email"
    message = "Die E-Mail-Adresse ist ungültig."


@dataclasses.dataclass(frozen=True)
class MfaChallenge:
    """The password was right; sign-in continues with a one-time code in this session."""

    session: str


@dataclasses.dataclass(frozen=True)
class PendingEmailChange:
    email: str
    code_hash: str
    expires_at: datetime


# Activity types (the `type` of an entry); the summary is a German sentence.
SIGN_IN = "sign_in"
SIGN_IN_FAILED = "sign_in_failed"
PASSWORD_CHANGED = "password_changed"
EMAIL_CHANGED = "email_changed"
MFA_ENABLED = "mfa_enabled"
MFA_DISABLED = "mfa_disabled"
PROFILE_CHANGED = "profile_changed"
OPERATOR_CHANGED = "operator_changed"
MFA_RESET = "mfa_reset"

FIELD_NAMES = {
    "address": "Adresse",
    "vat_id": "USt-IdNr.",
    "accountant_email": "E-Mail für die Steuerberatung",
    "name": "Name",
    "email": "Rechnungs-E-Mail",
}


@dataclasses.dataclass(frozen=True)
class ActivityEntry:
    store_id: str
    at: datetime
    type: str
    summary: str
    # unique per entry and sortable by time: "<ISO time with microseconds>#<random>"
    key: str = ""

    def __post_init__(self) -> None:
        if not self.key:
            stamp = self.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            object.__setattr__(self, "key", f"{stamp}#{secrets.token_hex(4)}")


def fields_sentence(fields: list[str]) -> str:
    names = [FIELD_NAMES.get(f, f) for f in fields]
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " und " + names[-1]


def profile_changed(store_id: str, at: datetime, fields: list[str]) -> ActivityEntry:
    return ActivityEntry(store_id, at, PROFILE_CHANGED, f"{fields_sentence(fields)} geändert.")


def operator_changed(store_id: str, at: datetime, fields: list[str]) -> ActivityEntry:
    return ActivityEntry(
        store_id, at, OPERATOR_CHANGED, f"{fields_sentence(fields)} vom SIDES-Team geändert."
    )


class MfaRequired(Exception):  # noqa: N818 - a sign-in step, not a failure
    """Raised by the user directory when the password was right and a code must follow."""

    def __init__(self, session: str) -> None:
        super().__init__("a one-time code is required")
        self.session = session
