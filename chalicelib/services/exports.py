"""The year's documents for the accountant: one ZIP with every PDF and e-invoice XML, an
overview CSV and a DATEV Buchungsstapel, handed out by a presigned URL.

A store has at most a few dozen documents a year (12 invoices, their receipts and rare
corrections), each well under 100 KB, so the ZIP is built within the request in well under
the API's time limit; it is stored under exports/ and fetched by the browser from S3.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import secrets
import zipfile
from datetime import date
from typing import Protocol

from chalicelib.domain import datev
from chalicelib.domain.documents import DocumentKind
from chalicelib.domain.errors import StoreNotFoundError
from chalicelib.domain.invoices import Invoice
from chalicelib.services.documents import xml_key as document_xml_key
from chalicelib.services.invoices import pdf_key, xml_key
from chalicelib.services.ports import (
    LINK_SECONDS,
    Clock,
    DocumentRepository,
    DocumentStore,
    DownloadLink,
    InvoiceRepository,
    StoreRepository,
)

KIND_LABEL = {
    "invoice": "Rechnung",
    "cancellation": "Stornorechnung",
    "credit_note": "Gutschrift",
    "receipt": "Zahlungsbestätigung",
}


class ExportStore(Protocol):
    def put_export(self, key: str, body: bytes) -> None: ...

    def presigned_download(self, key: str, filename: str, expires_in: int) -> str: ...


@dataclasses.dataclass(frozen=True)
class _Entry:
    kind: str
    number: str
    day: date
    gross_cents: int
    refers_to: str
    files: list[tuple[str, bytes]]
    bookings: list[datev.Booking]


def _invoice_bookings(invoice: Invoice) -> list[datev.Booking]:
    rows = []
    for rate, net, tax in invoice.totals.by_rate:
        key = datev.TAX_KEYS.get(int(rate), "") if rate % 1 == 0 else ""
        rows.append(
            datev.Booking(
                net + tax, True, datev.EXPENSE_ACCOUNT, datev.CREDITOR_ACCOUNT, key,
                invoice.issue_date, invoice.number, f"SIDES Lizenz {invoice.number}",
            )
        )  # fmt: skip
    return rows


@dataclasses.dataclass(frozen=True)
class DocumentExport:
    stores: StoreRepository
    invoices: InvoiceRepository
    documents: DocumentRepository
    files: DocumentStore
    exports: ExportStore
    clock: Clock

    def _invoices(self, store_id: str) -> list[Invoice]:
        found: list[Invoice] = []
        start = None
        while True:
            page = self.invoices.list_for_store(store_id, None, 100, start)
            # the list carries no documents: read each invoice whole
            found.extend(
                full
                for item in page.items
                if (full := self.invoices.get(item.id)) is not None and full.store_id == store_id
            )
            if not page.last_key:
                return found
            start = page.last_key

    def entries(self, store_id: str, year: int) -> list[_Entry]:
        entries: list[_Entry] = []
        for invoice in self._invoices(store_id):
            if invoice.issue_date.year == year and getattr(invoice, "ready", True):
                files = [
                    (f"Rechnungen/{invoice.pdf_filename}", self.files.get_pdf(pdf_key(invoice)))
                ]
                xml = self.files.get_xml(xml_key(invoice))
                if xml is not None:
                    files.append((f"Rechnungen/Rechnung-{invoice.number}.xml", xml))
                entries.append(
                    _Entry("invoice", invoice.number, invoice.issue_date,
                           invoice.totals.gross_cents, "", files, _invoice_bookings(invoice))
                )  # fmt: skip
            for summary in invoice.documents:
                if summary.issue_date.year != year or not summary.ready:
                    continue
                document = self.documents.get(summary.id)
                if document is None:
                    continue
                folder = "Zahlungen" if document.kind == DocumentKind.RECEIPT else "Korrekturen"
                files = [
                    (f"{folder}/{document.pdf_filename}", self.files.get_pdf(document.pdf_key))
                ]
                if document.kind != DocumentKind.RECEIPT:
                    xml = self.files.get_xml(document_xml_key(document.pdf_key))
                    if xml is not None:
                        stem = document.pdf_filename.removesuffix(".pdf")
                        files.append((f"{folder}/{stem}.xml", xml))
                gross = abs(summary.gross_cents)
                if document.kind == DocumentKind.RECEIPT:
                    booking = datev.Booking(
                        gross, True, datev.CREDITOR_ACCOUNT, datev.TRANSIT_ACCOUNT, "",
                        summary.issue_date, summary.number, f"Zahlung zu {invoice.number}",
                    )  # fmt: skip
                else:
                    booking = datev.Booking(
                        gross, False, datev.EXPENSE_ACCOUNT, datev.CREDITOR_ACCOUNT,
                        datev.TAX_KEYS[19], summary.issue_date, summary.number,
                        f"{KIND_LABEL[document.kind.value]} zu {invoice.number}",
                    )  # fmt: skip
                entries.append(
                    _Entry(document.kind.value, summary.number, summary.issue_date,
                           summary.gross_cents, invoice.number, files, [booking])
                )  # fmt: skip
        return sorted(entries, key=lambda e: (e.day, e.number))

    def build(self, store_id: str, year: int) -> bytes:
        store = self.stores.get(store_id)
        if store is None:
            raise StoreNotFoundError()
        entries = self.entries(store_id, year)
        overview = io.StringIO()
        writer = csv.writer(overview, delimiter=";", lineterminator="\r\n")
        writer.writerow(["Art", "Nummer", "Datum", "Betrag (EUR)", "Bezieht sich auf", "Dateien"])
        for entry in entries:
            writer.writerow(
                [KIND_LABEL[entry.kind], entry.number, entry.day.strftime("%d.%m.%Y"),
                 datev.amount(entry.gross_cents) if entry.gross_cents >= 0
                 else "-" + datev.amount(entry.gross_cents),
                 entry.refers_to, " ".join(name for name, _ in entry.files)]
            )  # fmt: skip
        bookings = [b for entry in entries for b in entry.bookings]
        stapel = datev.buchungsstapel(year, self.clock.now(), f"SIDES {year}", bookings)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("Uebersicht.csv", "\ufeff" + overview.getvalue())
            archive.writestr(f"EXTF_Buchungsstapel_SIDES_{year}.csv", stapel)
            for entry in entries:
                for name, body in entry.files:
                    archive.writestr(name, body)
        return buffer.getvalue()

    def export_year(self, store_id: str, year: int) -> DownloadLink:
        body = self.build(store_id, year)
        filename = f"SIDES-Belege-{year}.zip"
        key = f"exports/{store_id}/{year}-{secrets.token_hex(8)}.zip"
        self.exports.put_export(key, body)
        url = self.exports.presigned_download(key, filename, LINK_SECONDS)
        return DownloadLink(url=url, expires_in=LINK_SECONDS, filename=filename)
