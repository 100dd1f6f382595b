"""PynamoDB records of every table; table names come from the settings on first import."""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.connection import Connection
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib.config import get_settings

_settings = get_settings()


def _meta(table: str) -> type:
    class Meta:
        table_name = _settings.table(table)
        region = _settings.region

    return Meta


def connection() -> Connection:
    return Connection(region=_settings.region)


class StoreRecord(Model):
    Meta = _meta("stores")
    store_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    billing_email = UnicodeAttribute()
    vat_id = UnicodeAttribute(null=True)
    address: MapAttribute[str, Any] = MapAttribute()
    monthly_fee_cents = NumberAttribute()
    account_status = UnicodeAttribute(default="active")
    blocked_since = UTCDateTimeAttribute(null=True)
    # invoice_id -> {"gross_cents", "due_date"}: the unsettled invoices, kept in the same
    # transaction as every invoice change so a profile read needs no invoice query.
    open_items: MapAttribute[str, Any] = MapAttribute(default=dict)
    autopay = BooleanAttribute(default=False)
    invitation_hash = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    closed_at = UTCDateTimeAttribute(null=True)


class EmailClaimRecord(Model):
    Meta = _meta("email_claims")
    email = UnicodeAttribute(hash_key=True)
    store_id = UnicodeAttribute()


class UserRecord(Model):
    Meta = _meta("users")
    user_sub = UnicodeAttribute(hash_key=True)
    store_id = UnicodeAttribute()
    email = UnicodeAttribute()


class InvitationRecord(Model):
    Meta = _meta("invitations")
    token_hash = UnicodeAttribute(hash_key=True)
    store_id = UnicodeAttribute()
    email = UnicodeAttribute()
    status = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    expires_at = UTCDateTimeAttribute()
    lease_until = UTCDateTimeAttribute(null=True)
    used_at = UTCDateTimeAttribute(null=True)
    purge_at = NumberAttribute()


class ByStoreIndex(GlobalSecondaryIndex["InvoiceRecord"]):
    class Meta:
        index_name = "by_store"
        projection = AllProjection()

    store_id = UnicodeAttribute(hash_key=True)
    list_key = UnicodeAttribute(range_key=True)


class ByStoreStatusIndex(GlobalSecondaryIndex["InvoiceRecord"]):
    class Meta:
        index_name = "by_store_status"
        projection = AllProjection()

    store_status = UnicodeAttribute(hash_key=True)
    list_key = UnicodeAttribute(range_key=True)


class ByPeriodIndex(GlobalSecondaryIndex["InvoiceRecord"]):
    class Meta:
        index_name = "by_period"
        projection = KeysOnlyProjection()

    period = UnicodeAttribute(hash_key=True)
    store_id = UnicodeAttribute(range_key=True)


class InvoiceLineMap(MapAttribute[str, Any]):
    description = UnicodeAttribute()
    quantity = NumberAttribute()
    unit_net_cents = NumberAttribute()
    tax_rate_percent = UnicodeAttribute()


class InvoiceRecord(Model):
    Meta = _meta("invoices")
    invoice_id = UnicodeAttribute(hash_key=True)
    store_id = UnicodeAttribute()
    number = UnicodeAttribute()
    issue_date = UnicodeAttribute()
    due_date = UnicodeAttribute()
    period = UnicodeAttribute(null=True)
    description = UnicodeAttribute()
    lines = ListAttribute(of=InvoiceLineMap)
    net_cents = NumberAttribute()
    tax_cents = NumberAttribute()
    gross_cents = NumberAttribute()
    currency = UnicodeAttribute()
    status = UnicodeAttribute()
    store_status = UnicodeAttribute()
    list_key = UnicodeAttribute()
    paid_at = UTCDateTimeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    by_store = ByStoreIndex()
    by_store_status = ByStoreStatusIndex()
    by_period = ByPeriodIndex()


class CounterRecord(Model):
    Meta = _meta("counters")
    counter_id = UnicodeAttribute(hash_key=True)
    value = NumberAttribute()


class SupportRequestRecord(Model):
    Meta = _meta("support_requests")
    request_id = UnicodeAttribute(hash_key=True)
    store_id = UnicodeAttribute()
    subject = UnicodeAttribute()
    message = UnicodeAttribute()
    invoice_id = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()


class RateLimitRecord(Model):
    Meta = _meta("rate_limits")
    limit_key = UnicodeAttribute(hash_key=True)
    hits = NumberAttribute(default=0)
    expires_at = NumberAttribute()
