"""Bounded waits for every AWS client: connect and read timeouts and one retry at most.

With these bounds a dependency that does not answer costs a request at most about 9 s
(2 attempts of 1 s connect + 3 s read, plus the retry's back-off), under the 10 s the
contract allows; the request then answers 503 service_unavailable.
"""

from __future__ import annotations

from typing import Any

import botocore.exceptions
from botocore.config import Config

CONNECT_TIMEOUT_S = 1
READ_TIMEOUT_S = 3
MAX_ATTEMPTS = 2  # the first try and one retry

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    botocore.exceptions.ConnectionError,  # includes connect timeouts, refused connections
    botocore.exceptions.HTTPClientError,  # includes read timeouts, closed connections
    TimeoutError,
    ConnectionError,
)


def aws_config(**extra: Any) -> Config:
    """The botocore configuration of every client the portal builds."""
    return Config(
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        retries={"total_max_attempts": MAX_ATTEMPTS, "mode": "standard"},
        **extra,
    )


def is_unavailable(exc: BaseException) -> bool:
    """True when `exc` (or anything it was raised from) means a dependency did not answer."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, _UNAVAILABLE):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False
