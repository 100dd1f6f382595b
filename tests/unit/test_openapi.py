"""The OpenAPI document describes exactly the routes the code has."""

from __future__ import annotations

from app import app
from chalicelib.api import openapi


def test_every_route_is_in_the_document_and_nothing_else():
    problems = openapi.disagreements(app.routes)
    assert not problems, "\n".join(problems)


def test_the_document_lists_every_operation_with_its_errors():
    document = openapi.document()
    assert document["openapi"].startswith("3.1")
    operations = {
        (method.upper(), path): op
        for path, item in document["paths"].items()
        for method, op in item.items()
    }
    assert set(operations) == set(openapi.OPERATIONS)
    for (_, path), op in operations.items():
        statuses = set(op["responses"])
        assert {"400", "403", "429", "503"} <= statuses, path
        if op["security"]:
            assert "401" in statuses, path
        if "requestBody" in op:
            assert "413" in statuses, path
        for name in (p[1:-1] for p in path.split("/") if p.startswith("{")):
            assert any(p["name"] == name and p["in"] == "path" for p in op["parameters"]), path


def test_the_document_is_valid_openapi():
    import schemathesis

    schema = schemathesis.openapi.from_dict(openapi.document())
    assert len(list(schema.get_all_operations())) == len(openapi.OPERATIONS)


def test_a_missing_or_stale_route_is_named():
    # the check above must be able to fail, and say which route is missing
    trimmed = dict(openapi.OPERATIONS)
    del trimmed[("GET", "/api/profile")]
    trimmed[("GET", "/api/nowhere")] = openapi.Operation("weg", {200: None})

    assert openapi.disagreements(app.routes, trimmed) == [
        "Route GET /api/profile fehlt in chalicelib/api/openapi.py (OPERATIONS)",
        "OPERATIONS nennt GET /api/nowhere, die Route gibt es im Code nicht",
    ]
