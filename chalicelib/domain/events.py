"""The catalogue of events on the portal's bus: the only place they are built.

Consumers (the POS, reporting) read `detail`; its keys are part of the API contract.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, ClassVar

from chalicelib.domain.payments import ProviderStatus, ProviderUpdate

PORTAL_SOURCE = "sides.portal"
PROVIDER_NEWS_SOURCE = "sides.portal.webhooks"


@dataclasses.dataclass(frozen=True)
class DomainEvent:
    """One entry for the bus: its detail type, its source and its JSON detail."""

    detail_type: str
    detail: dict[str, Any]
    source: str = PORTAL_SOURCE


@dataclasses.dataclass(frozen=True)
class InvoicePaid:
    detail_type: ClassVar[str] = "InvoicePaid"
    store_id: str
    invoice_id: str
    number: str
    gross_cents: int
    currency: str
    paid_at: datetime
    payment_id: str

    def to_event(self) -> DomainEvent:
        detail = dataclasses.asdict(self)
        detail["paid_at"] = self.paid_at.isoformat()
        return DomainEvent(self.detail_type, detail)


@dataclasses.dataclass(frozen=True)
class StoreAccessChanged:
    detail_type: ClassVar[str] = "StoreAccessChanged"
    store_id: str
    status: str  # "active" | "blocked"
    reason: str
    changed_at: datetime

    def to_event(self) -> DomainEvent:
        detail = dataclasses.asdict(self)
        detail["changed_at"] = self.changed_at.isoformat()
        return DomainEvent(self.detail_type, detail)


@dataclasses.dataclass(frozen=True)
class PaymentFailed:
    detail_type: ClassVar[str] = "PaymentFailed"
    store_id: str
    invoice_id: str
    payment_id: str
    failure_code: str | None
    kind: str

    def to_event(self) -> DomainEvent:
        return DomainEvent(self.detail_type, dataclasses.asdict(self))


@dataclasses.dataclass(frozen=True)
class PaymentRefunded:
    """Money that came in for invoices that no longer needed it went back to the payer."""

    detail_type: ClassVar[str] = "PaymentRefunded"
    store_id: str
    payment_id: str
    invoice_ids: tuple[str, ...]
    amount_cents: int
    currency: str
    reason: str
    refunded_at: datetime

    def to_event(self) -> DomainEvent:
        detail = dataclasses.asdict(self)
        detail["invoice_ids"] = list(self.invoice_ids)
        detail["refunded_at"] = self.refunded_at.isoformat()
        return DomainEvent(self.detail_type, detail)


@dataclasses.dataclass(frozen=True)
class PaymentProviderEvent:
    """Provider news on its way to the function that applies it (webhooks, and what the
    API saw itself so the follow-ups run even if the webhook never comes)."""

    detail_type: ClassVar[str] = "PaymentProviderEvent"
    update: ProviderUpdate

    def to_event(self) -> DomainEvent:
        detail = dataclasses.asdict(self.update)
        detail["status"] = self.update.status.value
        return DomainEvent(self.detail_type, detail, source=PROVIDER_NEWS_SOURCE)

    @classmethod
    def from_detail(cls, detail: dict[str, Any]) -> PaymentProviderEvent:
        fields = {f.name for f in dataclasses.fields(ProviderUpdate)}
        values = {key: value for key, value in detail.items() if key in fields}
        values["status"] = ProviderStatus(values["status"])
        return cls(ProviderUpdate(**values))
