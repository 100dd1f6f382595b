"""The invoice model: forward-only status machine, list groups, totals, numbers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from chalicelib.domain.invoices import (
    InvoiceStatus,
    can_move,
    compute_totals,
    format_number,
    list_group,
)
from tests.fakes import make_invoice, make_line

OPEN, PROCESSING, PAID, VOID = (
    InvoiceStatus.OPEN,
    InvoiceStatus.PROCESSING,
    InvoiceStatus.PAID,
    InvoiceStatus.VOID,
)
ALLOWED = {(OPEN, PROCESSING), (OPEN, PAID), (OPEN, VOID), (PROCESSING, OPEN), (PROCESSING, PAID)}


@pytest.mark.parametrize("current", list(InvoiceStatus))
@pytest.mark.parametrize("target", list(InvoiceStatus))
def test_the_status_machine_allows_exactly_these_moves(current, target):
    assert can_move(current, target) is ((current, target) in ALLOWED)


@pytest.mark.parametrize("target", list(InvoiceStatus))
def test_a_paid_invoice_never_moves(target):
    # A late payment_failed must never reopen a paid invoice
    assert can_move(PAID, target) is False


@pytest.mark.parametrize("target", list(InvoiceStatus))
def test_a_void_invoice_never_moves(target):
    assert can_move(VOID, target) is False


def test_an_invoice_being_paid_cannot_be_voided():
    assert can_move(PROCESSING, VOID) is False


@pytest.mark.parametrize(
    ("status", "group"), [(OPEN, "open"), (PROCESSING, "open"), (PAID, "paid"), (VOID, "void")]
)
def test_list_groups_put_processing_with_open(status, group):
    assert list_group(status) == group


def test_invoice_numbers_have_year_and_six_digits():
    assert format_number(2026, 1) == "RE-2026-000001"
    assert format_number(2026, 123) == "RE-2026-000123"
    assert format_number(2027, 999999) == "RE-2027-999999"


def test_line_amounts():
    line = make_line(quantity=3, unit_net_cents=1234, tax_rate_percent=7)

    assert line.net_cents == 3702
    assert line.tax_cents == 259  # 259,14 cent


def test_totals_sum_rounded_lines_and_group_by_rate():
    lines = [make_line("A", 1, 1050, 7), make_line("B", 1, 1050, 7), make_line("C", 1, 4900, 19)]

    totals = compute_totals(lines)

    assert (totals.net_cents, totals.tax_cents, totals.gross_cents) == (7000, 74 + 74 + 931, 8079)
    assert totals.by_rate == ((Decimal(7), 2100, 148), (Decimal(19), 4900, 931))


def test_totals_of_no_lines_are_zero():
    totals = compute_totals([])

    assert (totals.net_cents, totals.tax_cents, totals.gross_cents, totals.by_rate) == (0, 0, 0, ())


def test_an_open_invoice_is_overdue_the_day_after_its_due_date():
    invoice = make_invoice(issue_date=date(2026, 3, 2), due_date=date(2026, 3, 16))

    assert invoice.is_overdue(date(2026, 3, 16)) is False
    assert invoice.is_overdue(date(2026, 3, 17)) is True


@pytest.mark.parametrize("status", [PROCESSING, OPEN])
def test_an_unsettled_invoice_can_be_overdue(status):
    assert make_invoice(due_date=date(2026, 1, 1), status=status).is_overdue(date(2026, 2, 1))


@pytest.mark.parametrize("status", [PAID, VOID])
def test_a_settled_invoice_is_never_overdue(status):
    assert not make_invoice(due_date=date(2026, 1, 1), status=status).is_overdue(date(2027, 1, 1))


def test_the_pdf_filename_names_the_number():
    assert make_invoice(number="RE-2026-000042").pdf_filename == "Rechnung-RE-2026-000042.pdf"
