"""The payment ledger in DynamoDB: a payment and the invoices it settles move in one
transaction, and every write checks the state it leaves."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo_models import (
    InvoiceRecord,
    PaymentRecord,
    ProcessedEventRecord,
    StoreRecord,
    connection,
)
from chalicelib.domain.errors import ConflictError, InvoiceNotPayableError
from chalicelib.domain.invoices import InvoiceStatus
from chalicelib.domain.payments import (
    OPEN_STATUSES,
    PAID_STAGE,
    REFUNDED_STAGE,
    Payment,
    PaymentStatus,
)
from chalicelib.services.ports import SettleOutcome

log = logging.getLogger("portal.ledger")
_OPEN = [status.value for status in OPEN_STATUSES]
_PAYABLE = [InvoiceStatus.OPEN.value, InvoiceStatus.PROCESSING.value]
REMEMBER_EVENTS = timedelta(days=30)
FOLLOW_UP_LEASE_S = 60


def _to_payment(record: PaymentRecord) -> Payment:
    stages = set()
    if record.notified:
        stages.add(PAID_STAGE)
    if record.refund_notified:
        stages.add(REFUNDED_STAGE)
    return Payment(
        id=record.payment_id,
        invoice_id=record.invoice_id,
        invoice_ids=_invoice_ids(record),
        store_id=record.store_id,
        provider=record.provider,
        method=record.method,
        kind=record.kind,
        amount_cents=int(record.amount_cents),
        currency=record.currency,
        status=PaymentStatus(record.status),
        created_at=datetime.fromisoformat(record.created_at),
        updated_at=datetime.fromisoformat(record.updated_at),
        provider_ref=record.provider_ref,
        approve_url=record.approve_url,
        failure_code=record.failure_code,
        save_card=bool(record.save_card),
        refund_due=bool(record.refund_due),
        followed_up=frozenset(stages),
    )


def _invoice_ids(record: PaymentRecord) -> tuple[str, ...]:
    stored: Any = record.invoice_ids
    return tuple(str(i) for i in stored) if stored else (record.invoice_id,)


def _summary(
    payment: Payment, status: PaymentStatus, failure_code: str | None, now: datetime
) -> dict[str, Any]:
    """What an invoice keeps of each of its payments, so its detail needs no query."""
    return {
        "provider": payment.provider,
        "method": payment.method,
        "kind": payment.kind,
        "amount_cents": payment.amount_cents,
        "currency": payment.currency,
        "status": status.value,
        "failure_code": failure_code,
        "invoice_ids": list(payment.invoice_ids),
        "created_at": payment.created_at.isoformat(),
        "updated_at": now.isoformat(),
    }


def _log(payment: Payment, status: PaymentStatus, code: str | None, now: datetime) -> Any:
    return InvoiceRecord.payment_log[payment.id].set(_summary(payment, status, code, now))


def _reasons(exc: TransactWriteError) -> list[str]:
    reasons = getattr(exc, "cancellation_reasons", None) or []
    return [(getattr(reason, "code", None) or "") if reason else "" for reason in reasons]


def _current_for(payment: Payment) -> Any:
    return (InvoiceRecord.status == InvoiceStatus.PROCESSING.value) & (
        InvoiceRecord.active_payment_id == payment.id
    )


class DynamoPaymentLedger:
    """PaymentLedger on DynamoDB."""

    def get(self, payment_id: str) -> Payment | None:
        try:
            return _to_payment(PaymentRecord.get(payment_id, consistent_read=True))
        except DoesNotExist:
            return None

    def list_for_invoice(self, invoice_id: str) -> list[Payment]:
        return [_to_payment(r) for r in PaymentRecord.by_invoice.query(invoice_id)]

    def open(self, payment: Payment) -> None:
        record = PaymentRecord(
            payment_id=payment.id,
            invoice_id=payment.invoice_id,
            invoice_ids=list(payment.invoice_ids),
            store_id=payment.store_id,
            provider=payment.provider,
            method=payment.method,
            kind=payment.kind,
            amount_cents=payment.amount_cents,
            currency=payment.currency,
            status=payment.status.value,
            notified=False,
            save_card=payment.save_card,
            created_at=payment.created_at.isoformat(),
            updated_at=payment.updated_at.isoformat(),
        )
        try:
            with TransactWrite(connection=connection()) as transaction:
                transaction.save(record, condition=PaymentRecord.payment_id.does_not_exist())
                for invoice_id in payment.invoice_ids:
                    transaction.update(
                        InvoiceRecord(invoice_id=invoice_id),
                        actions=[
                            InvoiceRecord.status.set(InvoiceStatus.PROCESSING.value),
                            InvoiceRecord.active_payment_id.set(payment.id),
                            _log(payment, payment.status, None, payment.created_at),
                            InvoiceRecord.updated_at.set(payment.created_at),
                        ],
                        condition=(InvoiceRecord.status == InvoiceStatus.OPEN.value)
                        & (InvoiceRecord.store_id == payment.store_id),
                    )
        except TransactWriteError as exc:
            raise InvoiceNotPayableError() from exc

    def set_provider_ref(self, payment_id: str, ref: str, approve_url: str | None) -> Payment:
        record = PaymentRecord(payment_id=payment_id)
        actions: list[Any] = [PaymentRecord.provider_ref.set(ref)]
        if approve_url:
            actions.append(PaymentRecord.approve_url.set(approve_url))
        try:
            record.update(
                actions=actions,
                condition=_exists()
                & (
                    PaymentRecord.provider_ref.does_not_exist()
                    | (PaymentRecord.provider_ref == ref)
                ),
            )
        except UpdateError as exc:
            if self.get(payment_id) is None:
                raise LookupError(f"unknown payment {payment_id}") from exc
            raise ConflictError() from exc
        return _to_payment(record)

    def mark(self, payment: Payment, status: PaymentStatus, now: datetime) -> Payment:
        record = PaymentRecord(payment_id=payment.id)
        try:
            record.update(
                actions=[
                    PaymentRecord.status.set(status.value),
                    PaymentRecord.updated_at.set(now.isoformat()),
                ],
                condition=PaymentRecord.status.is_in(*_OPEN),
            )
        except UpdateError:
            return self.get(payment.id) or payment
        self._log_on_invoices(payment, status, None, now)
        return _to_payment(record)

    def claim(self, payment: Payment, now: datetime) -> bool:
        try:
            with TransactWrite(connection=connection()) as transaction:
                transaction.update(
                    PaymentRecord(payment_id=payment.id),
                    actions=[PaymentRecord.claimed_at.set(now.isoformat())],
                    condition=PaymentRecord.status.is_in(*_OPEN),
                )
                for invoice_id in payment.invoice_ids:
                    transaction.condition_check(
                        InvoiceRecord, invoice_id, condition=_current_for(payment)
                    )
        except TransactWriteError:
            return False
        return True

    def _log_on_invoices(
        self, payment: Payment, status: PaymentStatus, code: str | None, now: datetime
    ) -> None:
        # Outside a transaction only where the invoices themselves do not move: the log is
        # what the owner sees, the payment record stays the truth.
        for invoice_id in payment.invoice_ids:
            InvoiceRecord(invoice_id=invoice_id).update(
                actions=[_log(payment, status, code, now)],
                condition=InvoiceRecord.invoice_id.exists(),
            )

    def settle_success(self, payment: Payment, now: datetime) -> SettleOutcome:
        pay_actions: list[Any] = [
            PaymentRecord.status.set(PaymentStatus.SUCCEEDED.value),
            PaymentRecord.failure_code.remove(),
            PaymentRecord.updated_at.set(now.isoformat()),
        ]
        not_yet = PaymentRecord.status.is_in(
            *_OPEN, PaymentStatus.FAILED.value, PaymentStatus.CANCELED.value
        )
        try:
            with TransactWrite(connection=connection()) as transaction:
                transaction.update(
                    PaymentRecord(payment_id=payment.id), actions=pay_actions, condition=not_yet
                )
                for invoice_id in payment.invoice_ids:
                    transaction.update(
                        InvoiceRecord(invoice_id=invoice_id),
                        actions=[
                            InvoiceRecord.status.set(InvoiceStatus.PAID.value),
                            InvoiceRecord.store_status.set(f"{payment.store_id}#paid"),
                            InvoiceRecord.paid_at.set(now),
                            InvoiceRecord.paid_by.set(payment.id),
                            InvoiceRecord.active_payment_id.remove(),
                            _log(payment, PaymentStatus.SUCCEEDED, None, now),
                            InvoiceRecord.updated_at.set(now),
                        ],
                        condition=InvoiceRecord.status.is_in(*_PAYABLE)
                        & (InvoiceRecord.store_id == payment.store_id),
                    )
                transaction.update(
                    StoreRecord(store_id=payment.store_id),
                    actions=[StoreRecord.open_items[i].remove() for i in payment.invoice_ids],
                )
        except TransactWriteError as exc:
            reasons = _reasons(exc)
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return SettleOutcome.ALREADY
            return self._unwanted_success(payment, pay_actions, not_yet, now)
        return SettleOutcome.APPLIED

    def _unwanted_success(
        self, payment: Payment, actions: list[Any], condition: Any, now: datetime
    ) -> SettleOutcome:
        # Money moved although an invoice is already paid or void: record it with a refund
        # due; the invoices never move again because of it.
        try:
            PaymentRecord(payment_id=payment.id).update(
                actions=[*actions, PaymentRecord.refund_due.set(True)], condition=condition
            )
        except UpdateError:
            return SettleOutcome.ALREADY
        # Its other invoices are not paid by it either: they are open again for the owner.
        for invoice_id in payment.invoice_ids:
            self.release(payment, invoice_id, PaymentStatus.SUCCEEDED, None, now)
        return SettleOutcome.UNWANTED

    def settle_failure(
        self, payment: Payment, status: PaymentStatus, failure_code: str | None, now: datetime
    ) -> bool:
        pay_actions: list[Any] = [
            PaymentRecord.status.set(status.value),
            PaymentRecord.updated_at.set(now.isoformat()),
        ]
        if failure_code:
            pay_actions.append(PaymentRecord.failure_code.set(failure_code))
        try:
            PaymentRecord(payment_id=payment.id).update(
                actions=pay_actions, condition=PaymentRecord.status.is_in(*_OPEN)
            )
        except UpdateError:
            return False
        # Each invoice this payment was current for goes back to open; each write checks
        # that it still is, so a crash in between is finished by the next start or delivery.
        for invoice_id in payment.invoice_ids:
            self.release(payment, invoice_id, status, failure_code, now)
        return True

    def release(
        self,
        payment: Payment,
        invoice_id: str,
        status: PaymentStatus,
        failure_code: str | None,
        now: datetime,
    ) -> None:
        log_action = _log(payment, status, failure_code, now)
        try:
            InvoiceRecord(invoice_id=invoice_id).update(
                actions=[
                    InvoiceRecord.status.set(InvoiceStatus.OPEN.value),
                    InvoiceRecord.active_payment_id.remove(),
                    log_action,
                    InvoiceRecord.updated_at.set(now),
                ],
                condition=_current_for(payment),
            )
        except UpdateError:
            InvoiceRecord(invoice_id=invoice_id).update(
                actions=[log_action], condition=InvoiceRecord.invoice_id.exists()
            )

    def mark_refunded(self, payment: Payment, now: datetime) -> bool:
        try:
            PaymentRecord(payment_id=payment.id).update(
                actions=[
                    PaymentRecord.status.set(PaymentStatus.REFUNDED.value),
                    PaymentRecord.updated_at.set(now.isoformat()),
                ],
                condition=PaymentRecord.status == PaymentStatus.SUCCEEDED.value,
            )
        except UpdateError:
            return False
        self._log_on_invoices(payment, PaymentStatus.REFUNDED, payment.failure_code, now)
        return True

    def claim_follow_up(self, payment_id: str, stage: str, now: datetime) -> bool:
        done = _stage_flag(stage)
        epoch = int(now.timestamp())
        try:
            PaymentRecord(payment_id=payment_id).update(
                actions=[PaymentRecord.follow_up_until.set(epoch + FOLLOW_UP_LEASE_S)],
                condition=_exists()
                & (done.does_not_exist() | (done == False))  # noqa: E712
                & (
                    PaymentRecord.follow_up_until.does_not_exist()
                    | (PaymentRecord.follow_up_until < epoch)
                ),
            )
        except UpdateError:
            return False
        return True

    def mark_followed_up(self, payment_id: str, stage: str) -> bool:
        done = _stage_flag(stage)
        try:
            PaymentRecord(payment_id=payment_id).update(
                actions=[done.set(True), PaymentRecord.follow_up_until.remove()],
                condition=_exists() & (done.does_not_exist() | (done == False)),  # noqa: E712
            )
        except UpdateError:
            return False
        return True


def _exists() -> Any:
    """An update of a payment that is not there must not create a fragment of one."""
    return PaymentRecord.payment_id.exists()


def _stage_flag(stage: str) -> Any:
    return PaymentRecord.notified if stage == PAID_STAGE else PaymentRecord.refund_notified


class DynamoProcessedEvents:
    """ProcessedEvents: provider event ids already applied (TTL removes old ones)."""

    def seen(self, event_id: str) -> bool:
        try:
            ProcessedEventRecord.get(event_id, consistent_read=True)
        except DoesNotExist:
            return False
        return True

    def remember(self, event_id: str, now: datetime) -> None:
        try:
            ProcessedEventRecord(
                event_id=event_id,
                processed_at=now,
                expires_at=int((now + REMEMBER_EVENTS).timestamp()),
            ).save(condition=ProcessedEventRecord.event_id.does_not_exist())
        except PutError:
            pass  # a parallel delivery remembered it first
