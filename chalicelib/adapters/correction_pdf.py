"""Corrections as PDF (Stornorechnung, Gutschrift/Rechnungskorrektur), in the invoices'
letterhead: the corrected amounts per tax rate with the opposite sign, and the invoice they
correct by number and date (§14 Abs. 4 UStG, §31 Abs. 5 UStDV)."""

from __future__ import annotations

import dataclasses

from fpdf.enums import Align, XPos, YPos

from chalicelib.adapters import invoice_pdf as layout
from chalicelib.domain.documents import Document, DocumentKind
from chalicelib.domain.invoices import Invoice, InvoiceStatus
from chalicelib.domain.money import format_eur
from chalicelib.domain.stores import Store
from chalicelib.domain.supplier import Supplier

_TITLES = {
    DocumentKind.CANCELLATION: "Stornorechnung",
    DocumentKind.CREDIT_NOTE: "Rechnungskorrektur (Gutschrift)",
}


def render_correction_pdf(
    document: Document, invoice: Invoice, store: Store, supplier: Supplier
) -> bytes:
    pdf = layout._InvoiceDocument(supplier)
    title = _TITLES[document.kind]
    pdf.set_title(f"{title} {document.number}")
    pdf.set_author(supplier.name)
    # A fixed timestamp keeps re-renders of the same document byte-identical.
    pdf.set_creation_date(layout._midnight_utc(document.issue_date))
    pdf.add_page()
    layout._draw_letterhead(pdf, supplier)
    layout._draw_recipient(pdf, store, supplier)
    _draw_meta(pdf, document, invoice)
    pdf.set_xy(layout._MARGIN_LEFT, 90.0)
    layout._font(pdf, 20, "B")
    pdf.cell(150, 10, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    layout._font(pdf, 10, color=layout._MUTED)
    pdf.multi_cell(
        layout._CONTENT_WIDTH,
        5,
        _intro(document, invoice),
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
        align=Align.L,
    )
    pdf.ln(4)
    layout._draw_lines_table(pdf, document.lines)
    layout._draw_totals(pdf, _as_invoice(document, invoice))
    pdf.ln(6)
    layout._font(pdf, 10)
    pdf.multi_cell(
        layout._CONTENT_WIDTH,
        5,
        _closing(document),
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
        align=Align.L,
    )
    return bytes(pdf.output())


def _draw_meta(pdf: layout._InvoiceDocument, document: Document, invoice: Invoice) -> None:
    rows = [
        ("Belegnummer", document.number),
        ("Datum", layout._de_date(document.issue_date)),
        ("Zur Rechnung", invoice.number),
        ("vom", layout._de_date(invoice.issue_date)),
    ]
    width = layout._right_edge() - layout._META_X
    for index, (label, value) in enumerate(rows):
        pdf.set_xy(layout._META_X, 50 + index * 5.5)
        layout._font(pdf, 9, color=layout._MUTED)
        pdf.cell(width * 0.42, 5.5, label)
        layout._font(pdf, 9, "B" if index == 0 else "")
        pdf.cell(width * 0.58, 5.5, value, align=Align.R)


def _intro(document: Document, invoice: Invoice) -> str:
    what = (
        f"Hiermit stornieren wir die Rechnung {invoice.number} vom "
        f"{layout._de_date(invoice.issue_date)} vollständig."
        if document.kind == DocumentKind.CANCELLATION
        else f"Hiermit korrigieren wir die Rechnung {invoice.number} vom "
        f"{layout._de_date(invoice.issue_date)} um die folgenden Beträge."
    )
    reason = f" Grund: {document.reason}" if document.reason else ""
    return what + reason


def _closing(document: Document) -> str:
    amount = format_eur(-document.gross_cents)
    if document.kind == DocumentKind.CANCELLATION:
        return "Die Rechnung ist damit aufgehoben; du musst sie nicht mehr bezahlen."
    if document.refund is not None:
        return f"Den Betrag von {amount} erstatten wir dir auf dem Weg, auf dem du bezahlt hast."
    return f"Der offene Betrag der Rechnung verringert sich um {amount}."


def _as_invoice(document: Document, invoice: Invoice) -> Invoice:
    """The totals block reads an invoice's totals; a correction's lines give its own."""
    return dataclasses.replace(
        invoice,
        id=document.id,
        number=document.number,
        lines=document.lines,
        status=InvoiceStatus.OPEN,
        payments=(),
        documents=(),
    )
