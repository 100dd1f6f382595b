"""The payment ledger in DynamoDB: payment and invoice states moved in one transaction."""

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
from chalicelib.domain.payments import OPEN_STATUSES, Payment, PaymentStatus

log = logging.getLogger("portal.ledger")
_OPEN = [status.value for status in OPEN_STATUSES]
REMEMBER_EVENTS = timedelta(days=30)


def _to_payment(record: PaymentRecord) -> Payment:
    return Payment(
        id=record.payment_id,
        invoice_id=record.invoice_id,
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
        notified=bool(record.notified),
        save_card=bool(record.save_card),
    )


def _summary(
    payment: Payment, status: PaymentStatus, failure_code: str | None, now: datetime
) -> dict[str, Any]:
    """What the invoice keeps of each of its payments, so its detail needs no query."""
    return {
        "provider": payment.provider,
        "method": payment.method,
        "kind": payment.kind,
        "amount_cents": payment.amount_cents,
        "currency": payment.currency,
        "status": status.value,
        "failure_code": failure_code,
        "created_at": payment.created_at.isoformat(),
        "updated_at": now.isoformat(),
    }


def _log(payment: Payment, status: PaymentStatus, code: str | None, now: datetime) -> Any:
    return InvoiceRecord.payment_log[payment.id].set(_summary(payment, status, code, now))


def _reasons(exc: TransactWriteError) -> list[str]:
    reasons = getattr(exc, "cancellation_reasons", None) or []
    return [getattr(reason, "code", None) or "" for reason in reasons]


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
                transaction.update(
                    InvoiceRecord(invoice_id=payment.invoice_id),
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
                condition=PaymentRecord.provider_ref.does_not_exist()
                | (PaymentRecord.provider_ref == ref),
            )
        except UpdateError as exc:
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
        self._log_on_invoice(payment, status, None, now)
        return _to_payment(record)

    def _log_on_invoice(
        self, payment: Payment, status: PaymentStatus, code: str | None, now: datetime
    ) -> None:
        # Outside a transaction only where the invoice itself does not move: the log is
        # what the owner sees, the payment record stays the truth.
        InvoiceRecord(invoice_id=payment.invoice_id).update(
            actions=[_log(payment, status, code, now)],
            condition=InvoiceRecord.invoice_id.exists(),
        )

    def settle_success(self, payment: Payment, now: datetime) -> bool:
        pay = PaymentRecord(payment_id=payment.id)
        pay_actions: list[Any] = [
            PaymentRecord.status.set(PaymentStatus.SUCCEEDED.value),
            PaymentRecord.failure_code.remove(),
            PaymentRecord.updated_at.set(now.isoformat()),
        ]
        not_yet = PaymentRecord.status != PaymentStatus.SUCCEEDED.value
        try:
            with TransactWrite(connection=connection()) as transaction:
                transaction.update(pay, actions=pay_actions, condition=not_yet)
                transaction.update(
                    InvoiceRecord(invoice_id=payment.invoice_id),
                    actions=[
                        InvoiceRecord.status.set(InvoiceStatus.PAID.value),
                        InvoiceRecord.store_status.set(f"{payment.store_id}#paid"),
                        InvoiceRecord.paid_at.set(now),
                        InvoiceRecord.paid_by.set(payment.id),
                        InvoiceRecord.active_payment_id.remove(),
                        _log(payment, PaymentStatus.SUCCEEDED, None, now),
                        InvoiceRecord.updated_at.set(now),
                    ],
                    condition=InvoiceRecord.status.is_in(
                        InvoiceStatus.OPEN.value, InvoiceStatus.PROCESSING.value
                    ),
                )
                transaction.update(
                    StoreRecord(store_id=payment.store_id),
                    actions=[StoreRecord.open_items[payment.invoice_id].remove()],
                )
        except TransactWriteError as exc:
            reasons = _reasons(exc)
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return False  # this success was recorded before
            return self._succeeded_on_settled_invoice(payment, pay_actions, not_yet, now)
        return True

    def _succeeded_on_settled_invoice(
        self, payment: Payment, actions: list[Any], condition: Any, now: datetime
    ) -> bool:
        # Money moved for an invoice that is already paid or void: record it and raise the
        # alarm so someone refunds it; never move the invoice again.
        try:
            PaymentRecord(payment_id=payment.id).update(actions=actions, condition=condition)
        except UpdateError:
            return False
        self._log_on_invoice(payment, PaymentStatus.SUCCEEDED, None, now)
        log.error(
            "ALERT payment succeeded for an invoice that is no longer payable",
            extra={
                "alert": "refund_needed",
                "payment_id": payment.id,
                "invoice_id": payment.invoice_id,
            },
        )
        return True

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
            with TransactWrite(connection=connection()) as transaction:
                transaction.update(
                    PaymentRecord(payment_id=payment.id),
                    actions=pay_actions,
                    condition=PaymentRecord.status.is_in(*_OPEN),
                )
                transaction.update(
                    InvoiceRecord(invoice_id=payment.invoice_id),
                    actions=[
                        InvoiceRecord.status.set(InvoiceStatus.OPEN.value),
                        InvoiceRecord.active_payment_id.remove(),
                        _log(payment, status, failure_code, now),
                        InvoiceRecord.updated_at.set(now),
                    ],
                    condition=(InvoiceRecord.status == InvoiceStatus.PROCESSING.value)
                    & (InvoiceRecord.active_payment_id == payment.id),
                )
        except TransactWriteError as exc:
            reasons = _reasons(exc)
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return False
            # The invoice moved on without this payment: settle the payment alone.
            try:
                PaymentRecord(payment_id=payment.id).update(
                    actions=pay_actions, condition=PaymentRecord.status.is_in(*_OPEN)
                )
            except UpdateError:
                return False
            self._log_on_invoice(payment, status, failure_code, now)
        return True

    def mark_notified(self, payment_id: str) -> bool:
        try:
            PaymentRecord(payment_id=payment_id).update(
                actions=[PaymentRecord.notified.set(True)],
                condition=PaymentRecord.notified.does_not_exist()
                | (PaymentRecord.notified == False),  # noqa: E712
            )
        except UpdateError:
            return False
        return True


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
