"""Corrections on moto + localstripe + the PayPal sandbox, as the operator makes them with
`portal invoices void|credit`: documents of their own, refunds exactly once through the
provider the money came from, the owner sees and downloads them, archived until the end of
the issue year + 8 years."""

from __future__ import annotations

import json
from datetime import date

import boto3
import pytest
import requests

from chalicelib import cli
from local.outbox import read_outbox
from tests.integration.helpers import body, get, issue, owner, post
from tests.integration.payments_helpers import card_token, drain

pytestmark = pytest.mark.usefixtures("providers")


@pytest.fixture()
def shop(api, container):
    drain("payment-events")
    store_id, email, token = owner(api, container)
    return {"store_id": store_id, "email": email, "token": token}


@pytest.fixture()
def operator(capsys):
    cli._container.cache_clear()

    def run(*argv: str) -> tuple[int, dict, str]:
        capsys.readouterr()  # the API's request logs so far are not the CLI's output
        try:
            code = cli.main(list(argv))
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        out, err = capsys.readouterr()
        return code, (json.loads(out) if out.strip() else {}), err

    return run


def detail(api, shop, invoice_id):
    return body(get(api, f"/api/invoices/{invoice_id}", shop["token"]))


def pay_by_card(api, shop, providers, invoice_id):
    started = body(
        post(api, f"/api/invoices/{invoice_id}/payments", {"method": "card"}, shop["token"])
    )
    token = card_token(providers["stripe_url"], "4242424242424242")
    step = body(
        post(api, f"/api/payments/{started['payment_id']}/card", {"token": token}, shop["token"])
    )
    assert step["payment"]["status"] == "succeeded"
    return started["payment_id"]


def retention(container, key):
    # moto answers GetObjectRetention with a 500; the object's head carries the same date
    s3 = boto3.client("s3", region_name="eu-central-1")
    head = s3.head_object(Bucket=container.settings.invoice_bucket, Key=key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    return head["ObjectLockRetainUntilDate"].date()


def test_void_issues_a_stornorechnung_the_owner_sees_and_downloads(
    api, container, shop, operator, aws_stack
):
    invoice = issue(container, shop["store_id"])[0]

    code, out, err = operator("invoices", "void", "--invoice", invoice.id, "--reason", "Doppelt")

    assert code == 0, err
    number = out["cancellation"]["number"]
    assert out["status"] == "void" and number.startswith("ST-")
    shown = detail(api, shop, invoice.id)
    assert shown["status"] == "void" and shown["correction"] == "cancelled"
    cancellation = [d for d in shown["documents"] if d["kind"] == "cancellation"]
    assert [d["number"] for d in cancellation] == [number]
    assert cancellation[0]["gross_cents"] == -invoice.totals.gross_cents
    link = body(get(api, f"/api/documents/{cancellation[0]['id']}/pdf", shop["token"]))
    assert link["filename"] == f"Storno-{number}.pdf"
    assert requests.get(link["url"], timeout=10).content.startswith(b"%PDF")
    document = container.document_records.get(cancellation[0]["id"])
    assert retention(container, document.pdf_key) == date(document.issue_date.year + 9, 1, 1)
    mails = [m for m in read_outbox(aws_stack["AWS_ENDPOINT_URL"]) if number in m["subject"]]
    assert len(mails) == 1 and mails[0]["to"] == shop["email"]
    assert [a["filename"] for a in mails[0]["attachments"]] == [
        link["filename"],
        f"Storno-{number}.xml",
    ]
    xml = body(get(api, f"/api/documents/{cancellation[0]['id']}/xml", shop["token"]))
    assert xml["filename"] == f"Storno-{number}.xml"
    assert number.encode() in requests.get(xml["url"], timeout=10).content
    # a repeated command changes nothing
    code, again, _ = operator("invoices", "void", "--invoice", invoice.id)
    assert code == 0 and again["cancellation"] == out["cancellation"]
    assert (
        len([m for m in read_outbox(aws_stack["AWS_ENDPOINT_URL"]) if number in m["subject"]]) == 1
    )


def test_full_credit_of_a_card_payment_refunds_once(api, container, shop, operator, providers):
    import stripe

    invoice = issue(container, shop["store_id"])[0]
    payment_id = pay_by_card(api, shop, providers, invoice.id)

    code, out, err = operator("invoices", "credit", "--invoice", invoice.id, "--reason", "Kulanz")
    code2, again, _ = operator("invoices", "credit", "--invoice", invoice.id, "--reason", "Kulanz")

    assert code == code2 == 0, err
    assert out["credit_note"]["number"].startswith("GS-")
    assert out["credit_note"]["gross_cents"] == -invoice.totals.gross_cents
    assert out["refund"] == {
        "payment_id": payment_id,
        "amount_cents": invoice.totals.gross_cents,
        "status": "succeeded",
    }
    assert again == out
    intent = container.ledger.get(payment_id).provider_ref
    client = stripe.StripeClient(
        "sk_test_local_portal", base_addresses={"api": providers["stripe_url"]}
    )
    refunds = client.v1.refunds.list(params={"payment_intent": intent}).data
    assert [r.amount for r in refunds] == [invoice.totals.gross_cents]
    shown = detail(api, shop, invoice.id)
    assert shown["status"] == "paid" and shown["correction"] == "credited"
    assert shown["credited_cents"] == shown["refunded_cents"] == invoice.totals.gross_cents


def test_partial_credit_of_a_paypal_payment_refunds_that_part(
    api, container, shop, operator, providers
):
    from decimal import Decimal

    from chalicelib.domain.invoices import InvoiceLine

    sandbox = providers["paypal"]
    invoice = container.invoice_issuer.issue(
        shop["store_id"],
        [
            InvoiceLine("Kassenlizenz", 1, 4900, Decimal(19)),
            InvoiceLine("Papier", 4, 500, Decimal(7)),
        ],
    )
    started = body(
        post(api, f"/api/invoices/{invoice.id}/payments", {"method": "paypal"}, shop["token"])
    )
    order_id = started["approve_url"].split("token=")[1]
    sandbox.approve(order_id)
    assert (
        body(post(api, f"/api/payments/{started['payment_id']}/complete", token=shop["token"]))[
            "status"
        ]
        == "succeeded"
    )

    code, out, err = operator(
        "invoices", "credit", "--invoice", invoice.id, "--line", "Papier;2;500;7"
    )

    assert code == 0, err
    assert out["credit_note"]["gross_cents"] == -1070
    assert out["refund"]["amount_cents"] == 1070
    capture = sandbox.order(order_id)["purchase_units"][0]["payments"]["captures"][0]
    assert capture["status"] == "PARTIALLY_REFUNDED"
    shown = detail(api, shop, invoice.id)
    assert shown["correction"] == "partially_credited" and shown["refunded_cents"] == 1070
    payment = body(get(api, f"/api/payments/{started['payment_id']}", shop["token"]))
    assert payment["status"] == "succeeded"  # the rest stays paid


def test_partial_credit_of_an_open_invoice_lowers_the_payment(api, container, shop, operator):
    invoice = issue(container, shop["store_id"], net_cents=10000)[0]

    code, out, err = operator(
        "invoices", "credit", "--invoice", invoice.id, "--line", "Rabatt;1;2500;19"
    )

    assert code == 0, err and out["refund"] is None
    assert out["refund"] is None
    shown = detail(api, shop, invoice.id)
    assert shown["amount_due_cents"] == invoice.totals.gross_cents - 2975
    profile = body(get(api, "/api/profile", shop["token"]))
    assert profile["open_balance_cents"] == invoice.totals.gross_cents - 2975
    started = body(
        post(api, f"/api/invoices/{invoice.id}/payments", {"method": "card"}, shop["token"])
    )
    payment = body(get(api, f"/api/payments/{started['payment_id']}", shop["token"]))
    assert payment["amount_cents"] == invoice.totals.gross_cents - 2975


@pytest.mark.parametrize(
    "argv, field",
    [
        (["--line", "Zu viel;1;999999;19"], "line"),
        (["--line", "Falscher Satz;1;100;7"], "line"),
        (["--line", "kaputt"], "line"),
        (["--reason", "a\nb"], "reason"),
    ],
)
def test_a_credit_that_does_not_fit_is_refused_and_changes_nothing(
    container, shop, operator, argv, field
):
    invoice = issue(container, shop["store_id"])[0]
    code, out, err = operator("invoices", "credit", "--invoice", invoice.id, *argv)
    assert code == 2 and out == {}, (code, err)
    assert field in err.lower() and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert container.invoices.get(invoice.id).credited_cents == 0
