"""Signed, store-bound pagination cursors: a client can hand them back, never forge them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from chalicelib.domain.errors import InvalidCursorError


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def _sign(self, payload: bytes) -> str:
        return _b64(hmac.new(self._key, payload, hashlib.sha256).digest())

    def encode(self, scope: str, last_key: dict[str, Any]) -> str:
        payload = json.dumps({"scope": scope, "key": last_key}, sort_keys=True).encode()
        return f"{_b64(payload)}.{self._sign(payload)}"

    def decode(self, scope: str, cursor: str) -> dict[str, Any]:
        try:
            body, signature = cursor.split(".", 1)
            payload = _unb64(body)
            if not hmac.compare_digest(self._sign(payload), signature):
                raise InvalidCursorError()
            data = json.loads(payload)
        except (ValueError, TypeError) as exc:
            raise InvalidCursorError() from exc
        # A cursor of another store or another filter is as good as a forged one.
        if not isinstance(data, dict) or data.get("scope") != scope:
            raise InvalidCursorError()
        key = data.get("key")
        if not isinstance(key, dict):
            raise InvalidCursorError()
        return key
