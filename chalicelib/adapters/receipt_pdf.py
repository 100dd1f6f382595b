"""The receipt (Zahlungsbestätigung) as PDF, in the invoices' letterhead.

A receipt is no invoice under §14 UStG: it confirms that money for the listed invoices
arrived. It shares the invoice layout (letterhead, address window, footer with every
§35a GmbHG detail) so the two look like one company's papers.
"""

from __future__ import annotations

from collections.abc import Sequence

from fpdf import FontFace
from fpdf.enums import Align, TableBordersLayout, XPos, YPos

from chalicelib.adapters import invoice_pdf as layout
from chalicelib.domain.documents import Document
from chalicelib.domain.invoices import Invoice
from chalicelib.domain.money import format_eur
from chalicelib.domain.payments import Payment
from chalicelib.domain.stores import Store
from chalicelib.domain.supplier import Supplier

_METHOD_NAMES = {"card": "Kreditkarte", "paypal": "PayPal"}
_HEADINGS = ("Rechnung", "Rechnungsdatum", "Betrag")
_WIDTHS = (70.0, 50.0, 50.0)


def render_receipt_pdf(
    document: Document,
    payment: Payment,
    invoices: Sequence[Invoice],
    store: Store,
    supplier: Supplier,
) -> bytes:
    pdf = layout._InvoiceDocument(supplier)
    pdf.set_title(f"Zahlungsbestätigung {document.number}")
    pdf.set_author(supplier.name)
    # A fixed timestamp keeps re-renders of the same receipt byte-identical.
    pdf.set_creation_date(layout._midnight_utc(document.issue_date))
    pdf.add_page()
    layout._draw_letterhead(pdf, supplier)
    layout._draw_recipient(pdf, store, supplier)
    _draw_meta(pdf, document, payment)
    pdf.set_xy(layout._MARGIN_LEFT, 90.0)
    layout._font(pdf, 20, "B")
    pdf.cell(120, 10, "Zahlungsbestätigung", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    layout._font(pdf, 10, color=layout._MUTED)
    pdf.multi_cell(
        layout._CONTENT_WIDTH,
        5,
        "Wir bestätigen den Eingang deiner Zahlung für die folgenden Rechnungen. "
        "Diese Bestätigung ist keine Rechnung; die Umsatzsteuer steht auf den Rechnungen.",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
        align=Align.L,
    )
    pdf.ln(4)
    _draw_invoices(pdf, invoices)
    pdf.ln(3)
    layout._totals_row(pdf, "Gezahlter Betrag", format_eur(payment.amount_cents), bold=True)
    return bytes(pdf.output())


def _draw_meta(pdf: layout._InvoiceDocument, document: Document, payment: Payment) -> None:
    rows = [
        ("Belegnummer", document.number),
        ("Datum", layout._de_date(document.issue_date)),
        ("Zahlungsart", _METHOD_NAMES.get(payment.method, payment.method)),
    ]
    width = layout._right_edge() - layout._META_X
    for index, (label, value) in enumerate(rows):
        pdf.set_xy(layout._META_X, 50 + index * 5.5)
        layout._font(pdf, 9, color=layout._MUTED)
        pdf.cell(width * 0.42, 5.5, label)
        layout._font(pdf, 9, "B" if index == 0 else "")
        pdf.cell(width * 0.58, 5.5, value, align=Align.R)


def _draw_invoices(pdf: layout._InvoiceDocument, invoices: Sequence[Invoice]) -> None:
    layout._font(pdf, 9)
    pdf.set_draw_color(*layout._RULE)
    pdf.set_line_width(0.2)
    headings = FontFace(
        emphasis="BOLD", size_pt=8.5, color=layout._INK, fill_color=layout._HEAD_FILL
    )
    with pdf.table(
        width=sum(_WIDTHS),
        col_widths=_WIDTHS,
        text_align=(Align.L, Align.L, Align.R),
        borders_layout=TableBordersLayout.HORIZONTAL_LINES,
        headings_style=headings,
        line_height=5,
        padding=(1.6, 1.5),
    ) as table:
        table.row(_HEADINGS)
        for invoice in invoices:
            table.row(
                (
                    invoice.number,
                    layout._de_date(invoice.issue_date),
                    format_eur(invoice.totals.gross_cents),
                )
            )
