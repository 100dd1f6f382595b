"""The origin check: only requests that came through the CDN reach the API.

The CDN adds a secret header to every request it forwards (a CloudFront origin custom
header). Its value lives in Secrets Manager as `{"current": ..., "previous": ...}`; both are
accepted, so the value can be rotated without refusing requests in between: write a new
`current` (the old one becomes `previous`), then let the distribution send the new one.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections.abc import Callable

from chalicelib.services.ports import Secrets

ORIGIN_HEADER = "x-origin-verify"
CACHE_S = 300.0
# A value we do not know makes us read the secret again, at most this often, so that a
# rotation is picked up at once but guessed values cannot turn into a read per request.
REFETCH_INTERVAL_S = 60.0
MIN_SECRET_LENGTH = 32


def accepted_values(secret: str) -> tuple[str, ...]:
    """The values a secret string accepts: `current` and `previous` of its JSON form."""
    try:
        data = json.loads(secret)
    except ValueError:
        data = {"current": secret}
    if not isinstance(data, dict):
        return ()
    values = (data.get("current"), data.get("previous"))
    return tuple(v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LENGTH)


class OriginCheck:
    """Compares a presented origin header with the secret, in constant time."""

    def __init__(
        self, secrets: Secrets, name: str, now: Callable[[], float] = time.monotonic
    ) -> None:
        self._secrets = secrets
        self._name = name
        self._now = now
        self._values: tuple[bytes, ...] = ()
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def _fetch(self) -> None:
        values = accepted_values(self._secrets.get(self._name))
        self._values = tuple(v.encode("utf-8") for v in values)
        self._fetched_at = self._now()

    def _matches(self, presented: bytes) -> bool:
        # every value is compared, so the time taken does not tell which one matched
        results = [hmac.compare_digest(presented, value) for value in self._values]
        return any(results)

    def accepts(self, presented: str) -> bool:
        if not presented:
            return False
        encoded = presented.encode("utf-8", "replace")
        with self._lock:
            age = None if self._fetched_at is None else self._now() - self._fetched_at
            if age is None or age > CACHE_S:
                self._fetch()
            elif not self._matches(encoded) and age > REFETCH_INTERVAL_S:
                self._fetch()
            return self._matches(encoded)
