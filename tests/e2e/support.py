"""Helpers the end-to-end tests share: test ids, tokens through the API, the outbox."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests
from playwright.sync_api import Page


def _tag() -> str:
    return uuid.uuid4().hex[:8]


def api_token(stack: dict[str, Any], owner: dict[str, Any]) -> str:
    response = requests.post(
        f"{stack['url']}/api/auth/login",
        json={"email": owner["email"], "password": owner["password"]},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def wait_for_mail(
    stack: dict[str, Any], matches: Callable[[dict[str, Any]], bool], timeout_s: float = 15.0
) -> dict[str, Any]:
    from local.outbox import read_outbox

    deadline = time.monotonic() + timeout_s
    while True:
        hits = [m for m in read_outbox(stack["env"]["AWS_ENDPOINT_URL"]) if matches(m)]
        if hits:
            return hits[-1]
        if time.monotonic() > deadline:
            pytest.fail(f"Keine passende E-Mail nach {timeout_s:.0f} s im Postausgang.")
        time.sleep(0.3)


def badge(page: Page) -> Any:
    """The status badge of the invoice on its detail page (the only one there: strict)."""
    return page.get_by_test_id("invoice-status")
