"""Render an invoice as a one-page German A4 PDF carrying every §14 Abs. 4 UStG field."""

from __future__ import annotations

import calendar
import dataclasses
import functools
import logging
import unicodedata
import zlib
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from importlib import resources
from io import BytesIO
from pathlib import Path
from types import MappingProxyType
from typing import Any

from fontTools import subset as ftsubset
from fontTools.ttLib import TTFont
from fpdf import FPDF, FontFace
from fpdf.enums import Align, FontDescriptorFlags, TableBordersLayout, TextEmphasis, XPos, YPos
from fpdf.fonts import PDFFontDescriptor, SubsetMap, TTFFont
from fpdf.output import (
    CIDSystemInfo,
    OutputProducer,
    PDFFont,
    _build_cmap_blocks,
    _cid_font_widths,
)
from fpdf.syntax import Name, PDFArray, PDFContentStream

from chalicelib.domain.invoices import Invoice, InvoiceLine, InvoiceStatus, list_group
from chalicelib.domain.money import format_eur
from chalicelib.domain.stores import Address, Store
from chalicelib.domain.supplier import Supplier

# PDF/A embeds every font, so the built-in Helvetica is out: Lato (SIL OFL) ships as a wheel
# on PyPI (font-lato) and is embedded as a subset of the glyphs a document uses.
_FONT = "Lato"
_FONT_FILES = {"": "Lato-Regular.ttf", "B": "Lato-Bold.ttf"}
# Every invoice PDF is PDF/A-3B: the e-invoice (ZUGFeRD / Factur-X) embeds its XML into it.
PDFA = "PDF/A-3B"
_MARGIN_LEFT = 20.0
_MARGIN_RIGHT = 20.0
_MARGIN_TOP = 16.0
_FOOTER_HEIGHT = 30.0
_CONTENT_WIDTH = 210.0 - _MARGIN_LEFT - _MARGIN_RIGHT
_META_X = 115.0
_TOTALS_X = 105.0

_INK = (33, 37, 41)
_MUTED = (108, 117, 125)
_ACCENT = (0, 82, 147)
_RULE = (206, 212, 218)
_HEAD_FILL = (238, 242, 246)
_VOID = (200, 30, 45)

_EN_DASH = "\u2013"

_COUNTRY_NAMES = {"AT": "Österreich", "CH": "Schweiz"}

# Characters outside cp1252 that have an obvious stand-in; NFKD handles most of the rest.
_CP1252_STAND_INS = {"\u2010": "-", "\u2011": "-", "\u2212": "-", "\u2044": "/"}

_TABLE_HEADINGS = ("Pos.", "Menge", "Beschreibung", "Einzelpreis netto", "USt.", "Betrag netto")
_TABLE_WIDTHS = (10.0, 14.0, 72.0, 30.0, 14.0, 30.0)
_TABLE_ALIGN = (Align.R, Align.R, Align.L, Align.R, Align.R, Align.R)


def render_invoice_pdf(
    invoice: Invoice,
    store: Store,
    supplier: Supplier,
    *,
    attach: Callable[[FPDF], None] | None = None,
) -> bytes:
    """The invoice as PDF/A-3B; `attach` may add associated files and metadata before it is
    written (chalicelib/adapters/einvoice.py embeds the e-invoice XML that way)."""
    pdf = _InvoiceDocument(supplier)
    pdf.set_title(f"Rechnung {invoice.number}")
    pdf.set_author(supplier.name)
    pdf.set_subject(invoice.description or f"Rechnung {invoice.number}")
    # A fixed timestamp keeps re-renders of the same invoice byte-identical.
    pdf.set_creation_date(_midnight_utc(invoice.issue_date))
    pdf.add_page()
    _draw_letterhead(pdf, supplier)
    _draw_recipient(pdf, store, supplier)
    _draw_meta(pdf, invoice)
    _draw_title(pdf, invoice)
    _draw_lines_table(pdf, invoice.lines)
    _draw_totals(pdf, invoice)
    _draw_payment(pdf, invoice, supplier)
    if attach is not None:
        attach(pdf)
    return bytes(pdf.output())


@functools.cache
def _font_path(filename: str) -> str:
    return str(resources.files("font_lato") / "files" / filename)


class _InvoiceDocument(FPDF):
    def __init__(self, supplier: Supplier) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4", enforce_compliance=PDFA)
        self._supplier = supplier
        for style in _FONT_FILES:
            fontkey = f"{_FONT.lower()}{style}"
            self.fonts[fontkey] = _LatoFont(_lato(style), index=len(self.fonts) + 1, key=fontkey)
        self.set_lang("de-DE")
        self.set_margins(_MARGIN_LEFT, _MARGIN_TOP, _MARGIN_RIGHT)
        self.set_auto_page_break(auto=True, margin=_FOOTER_HEIGHT + 6)
        self.alias_nb_pages()
        self.set_text_color(*_INK)

    def output(self, *args: Any, **kwargs: Any) -> Any:
        # The fonts come from the process-wide font cache (see _CachedFontsOutput).
        kwargs.setdefault("output_producer_class", _CachedFontsOutput)
        return super().output(*args, **kwargs)

    def normalize_text(self, text: str) -> str:
        # Every string passes through here, so store names from anywhere cannot crash a render
        # (cp1252 is what the font certainly covers).
        return super().normalize_text(_to_cp1252(text))

    def footer(self) -> None:
        self.set_y(-_FOOTER_HEIGHT)
        _rule(self, self.get_y())
        self.ln(2.5)
        _draw_footer_columns(self, self._supplier)
        self.set_xy(_MARGIN_LEFT, -9)
        _font(self, 7, color=_MUTED)
        self.cell(_CONTENT_WIDTH, 4, f"Seite {self.page_no()} von {{nb}}", align=Align.R)


def _draw_letterhead(pdf: FPDF, supplier: Supplier) -> None:
    top = pdf.get_y()
    _font(pdf, 20, "B", color=_ACCENT)
    pdf.cell(90, 10, supplier.name)
    contact = (
        supplier.address.street,
        _city_line(supplier.address),
        supplier.email,
        supplier.phone,
    )
    _font(pdf, 8.5, color=_MUTED)
    for offset, text in enumerate(contact):
        pdf.set_xy(_META_X, top + offset * 4.2)
        pdf.cell(_right_edge() - _META_X, 4.2, text, align=Align.R)
    _rule(pdf, top + 20, color=_ACCENT, width=0.6)


def _draw_recipient(pdf: FPDF, store: Store, supplier: Supplier) -> None:
    sender = f"{supplier.name} · {_one_line(supplier.address)}"
    pdf.set_xy(_MARGIN_LEFT, 46)
    _font(pdf, 7, "U", color=_MUTED)
    pdf.cell(85, 4, sender, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    _font(pdf, 10.5, "B")
    pdf.multi_cell(85, 5, store.name, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    _font(pdf, 10.5)
    for text in _address_lines(store.address):
        pdf.cell(85, 5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if store.vat_id:
        pdf.ln(1.5)
        _font(pdf, 9, color=_MUTED)
        pdf.cell(85, 4.5, f"USt-IdNr.: {store.vat_id}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _draw_meta(pdf: FPDF, invoice: Invoice) -> None:
    rows = [
        ("Rechnungsnummer", invoice.number),
        ("Rechnungsdatum", _de_date(invoice.issue_date)),
        _service_row(invoice),
        ("Fälligkeitsdatum", _de_date(invoice.due_date)),
    ]
    width = _right_edge() - _META_X
    for index, (label, value) in enumerate(rows):
        pdf.set_xy(_META_X, 50 + index * 5.5)
        _font(pdf, 9, color=_MUTED)
        pdf.cell(width * 0.42, 5.5, label)
        _font(pdf, 9, "B" if index == 0 else "")
        pdf.cell(width * 0.58, 5.5, value, align=Align.R)


def _draw_title(pdf: FPDF, invoice: Invoice) -> None:
    top = 90.0
    pdf.set_xy(_MARGIN_LEFT, top)
    _font(pdf, 20, "B")
    pdf.cell(100, 10, "Rechnung")
    if invoice.status is InvoiceStatus.VOID:
        _draw_void_stamp(pdf, top)
    pdf.set_xy(_MARGIN_LEFT, top + 11)
    if invoice.description:
        _font(pdf, 10, color=_MUTED)
        pdf.multi_cell(_CONTENT_WIDTH, 5, invoice.description, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)


def _draw_void_stamp(pdf: FPDF, top: float) -> None:
    width = 52.0
    pdf.set_draw_color(*_VOID)
    pdf.set_line_width(0.8)
    pdf.set_xy(_right_edge() - width, top)
    _font(pdf, 16, "B", color=_VOID)
    pdf.cell(width, 10, "STORNIERT", border=1, align=Align.C)


def _draw_lines_table(pdf: FPDF, lines: Sequence[InvoiceLine]) -> None:
    _font(pdf, 9)
    pdf.set_draw_color(*_RULE)
    pdf.set_line_width(0.2)
    headings = FontFace(emphasis="BOLD", size_pt=8.5, color=_INK, fill_color=_HEAD_FILL)
    with pdf.table(
        width=_CONTENT_WIDTH,
        col_widths=_TABLE_WIDTHS,
        text_align=_TABLE_ALIGN,
        borders_layout=TableBordersLayout.HORIZONTAL_LINES,
        headings_style=headings,
        line_height=5,
        padding=(1.6, 1.5),
    ) as table:
        table.row(_TABLE_HEADINGS)
        for position, line in enumerate(lines, start=1):
            table.row(_line_cells(position, line))


def _line_cells(position: int, line: InvoiceLine) -> tuple[str, ...]:
    return (
        str(position),
        str(line.quantity),
        line.description,
        format_eur(line.unit_net_cents),
        _percent(line.tax_rate_percent),
        format_eur(line.net_cents),
    )


def _draw_totals(pdf: FPDF, invoice: Invoice) -> None:
    totals = invoice.totals
    pdf.ln(3)
    _keep_together(pdf, 11.0 * len(totals.by_rate) + 12)
    for rate, net_cents, tax_cents in totals.by_rate:
        _totals_row(pdf, f"Nettobetrag {_percent(rate)}", format_eur(net_cents))
        _totals_row(pdf, f"Umsatzsteuer {_percent(rate)}", format_eur(tax_cents))
    _rule(pdf, pdf.get_y() + 1, left=_TOTALS_X, color=_INK, width=0.4)
    pdf.ln(2)
    _totals_row(pdf, "Gesamtbetrag", format_eur(totals.gross_cents), bold=True)


def _totals_row(pdf: FPDF, label: str, amount: str, *, bold: bool = False) -> None:
    size = 11.0 if bold else 9.5
    height = 7.0 if bold else 5.5
    pdf.set_x(_TOTALS_X)
    _font(pdf, size, "B" if bold else "", color=_INK if bold else _MUTED)
    pdf.cell(_right_edge() - _TOTALS_X - 35, height, label)
    _font(pdf, size, "B" if bold else "")
    pdf.cell(35, height, amount, align=Align.R, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _draw_payment(pdf: FPDF, invoice: Invoice, supplier: Supplier) -> None:
    is_open = list_group(invoice.status) == "open"
    pdf.ln(9)
    _keep_together(pdf, 55.0 if is_open else 15.0)
    _font(pdf, 10, "B")
    pdf.cell(_CONTENT_WIDTH, 6, "Zahlung", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    _font(pdf, 9.5)
    for paragraph in _payment_paragraphs(invoice, supplier):
        pdf.multi_cell(_CONTENT_WIDTH, 5, paragraph, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if is_open:
        pdf.ln(2)
        _draw_bank_details(pdf, invoice, supplier)


def _payment_paragraphs(invoice: Invoice, supplier: Supplier) -> tuple[str, ...]:
    if invoice.status is InvoiceStatus.VOID:
        return ("Diese Rechnung wurde storniert und ist nicht mehr zu bezahlen.",)
    if invoice.status is InvoiceStatus.PAID:
        return (_paid_note(invoice),)
    return (
        f"Bitte begleiche den Gesamtbetrag bis zum {_de_date(invoice.due_date)} ohne Abzug.",
        f"Bezahle bequem im Kundenportal per Kreditkarte oder PayPal: {supplier.portal_url}",
        "Oder überweise den Betrag auf folgendes Konto:",
    )


def _paid_note(invoice: Invoice) -> str:
    if invoice.paid_at is None:
        return f"Diese Rechnung ist bereits bezahlt {_EN_DASH} vielen Dank!"
    return f"Bereits bezahlt am {_de_date(invoice.paid_at.date())} {_EN_DASH} vielen Dank!"


def _draw_bank_details(pdf: FPDF, invoice: Invoice, supplier: Supplier) -> None:
    rows = (
        ("Kontoinhaber", supplier.name),
        ("IBAN", supplier.iban),
        ("BIC", supplier.bic),
        ("Bank", supplier.bank),
        ("Verwendungszweck", invoice.number),
    )
    for label, value in rows:
        _font(pdf, 9.5, color=_MUTED)
        pdf.cell(38, 5, label)
        _font(pdf, 9.5, "B" if label == "Verwendungszweck" else "")
        pdf.cell(_CONTENT_WIDTH - 38, 5, value, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _footer_columns(supplier: Supplier) -> tuple[tuple[str, ...], ...]:
    """Everything §35a GmbHG asks for on business letters (legal name, seat, register court
    and number, every managing director) plus contact, tax numbers and bank."""
    return (
        (
            supplier.name,
            supplier.address.street,
            _city_line(supplier.address),
            f"Sitz der Gesellschaft: {supplier.address.city}",
        ),
        (
            supplier.register_court,
            supplier.register_number,
            "Geschäftsführung: " + ", ".join(supplier.managing_directors),
        ),
        (f"Telefon {supplier.phone}", supplier.email, supplier.portal_url),
        (
            f"Steuernummer {supplier.tax_number}",
            f"USt-IdNr. {supplier.vat_id}",
            supplier.bank,
            f"IBAN {supplier.iban}",
            f"BIC {supplier.bic}",
        ),
    )


def _draw_footer_columns(pdf: FPDF, supplier: Supplier) -> None:
    widths = (40.0, 46.0, 38.0, _CONTENT_WIDTH - 124.0)
    top = pdf.get_y()
    x = _MARGIN_LEFT
    _font(pdf, 7, color=_MUTED)
    for width, texts in zip(widths, _footer_columns(supplier), strict=True):
        lines = [line for text in texts for line in _wrap(pdf, text, width - 2)]
        for offset, text in enumerate(lines[:_FOOTER_LINES]):
            pdf.set_xy(x, top + offset * 3.4)
            pdf.cell(width, 3.4, text)
        x += width


_FOOTER_LINES = 5


def _wrap(pdf: FPDF, text: str, width: float) -> list[str]:
    """Break a footer text at spaces so that it stays inside its column."""
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if current and pdf.get_string_width(candidate) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    return [*lines, current] if current else lines


def _service_row(invoice: Invoice) -> tuple[str, str]:
    if invoice.period is None:
        return ("Leistungsdatum", _de_date(invoice.issue_date))
    first, last = _period_bounds(invoice.period)
    return ("Leistungszeitraum", f"{_de_date(first)} {_EN_DASH} {_de_date(last)}")


def _period_bounds(period: str) -> tuple[date, date]:
    year, month = (int(part) for part in period.split("-"))
    last_day = calendar.monthrange(year, month)[1]
    return date(year, month, 1), date(year, month, last_day)


def _address_lines(address: Address) -> list[str]:
    lines = [address.street, _city_line(address)]
    if address.country != "DE":
        lines.append(_COUNTRY_NAMES.get(address.country, address.country).upper())
    return lines


def _city_line(address: Address) -> str:
    return f"{address.postal_code} {address.city}"


def _one_line(address: Address) -> str:
    return f"{address.street} · {_city_line(address)}"


def _de_date(value: date) -> str:
    return value.strftime("%d.%m.%Y")


def _percent(rate: Decimal) -> str:
    return f"{rate.normalize():f}".replace(".", ",") + " %"


def _midnight_utc(value: date) -> datetime:
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def _to_cp1252(text: str) -> str:
    if _encodable(text):  # nearly every string: nothing to replace
        return text
    return "".join(_cp1252_char(char) for char in text)


def _cp1252_char(char: str) -> str:
    if _encodable(char):
        return char
    if char in _CP1252_STAND_INS:
        return _CP1252_STAND_INS[char]
    # Decomposing keeps the base letter of e.g. "ş" or "ğ" instead of losing the character.
    decomposed = "".join(c for c in unicodedata.normalize("NFKD", char) if _encodable(c))
    return decomposed or "?"


def _encodable(text: str) -> bool:
    try:
        text.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def _font(pdf: FPDF, size: float, style: str = "", *, color: tuple[int, int, int] = _INK) -> None:
    pdf.set_font(_FONT, style, size)
    pdf.set_text_color(*color)


def _rule(
    pdf: FPDF,
    y: float,
    *,
    left: float = _MARGIN_LEFT,
    color: tuple[int, int, int] = _RULE,
    width: float = 0.2,
) -> None:
    pdf.set_draw_color(*color)
    pdf.set_line_width(width)
    pdf.line(left, y, _right_edge(), y)


def _keep_together(pdf: FPDF, height: float) -> None:
    # A block split over two pages (e.g. IBAN on one, Verwendungszweck on the next) invites typos.
    if pdf.will_page_break(height):
        pdf.add_page()


def _right_edge() -> float:
    return 210.0 - _MARGIN_RIGHT


# --- Embedded fonts, prepared once per process ---------------------------------------------
#
# fpdf2 parses each TrueType font for every document and subsets, saves and compresses it
# again when writing it; for two fonts that was more than half of the CPU of an invoice.
# Every string a document draws passes `normalize_text`, i.e. it is cp1252, so a few
# prepared subsets serve every document: one with the glyphs of German text (ASCII, umlauts,
# ß, €, German quotes and dashes) and one with every cp1252 glyph of the font. Each is made
# once per process with fontTools and fpdf2's subsetting options and kept as immutable bytes,
# together with the metrics fpdf2 reads from the font. A document embeds the smallest of
# them that holds all its glyphs (its bytes depend only on its own text), with its own
# per-document state (the glyphs it used, their codes and widths, its font descriptor).
# The PDF objects are those fpdf2 writes for a TrueType font.

_LOG = logging.getLogger(__name__)

# fpdf2's subsetting options (fpdf/output.py, OutputProducer._add_fonts).
_DROPPED_TABLES = (
    "FFTM", "GDEF", "GPOS", "GSUB", "MATH", "hdmx", "meta", "sbix", "CBDT", "CBLC", "EBDT",
    "EBLC", "EBSC", "SVG ", "CPAL", "COLR",
)  # fmt: skip


def _cp1252_characters() -> tuple[int, ...]:
    found = []
    for byte in range(0x20, 0x100):
        try:
            found.append(ord(bytes([byte]).decode("cp1252")))
        except UnicodeDecodeError:
            continue
    return tuple(found)


# The prepared subsets, smallest first; the last one holds everything normalize_text lets by.
_GERMAN_TEXT = (*range(0x20, 0x7F), *map(ord, "\u00a0äöüÄÖÜß€–—·„“”‚‘’…§°•"))
_PREPARED_CHARACTERS = (_GERMAN_TEXT, _cp1252_characters())


@dataclasses.dataclass(frozen=True)
class _FontProgram:
    """A compiled TrueType subset: what is embedded as FontFile2 and where its glyphs are."""

    raw: bytes
    compressed: bytes  # as fpdf2 compresses it (zlib, default level)
    glyph_ids: Mapping[str, int]  # glyph name -> glyph id in this subset


@dataclasses.dataclass(frozen=True)
class _LatoFace:
    """What fpdf2 reads from one font file, read once: metrics, character map, descriptor."""

    path: str
    style: str
    name: str
    scale: float
    up: int
    ut: int
    sp: int
    ss: int
    default_width: int
    widths: Mapping[int, float]
    cmap: Mapping[int, str]
    glyph_ids: Mapping[int, int]
    descriptor: Mapping[str, Any]
    font_data: bytes
    programs: tuple[_FontProgram, ...]  # the prepared subsets, smallest first

    def program_for(self, glyph_names: frozenset[str]) -> _FontProgram:
        """The smallest prepared subset with all of `glyph_names`."""
        for program in self.programs:
            if glyph_names <= program.glyph_ids.keys():
                return program
        # Not reachable through normalize_text; still correct, only made for this document.
        wider = glyph_names | frozenset(self.programs[-1].glyph_ids)
        return _subset_program(self.font_data, wider)


@functools.lru_cache(maxsize=8)
def _subset_program(font_data: bytes, glyph_names: frozenset[str]) -> _FontProgram:
    ttfont = TTFont(BytesIO(font_data), recalcTimestamp=False, lazy=True)
    # Outlines are copied as they are, so their boxes need no recomputing.
    ttfont.recalcBBoxes = False
    options = ftsubset.Options(notdef_outline=True, recommended_glyphs=True)
    options.drop_tables += list(_DROPPED_TABLES)
    subsetter = ftsubset.Subsetter(options)
    subsetter.populate(glyphs=sorted(glyph_names))
    subsetter.subset(ttfont)
    glyph_ids = {name: ttfont.getGlyphID(name) for name in ttfont.getGlyphOrder()}
    output = BytesIO()
    ttfont.save(output)
    ttfont.close()
    raw = output.getvalue()
    return _FontProgram(
        raw=raw,
        compressed=zlib.compress(raw, level=PDFContentStream._COMPRESSION_LEVEL),
        glyph_ids=MappingProxyType(glyph_ids),
    )


@functools.cache
def _lato(style: str) -> _LatoFace:
    """Lato in `style`, parsed and subset once per process (the cache holds only immutable
    data: bytes, numbers, strings and read-only mappings)."""
    path = _font_path(_FONT_FILES[style])
    with open(path, "rb") as file:
        font_data = file.read()
    parsed = TTFFont(FPDF(), Path(path), f"{_FONT.lower()}{style}", style)  # fpdf2's own metrics
    desc = parsed.desc
    face = _LatoFace(
        path=path,
        style=style,
        name=parsed.name,
        scale=parsed.scale,
        up=parsed.up,
        ut=parsed.ut,
        sp=parsed.sp,
        ss=parsed.ss,
        default_width=int(desc.missing_width),
        widths=MappingProxyType(dict(parsed.cw)),
        cmap=MappingProxyType(dict(parsed.cmap)),
        glyph_ids=MappingProxyType(dict(parsed.glyph_ids)),
        descriptor=MappingProxyType(
            {
                "ascent": desc.ascent,
                "descent": desc.descent,
                "cap_height": desc.cap_height,
                "flags": desc.flags,
                "font_b_box": desc.font_b_box,
                "italic_angle": desc.italic_angle,
                "stem_v": desc.stem_v,
                "missing_width": desc.missing_width,
            }
        ),
        font_data=font_data,
        programs=tuple(
            _subset_program(
                font_data, frozenset(parsed.cmap[code] for code in codes if code in parsed.cmap)
            )
            for codes in _PREPARED_CHARACTERS
        ),
    )
    parsed.close()
    return face


class _LatoFont(TTFFont):
    """fpdf2's TrueType font with this document's own state, built from a prepared face
    instead of parsing the font file again."""

    __slots__ = ("face",)

    def __init__(self, face: _LatoFace, *, index: int, key: str) -> None:  # noqa: PLR0915
        self.face = face
        self.i = index
        self.type = "TTF"
        self.ttffile = Path(face.path)
        self.is_compressed = False
        self._hbfont = None
        self.fontkey = key
        self.biggest_size_pt = 0
        self.collection_font_number = 0
        self.ttfont = None  # nothing to parse per document
        self.is_cff = False
        self.is_cid_keyed = False
        self.is_symbol = False
        self.cff_ros = None
        self.scale = face.scale
        descriptor = face.descriptor
        self.desc = PDFFontDescriptor(
            ascent=descriptor["ascent"],
            descent=descriptor["descent"],
            cap_height=descriptor["cap_height"],
            flags=FontDescriptorFlags(descriptor["flags"]),
            font_b_box=descriptor["font_b_box"],
            italic_angle=descriptor["italic_angle"],
            stem_v=descriptor["stem_v"],
            missing_width=descriptor["missing_width"],
        )
        default_width = face.default_width
        self.cw = defaultdict(lambda: default_width, face.widths)
        self.cmap = dict(face.cmap)
        self.unicode_range = None
        self.glyph_ids = dict(face.glyph_ids)
        self.missing_glyphs = []
        self.name = face.name
        self.up = face.up
        self.ut = face.ut
        self.sp = face.sp
        self.ss = face.ss
        self.emphasis = TextEmphasis.coerce(face.style)
        self.subset = SubsetMap(self)
        self.palette_index = 0
        self.color_font = None

    def get_text_width(
        self, text: str, font_size_pt: float, text_shaping_params: dict[str, Any] | None
    ) -> tuple[int, float]:
        # fpdf2's computation (Lato has a Unicode cmap, so no symbol mapping), without a
        # generator: line breaking asks for the width of every growing line, character by
        # character.
        if text_shaping_params:
            return super().get_text_width(text, font_size_pt, text_shaping_params)
        if font_size_pt > self.biggest_size_pt:
            self.biggest_size_pt = font_size_pt
        return len(text), sum(map(self.cw.__getitem__, map(ord, text))) * font_size_pt * 0.001

    def close(self) -> None:
        self._hbfont = None


class _CachedFontsOutput(OutputProducer):
    """fpdf2's output with the prepared font programs: the font objects are those fpdf2
    writes for a TrueType font (Type0 / CIDFontType2, Identity-H, ToUnicode, CIDToGIDMap,
    FontFile2), only the program is not subset, saved and compressed again."""

    def _add_fonts(
        self,
        image_objects_per_index: Any,
        gfxstate_objs_per_name: Any,
        pattern_objs_per_name: Any,
    ) -> dict[int, Any]:
        fonts = sorted(self.fpdf.fonts.values(), key=lambda font: font.i)
        written: dict[int, Any] = {}
        for font in fonts:
            if not isinstance(font, _LatoFont):
                raise TypeError(f"{font.fontkey}: invoice documents embed only Lato")
            written[font.i] = self._add_lato(font)
        return written

    def _add_lato(self, font: _LatoFont) -> PDFFont:
        used = [(glyph, code) for glyph, code in font.subset.items() if glyph is not None]
        program = font.face.program_for(frozenset(glyph.glyph_name for glyph, _ in used))
        if font.missing_glyphs:
            _LOG.warning("%s has no glyph for %s", font.name, font.missing_glyphs[:10])
        fontname = f"MPDFAA+{font.name}"
        composite = PDFFont(subtype="Type0", base_font=fontname, encoding="Identity-H")
        self._add_pdf_obj(composite, "fonts")
        widths = {code: glyph.glyph_width for glyph, code in used}
        cid_font = PDFFont(
            subtype="CIDFontType2",
            base_font=fontname,
            d_w=font.desc.missing_width,
            w=_cid_font_widths(widths),
        )
        self._add_pdf_obj(cid_font, "fonts")
        composite.descendant_fonts = PDFArray([cid_font])

        bf_chars = [
            f"<{code:04X}> <{''.join(_utf16_code(u) for u in glyph.unicode)}>\n"
            for glyph, code in used
            if isinstance(glyph.unicode, tuple) and glyph.unicode
        ]
        to_unicode = PDFContentStream(
            (
                "/CIDInit /ProcSet findresource begin\n"
                "12 dict begin\n"
                "begincmap\n"
                "/CIDSystemInfo\n"
                "<</Registry (Adobe)\n"
                "/Ordering (UCS)\n"
                "/Supplement 0\n"
                ">> def\n"
                "/CMapName /Adobe-Identity-UCS def\n"
                "/CMapType 2 def\n"
                "1 begincodespacerange\n"
                "<0000> <FFFF>\n"
                "endcodespacerange\n"
                f"{_build_cmap_blocks(bf_chars, 'bfchar')}"
                "endcmap\n"
                "CMapName currentdict /CMap defineresource pop\n"
                "end\n"
                "end"
            ).encode("latin-1")
        )
        self._add_pdf_obj(to_unicode, "fonts")
        composite.to_unicode = to_unicode

        system_info = CIDSystemInfo()
        self._add_pdf_obj(system_info, "fonts")
        cid_font.c_i_d_system_info = system_info

        descriptor = font.desc
        descriptor.font_name = Name(fontname)
        self._add_pdf_obj(descriptor, "fonts")
        cid_font.font_descriptor = descriptor

        cid_to_gid = bytearray(256 * 256 * 2)
        for glyph, code in used:
            glyph_id = program.glyph_ids[glyph.glyph_name]
            cid_to_gid[code * 2] = glyph_id >> 8
            cid_to_gid[code * 2 + 1] = glyph_id & 0xFF
        cid_to_gid_map = PDFContentStream(contents=bytes(cid_to_gid), compress=True)
        self._add_pdf_obj(cid_to_gid_map, "fonts")
        cid_font.c_i_d_to_g_i_d_map = cid_to_gid_map

        font_file = _FontFile(program)
        self._add_pdf_obj(font_file, "fonts")
        descriptor.font_file2 = font_file  # type: ignore[attr-defined]

        # fpdf2's glyph lookups are memoized per subset map; free this document's entries.
        font.subset.pick.cache_clear()
        font.subset.get_glyph.cache_clear()
        return composite


class _FontFile(PDFContentStream):
    """FontFile2 with the program compressed once per process (fpdf2's PDFFontStream
    compresses it for every document)."""

    def __init__(self, program: _FontProgram) -> None:
        super().__init__(contents=b"")
        self._contents = program.compressed
        self.filter = Name("FlateDecode")
        self.length = len(program.compressed)
        self.length1 = len(program.raw)


def _utf16_code(unicode: int) -> str:
    if unicode > 0xFFFF:
        high = 0xD800 | (unicode - 0x10000) >> 10
        low = 0xDC00 | (unicode & 0x3FF)
        return f"{high:04X}{low:04X}"
    return f"{unicode:04X}"
