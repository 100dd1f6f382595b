"""Invitations: a secret link bound to one e-mail address, stored only as a hash."""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import secrets
from datetime import datetime


class InvitationStatus(enum.StrEnum):
    PENDING = "pending"
    ACCEPTING = "accepting"
    USED = "used"
    REVOKED = "revoked"


@dataclasses.dataclass(frozen=True)
class Invitation:
    token_hash: str
    store_id: str
    email: str
    created_at: datetime
    expires_at: datetime
    status: InvitationStatus


def new_token() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
