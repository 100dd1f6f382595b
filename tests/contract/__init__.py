"""Contract suites: one behavioural suite per repository port, run against the in-memory
fake and against the real DynamoDB adapter on the session's moto server, so the fakes
cannot drift from what production does.

Test modules import `repos_fixture` (the fixture named `repos`, parametrized over both
backends) from here. The moto server is shared by the whole session, so every test uses
its own ids, e-mail addresses, rate-limit keys and invoice year.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Callable
from typing import Any

import pytest

from tests.fakes import (
    FakeDocumentRecords,
    FakeInvitations,
    FakeInvoices,
    FakeLedger,
    FakeMemberships,
    FakeProcessedEvents,
    FakeRateLimiter,
    FakeStores,
    FakeSupport,
    make_store,
    unique,
)

# Each test numbers its invoices in a year of its own, because the counter is per year and
# the moto tables live as long as the session.
_years = itertools.count(random.Random().randrange(3000, 9000, 100))


def fresh_year() -> int:
    return next(_years)


class Repos:
    """The repositories of one backend, under the names of the container."""

    def __init__(self, kind: str, source: Any) -> None:
        self.kind = kind
        self._source = source

    @property
    def stores(self) -> Any:
        return self._source.stores

    @property
    def memberships(self) -> Any:
        return self._source.memberships

    @property
    def invitations(self) -> Any:
        return self._source.invitations

    @property
    def invoices(self) -> Any:
        return self._source.invoices

    @property
    def support_requests(self) -> Any:
        return self._source.support_requests

    @property
    def limiter(self) -> Any:
        return self._source.limiter

    @property
    def ledger(self) -> Any:
        return self._source.ledger

    @property
    def processed_events(self) -> Any:
        return self._source.processed_events

    @property
    def document_records(self) -> Any:
        return self._source.document_records

    def stored_support_request(self, request_id: str) -> dict[str, Any] | None:
        """What the backend holds for a support request (the port has no read method)."""
        if self.kind == "fake":
            request = self.support_requests.requests.get(request_id)
            return None if request is None else dict(request.__dict__)
        from pynamodb.exceptions import DoesNotExist

        from chalicelib.adapters.dynamo_models import SupportRequestRecord

        try:
            record = SupportRequestRecord.get(request_id, consistent_read=True)
        except DoesNotExist:
            return None
        return {
            "id": record.request_id,
            "store_id": record.store_id,
            "subject": record.subject,
            "message": record.message,
            "invoice_id": record.invoice_id,
            "created_at": record.created_at,
        }

    def purge_invitation(self, token_hash: str) -> None:
        """Remove an invitation record the way the table's TTL does."""
        if self.kind == "fake":
            del self.invitations.invitations[token_hash]
            return
        from chalicelib.adapters.dynamo_models import InvitationRecord

        InvitationRecord(token_hash=token_hash).delete()

    def new_store(self, **fields: Any) -> Any:
        """A stored store with a unique id and e-mail, as the backend returns it."""
        email = f"{unique('owner-')}@contract.example"
        store = make_store(id=unique("st_"), billing_email=email, **fields)
        self.stores.add(store)
        return self.stores.get(store.id)


class _FakeSource:
    def __init__(self) -> None:
        self.stores = FakeStores()
        self.memberships = FakeMemberships()
        self.invitations = FakeInvitations()
        self.invoices = FakeInvoices(self.stores)
        self.support_requests = FakeSupport()
        self.limiter = FakeRateLimiter()
        self.ledger = FakeLedger(self.invoices)
        self.processed_events = FakeProcessedEvents()
        self.document_records = FakeDocumentRecords(self.invoices)


@pytest.fixture(name="repos", params=["fake", "dynamo"])
def repos_fixture(request: pytest.FixtureRequest) -> Repos:
    if request.param == "fake":
        return Repos("fake", _FakeSource())
    return Repos("dynamo", request.getfixturevalue("container"))


def exactly_one_won(repos: Repos, results: list[tuple[str, Any]], error: type) -> None:
    """Assert a race had one winner and the loser got `error`.

    The moto server evaluates a conditional write's condition and applies the write without
    a lock, so two requests can both pass the condition there (real DynamoDB decides each
    item's conditional writes one at a time). Only that outcome, on moto, is reported as an
    expected failure; everything else must hold exactly.
    """
    kinds = sorted(kind for kind, _ in results)
    if repos.kind == "dynamo" and kinds == ["ok", "ok"]:
        pytest.xfail("moto server does not serialize concurrent conditional writes")
    assert kinds == ["error", "ok"], results
    loser = next(value for kind, value in results if kind == "error")
    assert isinstance(loser, error), results


def race(*calls: Callable[[], Any]) -> list[tuple[str, Any]]:
    """Run the calls at the same moment on threads; ("ok", result) or ("error", exception)."""
    barrier = threading.Barrier(len(calls))
    results: list[tuple[str, Any]] = [("error", None)] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[index] = ("ok", call())
        except Exception as exc:
            results[index] = ("error", exc)

    threads = [threading.Thread(target=run, args=(index, call)) for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results
