"""The operator command line: one JSON object on stdout, a one-line error otherwise."""

from __future__ import annotations

import json

from chalicelib import cli
from tests.integration.helpers import unique_email


def _run(capsys, *argv: str) -> tuple[int, dict, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else {}), err


def test_commands_print_exactly_one_json_object(aws_stack, capsys):
    cli._container.cache_clear()
    email = unique_email("cli")
    code, created, _ = _run(
        capsys,
        "stores",
        "create",
        "--name",
        "Döner Eck",
        "--email",
        email,
        "--street",
        "Karl-Marx-Str. 1",
        "--postal-code",
        "12043",
        "--city",
        "Berlin",
    )
    assert code == 0 and created["store_id"].startswith("st_")
    code, issued, _ = _run(
        capsys,
        "invoices",
        "issue",
        "--store",
        created["store_id"],
        "--line",
        "SIDES Kassenlizenz;1;4900;19",
        "--line",
        "Zusatzterminal;2;1500;19",
        "--period",
        "2026-11",
    )
    assert code == 0 and issued["gross_cents"] == 4900 + 931 + 3000 + 570
    assert issued["number"].startswith("RE-")
    code, sent, _ = _run(capsys, "invitations", "send", "--store", created["store_id"])
    assert code == 0 and "#/einladung/" in sent["invitation_url"]
    code, voided, _ = _run(capsys, "invoices", "void", "--invoice", issued["invoice_id"])
    assert code == 0 and voided == {"invoice_id": issued["invoice_id"], "status": "void"}


def test_errors_are_one_line_on_stderr_with_non_zero_exit(aws_stack, capsys):
    cli._container.cache_clear()
    email = unique_email("cli")
    args = [
        "stores",
        "create",
        "--name",
        "A",
        "--email",
        email,
        "--street",
        "S",
        "--postal-code",
        "1",
        "--city",
        "B",
    ]
    assert _run(capsys, *args)[0] == 0
    code, out, err = _run(capsys, *args)
    assert code != 0 and out == {}
    assert err.startswith("email_in_use:") and err.count("\n") == 1
    code, out, err = _run(
        capsys, "invoices", "issue", "--store", "st_unknown", "--line", "x;1;1;19"
    )
    assert code != 0 and err.startswith("store_not_found:")
    code, out, err = _run(capsys, "invoices", "issue", "--store", "st_unknown", "--line", "bad")
    assert code != 0 and err.startswith("invalid_request:")
