"""Request logs: JSON lines with the request's correlation id, never tokens or passwords."""

from __future__ import annotations

import json
import logging

from tests.integration.helpers import PASSWORD, invite, make_store


def _lines(text: str) -> list[dict]:
    lines = []
    for raw in text.splitlines():
        raw = raw.strip()
        if raw.startswith("{"):
            try:
                lines.append(json.loads(raw))
            except ValueError:
                continue
    return lines


def test_request_log_lines_carry_the_correlation_id_and_no_secrets(api, container, caplog):
    from chalicelib.api.observability import logger

    store_id = make_store(container)
    token = invite(container, store_id)
    # libraries at their production level (INFO); our own loggers as chatty as they get
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="portal")
    caplog.set_level(logging.DEBUG, logger="portal-api")
    caplog.clear()
    headers = {"X-Correlation-Id": "corr-test-42", "Content-Type": "application/json"}
    weak = api.http.post(
        f"/api/invitations/{token}/accept", headers=headers, body=json.dumps({"password": "kurz"})
    )
    good = api.http.post(
        f"/api/invitations/{token}/accept", headers=headers, body=json.dumps({"password": PASSWORD})
    )
    assert weak.status_code == 400 and good.status_code == 201
    assert good.headers["X-Correlation-Id"] == "corr-test-42"
    # each record as the Lambda's JSON log line (the formatter adds the correlation id)
    text = "\n".join(logger.registered_formatter.format(record) for record in caplog.records)
    requests = [line for line in _lines(text) if line.get("message") == "request handled"]
    assert len(requests) == 2
    assert all(line["correlation_id"] == "corr-test-42" for line in requests)
    assert {line["route"] for line in requests} == {"/api/invitations/{token}/accept"}
    assert [line["status"] for line in requests] == [400, 201]
    assert token not in text and PASSWORD not in text and "kurz" not in text


def test_correlation_id_is_generated_when_missing(api):
    response = api.http.get("/api/health")
    assert len(response.headers["X-Correlation-Id"]) >= 8
