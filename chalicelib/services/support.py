"""Use case of the support form: store the request, e-mail support and the owner."""

from __future__ import annotations

import dataclasses
import secrets
import unicodedata

from chalicelib.domain.errors import StoreNotFoundError
from chalicelib.services import emails
from chalicelib.services.invoices import InvoiceReader
from chalicelib.services.ports import (
    Clock,
    Mailer,
    StoreRepository,
    SupportRepository,
    SupportRequest,
)


@dataclasses.dataclass(frozen=True)
class SupportService:
    requests: SupportRepository
    stores: StoreRepository
    invoices: InvoiceReader
    mailer: Mailer
    clock: Clock
    support_email: str

    def submit(self, store_id: str, subject: str, message: str, invoice_id: str | None) -> str:
        number = self.invoices.get(store_id, invoice_id).number if invoice_id else None
        store = self.stores.get(store_id)
        if store is None:
            raise StoreNotFoundError()
        request = SupportRequest(
            id="sr_" + secrets.token_hex(8),
            store_id=store_id,
            subject=subject,
            message=message,
            invoice_id=invoice_id,
            created_at=self.clock.now(),
        )
        self.requests.add(request)
        # Stored data goes into mail headers here (the subject line): made one line first,
        # so a name stored with a line break (from before names were checked) cannot break
        # the mail or add headers to it.
        name, line = header_safe(store.name), header_safe(subject)
        self.mailer.send(
            emails.support_copy_mail(
                self.support_email, name, store.billing_email, line, message, number
            )
        )
        self.mailer.send(emails.support_confirmation_mail(store.billing_email, line, message))
        return request.id


def header_safe(text: str, limit: int = 200) -> str:
    """One line of printable text for a mail header: control characters and line breaks
    become spaces, runs of white space one space."""
    cleaned = "".join(
        " " if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") else c for c in text
    )
    return " ".join(cleaned.split())[:limit]
