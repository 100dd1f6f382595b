"""What the e-invoice adapters prepare once per process (Lato's metrics and font programs, the
EN 16931 schema) changes no document: each renders to the same bytes whatever was rendered
before it in the process, in parallel or in a fresh process."""

from __future__ import annotations

import dataclasses
import io
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont
from lxml import etree
from pypdf import PdfReader

from chalicelib.adapters.einvoice import EInvoiceError, check_schema, render_einvoice
from chalicelib.adapters.invoice_pdf import _lato, render_invoice_pdf
from chalicelib.domain.einvoice import EInvoiceFiles
from chalicelib.domain.supplier import SAMPLE_SUPPLIER
from tests.unit.test_einvoice import EXPORT, LICENCE, PAPER, TERMINAL, make_invoice, make_store

ROOT = Path(__file__).resolve().parents[2]

# A German store and one whose name and address need glyphs beyond German text.
SAMPLES = {
    "german": lambda: render_einvoice(
        make_invoice(LICENCE, TERMINAL, PAPER), make_store(), SAMPLE_SUPPLIER
    ),
    "accents": lambda: render_einvoice(
        dataclasses.replace(make_invoice(LICENCE, EXPORT), number="RE-2026-000043"),
        make_store(
            name="Café Crème – Ørsted & Œuvre",
            address=dataclasses.replace(
                make_store().address, street="Rue de l'Église 5", city="Genève", country="CH"
            ),
        ),
        SAMPLE_SUPPLIER,
    ),
}


def render(name: str) -> EInvoiceFiles:
    return SAMPLES[name]()


def alone_in_a_fresh_process(name: str) -> bytes:
    """The hybrid PDF of one sample, rendered as the first and only document of a process."""
    script = (
        "import sys\n"
        "from tests.unit.test_einvoice_cache import render\n"
        f"sys.stdout.buffer.write(render({name!r}).pdf)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, check=True, timeout=120
    )
    return done.stdout


def fonts_of(pdf: bytes) -> dict[str, TTFont]:
    reader = PdfReader(io.BytesIO(pdf))
    found = {}
    for font in reader.pages[0]["/Resources"]["/Font"].values():  # type: ignore[index]
        descendant = font.get_object()["/DescendantFonts"][0].get_object()
        program = descendant["/FontDescriptor"]["/FontFile2"].get_data()
        found[str(font.get_object()["/BaseFont"])] = TTFont(io.BytesIO(program))
    return found


def test_documents_rendered_one_after_another_equal_each_rendered_alone() -> None:
    # Given each sample rendered alone in a process of its own
    alone = {name: alone_in_a_fresh_process(name) for name in SAMPLES}

    # When this process renders them one after the other, and the first again
    in_turn = [(name, render(name).pdf) for name in ("german", "accents", "german")]

    # Then every document has the bytes it has alone
    assert alone["german"] != alone["accents"]
    for name, pdf in in_turn:
        assert pdf == alone[name], name


def test_documents_rendered_in_parallel_equal_those_rendered_one_by_one() -> None:
    # Given
    expected = {name: render(name) for name in SAMPLES}

    # When
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda name: (name, render(name)), [*SAMPLES] * 4))

    # Then
    for name, files in results:
        assert files == expected[name], name


def test_rendering_again_gives_the_same_bytes_whatever_the_time() -> None:
    # Given the XMP dates come from the issue date, not from the clock
    pdf = render("german").pdf

    # When
    xmp = PdfReader(io.BytesIO(pdf)).trailer["/Root"]["/Metadata"].get_object().get_data()  # type: ignore[index]

    # Then
    assert b"<xmp:CreateDate>2026-12-01T00:00:00+00:00</xmp:CreateDate>" in xmp
    assert b"<xmp:ModifyDate>2026-12-01T00:00:00+00:00</xmp:ModifyDate>" in xmp


@pytest.mark.parametrize("name", SAMPLES)
def test_every_character_on_the_page_has_its_glyph_in_the_embedded_font(name: str) -> None:
    # Given
    pdf = render(name).pdf
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()

    # When
    fonts = fonts_of(pdf)

    # Then both Lato fonts are embedded and between them hold every character shown
    assert sorted(fonts) == ["/MPDFAA+Lato", "/MPDFAA+LatoBold"]
    covered = set().union(*(font.getBestCmap() for font in fonts.values()))
    missing = {char for char in text if not char.isspace() and ord(char) not in covered}
    assert not missing


def test_a_german_document_embeds_the_smaller_prepared_subset() -> None:
    # Given
    german, accents = render("german").pdf, render("accents").pdf

    # When
    regular = fonts_of(german)["/MPDFAA+Lato"]
    wider = fonts_of(accents)["/MPDFAA+Lato"]

    # Then a subset either way (Lato has 275 glyphs), the German one without accents
    assert len(regular.getGlyphOrder()) < len(wider.getGlyphOrder()) < 275
    assert ord("é") not in regular.getBestCmap()
    assert ord("é") in wider.getBestCmap()


def test_a_glyph_outside_the_prepared_subsets_still_gets_a_subset_with_it() -> None:
    # Given a glyph of Lato that no cp1252 character maps to (normalize_text keeps such
    # characters off the page, but the font objects must not depend on that)
    face = _lato("")
    widest = face.programs[-1]
    outside = sorted(set(face.cmap.values()) - set(widest.glyph_ids))[0]

    # When
    program = face.program_for(frozenset({outside, "a"}))

    # Then
    assert outside in program.glyph_ids
    assert set(widest.glyph_ids) <= set(program.glyph_ids)
    assert len(TTFont(io.BytesIO(program.raw)).getGlyphOrder()) == len(program.glyph_ids)


def test_the_invoice_pdf_without_xml_uses_the_same_fonts() -> None:
    # Given
    invoice, store = make_invoice(LICENCE), make_store()

    # When
    visual = fonts_of(render_invoice_pdf(invoice, store, SAMPLE_SUPPLIER))
    hybrid = fonts_of(render_einvoice(invoice, store, SAMPLE_SUPPLIER).pdf)

    # Then
    assert {name: font.getGlyphOrder() for name, font in visual.items()} == {
        name: font.getGlyphOrder() for name, font in hybrid.items()
    }


def test_the_schema_compiled_once_still_refuses_an_invalid_document() -> None:
    # Given the XRechnung of a sample with an element the schema does not allow
    root = etree.fromstring(render("german").xml)
    header = root.find("{*}ExchangedDocument")
    assert header is not None
    etree.SubElement(header, "{urn:example}Bogus").text = "380"

    # When / Then
    with pytest.raises(EInvoiceError, match="XML Schema"):
        check_schema(root)
