"""SupportRepository: the same behaviour from fake and DynamoDB."""

from __future__ import annotations

import pytest

from chalicelib.domain.errors import ConflictError
from chalicelib.services.ports import SupportRequest
from tests.contract import repos_fixture  # noqa: F401
from tests.fakes import T0, unique


def _request(**fields) -> SupportRequest:
    values = {
        "id": unique("sr_"),
        "store_id": unique("st_"),
        "subject": "Frage zur Rechnung",
        "message": "Hallo, warum ist die Rechnung höher als letzten Monat?",
        "invoice_id": unique("inv_"),
        "created_at": T0,
    }
    values.update(fields)
    return SupportRequest(**values)


@pytest.mark.parametrize("invoice_id", ["with", None])
def test_add_stores_the_request(repos, invoice_id):
    # Given a support request, about an invoice or not
    request = _request(invoice_id=unique("inv_") if invoice_id else None)

    # When it is added
    repos.support_requests.add(request)

    # Then the backend holds every field
    assert repos.stored_support_request(request.id) == dict(request.__dict__)


def test_adding_a_request_id_twice_keeps_the_first(repos):
    # Given a stored request
    first = _request()
    repos.support_requests.add(first)

    # When another request with the same id is added
    with pytest.raises(ConflictError):
        repos.support_requests.add(_request(id=first.id, subject="Überschrieben?"))

    # Then the first is kept
    assert repos.stored_support_request(first.id)["subject"] == first.subject
