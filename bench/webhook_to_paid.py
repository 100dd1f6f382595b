"""Webhook received → invoice `paid`, on the local stack (budget: p95 ≤ 1 s).

Starts the whole local stack (moto, chalice local, front server, queue pump, localstripe),
opens N card payments, then for each one POSTs a correctly signed `payment_intent.succeeded`
webhook to the front server and polls the invoice until it reads `paid`. The time measured
covers signature check, EventBridge → SQS, the pump and the payment_events function.

A store may start only 30 payments per 15 minutes (the payment-start rate limit), so the
payments are spread over as many stores as that takes (`--per-store`, at most 30); the
limit is the production one, not switched off for the bench.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--payments", type=int, default=200)
    parser.add_argument(
        "--per-store", type=int, default=25, help="payments started per store (limit: 30)"
    )
    args = parser.parse_args()

    from local.stack import Stack, free_port
    from tests.integration.payments_helpers import sign

    state = Path(tempfile.mkdtemp()) / "stack.json"
    # The functions running in this process print their metrics (EMF lines) to stdout: keep
    # them on stderr, so stdout holds only the figures.
    with (
        contextlib.redirect_stdout(sys.stderr),
        Stack(port=free_port(), state_file=state, seed=False, quiet=True) as stack,
    ):
        from chalicelib.bootstrap import get_container
        from chalicelib.domain.invoices import InvoiceLine, InvoiceStatus
        from chalicelib.domain.stores import Address
        from chalicelib.services.payments import STARTS_PER_WINDOW
        from chalicelib.services.stores import NewStore

        if not 1 <= args.per_store <= STARTS_PER_WINDOW:
            raise SystemExit(f"--per-store must be 1 … {STARTS_PER_WINDOW} (the rate limit)")
        container = get_container()
        secret = json.loads(container.secrets.get(container.settings.stripe_secret_name))[
            "webhook_secret"
        ]
        store_count = -(-args.payments // args.per_store)
        store_ids = [
            container.store_service.create(
                NewStore(
                    f"Bench Bistro {n}",
                    f"bench-{n}-{time.time_ns()}@example.org",
                    Address("Weg 1", "10115", "Berlin"),
                )
            )
            for n in range(store_count)
        ]
        print(
            f"opening {args.payments} card payments on {store_count} stores "
            f"(≤ {args.per_store} each) …",
            flush=True,
        )
        payments = []
        for i in range(args.payments):
            store_id = store_ids[i // args.per_store]
            invoice = container.invoice_issuer.issue(
                store_id, [InvoiceLine(f"Lizenz {i}", 1, 4900, Decimal(19))]
            )
            started = container.payments.start(store_id, [invoice.id], "card")
            payments.append((invoice, started.payment))
        latencies = []
        for number, (invoice, payment) in enumerate(payments):
            event = {
                "id": f"evt_bench_{number}_{time.time_ns()}",
                "object": "event",
                "type": "payment_intent.succeeded",
                "created": int(time.time()),
                "data": {
                    "object": {
                        "id": payment.provider_ref,
                        "object": "payment_intent",
                        "amount": payment.amount_cents,
                        "currency": "eur",
                        "status": "succeeded",
                        "metadata": {
                            "payment_id": payment.id,
                            "invoice_id": invoice.id,
                            "invoice_ids": invoice.id,
                            "store_id": payment.store_id,
                        },
                    }
                },
            }
            body = json.dumps(event).encode()
            started_at = time.perf_counter()
            response = requests.post(
                f"{stack.url}/api/webhooks/stripe",
                data=body,
                timeout=10,
                headers={
                    "Content-Type": "application/json",
                    "Stripe-Signature": sign(body, secret),
                },
            )
            assert response.status_code == 200, response.text
            while container.invoices.get(invoice.id).status != InvoiceStatus.PAID:  # type: ignore[union-attr]
                if time.perf_counter() - started_at > 30:
                    raise SystemExit(f"invoice {invoice.number} not paid after 30 s")
                time.sleep(0.02)
            latencies.append(time.perf_counter() - started_at)
    latencies.sort()
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    print(f"payments: {len(latencies)} on {store_count} stores")
    print(f"webhook → paid  p50 {statistics.median(latencies) * 1000:7.1f} ms")
    print(f"                p95 {p95 * 1000:7.1f} ms   (budget ≤ 1000 ms)")
    print(f"                max {latencies[-1] * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
