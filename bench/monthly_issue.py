"""The monthly issuing path for N stores with W parallel workers, measured on the local stack
(moto) and modelled for 100,000 stores in AWS.

What runs (nothing stubbed): the monthly run lists the stores and queues one message per
store on the issue-store SQS queue; W worker processes receive them in batches of five, as
Lambda's SQS event source hands them over, and each delivery runs what functions/issue_store
runs: the store's licence invoice issued (number, invoice and open item in one DynamoDB
transaction), its hybrid PDF/A-3 and XRechnung rendered for the committed number and
stored in S3, the invoice marked ready and mailed with both files through SES, then the
charge use case (the bench's stores pay by invoice, so it only checks and skips).

Checked afterwards: every store has its invoice; the numbers of the year are exactly
1..issued (gap-free, unique); one render per issued number; the stored PDF of each invoice
sits under its number.

The model for 100,000 stores in AWS (every assumption is printed with the result):
- CPU: the workers' measured CPU per invoice (process time of the worker processes,
  rendering included; moto's own CPU is AWS's side and not counted), scaled to the issue
  function's memory (1,024 MB: Lambda gives 1 vCPU per 1,769 MB, so 0.58 of this machine's
  core, taken as equal to one Lambda vCPU).
- Latencies in the region (stated, not measured): DynamoDB GetItem 5 ms, UpdateItem 7 ms,
  TransactWriteItems 12 ms, S3 PutObject 30 ms (PDF and XML), SES SendRawEmail 50 ms, SQS
  per batch of five 20 ms; the round trips of one store are the ones this bench counts
  (transactions per invoice measured, conflicts included).
- The automatic charge: a share of stores with autopay (50 %) costs one provider call
  (600 ms) and four DynamoDB writes.
- Concurrency: IssueConcurrency of infra/template.yaml (the SQS event source's maximum
  concurrency of the issue-store function), each function taking batches of five.
- The invoice counter: one item, every number taken by a conditional transaction on it; it
  commits at most one number per transaction round trip (1 / 12 ms ≈ 83 per second) however
  many workers wait, so throughput is the lower of the concurrency's rate and that cap.
- The fan-out: the scheduled function (1,769 MB: one full vCPU) scans the stores with a
  projection (1 KB read per store, 1 MB pages at 80 ms) and sends batches of ten with 8
  senders (20 ms each); its CPU per store is measured here (listing and sending).
- `max_invocation_s` is the longest single invocation: the fan-out function, or one
  issue-store invocation of five stores each waiting for the counter behind the others.

Run: python bench/monthly_issue.py [--stores 1000] [--workers 4]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from local.stack import MAIL_FROM, free_port, wait_until_up  # noqa: E402

PERIOD = "2026-11"
BATCH = 5  # the issue-store event source's BatchSize
STORES_IN_AWS = 100_000

# Stated latencies in the region (seconds) and shares; see the module docstring.
GET_S, UPDATE_S, TRANSACT_S = 0.005, 0.007, 0.012
S3_PUT_S, SES_S, SQS_BATCH_S = 0.030, 0.050, 0.020
AUTOPAY_SHARE, PROVIDER_S, CHARGE_WRITES = 0.5, 0.600, 4
LAMBDA_VCPU = 1024 / 1769  # the issue-store function
FANOUT_VCPU = 1769 / 1769  # the monthly-billing function
SCAN_PAGE_S, STORES_PER_PAGE, SEND_BATCH_S, SENDERS = 0.080, 1000, 0.020, 8


def _issue_concurrency() -> int:
    template = (ROOT / "infra" / "template.yaml").read_text(encoding="utf-8")
    match = re.search(r"\n  IssueConcurrency:\n(?:    .*\n)*?    Default: (\d+)", template)
    if match is None:
        raise SystemExit("IssueConcurrency not found in infra/template.yaml")
    return int(match.group(1))


def _seed_stores(count: int) -> list[str]:
    from chalicelib.adapters.dynamo_models import StoreRecord

    created = datetime(2026, 1, 1, tzinfo=UTC)
    ids = [f"st_bench_{i:06d}" for i in range(count)]
    with StoreRecord.batch_write() as batch:
        for index, store_id in enumerate(ids):
            batch.save(
                StoreRecord(
                    store_id=store_id,
                    name=f"Bench-Laden {index}",
                    billing_email=f"owner-{index}@bench.example",
                    address={
                        "street": "Hauptstraße 1",
                        "postal_code": "10115",
                        "city": "Berlin",
                        "country": "DE",
                    },
                    monthly_fee_cents=4900,
                    account_status="active",
                    open_items={},
                    autopay=False,
                    created_at=created,
                )
            )
    return ids


def _provider_keys(endpoint: str) -> None:
    """Placeholder provider keys: the bench's stores pay by invoice, no provider is called,
    but the charge use case is built with its providers as in AWS."""
    import boto3

    from chalicelib.config import get_settings

    settings = get_settings()
    client = boto3.client("secretsmanager", endpoint_url=endpoint, region_name="eu-central-1")
    client.put_secret_value(
        SecretId=settings.stripe_secret_name,
        SecretString=json.dumps({"secret_key": "sk_test_bench", "webhook_secret": "whsec_b"}),
    )
    client.put_secret_value(
        SecretId=settings.paypal_secret_name,
        SecretString=json.dumps(
            {"client_id": "bench", "client_secret": "bench", "webhook_id": "bench"}
        ),
    )


def _worker(index: int, results: Any) -> None:
    """One issue-store function instance: receive, issue then charge, delete."""
    import boto3

    from chalicelib.adapters.sqs_issue_queue import decode
    from chalicelib.bootstrap import get_container
    from chalicelib.services.ports import NO_METRICS

    container = get_container()
    renders: Counter[str] = Counter()
    render = container.render_einvoice

    def counting(invoice: Any, store: Any, supplier: Any) -> Any:
        renders[invoice.number] += 1
        return render(invoice, store, supplier)

    container.__dict__["render_einvoice"] = counting
    container.__dict__["metrics"] = NO_METRICS  # no EMF lines on stdout
    sqs = boto3.client("sqs", region_name=os.environ["AWS_DEFAULT_REGION"])
    url = sqs.get_queue_url(QueueName=f"{os.environ['PORTAL_PREFIX']}-issue-store")["QueueUrl"]
    cpu_start = time.process_time()
    batches: list[float] = []
    failures = empty = 0
    first: float | None = None
    last = 0.0
    while empty < 3:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=BATCH, WaitTimeSeconds=1)
        messages = got.get("Messages", [])
        if not messages:
            empty += 1
            continue
        empty = 0
        first = first if first is not None else time.time()
        started = time.perf_counter()
        done = []
        for message in messages:
            try:
                container.billing.bill_store(decode(message["Body"]), container.charges.charge)
            except Exception:  # noqa: BLE001 — a failed message comes back, as in SQS
                if not failures:
                    import traceback

                    traceback.print_exc()
                failures += 1
                continue
            done.append({"Id": message["MessageId"], "ReceiptHandle": message["ReceiptHandle"]})
        if done:
            sqs.delete_message_batch(QueueUrl=url, Entries=done)
        batches.append(time.perf_counter() - started)
        last = time.time()
    repository = container.invoices
    results.put(
        {
            "worker": index,
            "first": first,
            "last": last,
            "cpu_s": time.process_time() - cpu_start,
            "renders": dict(renders),
            "batches": batches,
            "failures": failures,
            "transactions": getattr(repository, "issue_transactions", 0),
            "conflicts": getattr(repository, "issue_conflicts", 0),
        }
    )


def _check(store_ids: list[str]) -> tuple[list[str], bool, int]:
    """Numbers of the year, whether they are 1..n, and PDFs stored under their number."""
    from chalicelib.bootstrap import get_container
    from chalicelib.domain.periods import licence_invoice_id
    from chalicelib.services.invoices import pdf_key

    container = get_container()
    numbers: list[str] = []
    keys: set[str] = set()
    for store_id in store_ids:
        invoice = container.invoices.get(licence_invoice_id(store_id, PERIOD))
        if invoice is None or not invoice.ready:
            continue
        numbers.append(invoice.number)
        keys.add(pdf_key(invoice))
    year = {n.split("-")[1] for n in numbers}
    expected = [f"RE-{y}-{i:06d}" for y in year for i in range(1, len(numbers) + 1)]
    gapfree = len(year) == 1 and sorted(numbers) == expected
    client = container.documents._client  # type: ignore[attr-defined]
    bucket = container.settings.invoice_bucket
    stored = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="invoices/"):
        stored += sum(1 for item in page.get("Contents", []) if item["Key"] in keys)
    return numbers, gapfree, stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stores", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    n, w = args.stores, args.workers

    port = free_port()
    moto = subprocess.Popen(
        [sys.executable, "bench/moto_server.py", "--port", str(port), "--fast-transactions"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        endpoint = f"http://127.0.0.1:{port}"
        wait_until_up(f"{endpoint}/moto-api/data.json")
        from local.provision import provision, settings_env

        outputs = provision("bench", endpoint_url=endpoint, region="eu-central-1")
        os.environ.update(settings_env(outputs, endpoint))
        os.environ.update({"PORTAL_URL": "http://127.0.0.1:8000", "MAIL_FROM": MAIL_FROM})
        os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "SidesPortal")
        _provider_keys(endpoint)
        run(n, w)
    finally:
        moto.terminate()
        moto.wait(timeout=30)


def run(n: int, w: int) -> None:
    import logging

    logging.disable(logging.INFO)  # the functions' per-invoice log lines
    print(f"seeding {n} stores …", file=sys.stderr)
    store_ids = _seed_stores(n)

    from chalicelib.bootstrap import get_container

    # the scheduled function: list the stores, queue one message each
    container = get_container()
    # a warm container (clients built, modules loaded); the listing alone, timed
    list(container.store_directory.billing_candidates())
    container.issue_queue.in_flight()  # its SQS client built and its service model loaded
    cpu0 = time.process_time()
    listed = list(container.store_directory.billing_candidates())
    list_cpu = time.process_time() - cpu0
    assert len(listed) == n
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = container.billing.run(PERIOD)
    fanout_wall, fanout_cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    assert result.queued == n, result.queued
    print(f"fan-out: {n} messages in {fanout_wall:.2f} s", file=sys.stderr)

    # the issue-store function, W instances at once (fresh processes, fresh containers)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [context.Process(target=_worker, args=(i, results)) for i in range(w)]
    for process in workers:
        process.start()
    reports = [results.get() for _ in workers]
    for process in workers:
        process.join()
    # from the first message received to the last one done (not the processes' start-up)
    firsts = [r["first"] for r in reports if r["first"] is not None]
    wall = max(r["last"] for r in reports) - min(firsts) if firsts else 0.0

    renders: Counter[str] = Counter()
    for report in reports:
        renders.update(report["renders"])
    numbers, gapfree, stored = _check(store_ids)
    issued = len(numbers)
    cpu_s = sum(r["cpu_s"] for r in reports)
    transactions = sum(r["transactions"] for r in reports)
    conflicts = sum(r["conflicts"] for r in reports)
    failures = sum(r["failures"] for r in reports)
    cpu_ms = cpu_s / max(issued, 1) * 1000
    per_s = issued / max(wall, 1e-9)
    local_batch_max = max((b for r in reports for b in r["batches"]), default=0.0)
    one_render_each = sum(renders.values()) == issued and all(c == 1 for c in renders.values())

    model = _model(cpu_ms, transactions / max(issued, 1), fanout_cpu / n)
    model["assumptions"]["fanout_cpu_ms_per_store_measured"] = round(fanout_cpu / n * 1000, 3)
    model["assumptions"]["of_which_listing_ms"] = round(list_cpu / n * 1000, 3)
    print(
        json.dumps(
            {
                "measured": {
                    "stores": n,
                    "workers": w,
                    "issued": issued,
                    "renders": sum(renders.values()),
                    "one_render_per_number": one_render_each,
                    "pdfs_stored_under_their_number": stored,
                    "failed_deliveries": failures,
                    "issue_transactions": transactions,
                    "counter_conflicts": conflicts,
                    "wall_s": round(wall, 2),
                    "worker_cpu_s": round(cpu_s, 2),
                    "fanout_s": round(fanout_wall, 2),
                    "longest_local_batch_s": round(local_batch_max, 2),
                },
                "model_100k": model,
            },
            indent=2,
        )
    )
    print(
        f"issued={issued} renders={sum(renders.values())} gapfree={'yes' if gapfree else 'no'} "
        f"workers={w} invoices_per_s={per_s:.1f} cpu_ms_per_invoice={cpu_ms:.1f} "
        f"model_100k_minutes={model['total_minutes']:.1f} "
        f"max_invocation_s={model['max_invocation_s']:.1f}"
    )


def _model(
    cpu_ms: float, transactions_per_invoice: float, fanout_cpu_per_store: float
) -> dict[str, Any]:
    concurrency = _issue_concurrency()
    cpu_s = cpu_ms / 1000 / LAMBDA_VCPU
    # one store: read it, the transaction(s), two uploads, mark ready, the mail, the open
    # item's "mailed", the charge's reads, and for autopay stores the charge itself
    io_s = (
        GET_S
        + transactions_per_invoice * TRANSACT_S
        + 2 * S3_PUT_S
        + UPDATE_S
        + SES_S
        + UPDATE_S
        + 3 * GET_S
        + AUTOPAY_SHARE * (PROVIDER_S + CHARGE_WRITES * UPDATE_S)
        + SQS_BATCH_S / BATCH
    )
    per_store_s = cpu_s + io_s
    concurrency_rate = concurrency / per_store_s
    counter_cap = 1 / TRANSACT_S
    rate = min(concurrency_rate, counter_cap)
    issue_minutes = STORES_IN_AWS / rate / 60
    pages = STORES_IN_AWS / STORES_PER_PAGE
    fanout_s = (
        pages * SCAN_PAGE_S
        + STORES_IN_AWS * fanout_cpu_per_store / FANOUT_VCPU
        + STORES_IN_AWS / 10 * SEND_BATCH_S / SENDERS
    )
    # a batch of five, each store waiting behind every other worker for the counter
    wait_for_counter_s = concurrency * TRANSACT_S if concurrency_rate > counter_cap else 0.0
    batch_s = BATCH * (per_store_s + wait_for_counter_s)
    return {
        "assumptions": {
            "issue_concurrency": concurrency,
            "lambda_vcpu_share_at_1024_mb": round(LAMBDA_VCPU, 2),
            "latency_s": {
                "get": GET_S,
                "update": UPDATE_S,
                "transact": TRANSACT_S,
                "s3_put": S3_PUT_S,
                "ses_send": SES_S,
                "sqs_batch": SQS_BATCH_S,
                "provider_charge": PROVIDER_S,
            },
            "autopay_share": AUTOPAY_SHARE,
            "transactions_per_invoice_measured": round(transactions_per_invoice, 3),
            "fanout": f"scan {STORES_PER_PAGE} stores/page at {SCAN_PAGE_S}s, "
            f"{SENDERS} senders of 10 at {SEND_BATCH_S}s",
        },
        "per_store_s": round(per_store_s, 3),
        "rate_by_concurrency_per_s": round(concurrency_rate, 1),
        "counter_cap_per_s": round(counter_cap, 1),
        "rate_per_s": round(rate, 1),
        "fanout_s": round(fanout_s, 1),
        "issue_minutes": round(issue_minutes, 1),
        "total_minutes": round(fanout_s / 60 + issue_minutes, 1),
        "max_invocation_s": round(max(fanout_s, batch_s), 1),
    }


if __name__ == "__main__":
    main()
