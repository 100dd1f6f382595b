"""Demo data of the local stack: Pizzeria Da Mario with paid, open and overdue invoices."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from chalicelib.bootstrap import Container
from chalicelib.domain.invoices import InvoiceLine, InvoiceStatus
from chalicelib.domain.periods import licence_invoice_id, period_label
from chalicelib.domain.stores import Address
from chalicelib.services.stores import NewStore

DEMO_EMAIL = "mario@pizzeria-da-mario.example"
LICENCE = "SIDES Kassenlizenz {month}"


@dataclasses.dataclass(frozen=True)
class FixedClock:
    moment: datetime

    def now(self) -> datetime:
        return self.moment


def _month_start(today: date, back: int) -> date:
    month_index = today.year * 12 + today.month - 1 - back
    return date(month_index // 12, month_index % 12 + 1, 1)


def _licence_lines(first_day: date) -> list[InvoiceLine]:
    label = period_label(first_day.strftime("%Y-%m"))
    return [
        InvoiceLine(LICENCE.format(month=label), 1, 4900, Decimal(19)),
        InvoiceLine("Zusatzterminal (Lizenz)", 2, 1500, Decimal(19)),
    ]


def seed_demo(container: Container) -> str:
    """Create the demo store; its two oldest open invoices are far overdue, so it is blocked."""
    store_id = container.store_service.create(
        NewStore(
            name="Pizzeria Da Mario",
            email=DEMO_EMAIL,
            address=Address("Oranienstraße 42", "10999", "Berlin", "DE"),
            vat_id="DE298765435",
            monthly_fee_cents=4900,
        )
    )
    today = container.clock.now().date()
    plan = [  # months back, paid?
        (6, True),
        (5, True),
        (4, True),
        (3, False),
        (2, False),
        (0, False),
    ]
    for back, paid in plan:
        first = _month_start(today, back)
        issued_at = datetime(first.year, first.month, first.day, 8, 0, tzinfo=UTC)
        issuer = dataclasses.replace(container.invoice_issuer, clock=FixedClock(issued_at))
        period = first.strftime("%Y-%m")
        invoice = issuer.issue(
            store_id,
            _licence_lines(first),
            period=period,
            invoice_id=licence_invoice_id(store_id, period),  # the run's own: billed once
        )
        if paid:
            container.invoices.move(invoice, InvoiceStatus.PAID, issued_at + timedelta(days=3))
    hardware_at = datetime.combine(
        _month_start(today, 4) + timedelta(days=9), datetime.min.time(), UTC
    )
    hardware = dataclasses.replace(container.invoice_issuer, clock=FixedClock(hardware_at))
    extra = hardware.issue(
        store_id,
        [
            InvoiceLine("Bondrucker Epson TM-m30III", 1, 32900, Decimal(19)),
            InvoiceLine("Thermopapierrollen (50 Stück)", 1, 3990, Decimal(7)),
        ],
    )
    container.invoices.move(extra, InvoiceStatus.PAID, hardware_at + timedelta(days=5))
    grace = timedelta(days=container.settings.dunning_grace_days)
    store = container.stores.get(store_id)
    assert store is not None
    if any(today > item.due_date + grace for item in store.open_items):
        container.stores.set_access(store_id, "blocked", container.clock.now())
    return store_id
