"""AWS calls per signed-in read request, for a store with 10 and with 10,000 invoices.

Budget (design.md §8): ≤ 2 calls per request and the same at both sizes. Every call is
counted where it leaves the process: AWS_ENDPOINT_URL points at a counting proxy in front
of the moto server. Caches (JWKS, cursor key) are warmed by one request first, as a warm
Lambda container would have them.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from local.stack import MAIL_FROM, free_port, wait_until_up  # noqa: E402


class CountingProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.calls: list[str] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Forward)


class _Forward(BaseHTTPRequestHandler):
    server: CountingProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        target = self.headers.get("X-Amz-Target") or f"{self.command} {self.path.split('?')[0]}"
        with self.server.lock:
            self.server.calls.append(target)
        conn = http.client.HTTPConnection("127.0.0.1", self.server.upstream_port, timeout=60)
        conn.request(self.command, self.path, body=body, headers=dict(self.headers.items()))
        response = conn.getresponse()
        payload = response.read()
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        conn.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle


def _bulk_invoices(store_id: str, count: int) -> None:
    """Writes invoice rows directly (rendering 10,000 PDFs is not what this measures)."""
    from datetime import UTC, date, datetime, timedelta

    from chalicelib.adapters.dynamo_invoices import _to_record
    from chalicelib.adapters.dynamo_models import InvoiceRecord
    from chalicelib.domain.invoices import Invoice, InvoiceLine, InvoiceStatus

    start = date(2000, 1, 1)
    now = datetime.now(UTC)
    with InvoiceRecord.batch_write() as batch:
        for i in range(count):
            issued = start + timedelta(days=i // 3)
            batch.save(
                _to_record(
                    Invoice(
                        id=f"inv_bulk_{store_id}_{i:05d}",
                        store_id=store_id,
                        number=f"RE-BULK-{i:06d}",
                        issue_date=issued,
                        due_date=issued + timedelta(days=14),
                        period=None,
                        description="SIDES Kassenlizenz",
                        lines=(InvoiceLine("SIDES Kassenlizenz", 1, 4900, Decimal(19)),),
                        status=InvoiceStatus.PAID if i % 2 else InvoiceStatus.OPEN,
                        created_at=now,
                    )
                )
            )


def _open_payment(container: Any, invoice: Any) -> None:
    from chalicelib.domain.payments import Payment, PaymentStatus

    now = container.clock.now()
    container.ledger.open(
        Payment(
            id=f"pay_bench_{invoice.id}", invoice_id=invoice.id, store_id=invoice.store_id,
            provider="paypal", method="paypal", kind="manual",
            amount_cents=invoice.totals.gross_cents, currency="EUR",
            status=PaymentStatus.PENDING, created_at=now, updated_at=now,
        )
    )


def _measure(client: Any, proxy: CountingProxy, token: str, path: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    assert client.http.get(path, headers=headers).status_code == 200  # warm caches
    with proxy.lock:
        proxy.calls.clear()
    response = client.http.get(path, headers=headers)
    assert response.status_code == 200, response.body
    with proxy.lock:
        return len(proxy.calls)


def main() -> None:
    moto_port = free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "local.aws", "--port", str(moto_port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{moto_port}/moto-api/data.json")
        proxy = CountingProxy(moto_port)
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        endpoint = f"http://127.0.0.1:{proxy.server_address[1]}"
        from local.provision import provision, settings_env

        outputs = provision("bench", endpoint_url=endpoint, region="eu-central-1")
        os.environ.update(settings_env(outputs, endpoint))
        os.environ.update({"PORTAL_URL": "http://127.0.0.1:8000", "MAIL_FROM": MAIL_FROM})
        run(proxy)
    finally:
        moto.terminate()


def run(proxy: CountingProxy) -> None:
    from app import app
    from chalicelib.bootstrap import get_container
    from chalicelib.domain.invoices import InvoiceLine
    from tests.cloudfront import CloudFrontClient, origin_secret
    from tests.integration.helpers import owner

    container = get_container()
    rows = []
    # requests come through the CDN (origin secret added), as every request in AWS does
    with CloudFrontClient(app, origin_secret()) as client:
        for size in (10, 10_000):
            store_id, _, token = owner(client, container, name=f"Bench {size}")
            one = container.invoice_issuer.issue(
                store_id, [InvoiceLine("SIDES Kassenlizenz", 1, 4900, Decimal(19))]
            )
            _bulk_invoices(store_id, size - 1)
            _open_payment(container, one)  # so the detail has a payment to show
            for path in (
                "/api/profile",
                "/api/invoices",
                f"/api/invoices/{one.id}",
                f"/api/invoices/{one.id}/pdf",
                "/api/activity",
            ):
                rows.append(
                    (size, path.replace(one.id, "{id}"), _measure(client, proxy, token, path))
                )
    print(f"{'invoices':>9}  {'request':<28} AWS calls (budget <= 2)")
    for size, path, calls in rows:
        print(f"{size:>9}  GET {path:<24} {calls}")
    by_path: dict[str, set[int]] = {}
    for _, path, calls in rows:
        by_path.setdefault(path, set()).add(calls)
    same = all(len(counts) == 1 for counts in by_path.values())
    print(f"same count at both sizes: {'yes' if same else 'NO'}")
    print(json.dumps({"max_calls": max(c for _, _, c in rows), "same_at_both_sizes": same}))


if __name__ == "__main__":
    main()
