"""The accountant in the loop: every document archived from now on (invoice, Stornorechnung,
credit note, receipt) also goes to the store's accountant, with its PDF and its e-invoice
XML, and is noted in the store's activity log.

A DocumentStore decorator: whoever issues a document archives it through the DocumentStore,
so this sees every new document without the issuing use cases knowing about accountants.
Invoices archive their XML before the PDF, corrections after it: a document is forwarded
once both of its files are there (receipts have no XML). Forwarding is best effort after
the document is safely archived; a failure is logged and never undoes or repeats issuing.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable
from datetime import date
from typing import Any

from chalicelib.domain.account import ActivityEntry
from chalicelib.domain.documents import DocumentKind
from chalicelib.services import emails
from chalicelib.services.activity import ActivityLog
from chalicelib.services.ports import (
    Clock,
    DocumentRepository,
    DocumentStore,
    Mail,
    Mailer,
    StoreRepository,
)

log = logging.getLogger("portal.forwarding")
DOCUMENT_ISSUED = "document_issued"
_INVOICE = re.compile(r"invoices/(?P<store>[^/]+)/(?P<number>[^/]+)\.(?P<ext>pdf|xml)")
_DOCUMENT = re.compile(r"documents/(?P<store>[^/]+)/(?P<id>[^/]+)\.(?P<ext>pdf|xml)")


@dataclasses.dataclass
class _Pending:
    store_id: str
    label: str
    number: str
    stem: str  # file name without extension
    pdf: bytes | None = None
    xml: bytes | None = None
    wants_xml: bool = True


def forwarding_mail(to: str, store_name: str, label: str, number: str, pending: _Pending) -> Mail:
    attachments = []
    if pending.pdf is not None:
        attachments.append(emails.pdf_attachment(f"{pending.stem}.pdf", pending.pdf))
    if pending.xml is not None:
        attachments.append(emails.xml_attachment(f"{pending.stem}.xml", pending.xml))
    text = (
        "Hallo,\n\n"
        f"anbei ein neuer Beleg von SIDES für „{store_name}“: {label} {number}"
        + (" (PDF und E-Rechnung als XML)" if pending.xml is not None else " (PDF)")
        + ".\n\n"
        f"Du bekommst diese E-Mail, weil „{store_name}“ dich im SIDES Kundenportal als "
        "Steuerberatung eingetragen hat. Belege eines ganzen Jahres gibt es dort auch als "
        "ZIP mit DATEV-Buchungsstapel.\n\n"
        f"{emails.SIGN_OFF}"
    )
    return Mail(
        to=to, subject=f"{label} {number} – {store_name}", text=text, attachments=tuple(attachments)
    )


@dataclasses.dataclass(frozen=True)
class Forwarding:
    """What forwarding needs; built on the first archived document only (readers of
    documents, such as the API's download links, never build a mailer for it)."""

    stores: StoreRepository
    records: DocumentRepository
    mailer: Mailer
    activity: ActivityLog
    clock: Clock


class ForwardingDocumentStore:
    """DocumentStore that forwards each newly archived document to the store's accountant."""

    def __init__(self, inner: DocumentStore, wiring: Callable[[], Forwarding]) -> None:
        self._inner = inner
        self._wiring = wiring
        self._pending: dict[str, _Pending] = {}

    def __getattr__(self, name: str) -> Any:  # anything else of the adapter (e.g. retention_of)
        return getattr(self._inner, name)

    # DocumentStore ---------------------------------------------------------------------

    def put_pdf(self, key: str, body: bytes, retain_until: date | None = None) -> None:
        self._inner.put_pdf(key, body, retain_until)
        self._archived(key, "pdf", body)

    def put_xml(self, key: str, body: bytes, retain_until: date | None = None) -> None:
        self._inner.put_xml(key, body, retain_until)
        self._archived(key, "xml", body)

    def get_pdf(self, key: str) -> bytes:
        return self._inner.get_pdf(key)

    def get_xml(self, key: str) -> bytes | None:
        return self._inner.get_xml(key)

    def presigned_download(self, key: str, filename: str, expires_in: int) -> str:
        return self._inner.presigned_download(key, filename, expires_in)

    # forwarding ------------------------------------------------------------------------

    def _archived(self, key: str, ext: str, body: bytes) -> None:
        try:
            base = key.rsplit(".", 1)[0]
            pending = self._pending.get(base) or self._describe(key)
            if pending is None:
                return
            self._pending[base] = pending
            if ext == "pdf":
                pending.pdf = body
            else:
                pending.xml = body
            if pending.pdf is not None and (pending.xml is not None or not pending.wants_xml):
                del self._pending[base]
                self._forward(pending)
        except Exception:  # noqa: BLE001 - the document is archived; never fail issuing
            log.exception("forwarding a new document failed")

    def _describe(self, key: str) -> _Pending | None:
        if found := _INVOICE.fullmatch(key):
            number = found["number"]
            # an invoice's XML comes first; a PDF without one is an invoice without XML
            return _Pending(found["store"], "Rechnung", number, f"Rechnung-{number}",
                            wants_xml=found["ext"] == "xml")  # fmt: skip
        if found := _DOCUMENT.fullmatch(key):
            document = self._wiring().records.get(found["id"])
            if document is None:
                return None
            return _Pending(
                found["store"],
                document.kind.label,
                document.number,
                document.pdf_filename.removesuffix(".pdf"),
                wants_xml=document.kind != DocumentKind.RECEIPT,
            )
        return None

    def _forward(self, pending: _Pending) -> None:
        wiring = self._wiring()
        store = wiring.stores.get(pending.store_id)
        if store is None:
            return
        if store.accountant_email:
            wiring.mailer.send(
                forwarding_mail(
                    store.accountant_email, store.name, pending.label, pending.number, pending
                )
            )
        wiring.activity.append(
            ActivityEntry(
                store.id,
                wiring.clock.now(),
                DOCUMENT_ISSUED,
                f"{pending.label} {pending.number} ausgestellt.",
            )
        )
