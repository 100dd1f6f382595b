"""The operator command line on moto: one JSON object on stdout, one German line on stderr
for a mistake (exit code 2, nothing changed), never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chalicelib import cli
from tests.integration.helpers import unique_email

ROOT = Path(__file__).resolve().parents[2]


def _run(capsys, *argv: str) -> tuple[int, dict, str]:
    try:
        code = cli.main(list(argv))
    except SystemExit as exit_:  # argparse's own mistakes
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else {}), err


def _store_args(email: str, **changes: str) -> list[str]:
    values = {
        "--name": "Döner Eck",
        "--email": email,
        "--street": "Karl-Marx-Str. 1",
        "--postal-code": "12043",
        "--city": "Berlin",
        **changes,
    }
    return ["stores", "create", *[part for pair in values.items() for part in pair]]


@pytest.fixture()
def operator(aws_stack, capsys):
    cli._container.cache_clear()

    def run(*argv: str) -> tuple[int, dict, str]:
        return _run(capsys, *argv)

    return run


@pytest.fixture()
def store(operator) -> tuple[str, str]:
    email = unique_email("cli")
    code, created, err = operator(*_store_args(email))
    assert code == 0, err
    return created["store_id"], email


def _mails_to(operator, email: str) -> list[dict]:
    code, box, err = operator("outbox", "--to", email)
    assert code == 0, err
    return box["messages"]


def _assert_mistake(code: int, out: dict, err: str, *named: str) -> None:
    assert code == 2 and out == {}
    assert err.startswith("invalid_request: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for name in named:
        assert name in err, err


def test_commands_print_exactly_one_json_object(operator, store):
    store_id, email = store
    code, issued, _ = operator(
        "invoices",
        "issue",
        "--store",
        store_id,
        "--line",
        "SIDES Kassenlizenz;1;4900;19",
        "--line",
        "Zusatzterminal;2;1500;19",
        "--period",
        "2026-11",
    )
    assert code == 0 and issued["gross_cents"] == 4900 + 931 + 3000 + 570
    assert issued["number"].startswith("RE-")
    code, sent, _ = operator("invitations", "send", "--store", store_id)
    assert code == 0 and "#/einladung/" in sent["invitation_url"]
    code, voided, _ = operator("invoices", "void", "--invoice", issued["invoice_id"])
    assert code == 0 and voided["invoice_id"] == issued["invoice_id"]
    assert voided["status"] == "void"


def test_other_errors_are_one_line_on_stderr_with_exit_code_1(operator, store):
    _, email = store
    code, out, err = operator(*_store_args(email))
    assert code == 1 and out == {}
    assert err.startswith("email_in_use:") and err.count("\n") == 1
    code, out, err = operator("invoices", "issue", "--store", "st_unknown", "--line", "x;1;1;19")
    assert code == 1 and err.startswith("store_not_found:")
    code, out, err = operator("invoices", "show", "--invoice", "inv_unknown")
    assert code == 1 and err.startswith("invoice_not_found:")


# every validation rule -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"--email": "a@x.example, victim@y.example"}, "--email"),
        ({"--email": "a@x.example\r\nBcc: victim@y.example"}, "--email"),
        ({"--email": "kein-at.example"}, "--email"),
        ({"--street": "  "}, "--street"),
        ({"--city": ""}, "--city"),
        ({"--postal-code": "ABCDE"}, "--postal-code"),
        ({"--postal-code": "1"}, "--postal-code"),
        ({"--vat-id": "12345"}, "--vat-id"),
        ({"--vat-id": "DE123456789"}, "--vat-id"),
        ({"--name": "Döner\nEck"}, "--name"),
        ({"--monthly-fee-cents": "-100"}, "--monthly-fee-cents"),
        ({"--monthly-fee-cents": "viel"}, "--monthly-fee-cents"),
    ],
)
def test_a_store_with_a_mistake_is_not_created(operator, changes, named):
    email = changes.get("--email") or unique_email("bad")
    before = operator("stores", "list")[1]["stores"]

    code, out, err = operator(*_store_args(email, **{**changes, "--email": email}))

    _assert_mistake(code, out, err, named)
    assert operator("stores", "list")[1]["stores"] == before


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("Lizenz;1;-5831;19", "Netto-Cent"),
        ("Lizenz;1;0;19", "Netto-Cent"),
        ("Lizenz;1;100000001;19", "Netto-Cent"),
        ("Lizenz;0;4900;19", "Menge"),
        ("Lizenz;10001;4900;19", "Menge"),
        ("Lizenz;1;4900;16", "USt-Satz"),
        (";1;4900;19", "Beschreibung"),
        ("x" * 201 + ";1;4900;19", "Beschreibung"),
        ("Lizenz\r\nZeile;1;4900;19", "Beschreibung"),
        ("Lizenz;1;4900", "--line"),
        ("Lizenz;10000;100000000;19", "Rechnungsbetrag"),  # 11.900.000.000,00 € > cap
    ],
)
def test_an_invoice_with_a_mistake_is_not_issued(operator, store, line, named):
    store_id, email = store

    code, out, err = operator("invoices", "issue", "--store", store_id, "--line", line)

    _assert_mistake(code, out, err, named)
    assert operator("invoices", "list", "--store", store_id)[1]["invoices"] == []
    assert _mails_to(operator, email) == []


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--period", "2026-13"], "--period"),
        (["--period", "26-11"], "--period"),
        (["--due-days", "-1"], "--due-days"),
        (["--due-days", "400"], "--due-days"),
    ],
)
def test_periods_and_terms_that_do_not_exist_are_refused(operator, store, args, named):
    store_id, _ = store
    code, out, err = operator(
        "invoices", "issue", "--store", store_id, "--line", "Lizenz;1;4900;19", *args
    )
    _assert_mistake(code, out, err, named)
    assert operator("invoices", "list", "--store", store_id)[1]["invoices"] == []


def test_argument_mistakes_are_german_single_lines(operator):
    code, out, err = operator("stores", "create", "--name", "X")
    _assert_mistake(code, out, err, "Es fehlt:", "--email")
    code, out, err = operator("stores", "list", "--status", "offen")
    _assert_mistake(code, out, err, "--status", "offen")
    code, out, err = operator("billing", "run", "--period", "2026-13")
    _assert_mistake(code, out, err, "--period")
    code, out, err = operator("stores", "frobnicate")
    _assert_mistake(code, out, err, "frobnicate")


def test_every_option_has_a_help_text_with_an_example():
    parser = cli.build_parser()
    seen = 0
    stack = [parser]
    while stack:
        current = stack.pop()
        for action in current._actions:
            if action.choices and isinstance(action.choices, dict):
                stack.extend(action.choices.values())
            elif action.option_strings and action.dest != "help":
                assert action.help and "z. B." in action.help, (current.prog, action.dest)
                seen += 1
    assert seen > 25


# stores list / show / update -------------------------------------------------------------


def test_list_show_and_update_a_store(operator, store):
    store_id, email = store

    code, listed, _ = operator("stores", "list")
    assert code == 0
    (mine,) = [s for s in listed["stores"] if s["store_id"] == store_id]
    assert mine == {
        "store_id": store_id,
        "name": "Döner Eck",
        "billing_email": email,
        "status": "active",
    }
    code, blocked, _ = operator("stores", "list", "--status", "blocked")
    assert code == 0 and store_id not in {s["store_id"] for s in blocked["stores"]}

    code, shown, _ = operator("stores", "show", "--store", store_id)
    assert code == 0
    assert shown["store"]["address"] == {
        "street": "Karl-Marx-Str. 1",
        "postal_code": "12043",
        "city": "Berlin",
        "country": "DE",
    }
    assert shown["invited"] is False and shown["autopay"] is False
    assert shown["open_balance_cents"] == 0 and shown["overdue_balance_cents"] == 0

    new_email = unique_email("neu")
    code, updated, err = operator(
        "stores",
        "update",
        "--store",
        store_id,
        "--city",
        "Hamburg",
        "--postal-code",
        "20095",
        "--vat-id",
        "DE123456788",
        "--email",
        new_email,
    )
    assert code == 0 and updated == {"store_id": store_id}, err
    shown = operator("stores", "show", "--store", store_id)[1]["store"]
    assert shown["billing_email"] == new_email and shown["vat_id"] == "DE123456788"
    assert (shown["address"]["city"], shown["address"]["postal_code"]) == ("Hamburg", "20095")
    operator("invitations", "send", "--store", store_id)
    assert operator("stores", "show", "--store", store_id)[1]["invited"] is True

    # the old address is free again, the new one is taken
    code, _, err = operator(*_store_args(email))
    assert code == 0, err
    code, _, err = operator(*_store_args(new_email))
    assert code == 1 and err.startswith("email_in_use:")


def test_an_update_with_a_mistake_changes_nothing(operator, store):
    store_id, email = store
    other_email = unique_email("andere")
    assert operator(*_store_args(other_email))[0] == 0
    before = operator("stores", "show", "--store", store_id)[1]

    for args, named in (
        (["--email", "a@x.example, victim@y.example", "--city", "Hamburg"], "--email"),
        (["--postal-code", "ABCDE", "--city", "Hamburg"], "--postal-code"),
        (["--street", " "], "--street"),
        (["--vat-id", "12345"], "--vat-id"),
        ([], "--city"),
    ):
        code, out, err = operator("stores", "update", "--store", store_id, *args)
        _assert_mistake(code, out, err, named)

    code, _, err = operator(
        "stores", "update", "--store", store_id, "--email", other_email, "--city", "Hamburg"
    )
    assert code == 1 and err.startswith("email_in_use:")
    assert operator("stores", "show", "--store", store_id)[1] == before


# invoices: mailed with the PDF, listed, shown, resent ----------------------------------


def test_an_issued_invoice_reaches_a_store_that_was_never_invited(operator, store):
    store_id, email = store

    code, issued, _ = operator(
        "invoices",
        "issue",
        "--store",
        store_id,
        "--line",
        "Bondrucker Epson TM-m30III;1;32900;19",
        "--line",
        "Thermopapierrollen (50 Stück);1;3990;7",
    )

    assert code == 0
    (mail,) = _mails_to(operator, email)
    assert mail["subject"] == f"Deine Rechnung {issued['number']}"
    attachment, e_invoice = mail["attachments"]
    assert attachment["filename"] == f"Rechnung-{issued['number']}.pdf"
    assert attachment["content_type"] == "application/pdf" and attachment["size"] > 1000
    # and its XRechnung (docs/adr/0005-e-invoices.md)
    assert e_invoice["filename"] == f"Rechnung-{issued['number']}.xml"
    assert e_invoice["content_type"] == "application/xml" and e_invoice["size"] > 1000

    code, listed, _ = operator("invoices", "list", "--store", store_id)
    assert code == 0 and [i["id"] for i in listed["invoices"]] == [issued["invoice_id"]]
    assert listed["invoices"][0]["gross_cents"] == issued["gross_cents"]

    code, shown, _ = operator("invoices", "show", "--invoice", issued["invoice_id"])
    assert code == 0
    assert shown["invoice"]["tax_breakdown"] == [
        {"rate_percent": 7, "net_cents": 3990, "tax_cents": 279},
        {"rate_percent": 19, "net_cents": 32900, "tax_cents": 6251},
    ]
    assert len(shown["invoice"]["lines"]) == 2

    code, resent, _ = operator("invoices", "resend", "--invoice", issued["invoice_id"])
    assert code == 0 and resent == {"invoice_id": issued["invoice_id"], "sent_to": [email]}
    first, second = _mails_to(operator, email)
    assert second["attachments"] == first["attachments"]

    code, _, err = operator("invoices", "resend", "--invoice", "inv_unknown")
    assert code == 1 and err.startswith("invoice_not_found:")


def test_the_outbox_reads_for_people_too(operator, store, capsys):
    store_id, email = store
    operator("invoices", "issue", "--store", store_id, "--line", "Lizenz;1;4900;19")
    operator("invitations", "send", "--store", store_id)

    code = cli.main(["outbox", "--to", email, "--text"])
    text = capsys.readouterr().out
    assert code == 0
    assert "Betreff:  Deine Rechnung" in text and "Anhang:   Rechnung-RE-" in text
    assert "Betreff:  Deine Einladung zum SIDES Kundenportal" in text

    code, last, _ = operator("outbox", "--to", email, "--last")
    assert code == 0 and [m["subject"] for m in last["messages"]] == [
        "Deine Einladung zum SIDES Kundenportal"
    ]
    assert last["messages"][0]["attachments"] == []


# archive retention -----------------------------------------------------------------------


def test_each_pdf_is_locked_until_the_end_of_its_retention_period(container):
    from chalicelib.services.invoices import pdf_key
    from tests.integration.helpers import issue, make_store

    (invoice,) = issue(container, make_store(container))

    mode, until = container.documents.retention_of(pdf_key(invoice))

    assert mode == "COMPLIANCE"
    assert until == datetime(invoice.issue_date.year + 9, 1, 1, tzinfo=UTC)


# without a stack ---------------------------------------------------------------------------


def test_without_a_running_stack_the_cli_says_how_to_start_one(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PORTAL_", "AWS_", "INVOICE_", "USER_POOL", "EVENT_BUS"))
    }
    env["PORTAL_STATE_FILE"] = str(tmp_path / "missing.json")
    for argv in (["stores", "list"], ["invoices", "show", "--invoice", "inv_1"], ["outbox"]):
        result = subprocess.run(
            [sys.executable, "-m", "chalicelib.cli", *argv],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1 and result.stdout == ""
        assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
        assert result.stderr.startswith("no_stack: Kein lokaler Stack läuft")
        assert "make run" in result.stderr


def test_a_stale_state_file_counts_as_no_stack(tmp_path):
    state = tmp_path / "stack.json"
    state.write_text(json.dumps({"pid": 2**22 + 12345, "env": {"PORTAL_PREFIX": "x"}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "AWS_"))}
    env["PORTAL_STATE_FILE"] = str(state)
    result = subprocess.run(
        [sys.executable, "-m", "chalicelib.cli", "stores", "list"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "make run" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_is_german_and_shows_examples(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["stores", "update", "--help"])
    out = capsys.readouterr().out
    assert exited.value.code == 0
    assert out.startswith("Aufruf: portal stores update ") and out.count("Aufruf:") == 1
    assert "Optionen:" in out and "Beispiel:" in out and "usage:" not in out


def test_a_stage_with_invalid_seller_data_issues_nothing(operator, store, tmp_path, monkeypatch):
    from chalicelib.config import get_settings
    from chalicelib.domain.supplier import SAMPLE_SELLER

    store_id, email = store
    seller = {**SAMPLE_SELLER, "bank": {**SAMPLE_SELLER["bank"], "iban": "DE02100100100123456789"}}
    path = tmp_path / "seller.json"
    path.write_text(json.dumps(seller), encoding="utf-8")
    monkeypatch.setenv("SELLER_CONFIG", str(path))
    get_settings.cache_clear()
    cli._container.cache_clear()
    try:
        code, out, err = operator(
            "invoices", "issue", "--store", store_id, "--line", "Lizenz;1;4900;19"
        )
        billing = operator("billing", "run", "--period", "2026-11", "--no-wait")
    finally:
        monkeypatch.delenv("SELLER_CONFIG")
        get_settings.cache_clear()
        cli._container.cache_clear()

    assert code == 1 and out == {} and err.count("\n") == 1
    assert err.startswith("seller_data_invalid: Die Verkäuferdaten")
    assert "IBAN (bank.iban)" in err and "Traceback" not in err
    assert billing[0] == 1 and billing[2].startswith("seller_data_invalid:")
    assert operator("invoices", "list", "--store", store_id)[1]["invoices"] == []
    assert _mails_to(operator, email) == []


def test_a_month_is_invoiced_once_by_hand_or_by_the_run(operator, store):
    from chalicelib.domain.periods import licence_invoice_id
    from chalicelib.services.ports import IssueRequest

    store_id, _ = store
    licence = ("invoices", "issue", "--store", store_id, "--line", "SIDES Kassenlizenz;1;4900;19")
    code, first, err = operator(*licence, "--period", "2026-10")
    assert code == 0, err
    assert first["invoice_id"] == licence_invoice_id(store_id, "2026-10")  # the run's own id

    # A second invoice for the month is refused, naming the one that exists
    code, out, err = operator(*licence, "--period", "2026-10")
    _assert_mistake(code, out, err, "--period", first["number"])
    code, listed, _ = operator("invoices", "list", "--store", store_id)
    assert [i["number"] for i in listed["invoices"]] == [first["number"]]

    # and the monthly run finds the month billed: no second licence invoice
    container = cli._container()
    request = IssueRequest(store_id, "2026-10", datetime.now(UTC))
    assert container.billing.issue(request).number == first["number"]

    # After a Stornorechnung the month may be invoiced again, under an id of its own
    code, _, err = operator("invoices", "void", "--invoice", first["invoice_id"])
    assert code == 0, err
    code, again, err = operator(*licence, "--period", "2026-10")
    assert code == 0, err
    assert again["invoice_id"] != first["invoice_id"] and again["number"] != first["number"]


@pytest.mark.parametrize(
    "argv, option",
    [
        (("stores", "show", "--store", ""), "--store"),
        (("stores", "close", "--store", " "), "--store"),
        (("invitations", "send", "--store", "st_1/../x"), "--store"),
        (("invoices", "list", "--store", ""), "--store"),
        (("invoices", "show", "--invoice", ""), "--invoice"),
        (("invoices", "void", "--invoice", "inv_ü"), "--invoice"),
        (("invoices", "credit", "--invoice", "x" * 129), "--invoice"),
        (("dunning", "run", "--today", "20261130"), "--today"),
    ],
)
def test_ids_and_days_that_cannot_be_ours_are_mistakes(operator, argv, option):
    code, out, err = operator(*argv)
    _assert_mistake(code, out, err, option)


@pytest.mark.parametrize("days", [-1, -30000, 401, 2_000_000])
def test_the_daily_run_looks_ahead_a_little_and_never_back(operator, days):
    today = cli._today(cli._container())
    try:
        day = (today + timedelta(days=days)).isoformat()
    except OverflowError:
        day = "9999-12-31"
    code, out, err = operator("dunning", "run", "--today", day)
    _assert_mistake(code, out, err, "--today")
