"""Stores, their unique e-mail claims and user memberships in DynamoDB."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo_account_models import StoreAccountRecord
from chalicelib.adapters.dynamo_models import (
    EmailClaimRecord,
    StoreRecord,
    UserRecord,
    connection,
)
from chalicelib.domain.errors import ConflictError, EmailInUseError
from chalicelib.domain.stores import Address, OpenItem, SavedCard, Store
from chalicelib.services.ports import Member


def _open_item(key: str, value: dict[str, Any]) -> OpenItem:
    retry_on = value.get("retry_on")
    return OpenItem(
        invoice_id=key,
        gross_cents=int(value["gross_cents"]),
        due_date=date.fromisoformat(value["due_date"]),
        attempts=int(value.get("attempts", 0)),
        retry_on=date.fromisoformat(retry_on) if retry_on else None,
        reminded=int(value.get("reminded", 0)),
        mailed=bool(value.get("mailed", False)),
    )


def _open_items(raw: dict[str, Any]) -> tuple[OpenItem, ...]:
    items = (_open_item(key, value) for key, value in raw.items())
    return tuple(sorted(items, key=lambda item: (item.due_date, item.invoice_id)))


def _saved_card(raw: Any) -> SavedCard | None:
    if not raw:
        return None
    data = raw.as_dict() if hasattr(raw, "as_dict") else dict(raw)
    return SavedCard(
        id=data["id"],
        brand=data["brand"],
        last4=data["last4"],
        exp_month=int(data["exp_month"]),
        exp_year=int(data["exp_year"]),
    )


def to_store(record: StoreRecord) -> Store:
    address = record.address.as_dict()
    return Store(
        id=record.store_id,
        name=record.name,
        billing_email=record.billing_email,
        address=Address(
            street=address["street"],
            postal_code=address["postal_code"],
            city=address["city"],
            country=address["country"],
        ),
        vat_id=record.vat_id,
        monthly_fee_cents=int(record.monthly_fee_cents),
        account_status=record.account_status,
        blocked_since=record.blocked_since,
        open_items=_open_items(record.open_items.as_dict() if record.open_items else {}),
        autopay=bool(record.autopay),
        created_at=record.created_at,
        card_customer_id=record.stripe_customer_id,
        payment_method=_saved_card(record.payment_method),
        closed_at=record.closed_at,
        leitweg_id=record.leitweg_id,
        accountant_email=getattr(record, "accountant_email", None),
        mfa_enabled=bool(getattr(record, "mfa_enabled", False)),
    )


class DynamoStoreRepository:
    """StoreRepository on DynamoDB; the e-mail claim makes one address one store."""

    def get(self, store_id: str) -> Store | None:
        try:
            # The account subclass reads the same item with the owner's account fields.
            return to_store(StoreAccountRecord.get(store_id, consistent_read=True))
        except DoesNotExist:
            return None

    def add(self, store: Store) -> None:
        record = StoreRecord(
            store_id=store.id,
            name=store.name,
            billing_email=store.billing_email,
            vat_id=store.vat_id,
            leitweg_id=store.leitweg_id,
            address={
                "street": store.address.street,
                "postal_code": store.address.postal_code,
                "city": store.address.city,
                "country": store.address.country,
            },
            monthly_fee_cents=store.monthly_fee_cents,
            account_status=store.account_status,
            open_items={},
            autopay=False,
            created_at=store.created_at,
        )
        claim = EmailClaimRecord(email=store.billing_email, store_id=store.id)
        try:
            with TransactWrite(connection=connection()) as transaction:
                transaction.save(claim, condition=EmailClaimRecord.email.does_not_exist())
                transaction.save(record, condition=StoreRecord.store_id.does_not_exist())
        except TransactWriteError as exc:
            if "ConditionalCheckFailed" in str(exc.cause_response_message or "") or (
                exc.cause_response_code == "TransactionCanceledException"
            ):
                if self._created_by_us(store):
                    return  # our own write, whose answer was lost and whose retry found it
                raise EmailInUseError() from exc
            raise

    @staticmethod
    def _created_by_us(store: Store) -> bool:
        """A retry after a lost answer finds the claim its first attempt wrote: the address is
        then claimed by this very store, not by another one."""
        try:
            claim = EmailClaimRecord.get(store.billing_email, consistent_read=True)
        except DoesNotExist:
            return False
        return claim.store_id == store.id

    def list_ids(self) -> list[str]:
        return [record.store_id for record in StoreRecord.scan(attributes_to_get=["store_id"])]

    def list_all(self) -> list[Store]:
        return [to_store(record) for record in StoreRecord.scan()]

    def close(self, store_id: str, now: datetime) -> bool:
        try:
            StoreRecord(store_id=store_id).update(
                actions=[StoreRecord.closed_at.set(now), StoreRecord.autopay.set(False)],
                condition=StoreRecord.store_id.exists() & StoreRecord.closed_at.does_not_exist(),
            )
        except UpdateError:
            return False
        return True

    def set_payment_method(self, store_id: str, card: SavedCard | None) -> None:
        actions: list[Any]
        if card is None:
            actions = [StoreRecord.payment_method.remove(), StoreRecord.autopay.set(False)]
        else:
            actions = [StoreRecord.payment_method.set(dataclasses.asdict(card))]
        StoreRecord(store_id=store_id).update(
            actions=actions, condition=StoreRecord.store_id.exists()
        )

    def set_autopay(self, store_id: str, enabled: bool) -> bool:
        condition = StoreRecord.store_id.exists()
        if enabled:
            condition = condition & StoreRecord.payment_method.exists()
        try:
            StoreRecord(store_id=store_id).update(
                actions=[StoreRecord.autopay.set(enabled)], condition=condition
            )
        except UpdateError:
            return False
        return True

    def update_open_item(self, store_id: str, item: OpenItem) -> bool:
        value = {
            "gross_cents": item.gross_cents,
            "due_date": item.due_date.isoformat(),
            "attempts": item.attempts,
            "reminded": item.reminded,
            "mailed": item.mailed,
        }
        if item.retry_on:
            value["retry_on"] = item.retry_on.isoformat()
        try:
            # Only while the invoice is still unsettled: never resurrect a paid one.
            StoreRecord(store_id=store_id).update(
                actions=[StoreRecord.open_items[item.invoice_id].set(value)],
                condition=StoreRecord.open_items[item.invoice_id].exists(),
            )
        except UpdateError:
            return False
        return True

    def set_customer_id(self, store_id: str, customer_id: str) -> str:
        try:
            StoreRecord(store_id=store_id).update(
                actions=[StoreRecord.stripe_customer_id.set(customer_id)],
                condition=StoreRecord.stripe_customer_id.does_not_exist(),
            )
        except UpdateError:
            kept = StoreRecord.get(store_id, consistent_read=True).stripe_customer_id
            return str(kept)
        return customer_id

    def update_details(self, store: Store, new_email: str | None) -> None:
        current = self.get(store.id)
        if current is None:
            raise ConflictError()
        actions: list[Any] = [
            StoreRecord.name.set(store.name),
            StoreRecord.address.set(
                {
                    "street": store.address.street,
                    "postal_code": store.address.postal_code,
                    "city": store.address.city,
                    "country": store.address.country,
                }
            ),
            StoreRecord.vat_id.set(store.vat_id) if store.vat_id else StoreRecord.vat_id.remove(),
            StoreRecord.leitweg_id.set(store.leitweg_id)
            if store.leitweg_id
            else StoreRecord.leitweg_id.remove(),
        ]
        # Optimistic: the write only lands on the store as it was read (same address).
        condition = StoreRecord.store_id.exists() & (
            StoreRecord.billing_email == current.billing_email
        )
        moving = new_email is not None and new_email != current.billing_email
        if moving:
            actions.append(StoreRecord.billing_email.set(str(new_email)))
        try:
            with TransactWrite(connection=connection()) as transaction:
                transaction.update(
                    StoreRecord(store_id=store.id), actions=actions, condition=condition
                )
                if moving:
                    # One address, one store: the new claim and the released old one go
                    # together with the store's new address, or nothing changes.
                    transaction.save(
                        EmailClaimRecord(email=new_email, store_id=store.id),
                        condition=EmailClaimRecord.email.does_not_exist(),
                    )
                    transaction.delete(
                        EmailClaimRecord(email=current.billing_email),
                        condition=EmailClaimRecord.store_id == store.id,
                    )
        except TransactWriteError as exc:
            if moving and self._claimed_by_other(str(new_email), store.id):
                raise EmailInUseError() from exc
            raise ConflictError() from exc

    def _claimed_by_other(self, email: str, store_id: str) -> bool:
        try:
            return str(EmailClaimRecord.get(email, consistent_read=True).store_id) != store_id
        except DoesNotExist:
            return False

    def invited(self, store_id: str) -> bool:
        try:
            record = StoreRecord.get(
                store_id, consistent_read=True, attributes_to_get=["invitation_hash"]
            )
        except DoesNotExist:
            return False
        return bool(record.invitation_hash)

    def set_access(self, store_id: str, status: str, now: datetime) -> bool:
        blocked_since = now if status == "blocked" else None
        try:
            StoreRecord(store_id=store_id).update(
                actions=[
                    StoreRecord.account_status.set(status),
                    StoreRecord.blocked_since.set(blocked_since)
                    if blocked_since
                    else StoreRecord.blocked_since.remove(),
                ],
                condition=StoreRecord.store_id.exists() & (StoreRecord.account_status != status),
            )
        except UpdateError:
            return False
        return True


class DynamoMembershipRepository:
    """MembershipRepository: which store a Cognito user belongs to."""

    def store_of(self, user_sub: str) -> str | None:
        try:
            return str(UserRecord.get(user_sub).store_id)
        except DoesNotExist:
            return None

    def member(self, user_sub: str) -> Member | None:
        try:
            record = UserRecord.get(user_sub)
        except DoesNotExist:
            return None
        signed_out = record.signed_out_at
        return Member(str(record.store_id), None if signed_out is None else int(signed_out))

    def sign_out(self, user_sub: str, at: int) -> None:
        try:
            UserRecord(user_sub=user_sub).update(
                actions=[UserRecord.signed_out_at.set(at)],
                condition=UserRecord.user_sub.exists(),
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return  # no membership: nothing to end
            raise

    def add(self, user_sub: str, store_id: str, email: str) -> None:
        record = UserRecord(user_sub=user_sub, store_id=store_id, email=email)
        try:
            record.save(
                condition=UserRecord.user_sub.does_not_exist() | (UserRecord.store_id == store_id)
            )
        except PutError as exc:
            raise ConflictError() from exc
