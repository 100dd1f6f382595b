"""chalice's test client, its requests arriving at the API as the CDN forwards them.

The API answers only requests that carry the origin secret (chalicelib.api.edge); in AWS
CloudFront adds it, locally local/front.py does, and in tests this client does.
"""

from __future__ import annotations

from typing import Any

from chalice.test import Client, TestHTTPClient

ORIGIN_HEADER = "X-Origin-Verify"


def origin_secret() -> str:
    """The current origin secret of the stack the environment points at."""
    import boto3

    from chalicelib.config import get_settings
    from chalicelib.services.edge import accepted_values

    settings = get_settings()
    client = boto3.client("secretsmanager", region_name=settings.region)
    value = client.get_secret_value(SecretId=settings.origin_secret_name)["SecretString"]
    return accepted_values(value)[0]


class _ViaCdn(TestHTTPClient):
    def __init__(self, inner: TestHTTPClient, secret: str, viewer: str | None) -> None:
        self.__dict__.update(inner.__dict__)
        self._secret = secret
        self._viewer = viewer

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> Any:
        # like CloudFront: whatever the caller sent under these names is replaced
        sent = {
            k: v
            for k, v in (headers or {}).items()
            if k.lower() != ORIGIN_HEADER.lower() and not k.lower().startswith("cloudfront-")
        }
        sent[ORIGIN_HEADER] = self._secret
        if self._viewer:
            sent["CloudFront-Viewer-Address"] = self._viewer
        return super().request(method, path, headers=sent, body=body)


class CloudFrontClient(Client):
    """A chalice test client whose every request comes through the distribution.

    `viewer` is the client address CloudFront reports ("ip:port"); without it the API falls
    back to the connection's source address, as chalice's gateway sets it.
    """

    def __init__(self, app: Any, secret: str, viewer: str | None = None) -> None:
        super().__init__(app)
        self._secret = secret
        self._viewer = viewer
        self._via_cdn: _ViaCdn | None = None

    @property
    def http(self) -> TestHTTPClient:
        if self._via_cdn is None:
            self._via_cdn = _ViaCdn(super().http, self._secret, self._viewer)
        return self._via_cdn

    def from_viewer(self, viewer: str) -> _ViaCdn:
        """The same client, its requests coming from another client address."""
        return _ViaCdn(super().http, self._secret, viewer)

    @property
    def direct(self) -> TestHTTPClient:
        """Requests as they would reach the execute-api URL directly: no CDN headers added."""
        return super().http
