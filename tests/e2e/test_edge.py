"""The edge of the running stack (front server + API) answers bad requests in the contract's
shape, as CloudFront and API Gateway do in AWS."""

from __future__ import annotations

from typing import Any

import requests


def _error(response: requests.Response) -> str:
    assert response.headers["Content-Type"].startswith("application/json")
    return str(response.json()["error"]["code"])


def test_unknown_routes_and_methods_are_404(stack: dict[str, Any]) -> None:
    base = stack["url"]
    assert _error(requests.get(f"{base}/api/nope", timeout=10)) == "not_found"
    response = requests.delete(f"{base}/api/health", timeout=10)
    assert response.status_code == 404 and _error(response) == "not_found"
    # with a token for a route that does not exist: the same answer, the token not echoed
    bearer = {"Authorization": "Bearer secret-token-123"}
    response = requests.get(f"{base}/api/nonexistent", headers=bearer, timeout=10)
    assert response.status_code == 404 and _error(response) == "not_found"
    assert "secret-token-123" not in response.text


def test_bad_bodies_are_4xx_in_the_contract_shape(stack: dict[str, Any]) -> None:
    base = stack["url"]
    xml = requests.post(
        f"{base}/api/auth/login",
        data=b"<x/>",
        headers={"Content-Type": "application/xml"},
        timeout=10,
    )
    assert xml.status_code == 400 and _error(xml) == "invalid_request"
    big = requests.post(
        f"{base}/api/auth/forgot-password",
        data=b"{" + b" " * 70000 + b"}",
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert big.status_code == 413 and _error(big) == "payload_too_large"


def test_pages_carry_the_security_headers(stack: dict[str, Any]) -> None:
    page = requests.get(stack["url"] + "/", timeout=10)
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
