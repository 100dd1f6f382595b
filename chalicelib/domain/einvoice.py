"""What an e-invoice (EN 16931, CII syntax) says, as plain data: built from an invoice or a
correction, serialised by chalicelib/adapters/einvoice.py (docs/adr/0005-e-invoices.md).

Amounts are integer cents, exactly those printed on the PDF. A correction (Stornorechnung,
credit note) is a credit note (type code 381) whose amounts are the PDF's negative amounts
with the sign turned round: the type code says in which direction the money goes.
"""

from __future__ import annotations

import calendar
import dataclasses
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from chalicelib.domain.documents import DocumentKind
from chalicelib.domain.invoices import Invoice, InvoiceLine, compute_totals
from chalicelib.domain.money import CURRENCY, vat_cents
from chalicelib.domain.stores import Address, Store
from chalicelib.domain.supplier import Supplier

# UNTDID 1001 document type codes (BT-3).
TYPE_INVOICE = "380"
TYPE_CREDIT_NOTE = "381"
TYPE_CODES = {
    DocumentKind.INVOICE: TYPE_INVOICE,
    DocumentKind.CANCELLATION: TYPE_CREDIT_NOTE,
    DocumentKind.CREDIT_NOTE: TYPE_CREDIT_NOTE,
}

# UNTDID 5305 VAT category codes (BT-151): standard rate, or zero rated.
CATEGORY_STANDARD = "S"
CATEGORY_ZERO = "Z"

# UNTDID 4461 payment means (BT-81): SEPA credit transfer to the seller's account; a
# correction's money goes back the way it came (or is set off), which no code names.
MEANS_SEPA_TRANSFER = "58"
MEANS_NOT_DEFINED = "1"

# BR-CO-17 of the CEN rules accepts a VAT per category within ±1 of basis × rate.
BR_CO_17_TOLERANCE_CENTS = 100

# Unit of every line (BT-130): UN/ECE Rec 20 "one".
UNIT_ONE = "C62"


@dataclasses.dataclass(frozen=True)
class EParty:
    name: str
    address: Address
    email: str  # the electronic address (BT-34 / BT-49), scheme EM
    vat_id: str | None = None
    tax_number: str | None = None
    contact_name: str = ""
    phone: str = ""
    register_entry: str = ""


@dataclasses.dataclass(frozen=True)
class ELine:
    line_id: str
    name: str
    quantity: int
    unit_net_cents: int  # BT-146, never negative
    net_cents: int  # BT-131
    category: str
    rate_percent: Decimal


@dataclasses.dataclass(frozen=True)
class EVatBreakdown:
    """One BG-23 entry: the VAT of every line of one category and rate."""

    category: str
    rate_percent: Decimal
    basis_cents: int
    tax_cents: int


@dataclasses.dataclass(frozen=True)
class EPrecedingInvoice:
    """BG-3: the invoice a correction refers to."""

    number: str
    issue_date: date


@dataclasses.dataclass(frozen=True)
class EInvoiceData:
    """Everything an EN 16931 / XRechnung 3.0 document of the portal says."""

    type_code: str
    number: str
    issue_date: date
    title: str  # the document's printed name ("Rechnung", "Stornorechnung", …)
    currency: str
    buyer_reference: str  # BT-10: the store's Leitweg-ID, else its id
    seller: EParty
    buyer: EParty
    lines: tuple[ELine, ...]
    vat: tuple[EVatBreakdown, ...]
    line_total_cents: int  # BT-106
    tax_basis_cents: int  # BT-109
    tax_total_cents: int  # BT-110
    grand_total_cents: int  # BT-112
    due_cents: int  # BT-115
    payment_means_code: str
    payment_terms: str  # BT-20
    seller_iban: str
    seller_bic: str
    payment_reference: str  # BT-83
    due_date: date | None = None  # BT-9
    period: tuple[date, date] | None = None  # BG-14
    delivery_date: date | None = None  # BT-72
    preceding: tuple[EPrecedingInvoice, ...] = ()
    notes: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class EInvoiceFiles:
    """What is stored and mailed for an e-invoice."""

    pdf: bytes  # the hybrid PDF: PDF/A-3B with the CII XML embedded as factur-x.xml
    xml: bytes  # the XRechnung 3.0 CII XML


def category_of(rate_percent: Decimal) -> str:
    return CATEGORY_ZERO if rate_percent == 0 else CATEGORY_STANDARD


def period_bounds(period: str) -> tuple[date, date]:
    """`2026-11` -> 1 November .. 30 November 2026 (the billing period, BG-14)."""
    year, month = (int(part) for part in period.split("-"))
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def buyer_reference(store: Store) -> str:
    return store.leitweg_id or store.id


def seller_party(supplier: Supplier) -> EParty:
    return EParty(
        name=supplier.name,
        address=supplier.address,
        email=supplier.email,
        vat_id=supplier.vat_id or None,
        tax_number=supplier.tax_number or None,
        contact_name=supplier.name,
        phone=supplier.phone,
        register_entry=supplier.register_entry if supplier.register_number else "",
    )


def buyer_party(store: Store) -> EParty:
    return EParty(
        name=store.name, address=store.address, email=store.billing_email, vat_id=store.vat_id
    )


def _seller_notes(supplier: Supplier) -> tuple[str, ...]:
    directors = ", ".join(supplier.managing_directors)
    return (
        f"{supplier.name}, Sitz {supplier.address.city}, {supplier.register_entry}, "
        f"Geschäftsführung: {directors}, Steuernummer {supplier.tax_number}",
    )


def _elines(lines: Sequence[InvoiceLine], sign: int) -> tuple[ELine, ...]:
    result = []
    for position, line in enumerate(lines, start=1):
        quantity, unit = sign * line.quantity, line.unit_net_cents
        if unit < 0:  # the price is never negative (BR-27); the quantity carries the sign
            quantity, unit = -quantity, -unit
        result.append(
            ELine(
                line_id=str(position),
                name=line.description,
                quantity=quantity,
                unit_net_cents=unit,
                net_cents=sign * line.net_cents,
                category=category_of(line.tax_rate_percent),
                rate_percent=line.tax_rate_percent,
            )
        )
    return tuple(result)


def _build(
    *,
    type_code: str,
    title: str,
    number: str,
    issue_date: date,
    lines: Sequence[InvoiceLine],
    sign: int,
    store: Store,
    supplier: Supplier,
    period: str | None,
    due_date: date | None,
    payment_terms: str,
    payment_means_code: str,
    preceding: tuple[EPrecedingInvoice, ...],
    currency: str,
) -> EInvoiceData:
    # The very totals the PDF prints (chalicelib/domain/invoices.py), sign turned for credits.
    totals = compute_totals(lines)
    vat = tuple(
        EVatBreakdown(category_of(rate), rate, sign * net, sign * tax)
        for rate, net, tax in totals.by_rate
    )
    gross = sign * totals.gross_cents
    return EInvoiceData(
        type_code=type_code,
        number=number,
        issue_date=issue_date,
        title=title,
        currency=currency,
        buyer_reference=buyer_reference(store),
        seller=seller_party(supplier),
        buyer=buyer_party(store),
        lines=_elines(lines, sign),
        vat=vat,
        line_total_cents=sign * totals.net_cents,
        tax_basis_cents=sign * totals.net_cents,
        tax_total_cents=sign * totals.tax_cents,
        grand_total_cents=gross,
        due_cents=gross,
        payment_means_code=payment_means_code,
        payment_terms=payment_terms,
        seller_iban=supplier.iban.replace(" ", ""),
        seller_bic=supplier.bic,
        payment_reference=number,
        due_date=due_date,
        period=period_bounds(period) if period else None,
        # BT-72: the last day of the billing period, else the issue date (the PDF's
        # Leistungsdatum); CII would otherwise carry an empty delivery element.
        delivery_date=period_bounds(period)[1] if period else issue_date,
        preceding=preceding,
        notes=_seller_notes(supplier),
    )


def invoice_data(invoice: Invoice, store: Store, supplier: Supplier) -> EInvoiceData:
    """The e-invoice of an issued invoice (type 380)."""
    return _build(
        type_code=TYPE_INVOICE,
        title=DocumentKind.INVOICE.label,
        number=invoice.number,
        issue_date=invoice.issue_date,
        lines=invoice.lines,
        sign=1,
        store=store,
        supplier=supplier,
        period=invoice.period,
        due_date=invoice.due_date,
        payment_terms=(
            f"Zahlbar bis zum {invoice.due_date:%d.%m.%Y} ohne Abzug, per Überweisung oder "
            f"im Kundenportal {supplier.portal_url}"
        ),
        payment_means_code=MEANS_SEPA_TRANSFER,
        preceding=(),
        currency=invoice.currency,
    )


def correction_data(
    *,
    kind: DocumentKind,
    number: str,
    issue_date: date,
    lines: Sequence[InvoiceLine],
    store: Store,
    supplier: Supplier,
    corrects: Sequence[tuple[str, date]],
    period: str | None = None,
    currency: str = CURRENCY,
) -> EInvoiceData:
    """The e-invoice of a Stornorechnung or credit note (type 381).

    `lines` are the document's own lines as its PDF prints them (negative amounts);
    `corrects` the number and issue date of each corrected invoice (BG-3)."""
    if kind not in (DocumentKind.CANCELLATION, DocumentKind.CREDIT_NOTE):
        raise ValueError(f"{kind} is not a correction")
    if not corrects:
        raise ValueError("a correction refers to the invoice it corrects")
    gross = compute_totals(lines).gross_cents
    # Amounts the PDF prints as credits (negative) are positive in a credit note.
    sign = -1 if gross < 0 else 1
    numbers = ", ".join(number for number, _ in corrects)
    return _build(
        type_code=TYPE_CODES[kind],
        title=kind.label,
        number=number,
        issue_date=issue_date,
        lines=lines,
        sign=sign,
        store=store,
        supplier=supplier,
        period=period,
        due_date=None,
        payment_terms=(
            f"{kind.label} zu Rechnung {numbers}: Der Betrag wird verrechnet oder auf dem "
            "Zahlungsweg erstattet, auf dem er bezahlt wurde."
        ),
        payment_means_code=MEANS_NOT_DEFINED,
        preceding=tuple(EPrecedingInvoice(n, d) for n, d in corrects),
        currency=currency,
    )


def arithmetic_problems(data: EInvoiceData) -> list[str]:
    """The EN 16931 calculation rules (BR-CO-10, -13, -14, -15, -16, -17, BR-S/Z-08/09 and the
    line amounts) checked on the data; empty when every rule holds."""
    return [*_line_problems(data), *_vat_problems(data), *_total_problems(data)]


def _line_problems(data: EInvoiceData) -> list[str]:
    problems = []
    for line in data.lines:
        if line.unit_net_cents < 0:
            problems.append(f"BR-27: line {line.line_id} has a negative price")
        if line.quantity * line.unit_net_cents != line.net_cents:
            problems.append(f"line {line.line_id}: quantity × price ≠ net amount")
    line_sum = sum(line.net_cents for line in data.lines)
    if line_sum != data.line_total_cents:
        problems.append(f"BR-CO-10: line sum {line_sum} ≠ {data.line_total_cents}")
    return problems


def _vat_problems(data: EInvoiceData) -> list[str]:
    problems = []
    groups: dict[tuple[str, Decimal], int] = {}
    for line in data.lines:
        key = (line.category, line.rate_percent)
        groups[key] = groups.get(key, 0) + line.net_cents
    breakdown = {(v.category, v.rate_percent): v for v in data.vat}
    if set(groups) != set(breakdown):
        problems.append("BR-CO-18/BR-S-01: VAT breakdown does not match the lines' categories")
    for (category, rate), basis in groups.items():
        entry = breakdown.get((category, rate))
        if entry is None:
            continue
        if entry.basis_cents != basis:
            problems.append(f"BR-{category}-08: basis {entry.basis_cents} ≠ line sum {basis}")
        # The PDF rounds VAT per line and adds it up; BR-CO-17 allows it to differ from
        # basis × rate by less than one currency unit.
        expected = vat_cents(entry.basis_cents, rate)
        if abs(entry.tax_cents - expected) >= BR_CO_17_TOLERANCE_CENTS:
            problems.append(
                f"BR-CO-17/BR-{category}-09: VAT {entry.tax_cents} ≠ {expected} "
                f"({rate} % of {entry.basis_cents})"
            )
        if category == CATEGORY_ZERO and entry.tax_cents != 0:
            problems.append("BR-Z-09: zero-rated VAT is not 0")
    return problems


def _total_problems(data: EInvoiceData) -> list[str]:
    problems = []
    if data.tax_basis_cents != data.line_total_cents:  # no document allowances or charges
        problems.append("BR-CO-13: tax basis ≠ line total")
    tax_sum = sum(v.tax_cents for v in data.vat)
    if tax_sum != data.tax_total_cents:
        problems.append(f"BR-CO-14: VAT total {data.tax_total_cents} ≠ breakdown sum {tax_sum}")
    if data.grand_total_cents != data.tax_basis_cents + data.tax_total_cents:
        problems.append("BR-CO-15: grand total ≠ tax basis + VAT")
    if data.due_cents != data.grand_total_cents:  # nothing prepaid, no rounding amount
        problems.append("BR-CO-16: amount due ≠ grand total")
    if data.due_cents > 0 and data.due_date is None and not data.payment_terms:
        problems.append("BR-CO-25: positive amount due without due date or payment terms")
    if data.type_code == TYPE_CREDIT_NOTE and not data.preceding:
        problems.append("BG-3: a correction names the invoice it corrects")
    return problems
