"""Reads the e-mails the local stack sent (SES on moto keeps them)."""

from __future__ import annotations

import email
from datetime import datetime
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import parsedate_to_datetime
from typing import Any
from zoneinfo import ZoneInfo

import requests

BERLIN = ZoneInfo("Europe/Berlin")


def _attachments(parsed: EmailMessage) -> list[dict[str, Any]]:
    found = []
    for part in parsed.iter_attachments():
        body = part.get_payload(decode=True)
        found.append(
            {
                "filename": part.get_filename() or "",
                "content_type": part.get_content_type(),
                "size": len(body) if isinstance(body, bytes) else 0,
            }
        )
    return found


def read_outbox(endpoint_url: str) -> list[dict[str, Any]]:
    # local/aws.py serves the mails alone (moto's data.json would be its whole state)
    data = requests.get(f"{endpoint_url.rstrip('/')}/_local/outbox", timeout=30).json()
    messages = []
    for raw in data.get("messages", []):
        parsed = email.message_from_string(raw, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        body = parsed.get_body(preferencelist=("plain",))
        messages.append(
            {
                "to": str(parsed["To"]),
                "subject": str(parsed["Subject"]),
                "text": body.get_content() if body is not None else "",
                "sent_at": parsedate_to_datetime(str(parsed["Date"])).isoformat(),
                "attachments": _attachments(parsed),
            }
        )
    return messages


def as_text(messages: list[dict[str, Any]]) -> str:
    """The mails for people: a header block per mail, then its text, oldest first."""
    if not messages:
        return "Noch keine E-Mails verschickt.\n"
    blocks = []
    for number, message in enumerate(messages, start=1):
        sent = datetime.fromisoformat(str(message["sent_at"])).astimezone(BERLIN)
        lines = [
            f"── E-Mail {number} von {len(messages)} " + "─" * 40,
            f"An:       {message['to']}",
            f"Betreff:  {message['subject']}",
            f"Gesendet: {sent.strftime('%d.%m.%Y %H:%M:%S')}",
        ]
        for attachment in message.get("attachments", []):
            size = f"{attachment['size']:,}".replace(",", ".")
            lines.append(
                f"Anhang:   {attachment['filename']} ({attachment['content_type']}, {size} Bytes)"
            )
        lines.append("")
        lines.append(str(message["text"]).rstrip("\n"))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"
