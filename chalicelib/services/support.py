"""Use case of the support form: store the request, e-mail support and the owner."""

from __future__ import annotations

import dataclasses
import secrets

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
        self.mailer.send(
            emails.support_copy_mail(
                self.support_email, store.name, store.billing_email, subject, message, number
            )
        )
        self.mailer.send(emails.support_confirmation_mail(store.billing_email, subject, message))
        return request.id
