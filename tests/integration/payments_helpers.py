"""Builders for payment tests: card tokens as Stripe.js makes them, signed webhooks, queues."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import boto3
import requests

PK = "pk_test_local_portal"


def card_token(stripe_url: str, number: str) -> str:
    response = requests.post(
        f"{stripe_url}/v1/tokens",
        data={
            "card[number]": number,
            "card[exp_month]": "12",
            "card[exp_year]": "2030",
            "card[cvc]": "123",
            "key": PK,
        },
        timeout=10,
    )
    response.raise_for_status()
    return str(response.json()["id"])


def authenticate(stripe_url: str, intent_id: str, client_secret: str, success: bool) -> None:
    """What the 3-D Secure dialog of Stripe.js does when the owner confirms or cancels."""
    response = requests.post(
        f"{stripe_url}/v1/payment_intents/{intent_id}/_authenticate",
        data={"key": PK, "client_secret": client_secret, "success": str(success).lower()},
        timeout=10,
    )
    response.raise_for_status()


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    stamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def intent_event(
    event_type: str,
    payment: dict[str, Any],
    *,
    event_id: str,
    amount: int | None = None,
    currency: str = "eur",
    store_id: str | None = None,
    intent_id: str = "pi_unknown",
    error_code: str | None = None,
) -> dict[str, Any]:
    intent = {
        "id": intent_id,
        "object": "payment_intent",
        "amount": payment["amount_cents"] if amount is None else amount,
        "currency": currency,
        "status": "succeeded" if event_type.endswith("succeeded") else "requires_payment_method",
        "metadata": {
            "payment_id": payment["id"],
            "invoice_id": payment["invoice_id"],
            **({"store_id": store_id} if store_id else {}),
        },
        "last_payment_error": {"code": error_code} if error_code else None,
    }
    return {
        "id": event_id,
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "data": {"object": intent},
    }


def post_stripe_webhook(
    api: Any, event: dict[str, Any] | bytes, secret: str, signature: str | None = None
) -> Any:
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    headers = {"Content-Type": "application/json"}
    if signature is None:
        signature = sign(body, secret)
    if signature:
        headers["Stripe-Signature"] = signature
    return api.http.post("/api/webhooks/stripe", headers=headers, body=body)


def drain(queue_suffix: str) -> list[dict[str, Any]]:
    """Every message on one of the stack's queues (deleted as read)."""
    import os

    sqs = boto3.client("sqs", region_name=os.environ["AWS_DEFAULT_REGION"])
    url = sqs.get_queue_url(QueueName=f"{os.environ['PORTAL_PREFIX']}-{queue_suffix}")["QueueUrl"]
    out: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, AttributeNames=["All"]
        )
        messages = got.get("Messages", [])
        if not messages:
            return out
        for message in messages:
            out.append({**json.loads(message["Body"]), "_raw": message})
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def sqs_batch(messages: list[dict[str, Any]]) -> dict[str, Any]:
    from local.pump import sqs_event

    return sqs_event(
        [m["_raw"] for m in messages], "arn:aws:sqs:eu-central-1:123456789012:q", "eu-central-1"
    )


def confirm_setup(
    stripe_url: str, client_secret: str, number: str, authenticate: bool | None = None
) -> str:
    """What Stripe.js confirmCardSetup does with a card element (and its 3-D Secure dialog)."""
    setup_id = client_secret.split("_secret_")[0]
    payload = {
        "key": PK,
        "use_stripe_sdk": True,
        "client_secret": client_secret,
        "payment_method_data": {
            "type": "card",
            "card": {"number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"},
        },
    }
    response = requests.post(
        f"{stripe_url}/v1/setup_intents/{setup_id}/confirm", data=json.dumps(payload), timeout=10
    )
    status = response.json().get("status")
    if status == "requires_action" and authenticate is not None:
        step = "confirm" if authenticate else "cancel"
        requests.post(
            f"{stripe_url}/v1/setup_intents/{setup_id}/{step}",
            data=json.dumps({"key": PK, "use_stripe_sdk": True, "client_secret": client_secret}),
            timeout=10,
        )
    return setup_id
