"""Reads the e-mails the local stack sent (SES on moto keeps them)."""

from __future__ import annotations

import email
from email.policy import default as default_policy
from email.utils import parsedate_to_datetime
from typing import Any

import requests


def read_outbox(endpoint_url: str) -> list[dict[str, Any]]:
    data = requests.get(f"{endpoint_url.rstrip('/')}/moto-api/data.json", timeout=10).json()
    messages = []
    for raw in data.get("ses", {}).get("RawMessage", []):
        parsed = email.message_from_string(raw["raw_data"], policy=default_policy)
        body = parsed.get_body(preferencelist=("plain",))
        messages.append(
            {
                "to": str(parsed["To"]),
                "subject": str(parsed["Subject"]),
                "text": body.get_content() if body is not None else "",
                "sent_at": parsedate_to_datetime(str(parsed["Date"])).isoformat(),
            }
        )
    return messages
