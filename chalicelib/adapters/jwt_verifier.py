"""Verifies Cognito access tokens: RS256 only, key by kid from the pool's cached JWKS."""

from __future__ import annotations

import threading
import time
from typing import Any

import jwt
import urllib3

from chalicelib.adapters.timeouts import CONNECT_TIMEOUT_S, MAX_ATTEMPTS, READ_TIMEOUT_S
from chalicelib.domain.errors import ServiceUnavailableError, UnauthorizedError

# Unknown kids trigger a refetch (key rotation) at most this often, so forged kids
# cannot turn every request into a JWKS download.
REFETCH_INTERVAL_S = 60.0
LEEWAY_S = 5


class CognitoTokenVerifier:
    """TokenVerifier for Cognito user-pool access tokens."""

    def __init__(self, jwks_url: str, issuer: str, client_id: str) -> None:
        self._jwks_url = jwks_url
        self._issuer = issuer
        self._client_id = client_id
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        self._lock = threading.Lock()
        # urllib3 rather than requests: botocore has loaded it already, so a cold container
        # pays nothing more for the one download it needs.
        self._http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S),
            retries=urllib3.Retry(total=MAX_ATTEMPTS - 1, redirect=0, raise_on_status=False),
        )

    def _fetch(self) -> None:
        try:
            response = self._http.request("GET", self._jwks_url)
        except urllib3.exceptions.HTTPError as exc:
            raise ServiceUnavailableError() from exc
        if response.status != 200:
            raise ServiceUnavailableError()
        try:
            document = response.json()
        except ValueError as exc:
            raise ServiceUnavailableError() from exc
        keys = {}
        for entry in document.get("keys", []) if isinstance(document, dict) else []:
            if entry.get("kty") == "RSA" and entry.get("kid"):
                keys[entry["kid"]] = jwt.PyJWK(entry, algorithm="RS256").key
        self._keys = keys
        self._fetched_at = time.monotonic()

    def _key(self, kid: str) -> Any:
        with self._lock:
            if kid not in self._keys and (
                not self._fetched_at or time.monotonic() - self._fetched_at > REFETCH_INTERVAL_S
            ):
                self._fetch()
            key = self._keys.get(kid)
        if key is None:
            raise UnauthorizedError()
        return key

    def verify(self, token: str) -> str:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise UnauthorizedError() from exc
        if header.get("alg") != "RS256" or not isinstance(header.get("kid"), str):
            raise UnauthorizedError()
        try:
            claims = jwt.decode(
                token,
                self._key(header["kid"]),
                algorithms=["RS256"],
                issuer=self._issuer,
                leeway=LEEWAY_S,
                options={
                    "require": ["exp", "iat", "iss", "sub", "token_use"],
                    "verify_aud": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise UnauthorizedError() from exc
        # Access tokens carry client_id, not aud; an id token must never pass as access.
        if claims.get("token_use") != "access" or claims.get("client_id") != self._client_id:
            raise UnauthorizedError()
        if not isinstance(claims.get("iat"), int):
            raise UnauthorizedError()  # logout compares it with the last sign-out
        return str(claims["sub"])

    def issued_at(self, token: str) -> int:
        # Only called for a token verify() accepted, so its claims are the verified ones.
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise UnauthorizedError() from exc
        issued = claims.get("iat")
        if not isinstance(issued, int):
            raise UnauthorizedError()
        return issued
