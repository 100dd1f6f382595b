"""The operator command line `portal`: one JSON object on stdout per command."""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from chalicelib.domain.errors import InvalidRequestError, PortalError
from chalicelib.domain.invoices import InvoiceLine
from chalicelib.domain.stores import Address

STATE_FILE = Path(
    os.environ.get("PORTAL_STATE_FILE", Path(__file__).parent.parent / ".local" / "stack.json")
)


def _use_local_stack() -> dict[str, Any] | None:
    """Against the local stack no flags are needed: its state file names every endpoint."""
    if os.environ.get("PORTAL_PREFIX") or not STATE_FILE.exists():
        return None
    state: dict[str, Any] = json.loads(STATE_FILE.read_text())
    os.environ.update(state["env"])
    return state


def parse_line(text: str) -> InvoiceLine:
    parts = text.split(";")
    if len(parts) != 4:
        raise InvalidRequestError("--line braucht 'Beschreibung;Menge;Netto-Cent;USt-%'.")
    description, quantity, net, rate = (part.strip() for part in parts)
    try:
        line = InvoiceLine(description, int(quantity), int(net), Decimal(rate.replace(",", ".")))
    except (ValueError, InvalidOperation) as exc:
        raise InvalidRequestError(f"Ungültige Position: {text}") from exc
    if not description or line.quantity <= 0 or not Decimal(0) <= line.tax_rate_percent <= 100:
        raise InvalidRequestError(f"Ungültige Position: {text}")
    return line


@functools.lru_cache(maxsize=1)
def _container() -> Any:
    from chalicelib.bootstrap import Container
    from chalicelib.config import get_settings
    from chalicelib.services.ports import NO_METRICS

    # Metrics are embedded-format lines on stdout, which CloudWatch reads inside Lambda
    # only; here stdout belongs to the command's one JSON object.
    return Container(get_settings(), metrics=NO_METRICS)


def stores_create(args: argparse.Namespace) -> dict[str, Any]:
    from chalicelib.services.stores import NewStore

    store_id = _container().store_service.create(
        NewStore(
            name=args.name,
            email=args.email,
            address=Address(args.street, args.postal_code, args.city, args.country),
            vat_id=args.vat_id,
            monthly_fee_cents=args.monthly_fee_cents,
        )
    )
    return {"store_id": store_id}


def stores_close(args: argparse.Namespace) -> dict[str, Any]:
    store = _container().store_service.close(args.store)
    closed_at = store.closed_at.isoformat() if store.closed_at else None
    return {"store_id": store.id, "closed_at": closed_at}


def invitations_send(args: argparse.Namespace) -> dict[str, Any]:
    sent = _container().invitation_service.send(args.store)
    return {"invitation_url": sent.url, "expires_at": sent.expires_at.isoformat()}


def invoices_issue(args: argparse.Namespace) -> dict[str, Any]:
    lines = [parse_line(text) for text in args.line]
    invoice = _container().invoice_issuer.issue(
        args.store, lines, period=args.period, due_days=args.due_days
    )
    return {
        "invoice_id": invoice.id,
        "number": invoice.number,
        "gross_cents": invoice.totals.gross_cents,
    }


def invoices_void(args: argparse.Namespace) -> dict[str, Any]:
    invoice = _container().invoice_issuer.void(args.invoice)
    return {"invoice_id": invoice.id, "status": invoice.status.value}


def billing_run(args: argparse.Namespace) -> dict[str, Any]:
    from chalicelib.services.billing import licence_payment_id

    container = _container()
    result = container.billing.run(args.period)
    # The charges run behind the charge queue (the pump locally, Lambda in AWS); report
    # them once the queue has drained.
    if not args.no_wait:
        _wait_for_queue(container, args.wait_seconds)
    charged = failed = 0
    for invoice_id in result.invoice_ids:
        store_id = invoice_id[len("lic_") : invoice_id.rindex("_")]
        payment = container.ledger.get(licence_payment_id(store_id, args.period, 1))
        if payment is not None and payment.status == "succeeded":
            charged += 1
        elif payment is not None and payment.status in ("failed", "canceled"):
            failed += 1
    return {
        "period": result.period,
        "invoiced": result.invoiced,
        "charged": charged,
        "failed": failed,
        "skipped": result.skipped,
    }


def _wait_for_queue(container: Any, seconds: float) -> None:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if container.charge_queue.in_flight() == 0:
            return
        time.sleep(0.5)
    print("warning: charges still running; counts are incomplete", file=sys.stderr)


def dunning_run(args: argparse.Namespace) -> dict[str, Any]:
    import dataclasses
    from datetime import date

    from chalicelib.services.invoices import today_in_berlin

    container = _container()
    today = date.fromisoformat(args.today) if args.today else today_in_berlin(container.clock.now())
    return dataclasses.asdict(container.dunning.run(today))


def outbox(args: argparse.Namespace) -> dict[str, Any]:
    state = _use_local_stack() or {}
    endpoint = state.get("env", {}).get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        raise InvalidRequestError("outbox gibt es nur im lokalen Stack.")
    from local.outbox import read_outbox

    return {"messages": read_outbox(endpoint)}


def _period(text: str) -> str:
    if len(text) != 7 or text[4] != "-" or not (text[:4] + text[5:]).isdigit():
        raise argparse.ArgumentTypeError("Zeitraum als YYYY-MM")
    if not 1 <= int(text[5:]) <= 12:
        raise argparse.ArgumentTypeError("Monat 01 bis 12")
    return text


def _day(text: str) -> str:
    from datetime import date

    try:
        return date.fromisoformat(text).isoformat()
    except ValueError as exc:
        raise argparse.ArgumentTypeError("Datum als YYYY-MM-DD") from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="portal", description="SIDES Kundenportal – Betrieb")
    groups = parser.add_subparsers(dest="group", required=True)

    stores = groups.add_parser("stores").add_subparsers(dest="command", required=True)
    create = stores.add_parser("create")
    create.add_argument("--name", required=True)
    create.add_argument("--email", required=True)
    create.add_argument("--street", required=True)
    create.add_argument("--postal-code", required=True)
    create.add_argument("--city", required=True)
    create.add_argument("--country", default="DE")
    create.add_argument("--vat-id")
    create.add_argument("--monthly-fee-cents", type=int, default=4900)
    create.set_defaults(run=stores_create)
    close = stores.add_parser("close", help="no more licence invoices from the next run on")
    close.add_argument("--store", required=True)
    close.set_defaults(run=stores_close)

    invitations = groups.add_parser("invitations").add_subparsers(dest="command", required=True)
    send = invitations.add_parser("send")
    send.add_argument("--store", required=True)
    send.set_defaults(run=invitations_send)

    invoices = groups.add_parser("invoices").add_subparsers(dest="command", required=True)
    issue = invoices.add_parser("issue")
    issue.add_argument("--store", required=True)
    issue.add_argument("--line", action="append", required=True)
    issue.add_argument("--period", type=_period)
    issue.add_argument("--due-days", type=int, default=14)
    issue.set_defaults(run=invoices_issue)
    void = invoices.add_parser("void")
    void.add_argument("--invoice", required=True)
    void.set_defaults(run=invoices_void)

    billing = groups.add_parser("billing").add_subparsers(dest="command", required=True)
    run_billing = billing.add_parser("run")
    run_billing.add_argument("--period", type=_period, required=True)
    run_billing.add_argument("--no-wait", action="store_true", help="do not wait for charges")
    run_billing.add_argument("--wait-seconds", type=float, default=300.0)
    run_billing.set_defaults(run=billing_run)

    dunning = groups.add_parser("dunning").add_subparsers(dest="command", required=True)
    run_dunning = dunning.add_parser("run")
    run_dunning.add_argument("--today", type=_day)
    run_dunning.set_defaults(run=dunning_run)

    groups.add_parser("outbox").set_defaults(run=outbox)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _use_local_stack()
    run: Callable[[argparse.Namespace], dict[str, Any]] = args.run
    try:
        result = run(args)
    except PortalError as exc:
        print(f"{exc.code}: {exc.message}", file=sys.stderr)
        return 1
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
