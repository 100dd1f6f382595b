"""PynamoDB records of every table; table names come from the settings on first import."""

from __future__ import annotations

import functools
from typing import Any

from pynamodb import settings as pynamodb_settings
from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.connection import Connection, TableConnection
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib.adapters.timeouts import CONNECT_TIMEOUT_S, MAX_ATTEMPTS, READ_TIMEOUT_S
from chalicelib.config import get_settings

_settings = get_settings()

# Bounded waits for every table (adapters/timeouts.py); set before any model is defined,
# as PynamoDB copies its defaults into each model's Meta when the class is created.
pynamodb_settings.default_settings_dict.update(
    connect_timeout_seconds=CONNECT_TIMEOUT_S,
    read_timeout_seconds=READ_TIMEOUT_S,
    max_retry_attempts=MAX_ATTEMPTS - 1,
)


@functools.lru_cache(maxsize=1)
def connection() -> Connection:
    # One connection (and so one botocore client) per container: building a client costs
    # far more than the transaction it carries.
    return Connection(
        region=_settings.region,
        connect_timeout_seconds=CONNECT_TIMEOUT_S,
        read_timeout_seconds=READ_TIMEOUT_S,
        max_retry_attempts=MAX_ATTEMPTS - 1,
    )


class _Record(Model):
    """A model whose table talks through the one shared connection: PynamoDB would build a
    botocore session and client per model (≈ 70–100 ms each on a cold container); here
    every table, and every transaction, shares the one client of `connection()`."""

    @classmethod
    def _get_connection(cls) -> TableConnection:
        table = super()._get_connection()
        shared = connection()
        if table.connection is not shared:
            meta = table.connection.get_meta_table(table.table_name)
            if table.table_name not in shared._tables:
                shared.add_meta_table(meta)
            table.connection = shared
        return table


class StoreRecord(_Record):
    class Meta:
        table_name = _settings.table("stores")
        region = _settings.region

    store_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    billing_email = UnicodeAttribute()
    vat_id = UnicodeAttribute(null=True)
    leitweg_id = UnicodeAttribute(null=True)  # BT-10 of the store's e-invoices
    address: MapAttribute[str, Any] = MapAttribute()
    monthly_fee_cents = NumberAttribute()
    account_status = UnicodeAttribute(default="active")
    blocked_since = UTCDateTimeAttribute(null=True)
    # invoice_id -> {"gross_cents", "due_date"}: the unsettled invoices, kept in the same
    # transaction as every invoice change so a profile read needs no invoice query.
    open_items: MapAttribute[str, Any] = MapAttribute(default=dict)
    autopay = BooleanAttribute(default=False)
    invitation_hash = UnicodeAttribute(null=True)
    stripe_customer_id = UnicodeAttribute(null=True)
    # {"id", "brand", "last4", "exp_month", "exp_year"} of the saved card
    payment_method: MapAttribute[str, Any] = MapAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    closed_at = UTCDateTimeAttribute(null=True)


class EmailClaimRecord(_Record):
    class Meta:
        table_name = _settings.table("email_claims")
        region = _settings.region

    email = UnicodeAttribute(hash_key=True)
    store_id = UnicodeAttribute()


class UserRecord(_Record):
    class Meta:
        table_name = _settings.table("users")
        region = _settings.region

    user_sub = UnicodeAttribute(hash_key=True)
    store_id = UnicodeAttribute()
    email = UnicodeAttribute()
    # epoch seconds of the last sign-out: tokens issued before it are refused
    signed_out_at = NumberAttribute(null=True)


class InvitationRecord(_Record):
    class Meta:
        table_name = _settings.table("invitations")
        region = _settings.region

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


class InvoiceRecord(_Record):
    class Meta:
        table_name = _settings.table("invoices")
        region = _settings.region

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
    # The range key of both list indexes, written once the invoice's files are stored: an
    # invoice is listed (sparse indexes) only when the owner may see it.
    list_key = UnicodeAttribute(null=True)
    # False from the commit until its PDF (and XML) are stored; absent on invoices written
    # before files were rendered after the commit (those were stored before it).
    ready = BooleanAttribute(null=True)
    # Until when the issuer that committed it (or took it over) renders its files, and who
    # that is (an issuer whose commit answer was lost knows its own invoice by it).
    render_until = UTCDateTimeAttribute(null=True)
    render_owner = UnicodeAttribute(null=True)
    paid_at = UTCDateTimeAttribute(null=True)
    active_payment_id = UnicodeAttribute(null=True)
    paid_by = UnicodeAttribute(null=True)
    # payment_id -> summary of each payment of this invoice (see dynamo_payments._summary)
    payment_log: MapAttribute[str, Any] = MapAttribute(default=dict)
    # document_id -> summary of each document issued for this invoice (receipts, corrections)
    documents: MapAttribute[str, Any] = MapAttribute(default=dict)
    credited_cents = NumberAttribute(null=True)  # gross of its credit notes
    credit_refunded_cents = NumberAttribute(null=True)  # money those credit notes gave back
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    by_store = ByStoreIndex()
    by_store_status = ByStoreStatusIndex()
    by_period = ByPeriodIndex()


class CounterRecord(_Record):
    class Meta:
        table_name = _settings.table("counters")
        region = _settings.region

    counter_id = UnicodeAttribute(hash_key=True)
    value = NumberAttribute()


class SupportRequestRecord(_Record):
    class Meta:
        table_name = _settings.table("support_requests")
        region = _settings.region

    request_id = UnicodeAttribute(hash_key=True)
    store_id = UnicodeAttribute()
    subject = UnicodeAttribute()
    message = UnicodeAttribute()
    invoice_id = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()


class RateLimitRecord(_Record):
    class Meta:
        table_name = _settings.table("rate_limits")
        region = _settings.region

    limit_key = UnicodeAttribute(hash_key=True)
    hits = NumberAttribute(default=0)
    expires_at = NumberAttribute()


class ByInvoiceIndex(GlobalSecondaryIndex["PaymentRecord"]):
    class Meta:
        index_name = "by_invoice"
        projection = AllProjection()

    invoice_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class PaymentRecord(_Record):
    class Meta:
        table_name = _settings.table("payments")
        region = _settings.region

    payment_id = UnicodeAttribute(hash_key=True)
    invoice_id = UnicodeAttribute()
    store_id = UnicodeAttribute()
    provider = UnicodeAttribute()
    method = UnicodeAttribute()
    kind = UnicodeAttribute()
    amount_cents = NumberAttribute()
    currency = UnicodeAttribute()
    status = UnicodeAttribute()
    provider_ref = UnicodeAttribute(null=True)
    approve_url = UnicodeAttribute(null=True)
    failure_code = UnicodeAttribute(null=True)
    notified = BooleanAttribute(default=False)  # the "paid" follow-ups ran
    refund_notified = BooleanAttribute(null=True)  # the "refunded" follow-ups ran
    follow_up_until = NumberAttribute(null=True)  # lease (epoch s) on sending follow-ups
    save_card = BooleanAttribute(default=False)
    # every invoice this payment settles (absent on payments of one invoice written before)
    invoice_ids = ListAttribute(of=UnicodeAttribute, null=True)
    refund_due = BooleanAttribute(null=True)
    claimed_at = UnicodeAttribute(null=True)  # when the right to move money was last taken
    # ISO text so the by_invoice index sorts by time
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    by_invoice = ByInvoiceIndex()


class DocumentRecord(_Record):
    class Meta:
        table_name = _settings.table("documents")
        region = _settings.region

    document_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()
    number = UnicodeAttribute()
    store_id = UnicodeAttribute()
    issue_date = UnicodeAttribute()
    gross_cents = NumberAttribute()
    currency = UnicodeAttribute()
    # [{"invoice_id", "number"}] of the invoices it belongs to
    refers_to = ListAttribute(of=MapAttribute)
    payment_id = UnicodeAttribute(null=True)
    ready = BooleanAttribute(default=False)
    created_at = UTCDateTimeAttribute()
    # corrections: their lines (sign reversed), the reason and the corrected invoice's date
    lines = ListAttribute(of=InvoiceLineMap, null=True)
    reason = UnicodeAttribute(null=True)
    refers_to_date = UnicodeAttribute(null=True)
    # a credit note's refund: {"payment_id", "amount_cents", "status"}
    refund: MapAttribute[str, Any] = MapAttribute(null=True)
    refund_owed = BooleanAttribute(null=True)


class ProcessedEventRecord(_Record):
    class Meta:
        table_name = _settings.table("processed_events")
        region = _settings.region

    event_id = UnicodeAttribute(hash_key=True)
    processed_at = UTCDateTimeAttribute()
    expires_at = NumberAttribute()
