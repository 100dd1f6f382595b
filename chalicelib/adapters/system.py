"""The clock and the secrets of the running system."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


class SystemClock:
    """Clock: the real time, always timezone-aware UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class SecretsManagerSecrets:
    """Secrets through Powertools Parameters (cached, never from the environment), on a
    client with bounded waits."""

    def __init__(self, max_age_s: int = 300) -> None:
        self._max_age_s = max_age_s
        self._provider: Any = None

    def get(self, name: str) -> str:
        if self._provider is None:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider

            from chalicelib.adapters.timeouts import aws_config

            self._provider = SecretsProvider(boto_config=aws_config())
        return str(self._provider.get(name, max_age=self._max_age_s))
