"""The SES mailer on moto: attachments travel as MIME parts; a refused send is reported as
service_unavailable, not as a raw SDK error."""

from __future__ import annotations

import pytest

from chalicelib.adapters.ses_mailer import SesMailer
from chalicelib.domain.errors import ServiceUnavailableError
from chalicelib.services.ports import Attachment, Mail
from local.outbox import read_outbox
from tests.integration.helpers import unique_email


def test_attachments_arrive_with_name_type_and_size(container, aws_stack):
    to = unique_email("anhang")
    body = b"%PDF-1.4 " + bytes(range(256)) * 8

    container.mailer.send(
        Mail(to, "Mit Anhang", "Hallo", (Attachment("Rechnung-RE-1.pdf", "application/pdf", body),))
    )

    (mail,) = [m for m in read_outbox(aws_stack["AWS_ENDPOINT_URL"]) if m["to"] == to]
    assert mail["text"].strip() == "Hallo"
    assert mail["attachments"] == [
        {"filename": "Rechnung-RE-1.pdf", "content_type": "application/pdf", "size": len(body)}
    ]


def test_a_refused_send_is_service_unavailable(container):
    # moto, like SES, refuses a sender that is not a verified identity
    mailer = SesMailer(container._client("ses"), "nobody@not-verified.example", container.clock)

    with pytest.raises(ServiceUnavailableError):
        mailer.send(Mail(unique_email(), "Betreff", "Text"))
