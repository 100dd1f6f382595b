"""The hardened edge of the running stack, as an attacker meets it through the front server."""

from __future__ import annotations

import json
import socket
import uuid
from typing import Any
from urllib.parse import urlsplit

import requests

PASSWORD = "Sicheres-Passwort-2026"


def _raw(url: str, request: bytes) -> tuple[int, dict[str, Any]]:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(payload) if payload else {}


def test_a_forged_viewer_address_in_any_case_does_not_escape_the_sign_in_limit(stack):
    login = f"{stack['url']}/api/auth/login"
    email = f"niemand-{uuid.uuid4().hex[:8]}@example.org"
    statuses = []
    for n in range(8):
        forged = {"cLoUdFrOnT-vIeWeR-aDdReSs": f"10.66.{n}.1:1", "X-Origin-Verify": "x"}
        answer = requests.post(
            login, json={"email": email, "password": "Falsch-123456"}, headers=forged, timeout=30
        )
        statuses.append(answer.status_code)
    # the pair (e-mail, real client address) is limited after 5 failures despite the header
    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429] * 3


def test_other_methods_and_malformed_requests_are_answered(stack):
    for method in (b"OPTIONS", b"TRACE"):
        status, body = _raw(stack["url"], method + b" /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status == 405 and body["error"]["code"] == "method_not_allowed"
    status, body = _raw(
        stack["url"],
        b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: zwei\r\n\r\n{}",
    )
    assert status == 400 and body["error"]["code"] == "invalid_request"


def test_health_is_ok_once_the_stack_is_ready(stack):
    answer = requests.get(f"{stack['url']}/api/health", timeout=30)
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}


def test_the_document_is_served_and_names_every_route(stack):
    document = requests.get(f"{stack['url']}/api/openapi.json", timeout=30).json()
    assert document["openapi"].startswith("3.1")
    assert "/api/profile" in document["paths"]
