"""Support requests and fixed-window rate-limit counters in DynamoDB."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from pynamodb.exceptions import PutError

from chalicelib.adapters.dynamo_models import RateLimitRecord, SupportRequestRecord
from chalicelib.domain.errors import ConflictError
from chalicelib.services.ports import SupportRequest


class DynamoSupportRepository:
    """SupportRepository on DynamoDB."""

    def add(self, request: SupportRequest) -> None:
        record = SupportRequestRecord(
            request_id=request.id,
            store_id=request.store_id,
            subject=request.subject,
            message=request.message,
            invoice_id=request.invoice_id,
            created_at=request.created_at,
        )
        try:
            record.save(condition=SupportRequestRecord.request_id.does_not_exist())
        except PutError as exc:
            raise ConflictError() from exc


def _window_key(key: str, window_s: int, now: float) -> tuple[str, int]:
    start = int(now // window_s) * window_s
    return f"{key}@{start}", start + window_s


class DynamoRateLimiter:
    """RateLimiter with one counter item per key and window; TTL removes old windows."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._now = clock or time.time

    def blocked(self, keys: Sequence[tuple[str, int]], window_s: int) -> bool:
        now = self._now()
        limits = {_window_key(key, window_s, now)[0]: limit for key, limit in keys}
        for record in RateLimitRecord.batch_get(list(limits)):
            if int(record.hits) >= limits[record.limit_key]:
                return True
        return False

    def hit(self, keys: Sequence[str], window_s: int) -> None:
        now = self._now()
        for key in keys:
            window_key, expires = _window_key(key, window_s, now)
            RateLimitRecord(limit_key=window_key).update(
                actions=[
                    RateLimitRecord.hits.add(1),
                    RateLimitRecord.expires_at.set(expires),
                ]
            )
