"""Invitations in DynamoDB: only the token's hash is stored; each store has one live link."""

from __future__ import annotations

from datetime import datetime, timedelta

from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo_models import InvitationRecord, StoreRecord, connection
from chalicelib.domain.errors import ConflictError
from chalicelib.domain.invitations import Invitation, InvitationStatus

# Used and revoked records are kept a while so they keep answering "not found" the same
# way, then the table's TTL removes them.
PURGE_AFTER = timedelta(days=30)


def _to_invitation(record: InvitationRecord) -> Invitation:
    return Invitation(
        token_hash=record.token_hash,
        store_id=record.store_id,
        email=record.email,
        created_at=record.created_at,
        expires_at=record.expires_at,
        status=InvitationStatus(record.status),
    )


class DynamoInvitationRepository:
    """InvitationRepository on DynamoDB with conditional status moves."""

    def get(self, token_hash: str) -> Invitation | None:
        try:
            return _to_invitation(InvitationRecord.get(token_hash, consistent_read=True))
        except DoesNotExist:
            return None

    def replace(self, invitation: Invitation) -> None:
        store = StoreRecord.get(invitation.store_id, consistent_read=True)
        previous = store.invitation_hash
        record = InvitationRecord(
            token_hash=invitation.token_hash,
            store_id=invitation.store_id,
            email=invitation.email,
            status=invitation.status.value,
            created_at=invitation.created_at,
            expires_at=invitation.expires_at,
            purge_at=int((invitation.expires_at + PURGE_AFTER).timestamp()),
        )
        try:
            with TransactWrite(connection=connection()) as transaction:
                transaction.save(record, condition=InvitationRecord.token_hash.does_not_exist())
                transaction.update(
                    store,
                    actions=[StoreRecord.invitation_hash.set(invitation.token_hash)],
                    condition=(
                        StoreRecord.invitation_hash == previous
                        if previous
                        else StoreRecord.invitation_hash.does_not_exist()
                    ),
                )
                if previous and self._still_live(previous):
                    transaction.update(
                        InvitationRecord(token_hash=previous),
                        actions=[InvitationRecord.status.set(InvitationStatus.REVOKED.value)],
                        condition=InvitationRecord.status.is_in(
                            InvitationStatus.PENDING.value, InvitationStatus.ACCEPTING.value
                        ),
                    )
        except TransactWriteError as exc:
            raise ConflictError() from exc

    def _still_live(self, token_hash: str) -> bool:
        # Used, revoked or already purged links need no revoking (and would fail the check).
        current = self.get(token_hash)
        return current is not None and current.status in (
            InvitationStatus.PENDING,
            InvitationStatus.ACCEPTING,
        )

    def claim(self, token_hash: str, now: datetime, lease_until: datetime) -> Invitation:
        record = InvitationRecord(token_hash=token_hash)
        try:
            record.update(
                actions=[
                    InvitationRecord.status.set(InvitationStatus.ACCEPTING.value),
                    InvitationRecord.lease_until.set(lease_until),
                ],
                condition=(InvitationRecord.status == InvitationStatus.PENDING.value)
                | (
                    (InvitationRecord.status == InvitationStatus.ACCEPTING.value)
                    & (InvitationRecord.lease_until < now)
                ),
            )
        except UpdateError as exc:
            raise ConflictError() from exc
        return _to_invitation(record)

    def release(self, token_hash: str) -> None:
        try:
            InvitationRecord(token_hash=token_hash).update(
                actions=[InvitationRecord.status.set(InvitationStatus.PENDING.value)],
                condition=InvitationRecord.status == InvitationStatus.ACCEPTING.value,
            )
        except UpdateError:
            pass  # revoked meanwhile: nothing to give back

    def mark_used(self, token_hash: str, now: datetime) -> None:
        InvitationRecord(token_hash=token_hash).update(
            actions=[
                InvitationRecord.status.set(InvitationStatus.USED.value),
                InvitationRecord.used_at.set(now),
            ]
        )
