"""Builders for integration tests: stores, owners with real Cognito users, invoices."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

from chalicelib.domain.invoices import InvoiceLine
from chalicelib.domain.stores import Address
from chalicelib.services.stores import NewStore

PASSWORD = "Sicheres-Passwort-2026"


def unique_email(prefix: str = "owner") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@restaurant.example"


def make_store(container: Any, name: str = "Trattoria Test", email: str | None = None) -> str:
    return str(
        container.store_service.create(
            NewStore(
                name=name,
                email=email or unique_email(),
                address=Address("Teststraße 1", "10115", "Berlin", "DE"),
                vat_id="DE111111117",
            )
        )
    )


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[-1]


def invite(container: Any, store_id: str) -> str:
    return token_of(container.invitation_service.send(store_id).url)


def body(response: Any) -> Any:
    return json.loads(response.body) if response.body else None


def post(
    api: Any, path: str, payload: Any = None, token: str | None = None, raw: bytes | None = None
) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = raw if raw is not None else (json.dumps(payload) if payload is not None else b"")
    return api.http.post(path, headers=headers, body=data)


def get(api: Any, path: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return api.http.get(path, headers=headers)


def owner(api: Any, container: Any, name: str = "Trattoria Test") -> tuple[str, str, str]:
    """A store whose owner accepted the invitation and signed in: (store_id, email, token)."""
    email = unique_email()
    store_id = make_store(container, name=name, email=email)
    token = invite(container, store_id)
    accepted = post(api, f"/api/invitations/{token}/accept", {"password": PASSWORD})
    assert accepted.status_code == 201, accepted.body
    login = post(api, "/api/auth/login", {"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.body
    return store_id, email, body(login)["access_token"]


def issue(container: Any, store_id: str, net_cents: int = 4900, count: int = 1) -> list[Any]:
    return [
        container.invoice_issuer.issue(
            store_id, [InvoiceLine(f"SIDES Kassenlizenz {i}", 1, net_cents, Decimal(19))]
        )
        for i in range(count)
    ]
