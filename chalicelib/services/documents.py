"""What an owner may read of the documents issued for their invoices (receipts, corrections)."""

from __future__ import annotations

import dataclasses

from chalicelib.domain.documents import Document, DocumentKind
from chalicelib.domain.errors import DocumentNotFoundError
from chalicelib.services.ports import LINK_SECONDS, DocumentRepository, DocumentStore, DownloadLink

# The documents that are e-invoices (receipts are not): their XRechnung is stored next to
# the PDF under xml_key(document.pdf_key).
E_INVOICE_KINDS = (DocumentKind.INVOICE, DocumentKind.CANCELLATION, DocumentKind.CREDIT_NOTE)


def xml_key(pdf_key: str) -> str:
    return pdf_key.removesuffix(".pdf") + ".xml"


@dataclasses.dataclass(frozen=True)
class DocumentReader:
    documents: DocumentRepository
    files: DocumentStore

    def get(self, store_id: str, document_id: str) -> Document:
        document = self.documents.get(document_id)
        # Another store's document, and one whose PDF is not stored yet, answer exactly
        # like one that does not exist.
        if document is None or document.store_id != store_id or not document.ready:
            raise DocumentNotFoundError()
        return document

    def pdf_link(self, store_id: str, document_id: str) -> DownloadLink:
        document = self.get(store_id, document_id)
        url = self.files.presigned_download(document.pdf_key, document.pdf_filename, LINK_SECONDS)
        return DownloadLink(url, LINK_SECONDS, document.pdf_filename)

    def xml_link(self, store_id: str, document_id: str) -> DownloadLink:
        """The XRechnung of an invoice, Stornorechnung or credit note; a receipt has none
        and answers like a document that does not exist."""
        document = self.get(store_id, document_id)
        if document.kind not in E_INVOICE_KINDS:
            raise DocumentNotFoundError()
        filename = document.pdf_filename.removesuffix(".pdf") + ".xml"
        url = self.files.presigned_download(xml_key(document.pdf_key), filename, LINK_SECONDS)
        return DownloadLink(url, LINK_SECONDS, filename)
