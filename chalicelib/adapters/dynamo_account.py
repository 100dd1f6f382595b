"""The owner's account in DynamoDB: each change of the store item is written in one
transaction with its activity entry; the activity log is read newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo_account_models import ActivityRecord, StoreAccountRecord
from chalicelib.adapters.dynamo_models import EmailClaimRecord, connection
from chalicelib.domain.account import ActivityEntry, PendingEmailChange
from chalicelib.domain.errors import ConflictError, EmailInUseError, StoreNotFoundError
from chalicelib.domain.stores import Address


def _record(entry: ActivityEntry) -> ActivityRecord:
    return ActivityRecord(
        store_id=entry.store_id,
        entry_key=entry.key,
        at=entry.at,
        type=entry.type,
        summary=entry.summary,
    )


def _entry(record: ActivityRecord) -> ActivityEntry:
    return ActivityEntry(
        store_id=record.store_id,
        at=record.at,
        type=record.type,
        summary=record.summary,
        key=record.entry_key,
    )


def _append(transaction: TransactWrite, entry: ActivityEntry) -> None:
    # Append-only: an entry is never overwritten.
    transaction.save(_record(entry), condition=ActivityRecord.entry_key.does_not_exist())


class DynamoActivityLog:
    """ActivityLog on its own table (store_id, entry_key)."""

    def append(self, entry: ActivityEntry) -> None:
        _record(entry).save(condition=ActivityRecord.entry_key.does_not_exist())

    def page(
        self, store_id: str, limit: int, after: str | None
    ) -> tuple[list[ActivityEntry], str | None]:
        kwargs: dict[str, Any] = {}
        if after is not None:
            kwargs["last_evaluated_key"] = {
                "store_id": {"S": store_id},
                "entry_key": {"S": after},
            }
        result = ActivityRecord.query(
            store_id, scan_index_forward=False, limit=limit, page_size=limit, **kwargs
        )
        items = [_entry(record) for record in result]
        last = result.last_evaluated_key
        return items, (str(last["entry_key"]["S"]) if last and len(items) == limit else None)


class DynamoAccountRepository:
    """AccountRepository: the account fields on the store item, with their activity."""

    def _write(self, store_id: str, actions: list[Any], entry: ActivityEntry | None) -> None:
        try:
            with TransactWrite(connection=connection()) as transaction:
                transaction.update(
                    StoreAccountRecord(store_id=store_id),
                    actions=actions,
                    condition=StoreAccountRecord.store_id.exists(),
                )
                if entry is not None:
                    _append(transaction, entry)
        except TransactWriteError as exc:
            raise StoreNotFoundError() from exc

    def save_details(
        self,
        store_id: str,
        address: Address,
        vat_id: str | None,
        accountant_email: str | None,
        entry: ActivityEntry,
    ) -> None:
        self._write(
            store_id,
            [
                StoreAccountRecord.address.set(
                    {
                        "street": address.street,
                        "postal_code": address.postal_code,
                        "city": address.city,
                        "country": address.country,
                    }
                ),
                StoreAccountRecord.vat_id.set(vat_id)
                if vat_id
                else StoreAccountRecord.vat_id.remove(),
                StoreAccountRecord.accountant_email.set(accountant_email)
                if accountant_email
                else StoreAccountRecord.accountant_email.remove(),
            ],
            entry,
        )

    def set_mfa(self, store_id: str, enabled: bool, entry: ActivityEntry) -> None:
        self._write(store_id, [StoreAccountRecord.mfa_enabled.set(enabled)], entry)

    def start_email_change(self, store_id: str, pending: PendingEmailChange) -> None:
        value = {
            "email": pending.email,
            "code_hash": pending.code_hash,
            "expires_at": pending.expires_at.isoformat(),
        }
        self._write(store_id, [StoreAccountRecord.email_change.set(value)], None)

    def pending_email_change(self, store_id: str) -> PendingEmailChange | None:
        try:
            record = StoreAccountRecord.get(
                store_id, consistent_read=True, attributes_to_get=["store_id", "email_change"]
            )
        except DoesNotExist:
            return None
        raw = record.email_change
        if not raw:
            return None
        data = raw.as_dict() if hasattr(raw, "as_dict") else dict(raw)  # type: ignore[no-untyped-call]
        return PendingEmailChange(
            email=str(data["email"]),
            code_hash=str(data["code_hash"]),
            expires_at=datetime.fromisoformat(str(data["expires_at"])),
        )

    def move_email(
        self, store_id: str, old_email: str, new_email: str, entry: ActivityEntry
    ) -> None:
        """Billing e-mail, the one-address-one-store claim and the activity entry in one
        transaction; only while the change is still pending for exactly this address."""
        try:
            with TransactWrite(connection=connection()) as transaction:
                transaction.update(
                    StoreAccountRecord(store_id=store_id),
                    actions=[
                        StoreAccountRecord.billing_email.set(new_email),
                        StoreAccountRecord.email_change.remove(),
                    ],
                    condition=(StoreAccountRecord.billing_email == old_email)
                    & (StoreAccountRecord.email_change["email"] == new_email),
                )
                transaction.save(
                    EmailClaimRecord(email=new_email, store_id=store_id),
                    condition=EmailClaimRecord.email.does_not_exist(),
                )
                transaction.delete(
                    EmailClaimRecord(email=old_email),
                    condition=EmailClaimRecord.store_id == store_id,
                )
                _append(transaction, entry)
        except TransactWriteError as exc:
            if self._claimed_by_other(new_email, store_id):
                raise EmailInUseError() from exc
            raise ConflictError() from exc

    def restore_email(self, store_id: str, new_email: str, old_email: str) -> None:
        """Undo move_email when the sign-in name could not follow (claim back, too)."""
        with TransactWrite(connection=connection()) as transaction:
            transaction.update(
                StoreAccountRecord(store_id=store_id),
                actions=[StoreAccountRecord.billing_email.set(old_email)],
                condition=StoreAccountRecord.billing_email == new_email,
            )
            transaction.save(
                EmailClaimRecord(email=old_email, store_id=store_id),
                condition=EmailClaimRecord.email.does_not_exist(),
            )
            transaction.delete(
                EmailClaimRecord(email=new_email),
                condition=EmailClaimRecord.store_id == store_id,
            )

    def email_taken(self, email: str, store_id: str) -> bool:
        return self._claimed_by_other(email, store_id)

    def _claimed_by_other(self, email: str, store_id: str) -> bool:
        try:
            return str(EmailClaimRecord.get(email, consistent_read=True).store_id) != store_id
        except DoesNotExist:
            return False

    def store_of_email(self, email: str) -> str | None:
        try:
            return str(EmailClaimRecord.get(email, consistent_read=True).store_id)
        except DoesNotExist:
            return None
