"""The owner's activity log: append-only entries with German summaries, newest first,
paged with a signed cursor bound to the store."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.domain.account import ActivityEntry
from chalicelib.domain.errors import InvalidCursorError
from chalicelib.services.cursors import CursorCodec

if TYPE_CHECKING:  # named in signatures only: a signed-in read publishes nothing
    from chalicelib.domain.events import DomainEvent
    from chalicelib.services.ports import Clock, EventPublisher

_logger = logging.getLogger("portal.activity")

PAGE_SIZE = 20


class ActivityLog(Protocol):
    def append(self, entry: ActivityEntry) -> None:
        """Add an entry (never overwrites one)."""

    def page(
        self, store_id: str, limit: int, after: str | None
    ) -> tuple[list[ActivityEntry], str | None]:
        """Up to `limit` entries newest first, after the entry key `after`; and the key to
        continue from (None when there is nothing more)."""


@dataclasses.dataclass(frozen=True)
class ActivityPage:
    items: list[ActivityEntry]
    next_cursor: str | None


@dataclasses.dataclass(frozen=True)
class ActivityReader:
    log: ActivityLog
    cursors: CursorCodec

    def list(self, store_id: str, cursor: str | None, limit: int = PAGE_SIZE) -> ActivityPage:
        scope = f"activity:{store_id}"
        after = None
        if cursor is not None:
            key = self.cursors.decode(scope, cursor)
            after = key.get("k")
            if not isinstance(after, str) or not after:
                raise InvalidCursorError()
        items, last = self.log.page(store_id, limit, after)
        next_cursor = None if last is None else self.cursors.encode(scope, {"k": last})
        return ActivityPage(items, next_cursor)


class ActivityRecorder:
    """Notes a change that was not a write of ours in one transaction with its entry (a
    payment provider, Cognito, a published event): right after the change, best effort –
    the change has happened, a failing note is logged and never undoes it."""

    def __init__(self, log: Callable[[], ActivityLog], clock: Callable[[], Clock]) -> None:
        self._log = log
        self._clock = clock

    def record(self, store_id: str, kind: str, summary: str) -> None:
        try:
            self._log().append(ActivityEntry(store_id, self._clock().now(), kind, summary))
        except Exception:  # noqa: BLE001 - see the class
            _logger.exception("activity entry not written: %s", kind)


def _event_summary(detail_type: str, detail: dict[str, Any]) -> tuple[str, str] | None:
    """(type, German summary) of a published domain event the owner should see."""
    from chalicelib.domain.money import format_eur
    from chalicelib.domain.payments import failure_message

    if detail_type == "InvoicePaid":
        amount = format_eur(int(detail["gross_cents"]))
        return "payment_succeeded", f"Rechnung {detail['number']} über {amount} bezahlt."
    if detail_type == "PaymentFailed":
        how = "Die automatische Abbuchung" if detail.get("kind") == "autopay" else "Eine Zahlung"
        reason = failure_message(detail.get("failure_code")) or ""
        return "payment_failed", f"{how} ist fehlgeschlagen. {reason}".strip()
    if detail_type == "PaymentRefunded":
        amount = format_eur(int(detail["amount_cents"]))
        return "payment_refunded", f"{amount} wurden dir zurückerstattet."
    if detail_type == "StoreAccessChanged":
        if detail.get("status") == "blocked":
            return "till_locked", "Kasse gesperrt, weil Rechnungen überfällig sind."
        return "till_unlocked", "Kasse wieder freigeschaltet."
    return None


class ActivityPublisher:
    """EventPublisher that also notes, for the store's owner, what the published events say
    (payments succeeded, failed or refunded; the till locked or unlocked)."""

    def __init__(self, inner: EventPublisher, recorder: ActivityRecorder) -> None:
        self._inner = inner
        self._recorder = recorder

    def publish(self, events: Sequence[DomainEvent]) -> None:
        self._inner.publish(events)
        for event in events:
            try:
                found = _event_summary(event.detail_type, dict(event.detail))
            except (KeyError, TypeError, ValueError):
                found = None
            store_id = event.detail.get("store_id") if isinstance(event.detail, dict) else None
            if found is not None and isinstance(store_id, str):
                self._recorder.record(store_id, *found)
