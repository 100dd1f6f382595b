"""The operator command line `portal`: one JSON object on stdout per command.

Every input is checked (chalicelib.domain.validation) before anything changes. A mistake
answers one German line on stderr that names the field, with exit code 2; other errors
(unknown store, e-mail in use, no stack) answer one line with exit code 1. No command
prints a traceback.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn

from chalicelib.domain.errors import InvalidRequestError, PortalError
from chalicelib.domain.invoices import InvoiceLine
from chalicelib.domain.stores import Address
from chalicelib.domain.validation import (
    DEFAULT_VAT_RATES,
    FieldError,
    check_lines,
    check_monthly_fee,
    check_store_fields,
    is_record_id,
    validate_period,
    validate_text,
)
from chalicelib.domain.validation import parse_line as _parse_line

STATE_FILE = Path(
    os.environ.get("PORTAL_STATE_FILE", Path(__file__).parent.parent / ".local" / "stack.json")
)
MISTAKE = 2  # exit code of an input mistake
FAILURE = 1  # exit code of every other error
NO_STACK = (
    "Kein lokaler Stack läuft. Starte ihn in einem zweiten Terminal mit `make run` und "
    "versuche es dann noch einmal (für eine AWS-Stage: PORTAL_PREFIX und die übrigen "
    "Einstellungen setzen, siehe docs/deploy.md)."
)
# The option a field of the validation rules comes from.
OPTIONS = {
    "Name": "--name",
    "E-Mail": "--email",
    "Straße": "--street",
    "Postleitzahl": "--postal-code",
    "Ort": "--city",
    "Land": "--country",
    "USt-IdNr.": "--vat-id",
    "Monatsgebühr": "--monthly-fee-cents",
    "Beschreibung": "--line",
    "Menge": "--line",
    "Netto-Cent": "--line",
    "USt-Satz": "--line",
    "Rechnungsbetrag": "--line",
    "Zeitraum": "--period",
    "Zahlungsziel": "--due-days",
    "Grund": "--reason",
    "Stichtag": "--today",
}
# `dunning run --today` may look ahead (to see what a day will bring), never back.
MAX_DAYS_AHEAD = 400
PROGRESS_EVERY_S = 5.0  # how often a waiting `billing run` says how far it is


class CliError(Exception):
    def __init__(self, code: str, message: str, exit_code: int = FAILURE) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.exit_code = exit_code


def _stack_running(state: dict[str, Any]) -> bool:
    try:
        os.kill(int(state["pid"]), 0)
    except (KeyError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def _use_local_stack() -> dict[str, Any] | None:
    """Against the local stack no flags are needed: its state file names every endpoint."""
    if os.environ.get("PORTAL_PREFIX") or not STATE_FILE.exists():
        return None
    try:
        state: dict[str, Any] = json.loads(STATE_FILE.read_text())
    except (OSError, ValueError):
        return None
    if not _stack_running(state):
        return None
    os.environ.update(state["env"])
    return state


def _connect() -> None:
    """The stage to talk to: AWS by PORTAL_PREFIX, else the running local stack."""
    if os.environ.get("PORTAL_PREFIX"):
        return
    if _use_local_stack() is None:
        raise CliError("no_stack", NO_STACK)


def parse_line(text: str, rates: Sequence[Decimal] = DEFAULT_VAT_RATES) -> InvoiceLine:
    return _parse_line(text, rates)


@functools.lru_cache(maxsize=1)
def _container() -> Any:
    from chalicelib.bootstrap import Container
    from chalicelib.config import get_settings
    from chalicelib.services.ports import NO_METRICS

    # Metrics are embedded-format lines on stdout, which CloudWatch reads inside Lambda
    # only; here stdout belongs to the command's one JSON object.
    return Container(get_settings(), metrics=NO_METRICS)


def _today(container: Any) -> date:
    from chalicelib.domain.periods import today_in_berlin

    return today_in_berlin(container.clock.now())


# -- stores ------------------------------------------------------------------------------


def _store_fields(args: argparse.Namespace, names: Sequence[str]) -> dict[str, str]:
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def stores_create(args: argparse.Namespace) -> dict[str, Any]:
    from chalicelib.services.stores import NewStore

    fields = _store_fields(
        args, ("name", "email", "street", "postal_code", "city", "country", "vat_id")
    )
    check_store_fields(fields)
    check_monthly_fee(args.monthly_fee_cents)
    _connect()
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


def stores_list(args: argparse.Namespace) -> dict[str, Any]:
    from chalicelib.services.stores import status_of

    _connect()
    stores = _container().store_service.list(args.status)
    return {
        "stores": [
            {
                "store_id": store.id,
                "name": store.name,
                "billing_email": store.billing_email,
                "status": status_of(store),
            }
            for store in stores
        ]
    }


def stores_show(args: argparse.Namespace) -> dict[str, Any]:
    from chalicelib.api.presenters import profile
    from chalicelib.services.stores import status_of

    _connect()
    container = _container()
    overview = container.store_service.overview(args.store)
    store = overview.store
    today = _today(container)
    shown = profile(store, today)
    return {
        "store": {
            **shown["store"],
            "status": status_of(store),
            "monthly_fee_cents": store.monthly_fee_cents,
            "created_at": store.created_at,
            "closed_at": store.closed_at,
            "blocked_since": store.blocked_since,
            "payment_method": shown["payment_method"],
        },
        "open_balance_cents": store.open_balance_cents(),
        "overdue_balance_cents": store.overdue_balance_cents(today),
        "autopay": store.autopay,
        "invited": overview.invited,
    }


def stores_update(args: argparse.Namespace) -> dict[str, Any]:
    from chalicelib.services.stores import StoreChanges

    names = ("name", "email", "street", "postal_code", "city", "vat_id")
    fields = _store_fields(args, names)
    if not fields:
        raise CliError(
            "invalid_request",
            "Nichts zu ändern: gib mindestens eine Angabe an, z. B. --city Hamburg.",
            MISTAKE,
        )
    # Checked by the service before it writes (the postal code by the store's country).
    _connect()
    container = _container()
    before = container.store_service.profile(args.store)
    store = container.store_service.update(args.store, StoreChanges(**fields))
    # The sign-in name follows a new e-mail; the owner's activity log notes the change.
    container.account_service.operator_changed(before, store)
    return {"store_id": store.id}


def stores_reset_mfa(args: argparse.Namespace) -> dict[str, Any]:
    _connect()
    store = _container().account_service.reset_mfa(args.store)
    return {"store_id": store.id, "mfa_enabled": store.mfa_enabled}


def stores_close(args: argparse.Namespace) -> dict[str, Any]:
    _connect()
    store = _container().store_service.close(args.store)
    closed_at = store.closed_at.isoformat() if store.closed_at else None
    return {"store_id": store.id, "closed_at": closed_at}


def invitations_send(args: argparse.Namespace) -> dict[str, Any]:
    _connect()
    sent = _container().invitation_service.send(args.store)
    return {"invitation_url": sent.url, "expires_at": sent.expires_at.isoformat()}


# -- invoices ----------------------------------------------------------------------------


def invoices_issue(args: argparse.Namespace) -> dict[str, Any]:
    _connect()
    container = _container()
    settings = container.settings
    lines = [parse_line(text, settings.vat_rates) for text in args.line]
    check_lines(lines, settings.vat_rates, settings.max_invoice_gross_cents)
    invoice = container.invoice_issuer.issue(
        args.store,
        lines,
        period=args.period,
        due_days=args.due_days,
        invoice_id=_id_for_period(container, args.store, args.period) if args.period else None,
    )
    store = container.stores.get(args.store)
    item = next((i for i in store.open_items if i.invoice_id == invoice.id), None)
    if item is not None and not item.mailed:
        print(
            "Hinweis: Die Rechnung ist ausgestellt, aber die E-Mail an den Store ging nicht "
            f"hinaus. Sende sie später mit `portal invoices resend --invoice {invoice.id}`.",
            file=sys.stderr,
        )
    return {
        "invoice_id": invoice.id,
        "number": invoice.number,
        "gross_cents": invoice.totals.gross_cents,
    }


def _id_for_period(container: Any, store_id: str, period: str) -> str | None:
    """An invoice for a service period is the store's one invoice of that month, under the id
    the monthly run uses: whichever comes second finds the first, so the month is never
    billed twice. Only after a Stornorechnung may the month be invoiced again (new id)."""
    from chalicelib.domain.invoices import InvoiceStatus
    from chalicelib.domain.periods import licence_invoice_id, period_label

    invoice_id = licence_invoice_id(store_id, period)
    existing = container.invoices.get(invoice_id)
    if existing is None:
        return invoice_id
    if existing.status == InvoiceStatus.VOID:
        return None
    raise FieldError(
        "Zeitraum",
        f"Für {period_label(period)} hat der Store schon die Rechnung {existing.number}. "
        "Eine weitere Leistung stellst du ohne --period aus; eine falsche Rechnung stornierst "
        "du vorher mit `portal invoices void`.",
    )


def invoices_list(args: argparse.Namespace) -> dict[str, Any]:
    from chalicelib.api.presenters import invoice_summary

    _connect()
    container = _container()
    container.store_service.profile(args.store)  # store_not_found before an empty list
    today = _today(container)
    items: list[Any] = []
    start_key = None
    while True:
        page = container.invoices.list_for_store(args.store, None, 100, start_key)
        items.extend(page.items)
        start_key = page.last_key
        if not start_key:
            break
    return {"invoices": [invoice_summary(invoice, today) for invoice in items]}


def invoices_show(args: argparse.Namespace) -> dict[str, Any]:
    from chalicelib.api.presenters import invoice_detail
    from chalicelib.domain.errors import InvoiceNotFoundError

    _connect()
    container = _container()
    invoice = container.invoices.get(args.invoice)
    if invoice is None:
        raise InvoiceNotFoundError()
    return {"invoice": invoice_detail(invoice, _today(container))}


def invoices_resend(args: argparse.Namespace) -> dict[str, Any]:
    _connect()
    sent_to = _container().invoice_issuer.resend(args.invoice)
    if not sent_to:
        print(
            "Hinweis: Die Rechnungs-E-Mail-Adresse des Stores ist ungültig, es ging keine "
            "E-Mail hinaus. Korrigiere sie mit `portal stores update --store ID --email …`.",
            file=sys.stderr,
        )
    return {"invoice_id": args.invoice, "sent_to": list(sent_to)}


def invoices_void(args: argparse.Namespace) -> dict[str, Any]:
    _connect()
    result = _container().corrections.void(args.invoice, args.reason or "")
    return {
        "invoice_id": result.invoice.id,
        "status": result.invoice.status.value,
        "cancellation": {"document_id": result.document.id, "number": result.document.number},
    }


def invoices_credit(args: argparse.Namespace) -> dict[str, Any]:
    _connect()
    container = _container()
    settings = container.settings
    lines = [parse_line(text, settings.vat_rates) for text in args.line or []]
    if lines:
        check_lines(lines, settings.vat_rates, settings.max_invoice_gross_cents)
    from chalicelib.domain.money import format_eur

    result = container.corrections.credit(args.invoice, lines or None, args.reason or "")
    refund = result.document.refund
    if result.document.refund_owed and refund is None:
        print(
            "Hinweis: Die Rechnung wurde nicht über das Portal bezahlt; erstatte "
            f"{format_eur(-result.document.gross_cents)} bitte von Hand.",
            file=sys.stderr,
        )
    return {
        "invoice_id": result.invoice.id,
        "credit_note": {
            "document_id": result.document.id,
            "number": result.document.number,
            "gross_cents": result.document.gross_cents,
        },
        "refund": None
        if refund is None
        else {
            "payment_id": refund.payment_id,
            "amount_cents": refund.amount_cents,
            "status": refund.status,
        },
    }


# -- jobs and the outbox -----------------------------------------------------------------


def billing_run(args: argparse.Namespace) -> dict[str, Any]:
    from chalicelib.domain.periods import licence_invoice_id
    from chalicelib.services.billing import licence_payment_id

    _connect()
    container = _container()
    container.invoice_issuer.supplier.require_valid()
    result = container.billing.run(args.period)
    # Each queued store is issued and charged behind the issue queue (the pump locally,
    # Lambda in AWS); report them once the queue has drained.
    if not args.no_wait:
        _wait_for_queue(container, args.wait_seconds, result.queued)
    invoiced = charged = failed = 0
    for store_id in result.store_ids:
        if container.invoices.get(licence_invoice_id(store_id, args.period)) is not None:
            invoiced += 1
        payment = container.ledger.get(licence_payment_id(store_id, args.period, 1))
        if payment is not None and payment.status == "succeeded":
            charged += 1
        elif payment is not None and payment.status in ("failed", "canceled"):
            failed += 1
    return {
        "period": result.period,
        "queued": result.queued,
        "invoiced": invoiced,
        "charged": charged,
        "failed": failed,
        "skipped": result.queued - invoiced,
    }


def _wait_for_queue(container: Any, seconds: float, queued: int) -> None:
    """Waits for the workers behind the queues, saying every few seconds how far they are
    (on stderr: stdout carries only the result)."""
    import time

    started = time.monotonic()
    deadline = started + seconds
    said = started
    while time.monotonic() < deadline:
        issuing, charging = container.issue_queue.in_flight(), container.charge_queue.in_flight()
        if issuing == 0 and charging == 0:
            return
        if time.monotonic() - said >= PROGRESS_EVERY_S:
            said = time.monotonic()
            print(
                f"… {queued - min(issuing, queued)} von {queued} Stores abgerechnet, "
                f"{charging} Abbuchungen laufen ({said - started:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
        time.sleep(0.5)
    print("Hinweis: Abbuchungen laufen noch; die Zahlen sind unvollständig.", file=sys.stderr)


def dunning_run(args: argparse.Namespace) -> dict[str, Any]:
    import dataclasses

    _connect()
    container = _container()
    real_today = _today(container)
    today = date.fromisoformat(args.today) if args.today else real_today
    if today < real_today:
        # A past day would find invoices not yet overdue and unlock tills that are.
        raise FieldError("Stichtag", f"{today:%d.%m.%Y} liegt vor heute ({real_today:%d.%m.%Y})")
    if (today - real_today).days > MAX_DAYS_AHEAD:
        raise FieldError(
            "Stichtag", f"{today:%d.%m.%Y} liegt mehr als {MAX_DAYS_AHEAD} Tage in der Zukunft"
        )
    if today != real_today:
        print(
            f"Hinweis: Stichtag {today:%d.%m.%Y} statt heute. Erinnerungen, Sperren und E-Mails "
            "gelten wirklich.",
            file=sys.stderr,
        )
    return dataclasses.asdict(container.dunning.run(today))


def outbox(args: argparse.Namespace) -> dict[str, Any] | str:
    _connect()
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        raise CliError("invalid_request", "outbox gibt es nur im lokalen Stack.", MISTAKE)
    from local.outbox import as_text, read_outbox

    messages = read_outbox(endpoint)
    if args.to:
        wanted = args.to.strip().lower()
        messages = [m for m in messages if str(m["to"]).strip().lower() == wanted]
    if args.last:
        messages = messages[-1:]
    if args.text:
        return as_text(messages)
    return {"messages": messages}


# -- argument types and the parser -------------------------------------------------------


def _period(text: str) -> str:
    if error := validate_period(text):
        raise argparse.ArgumentTypeError(error)
    return text.strip()


def _store_id(text: str) -> str:
    if not is_record_id(text):
        raise argparse.ArgumentTypeError(f"„{text}“ ist keine Store-ID (z. B. st_0123456789abcdef)")
    return text


def _store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store", required=True, type=_store_id, help="ID des Stores, z. B. st_0123456789abcdef"
    )


def _invoice_id(text: str) -> str:
    if not is_record_id(text):
        raise argparse.ArgumentTypeError(
            f"„{text}“ ist keine Rechnungs-ID (z. B. inv_0123456789abcdef)"
        )
    return text


def _day(text: str) -> str:
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError(text)
        return date.fromisoformat(text).isoformat()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"„{text}“ ist kein Datum im Format JJJJ-MM-TT (z. B. 2026-11-30)"
        ) from exc


def _reason(text: str) -> str:
    if error := validate_text(text, 500, "Der Grund"):
        raise argparse.ArgumentTypeError(error)
    return text.strip()


_ARGPARSE_MESSAGES: tuple[tuple[str, Callable[[re.Match[str]], str]], ...] = (
    (r"the following arguments are required: (.+)", lambda m: f"Es fehlt: {m[1]}"),
    (r"unrecognized arguments: (.+)", lambda m: f"Unbekannte Angabe: {m[1]}"),
    (
        r"argument (\S+): invalid choice: '?([^']*)'? \(choose from (.+)\)",
        lambda m: f"{_name(m[1])}: „{m[2]}“ gibt es nicht (möglich: {m[3]})",
    ),
    (
        r"argument (\S+): invalid int value: '?([^']*)'?",
        lambda m: f"{_name(m[1])}: „{m[2]}“ ist keine ganze Zahl",
    ),
    (
        r"argument (\S+): invalid float value: '?([^']*)'?",
        lambda m: f"{_name(m[1])}: „{m[2]}“ ist keine Zahl",
    ),
    (r"argument (\S+): expected one argument", lambda m: f"{_name(m[1])} braucht einen Wert"),
    (r"argument (\S+): (.+)", lambda m: f"{_name(m[1])}: {m[2]}"),
    (r"ambiguous option: (\S+)", lambda m: f"Mehrdeutige Angabe: {m[1]}"),
)


def _name(argument: str) -> str:
    names = argument.split("/")
    long = [n for n in names if n.startswith("--")]
    if long:
        return long[0]
    return "Befehl" if argument in ("group", "command") else argument


def german(message: str) -> str:
    for pattern, render in _ARGPARSE_MESSAGES:
        match = re.fullmatch(pattern, message)
        if match:
            return render(match)
    return message


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def add_usage(
        self, usage: str | None, actions: Any, groups: Any, prefix: str | None = None
    ) -> None:
        # argparse asks with prefix "" when it builds a subcommand's name: keep that.
        super().add_usage(usage, actions, groups, "Aufruf: " if prefix is None else prefix)


class GermanParser(argparse.ArgumentParser):
    """argparse, speaking German and answering a mistake with one line and exit code 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        kwargs["add_help"] = False
        super().__init__(*args, **kwargs)
        self._optionals.title = "Optionen"
        self._positionals.title = "Befehle"
        self.add_argument("-h", "--help", action="help", help="diese Hilfe zeigen")

    def error(self, message: str) -> NoReturn:
        hint = f" (Hilfe: {self.prog} --help)"
        print(f"invalid_request: {german(message)}{hint}", file=sys.stderr)
        sys.exit(MISTAKE)


def _command(
    group: Any, name: str, summary: str, example: str, run: Callable[..., Any]
) -> GermanParser:
    parser: GermanParser = group.add_parser(
        name, help=summary, description=summary, epilog=f"Beispiel:\n  {example}"
    )
    parser.set_defaults(run=run)
    return parser


def _group(groups: Any, name: str, summary: str) -> Any:
    parser = groups.add_parser(name, help=summary, description=summary)
    return parser.add_subparsers(dest="command", required=True, title="Befehle", metavar="BEFEHL")


def _store_options(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument(
        "--street", required=required, help='Straße und Hausnummer, z. B. "Oranienstraße 42"'
    )
    parser.add_argument(
        "--postal-code", required=required, help="Postleitzahl (DE: 5 Ziffern), z. B. 10999"
    )
    parser.add_argument("--city", required=required, help="Ort, z. B. Berlin")
    parser.add_argument(
        "--vat-id",
        help="USt-IdNr. des Stores (Ländercode + Nummer mit Prüfziffer), z. B. DE123456788",
    )


def _stores(groups: Any) -> None:
    stores = _group(groups, "stores", "Stores (Restaurants) anlegen, ansehen, ändern, schließen")
    create = _command(
        stores,
        "create",
        "einen Store anlegen",
        'portal stores create --name "Pizzeria Da Mario" --email mario@pizzeria.de '
        '--street "Oranienstraße 42" --postal-code 10999 --city Berlin',
        stores_create,
    )
    create.add_argument("--name", required=True, help='Name des Stores, z. B. "Pizzeria Da Mario"')
    create.add_argument(
        "--email",
        required=True,
        help="genau eine E-Mail-Adresse für Rechnungen und die Einladung, z. B. mario@pizzeria.de",
    )
    _store_options(create, required=True)
    create.add_argument(
        "--country", default="DE", help="Ländercode der Adresse (Standard DE), z. B. AT"
    )
    create.add_argument(
        "--monthly-fee-cents",
        type=int,
        default=4900,
        help="monatliche Lizenzgebühr netto in Cent (Standard 4900, 0 = keine), z. B. 4900",
    )
    listing = _command(
        stores, "list", "alle Stores auflisten", "portal stores list --status blocked", stores_list
    )
    listing.add_argument(
        "--status",
        choices=("active", "blocked", "closed"),
        help="nur Stores mit diesem Status (active, blocked, closed), z. B. --status blocked",
    )
    show = _command(
        stores,
        "show",
        "einen Store mit Salden, Autopay und Einladungsstand zeigen",
        "portal stores show --store st_0123456789abcdef",
        stores_show,
    )
    _store_option(show)
    update = _command(
        stores,
        "update",
        "Name, Adresse, USt-IdNr. oder Rechnungs-E-Mail eines Stores ändern "
        "(ausgestellte Rechnungen bleiben unverändert)",
        "portal stores update --store st_0123456789abcdef --city Hamburg --postal-code 20095",
        stores_update,
    )
    _store_option(update)
    update.add_argument("--name", help='neuer Name, z. B. "Pizzeria Da Mario"')
    update.add_argument(
        "--email",
        help="neue Rechnungs-E-Mail (genau eine Adresse, noch keinem anderen Store zugeordnet), "
        "z. B. buchhaltung@pizzeria.de",
    )
    _store_options(update, required=False)
    reset_mfa = _command(
        stores,
        "reset-mfa",
        "die Anmeldung mit Einmalcode (TOTP) eines Stores ausschalten, z. B. nach Handyverlust",
        "portal stores reset-mfa --store st_0123456789abcdef",
        stores_reset_mfa,
    )
    _store_option(reset_mfa)
    close = _command(
        stores,
        "close",
        "einen Store schließen: ab dem nächsten Lauf keine Lizenzrechnungen mehr",
        "portal stores close --store st_0123456789abcdef",
        stores_close,
    )
    _store_option(close)


def _invoices(groups: Any) -> None:
    summary = "Rechnungen ausstellen, ansehen, erneut senden, stornieren, gutschreiben"
    invoices = _group(groups, "invoices", summary)
    issue = _command(
        invoices,
        "issue",
        "eine Rechnung ausstellen: PDF archivieren und dem Store per E-Mail schicken",
        'portal invoices issue --store st_0123456789abcdef --line "Bondrucker;1;32900;19" '
        '--line "Thermopapier;2;1995;7"',
        invoices_issue,
    )
    _store_option(issue)
    issue.add_argument(
        "--line",
        action="append",
        required=True,
        help="eine Position als 'Beschreibung;Menge;Netto-Cent;USt-%%' (Menge 1–10.000, "
        "1 Cent bis 1.000.000 €, USt 0, 7 oder 19), mehrfach möglich, "
        'z. B. "SIDES Kassenlizenz;1;4900;19"',
    )
    issue.add_argument(
        "--period", type=_period, help="Leistungszeitraum als JJJJ-MM, z. B. 2026-11"
    )
    issue.add_argument(
        "--due-days",
        type=int,
        default=14,
        help="Zahlungsziel in Tagen (0–365, Standard 14), z. B. 30",
    )
    listing = _command(
        invoices,
        "list",
        "alle Rechnungen eines Stores, neueste zuerst",
        "portal invoices list --store st_0123456789abcdef",
        invoices_list,
    )
    _store_option(listing)
    for name, summary, run in (
        ("show", "eine Rechnung mit Positionen, USt je Satz und Zahlungen zeigen", invoices_show),
        ("resend", "eine Rechnung mit PDF noch einmal an den Store schicken", invoices_resend),
    ):
        command = _command(
            invoices, name, summary, f"portal invoices {name} --invoice inv_0123456789abcdef", run
        )
        command.add_argument(
            "--invoice",
            required=True,
            type=_invoice_id,
            help="ID der Rechnung, z. B. inv_0123456789abcdef",
        )
    void = _command(
        invoices,
        "void",
        "eine offene Rechnung stornieren: Stornorechnung ausstellen, archivieren, mailen",
        'portal invoices void --invoice inv_0123456789abcdef --reason "Doppelt berechnet"',
        invoices_void,
    )
    credit = _command(
        invoices,
        "credit",
        "eine offene oder bezahlte Rechnung ganz oder teilweise gutschreiben; schon Bezahltes "
        "wird über den Zahlungsweg erstattet",
        'portal invoices credit --invoice inv_0123456789abcdef --line "Bondrucker;1;32900;19" '
        '--reason "Gerät zurückgegeben"',
        invoices_credit,
    )
    for command in (void, credit):
        command.add_argument(
            "--invoice",
            required=True,
            type=_invoice_id,
            help="ID der Rechnung, z. B. inv_0123456789abcdef",
        )
        command.add_argument(
            "--reason",
            type=_reason,
            help='Grund, steht auf dem Beleg (höchstens 500 Zeichen), z. B. "Doppelt berechnet"',
        )
    credit.add_argument(
        "--line",
        action="append",
        help="gutzuschreibende Position als 'Beschreibung;Menge;Netto-Cent;USt-%%' mit einem "
        "Steuersatz der Rechnung, mehrfach möglich; ohne --line die ganze Rechnung, "
        'z. B. "SIDES Kassenlizenz;1;4900;19"',
    )


def _jobs(groups: Any) -> None:
    billing = _group(groups, "billing", "der monatliche Lizenzlauf")
    run_billing = _command(
        billing,
        "run",
        "Lizenzrechnungen eines Monats ausstellen, mailen und abbuchen (wie der Zeitplan)",
        "portal billing run --period 2026-11",
        billing_run,
    )
    run_billing.add_argument(
        "--period", type=_period, required=True, help="abzurechnender Monat, z. B. 2026-11"
    )
    run_billing.add_argument(
        "--no-wait",
        action="store_true",
        help="nicht auf die Abbuchungen warten (z. B. in einem Skript ohne die Zahlen)",
    )
    run_billing.add_argument(
        "--wait-seconds",
        type=float,
        default=300.0,
        help="so lange höchstens auf die Abbuchungen warten (Standard 300), z. B. 60",
    )
    dunning = _group(groups, "dunning", "der tägliche Mahnlauf")
    run_dunning = _command(
        dunning,
        "run",
        "Wiederholungen, Erinnerungen und Kassensperren (wie der Zeitplan)",
        "portal dunning run --today 2026-11-30",
        dunning_run,
    )
    run_dunning.add_argument(
        "--today", type=_day, help="Stichtag statt heute (JJJJ-MM-TT), z. B. 2026-11-30"
    )
    box = groups.add_parser(
        "outbox",
        help="die E-Mails, die der lokale Stack verschickt hat",
        description="die E-Mails, die der lokale Stack verschickt hat (nur lokal)",
        epilog="Beispiele:\n  portal outbox --text --last\n"
        "  portal outbox --to mario@pizzeria-da-mario.example --text",
    )
    box.set_defaults(run=outbox)
    box.add_argument("--text", action="store_true", help="lesbar statt JSON, z. B. --text")
    box.add_argument("--last", action="store_true", help="nur die neueste E-Mail, z. B. --last")
    box.add_argument("--to", help="nur E-Mails an diese Adresse, z. B. mario@pizzeria.de")


def build_parser() -> argparse.ArgumentParser:
    parser = GermanParser(
        prog="portal",
        description="SIDES Kundenportal – Betrieb. Jeder Befehl gibt ein JSON-Objekt aus.",
        epilog="Beispiel:\n  portal stores list\n\nHilfe zu einem Befehl: portal stores create -h",
    )
    groups = parser.add_subparsers(dest="group", required=True, title="Befehle", metavar="BEREICH")
    _stores(groups)
    invitations = _group(groups, "invitations", "Einladungen ins Kundenportal")
    send = _command(
        invitations,
        "send",
        "eine Einladung an die Rechnungs-E-Mail des Stores schicken",
        "portal invitations send --store st_0123456789abcdef",
        invitations_send,
    )
    _store_option(send)
    _invoices(groups)
    _jobs(groups)
    return parser


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value) if value % 1 else int(value)
    raise TypeError(f"not serialisable: {type(value).__name__}")


def _fail(code: str, message: str, exit_code: int) -> int:
    print(f"{code}: {' '.join(message.split())}", file=sys.stderr)
    return exit_code


def _run(args: argparse.Namespace) -> int:
    run: Callable[[argparse.Namespace], dict[str, Any] | str] = args.run
    try:
        result = run(args)
    except FieldError as exc:
        option = OPTIONS.get(exc.field)
        where = f"{exc.field} ({option})" if option and option != exc.field else exc.field
        return _fail(exc.code, f"{where}: {exc.problem}", MISTAKE)
    except InvalidRequestError as exc:
        return _fail(exc.code, exc.message, MISTAKE)
    except PortalError as exc:
        return _fail(exc.code, exc.message, FAILURE)
    except CliError as exc:
        return _fail(exc.code, exc.message, exc.exit_code)
    if isinstance(result, str):
        sys.stdout.write(result)
    else:
        print(json.dumps(result, ensure_ascii=False, default=_json_default))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from chalicelib.config import ConfigError

    try:
        return _run(args)
    except ConfigError as exc:
        if "PORTAL_PREFIX" in str(exc):
            return _fail("no_stack", NO_STACK, FAILURE)
        return _fail("config_error", f"Einstellung fehlt oder ist ungültig: {exc}", FAILURE)
    except KeyboardInterrupt:
        return _fail("interrupted", "Abgebrochen.", 130)
    except BrokenPipeError:
        # The reader stopped early (`| head`): nothing to report, and nothing more to write.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return FAILURE
    except Exception as exc:  # noqa: BLE001 - the operator gets one line, never a traceback
        return _fail("internal_error", _unexpected(exc), FAILURE)


def _unexpected(exc: Exception) -> str:
    name = type(exc).__name__
    if name in ("EndpointConnectionError", "ConnectionError", "ConnectTimeoutError"):
        return (
            "Der Stack antwortet nicht. Läuft `make run` noch? Starte ihn neu und versuche "
            f"es dann noch einmal ({name})."
        )
    return f"Unerwarteter Fehler ({name}): {exc}"


if __name__ == "__main__":
    sys.exit(main())
