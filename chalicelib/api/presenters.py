"""JSON shapes of the contract (Profile, InvoiceSummary, Invoice, Link)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from chalicelib.domain.dunning import lock_warning
from chalicelib.domain.invoices import Invoice, list_group
from chalicelib.domain.payments import Payment, failure_message
from chalicelib.domain.stores import Store

if TYPE_CHECKING:
    from chalicelib.services.ports import DownloadLink


def link(download: DownloadLink) -> dict[str, Any]:
    return {"url": download.url, "expires_in": download.expires_in, "filename": download.filename}


def profile(store: Store, today: date, grace_days: int = 14) -> dict[str, Any]:
    warning = lock_warning(store.open_items, today, grace_days)
    return {
        "store": {
            "id": store.id,
            "name": store.name,
            "billing_email": store.billing_email,
            "vat_id": store.vat_id,
            "address": {
                "street": store.address.street,
                "postal_code": store.address.postal_code,
                "city": store.address.city,
                "country": store.address.country,
            },
        },
        "account_status": store.account_status,
        "blocked_since": store.blocked_since,
        "open_balance_cents": store.open_balance_cents(),
        "overdue_balance_cents": store.overdue_balance_cents(today),
        "currency": "EUR",
        "payment_method": saved_card(store, today),
        "autopay": store.autopay,
        "accountant_email": store.accountant_email,
        "mfa_enabled": store.mfa_enabled,
        "lock_warning": None
        if warning is None
        else {"date": warning[0].isoformat(), "amount_cents": warning[1]},
    }


def _next_run(today: date) -> date:
    return date(today.year + today.month // 12, today.month % 12 + 1, 1)


def saved_card(store: Store, today: date) -> dict[str, Any] | None:
    card = store.payment_method
    if card is None:
        return None
    return {
        "type": "card",
        "brand": card.brand,
        "last4": card.last4,
        "exp_month": card.exp_month,
        "exp_year": card.exp_year,
        "expires_before_next_run": card.expires_before(_next_run(today)),
    }


def invoice_summary(invoice: Invoice, today: date) -> dict[str, Any]:
    totals = invoice.totals
    return {
        "id": invoice.id,
        "number": invoice.number,
        "issue_date": invoice.issue_date,
        "due_date": invoice.due_date,
        "period": invoice.period,
        "description": invoice.description,
        "net_cents": totals.net_cents,
        "tax_cents": totals.tax_cents,
        "gross_cents": totals.gross_cents,
        "currency": invoice.currency,
        "status": invoice.status.value,
        "overdue": invoice.is_overdue(today),
        "paid_at": invoice.paid_at,
        # what corrections made of it: cancelled | credited | partially_credited | null
        "correction": invoice.correction_state,
        "amount_due_cents": invoice.amount_due_cents if list_group(invoice.status) == "open" else 0,
    }


def payment(item: Payment) -> dict[str, Any]:
    return {
        "id": item.id,
        "invoice_id": item.invoice_id,
        "provider": item.provider,
        "method": item.method,
        "kind": item.kind,
        "amount_cents": item.amount_cents,
        "currency": item.currency,
        "status": item.status.value,
        "invoice_ids": list(item.invoice_ids),
        "failure_code": item.failure_code,
        "failure_message": failure_message(item.failure_code, item.status),
        "created_at": item.created_at,
        "updated_at": item.updated_at,
    }


def invoice_detail(invoice: Invoice, today: date) -> dict[str, Any]:
    body = invoice_summary(invoice, today)
    body["lines"] = [
        {
            "description": line.description,
            "quantity": line.quantity,
            "unit_net_cents": line.unit_net_cents,
            "tax_rate_percent": float(line.tax_rate_percent)
            if line.tax_rate_percent % 1
            else int(line.tax_rate_percent),
            "net_cents": line.net_cents,
        }
        for line in invoice.lines
    ]
    body["payments"] = [payment(p) for p in invoice.payments]
    body["refunded_cents"] = invoice.refunded_cents
    body["credited_cents"] = invoice.credited_cents
    body["documents"] = documents(invoice)
    body["tax_breakdown"] = tax_breakdown(invoice)
    return body


def _percent_number(rate: Any) -> int | float:
    return float(rate) if rate % 1 else int(rate)


def tax_breakdown(invoice: Invoice) -> list[dict[str, Any]]:
    """Net and VAT per rate, ascending by rate: the same figures (the same per-line
    rounding) as the totals block of the PDF."""
    return [
        {"rate_percent": _percent_number(rate), "net_cents": net, "tax_cents": tax}
        for rate, net, tax in invoice.totals.by_rate
    ]


def payment_start(started: Any) -> dict[str, Any]:
    return {
        "payment_id": started.payment.id,
        "provider": started.payment.provider,
        "client_secret": started.client_secret,
        "approve_url": started.approve_url,
    }


def documents(invoice: Invoice) -> list[dict[str, Any]]:
    """The invoice itself first, then every document issued for it whose PDF is stored."""
    own = {
        "id": invoice.id,
        "kind": "invoice",
        "number": invoice.number,
        "issue_date": invoice.issue_date,
        "gross_cents": invoice.totals.gross_cents,
        "currency": invoice.currency,
        "refers_to": None,
    }
    issued = [
        {
            "id": document.id,
            "kind": document.kind.value,
            "number": document.number,
            "issue_date": document.issue_date,
            "gross_cents": document.gross_cents,
            "currency": document.currency,
            "refers_to": {"invoice_id": invoice.id, "number": invoice.number},
        }
        for document in invoice.documents
        if document.ready
    ]
    return [own, *issued]
