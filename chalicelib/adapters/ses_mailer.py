"""Sends the portal's e-mails through SES as proper MIME messages (with attachments)."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.errors import ServiceUnavailableError
from chalicelib.services.ports import Clock, Mail


class SesMailer:
    """Mailer on SES (raw messages, so headers such as Date are ours)."""

    def __init__(self, client: Any, sender: str, clock: Clock) -> None:
        self._client = client
        self._sender = sender
        self._clock = clock

    def send(self, mail: Mail) -> None:
        message = EmailMessage()
        message["From"] = f"SIDES Kundenportal <{self._sender}>"
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Date"] = format_datetime(self._clock.now())
        message["Message-ID"] = make_msgid(domain=self._sender.split("@")[-1])
        message.set_content(mail.text)
        for attachment in mail.attachments:
            maintype, _, subtype = attachment.content_type.partition("/")
            message.add_attachment(
                attachment.body,
                maintype=maintype,
                subtype=subtype or "octet-stream",
                filename=attachment.filename,
            )
        try:
            self._client.send_raw_email(
                Source=self._sender,
                Destinations=[mail.to],
                RawMessage={"Data": message.as_bytes()},
            )
        except (ClientError, BotoCoreError) as exc:
            # Throttled, rejected or unreachable: the caller decides whether to retry.
            raise ServiceUnavailableError("Die E-Mail konnte nicht verschickt werden.") from exc
