"""The clock and the secrets of the running system."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    """Clock: the real time, always timezone-aware UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class SecretsManagerSecrets:
    """Secrets through Powertools Parameters (cached, never from the environment)."""

    def __init__(self, max_age_s: int = 300) -> None:
        self._max_age_s = max_age_s

    def get(self, name: str) -> str:
        from aws_lambda_powertools.utilities import parameters

        return str(parameters.get_secret(name, max_age=self._max_age_s))
