"""PynamoDB records of the owner's account: the account fields on the store item, and the
activity log's own table."""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    MapAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.models import Model

from chalicelib.adapters.dynamo_models import StoreRecord
from chalicelib.config import get_settings

_settings = get_settings()


class StoreAccountRecord(StoreRecord):
    """The store item with the owner's account fields (the same table and item as
    StoreRecord, so the profile stays one read)."""

    accountant_email = UnicodeAttribute(null=True)
    mfa_enabled = BooleanAttribute(null=True)
    # a pending change of the billing e-mail: {"email", "code_hash", "expires_at"}
    email_change: MapAttribute[str, Any] = MapAttribute(null=True)  # type: ignore[no-untyped-call]


class ActivityRecord(Model):
    """The owner's activity log: append-only, newest first by `entry_key`."""

    class Meta:
        table_name = _settings.table("activity")
        region = _settings.region

    store_id = UnicodeAttribute(hash_key=True)
    # "<ISO time, microseconds, UTC>#<random>": sorts by time, unique per entry
    entry_key = UnicodeAttribute(range_key=True)
    at = UTCDateTimeAttribute()
    type = UnicodeAttribute()
    summary = UnicodeAttribute()
