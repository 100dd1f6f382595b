"""The owner's activity log: append-only entries with German summaries, newest first,
paged with a signed cursor bound to the store."""

from __future__ import annotations

import dataclasses
from typing import Protocol

from chalicelib.domain.account import ActivityEntry
from chalicelib.domain.errors import InvalidCursorError
from chalicelib.services.cursors import CursorCodec

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
