"""The monthly run at scale: N stores, the card provider limited to R requests/s.

Budget (design.md §8): achieved charge rate ≥ 0.9 × R, 0 duplicate charges, a second run
makes 0 new charges.

The provider is bench/rate_limited_stripe.py (Stripe's API for exactly the calls of the
charge path): R requests/s through a token bucket (burst R), 429 + Retry-After +
Stripe-Should-Retry above it, latency L on every answer, Idempotency-Key honoured, charges
counted per invoice. localstripe is not used: it pickles its whole store after every POST and
ignores Idempotency-Key (measured: 16 ms per charge at first, 215 ms after 500, growing;
`--probe-localstripe N` measures it again).

Two store paths run the same pipeline with the same services (chalicelib.bootstrap's graph):

- moto: our moto server (bench/moto_server.py = local.aws with per-item transaction backups;
  stock moto deep-copies every table a transaction touches) provisioned as stage "bench",
  with the DynamoDB, S3, SES and EventBridge adapters. Measured here, one charge costs
  ~115 ms of moto CPU and ~50 ms of client CPU (13 AWS calls), so this path tops out at a
  few charges/s on 2 cores: it checks correctness end to end, not the rate.
- memory: stores, invoices, counter and ledger in memory (bench/memory_store.py), mail and
  events dropped; the real BillingService, InvoiceIssuer, ChargeService, Settlement and
  StripeCardGateway. This is the path whose rate is about the provider and our client.

`--store auto` (default) runs the pipeline on moto up to 1,000 stores (then also in memory
for comparison) and in memory above that; `--calibrate K` first charges K stores on moto
with the provider unlimited (L kept): the ceiling of the moto path at concurrency C.

The pipeline:

1. N stores with a saved card, a Stripe customer and autopay on, written directly
   (PynamoDB batch writes on moto): issuing them through the API is not what this measures.
2. Billing run 1: the real BillingService.run (the PDF renderer replaced by a constant,
   timed as its own phase), its ChargeRequests collected in memory instead of SQS (moto's
   SQS delete is O(queue length), a cost AWS does not have).
3. Charge phase: ChargeService.charge per request on C threads — the SQS event source with
   MaximumConcurrency C. A request whose charge raises comes back after `--redeliver-s`
   (the visibility timeout, shortened), at most 5 receives (maxReceiveCount).
4. Run 2 for the same period: BillingService.run again, the charges it queues, plus every
   request of run 1 delivered once more (SQS delivers at least once).
5. The books after each run; invoices the provider charged that our books do not show as
   paid, and what Stripe's payment_intent.succeeded webhook does for them.
   `--lost-responses F` makes the provider drop the answer of a fraction F of the charges
   (the charge is made), as a network or Lambda timeout would.

Progress goes to stderr, the results to stdout (a table, then one JSON line).

    python bench/monthly_run.py                       # 10,000 stores, R=100/s, L=50 ms, C=12
    python bench/monthly_run.py --stores 500          # quick, on moto and in memory
    python bench/monthly_run.py --stores 10000 --rate 100 --latency-ms 50 --concurrency 8
    python bench/monthly_run.py --stores 3000 --retry-after exact --calibrate 0
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import queue
import statistics
import subprocess
import sys
import threading
import time
import types
import urllib.request
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from local.stack import MAIL_FROM, _die_with_parent, free_port, wait_until_up  # noqa: E402

BENCH = Path(__file__).resolve().parent
STRIPE_KEY = "sk_test_bench_monthly_run"
WEBHOOK_SECRET = "whsec_bench_monthly_run"
FEE_CENTS = 4900
MAX_RECEIVES = 5  # the charge queue's maxReceiveCount
SCAN_PAGE = 100  # items per scan call when the bench reads the books on moto
T0 = time.perf_counter()


def log(message: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f}s] {message}", file=sys.stderr, flush=True)


# --- processes ------------------------------------------------------------------------------


class Processes:
    """The two servers this bench starts, stopped by their own handles only."""

    def __init__(self) -> None:
        self.children: list[subprocess.Popen[bytes]] = []

    def spawn(self, args: list[str]) -> None:
        self.children.append(
            subprocess.Popen(
                args,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )
        )

    def stop(self) -> None:
        for child in self.children:
            child.terminate()
        for child in self.children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()


class Provider:
    """The Stripe stand-in's observation and control endpoints."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _call(self, path: str, payload: dict[str, Any] | None = None) -> Any:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(
            f"{self.url}{path}", data=data, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def stats(self) -> dict[str, Any]:
        return dict(self._call("/_bench/stats"))

    def charges(self) -> dict[str, int]:
        return dict(self._call("/_bench/charges"))

    def intents(self, invoice_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        return dict(self._call("/_bench/intents", {"invoice_ids": list(invoice_ids)}))

    def configure(self, **values: Any) -> None:
        self._call("/_bench/config", values)


def start_provider(args: argparse.Namespace, procs: Processes) -> Provider:
    port = free_port()
    procs.spawn(
        [
            sys.executable,
            str(BENCH / "rate_limited_stripe.py"),
            "--port",
            str(port),
            "--rate",
            str(args.rate),
            "--latency-ms",
            str(args.latency_ms),
            "--burst",
            str(args.burst),
            "--retry-after",
            args.retry_after,
            "--lost-responses",
            str(args.lost_responses),
        ]
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_up(f"{url}/_bench/stats")
    return Provider(url)


def start_moto(args: argparse.Namespace, procs: Processes) -> str:
    port = free_port()
    command = [sys.executable, str(BENCH / "moto_server.py"), "--port", str(port)]
    procs.spawn(command + ([] if args.stock_moto else ["--fast-transactions"]))
    endpoint = f"http://127.0.0.1:{port}"
    wait_until_up(f"{endpoint}/moto-api/data.json")
    return endpoint


def provision_stack(endpoint: str, stripe_url: str) -> None:
    """Provision stage "bench" and point the app at it; before any chalicelib adapter import."""
    import boto3

    from local.provision import provision, settings_env

    outputs = provision("bench", endpoint_url=endpoint, region="eu-central-1")
    os.environ.update(settings_env(outputs, endpoint))
    os.environ.update(
        {
            "PORTAL_URL": "http://127.0.0.1:8000",
            "MAIL_FROM": MAIL_FROM,
            "STRIPE_API_BASE": stripe_url,
        }
    )
    from chalicelib.config import get_settings

    settings = get_settings()
    secrets = boto3.client("secretsmanager", endpoint_url=endpoint, region_name=outputs["region"])
    secrets.put_secret_value(
        SecretId=settings.stripe_secret_name,
        SecretString=json.dumps({"secret_key": STRIPE_KEY, "webhook_secret": WEBHOOK_SECRET}),
    )


# --- the app's object graph -----------------------------------------------------------------


class CollectingQueue:
    """ChargeQueue in memory: what BillingService.run would have sent to SQS."""

    def __init__(self) -> None:
        self.requests: list[Any] = []
        self._lock = threading.Lock()

    def enqueue(self, requests: Sequence[Any]) -> None:
        with self._lock:
            before = len(self.requests)
            self.requests.extend(requests)
            if before // 2000 != len(self.requests) // 2000:
                log(f"  billing run: {len(self.requests)} charges queued")

    def in_flight(self) -> int:
        with self._lock:
            return len(self.requests)

    def take(self) -> list[Any]:
        with self._lock:
            taken, self.requests = self.requests, []
        return taken


class SleepCounter:
    """The gateway's sleep: counts the 429 back-offs our client honoured."""

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self._lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.count += 1
            self.seconds += seconds
        time.sleep(seconds)


class InlineIssueQueue:
    """IssueQueue in memory: each store's licence invoice is issued as the run queues it,
    and its charge collected on the charge queue instead of made at once, so the charge
    phase below runs every charge against the provider as before."""

    def __init__(self) -> None:
        self.deliver: Any = None

    def enqueue(self, requests: Sequence[Any]) -> None:
        for request in requests:
            self.deliver(request)

    def in_flight(self) -> int:
        return 0


class CountingMetrics:
    """The Metrics port, counted here instead of printed as EMF lines on stdout."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def count(self, name: str, value: int = 1) -> None:
        with self._lock:
            self.counts[name] += value


class NoPayPal:
    """The monthly run never calls PayPal; if it did, the bench should say so loudly."""

    name = "paypal"  # what the provider registry reads of every provider

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the monthly charge called PayPal ({name})")


def cheap_pdf(invoice: Any, store: Any, supplier: Any) -> bytes:
    return b"%PDF-bench"


def cheap_einvoice(invoice: Any, store: Any, supplier: Any) -> Any:
    """The e-invoice renderer replaced like the PDF one (bench/einvoice_cost.py measures it)."""
    from chalicelib.domain.einvoice import EInvoiceFiles

    return EInvoiceFiles(pdf=cheap_pdf(invoice, store, supplier), xml=b"<bench/>")


def build_container(stripe_url: str, sleeps: SleepCounter, **storage: Any) -> Any:
    """The production graph of chalicelib.bootstrap; only the PDF renderer, the queue,
    PayPal, metrics and the gateway's sleep differ (the gateway is built as bootstrap builds
    it, with an observable sleep), plus `storage` overrides for the in-memory path."""
    from chalicelib.adapters.stripe_gateway import StripeCardGateway
    from chalicelib.bootstrap import Container
    from chalicelib.config import get_settings
    from chalicelib.domain.supplier import DEFAULT_SUPPLIER

    settings = get_settings()
    if settings.aws_endpoint_url is None:
        # The in-memory path has no stage: it issues as the local stack's sample seller.
        settings = dataclasses.replace(settings, supplier=DEFAULT_SUPPLIER)
    cards = StripeCardGateway(STRIPE_KEY, WEBHOOK_SECRET, api_base=stripe_url, sleep=sleeps)
    container = Container(
        settings,
        render_pdf=cheap_pdf,
        render_einvoice=cheap_einvoice,
        charge_queue=CollectingQueue(),
        issue_queue=InlineIssueQueue(),
        cards=cards,
        paypal=NoPayPal(),
        metrics=CountingMetrics(),
        **storage,
    )
    container.charges  # noqa: B018  build the graph before threads share it
    container.billing  # noqa: B018
    container.issue_queue.deliver = lambda request: container.billing.bill_store(
        request, lambda charge: container.charge_queue.enqueue([charge])
    )
    return container


# --- the two store paths --------------------------------------------------------------------


def store_id(prefix: str, index: int) -> str:
    return f"{prefix}{index:06d}"


class MotoBackend:
    """DynamoDB, S3, SES and EventBridge adapters on our moto server."""

    name = "moto"

    def __init__(self, endpoint: str, provider: Provider, sleeps: SleepCounter) -> None:
        provision_stack(endpoint, provider.url)
        self.container = build_container(provider.url, sleeps)

    def seed(self, prefix: str, count: int) -> None:
        from chalicelib.adapters.dynamo_models import StoreRecord

        created = datetime.now(UTC) - timedelta(days=1)
        with StoreRecord.batch_write() as batch:
            for index in range(count):
                batch.save(
                    StoreRecord(
                        store_id=store_id(prefix, index),
                        name=f"Bench Bistro {index}",
                        billing_email=f"owner-{prefix}{index}@bench.example",
                        address={
                            "street": "Weg 1",
                            "postal_code": "10115",
                            "city": "Berlin",
                            "country": "DE",
                        },
                        monthly_fee_cents=FEE_CENTS,
                        account_status="active",
                        open_items={},
                        autopay=True,
                        stripe_customer_id=f"cus_{prefix}{index:06d}",
                        payment_method={
                            "id": f"pm_{prefix}{index:06d}",
                            "brand": "visa",
                            "last4": "4242",
                            "exp_month": 12,
                            "exp_year": 2035,
                        },
                        created_at=created,
                    )
                )
                if (index + 1) % 5000 == 0:
                    log(f"  seeded {index + 1} stores")

    def books(self, period: str) -> dict[str, Any]:
        """Invoices of the period and their first licence payments, by status."""
        from chalicelib.adapters.dynamo_models import InvoiceRecord, PaymentRecord

        # Small pages: each scan call stays well inside the adapters' 3 s read timeout even
        # on a busy moto server (a 1 MB page of a large table does not).
        invoices: collections.Counter[str] = collections.Counter()
        paid: set[str] = set()
        for record in InvoiceRecord.scan(InvoiceRecord.period == period, page_size=SCAN_PAGE):
            invoices[record.status] += 1
            if record.status == "paid":
                paid.add(record.invoice_id)
        suffix = f"_{period.replace('-', '')}_1"
        payments: collections.Counter[str] = collections.Counter()
        for payment in PaymentRecord.scan(
            PaymentRecord.payment_id.startswith("pay_lic_"), page_size=SCAN_PAGE
        ):
            if payment.payment_id.endswith(suffix):
                payments[payment.status] += 1
        return {"invoices": dict(invoices), "payments": dict(payments), "paid_ids": paid}


class MemoryBackend:
    """Stores, invoices and payments in memory (bench/memory_store.py); no AWS calls."""

    name = "memory"

    def __init__(self, provider: Provider, sleeps: SleepCounter) -> None:
        from bench.memory_store import MemoryBooks, overrides

        for name, value in MEMORY_ENV.items():
            os.environ.setdefault(name, value)
        os.environ.setdefault("STRIPE_API_BASE", provider.url)
        self.books_ = MemoryBooks()
        self.container = build_container(provider.url, sleeps, **overrides(self.books_))

    def seed(self, prefix: str, count: int) -> None:
        from chalicelib.domain.stores import Address, SavedCard, Store

        created = datetime.now(UTC) - timedelta(days=1)
        self.books_.add_stores(
            Store(
                store_id(prefix, index),
                f"Bench Bistro {index}",
                f"owner-{prefix}{index}@bench.example",
                Address("Weg 1", "10115", "Berlin"),
                None,
                FEE_CENTS,
                autopay=True,
                created_at=created,
                card_customer_id=f"cus_{prefix}{index:06d}",
                payment_method=SavedCard(f"pm_{prefix}{index:06d}", "visa", "4242", 12, 2035),
            )
            for index in range(count)
        )

    def books(self, period: str) -> dict[str, Any]:
        invoices: collections.Counter[str] = collections.Counter()
        paid: set[str] = set()
        for invoice in self.books_.invoices.values():
            if invoice.period == period:
                invoices[invoice.status.value] += 1
                if invoice.status.value == "paid":
                    paid.add(invoice.id)
        suffix = f"_{period.replace('-', '')}_1"
        payments = collections.Counter(
            p.status.value
            for p in self.books_.payments.values()
            if p.id.startswith("pay_lic_") and p.id.endswith(suffix)
        )
        return {"invoices": dict(invoices), "payments": dict(payments), "paid_ids": paid}


MEMORY_ENV = {  # settings for the in-memory path when no stack was provisioned
    "PORTAL_PREFIX": "sides-portal-bench",
    "AWS_DEFAULT_REGION": "eu-central-1",
    "INVOICE_BUCKET": "bench-invoices",
    "USER_POOL_ID": "eu-central-1_bench",
    "USER_POOL_CLIENT_ID": "bench",
    "EVENT_BUS_NAME": "bench",
    "MAIL_FROM": MAIL_FROM,
    "PORTAL_URL": "http://127.0.0.1:8000",
}


# --- the charge runner (the SQS event source with MaximumConcurrency C) --------------------


@dataclasses.dataclass
class Phase:
    label: str
    total: int
    outcomes: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    errors: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    durations: list[float] = dataclasses.field(default_factory=list)
    charged_at: list[float] = dataclasses.field(default_factory=list)
    redelivered: int = 0
    dead_lettered: int = 0
    wall_s: float = 0.0
    provider: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def charged(self) -> int:
        return self.outcomes["charged"]

    @property
    def rate(self) -> float:
        return self.charged / self.wall_s if self.wall_s else 0.0

    @property
    def steady_rate(self) -> float:
        """Charges/s over the middle 80 % of the charges: without the bucket's initial
        burst at the start and the last stragglers at the end."""
        times = sorted(self.charged_at)
        if len(times) < 20:
            return self.rate
        first, last = len(times) // 10, len(times) - 1 - len(times) // 10
        span = times[last] - times[first]
        return (last - first) / span if span > 0 else self.rate

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.durations)
        return {
            "requests": self.total,
            "outcomes": dict(self.outcomes),
            "errors": dict(self.errors),
            "redelivered": self.redelivered,
            "dead_lettered": self.dead_lettered,
            "wall_s": round(self.wall_s, 2),
            "charged_per_s": round(self.rate, 2),
            "steady_charged_per_s": round(self.steady_rate, 2),
            "charge_ms_p50": round(1000 * statistics.median(ordered), 1) if ordered else None,
            "charge_ms_p95": round(1000 * ordered[int(0.95 * (len(ordered) - 1))], 1)
            if ordered
            else None,
            "provider": self.provider,
        }


class ChargeRunner:
    def __init__(
        self,
        phase: Phase,
        charge: Callable[[Any], str],
        concurrency: int,
        redeliver_s: float,
    ) -> None:
        self.phase = phase
        self.charge = charge
        self.concurrency = concurrency
        self.redeliver_s = redeliver_s
        self.work: queue.Queue[tuple[Any, int]] = queue.Queue()
        self.remaining = phase.total
        self.lock = threading.Lock()
        self.done = threading.Event()

    def _finish(self) -> None:
        with self.lock:
            self.remaining -= 1
            if self.remaining <= 0:
                self.done.set()

    def _one(self, request: Any, receives: int) -> None:
        started = time.perf_counter()
        try:
            outcome = self.charge(request)
        except Exception as exc:  # noqa: BLE001  the event source sees any exception
            with self.lock:
                self.phase.errors[type(exc).__name__] += 1
                dead = receives >= MAX_RECEIVES
                self.phase.dead_lettered += dead
                self.phase.redelivered += not dead
            if dead:
                self._finish()
            else:
                timer = threading.Timer(self.redeliver_s, self.work.put, ((request, receives + 1),))
                timer.daemon = True
                timer.start()
            return
        with self.lock:
            self.phase.outcomes[str(outcome)] += 1
            finished = time.perf_counter()
            self.phase.durations.append(finished - started)
            if outcome == "charged":
                self.phase.charged_at.append(finished)
        self._finish()

    def _worker(self) -> None:
        while not self.done.is_set():
            try:
                request, receives = self.work.get(timeout=0.1)
            except queue.Empty:
                continue
            self._one(request, receives)

    def run(self, requests: Sequence[Any], progress: Callable[[], str]) -> Phase:
        for request in requests:
            self.work.put((request, 1))
        if not requests:
            self.done.set()
        started = time.perf_counter()
        workers = [
            threading.Thread(target=self._worker, daemon=True) for _ in range(self.concurrency)
        ]
        for worker in workers:
            worker.start()
        while not self.done.wait(5.0):
            log(f"  {self.phase.label}: {progress()}")
        self.phase.wall_s = time.perf_counter() - started
        for worker in workers:
            worker.join()
        return self.phase


def charge_phase(
    label: str,
    charge: Callable[[Any], str],
    requests: Sequence[Any],
    args: argparse.Namespace,
    provider: Provider,
    sleeps: SleepCounter,
) -> Phase:
    phase = Phase(label, len(requests))
    before, sleeps_before, started = provider.stats(), sleeps.count, time.perf_counter()

    def progress() -> str:
        done = sum(phase.outcomes.values())
        elapsed = time.perf_counter() - started
        return (
            f"{done}/{phase.total} done, {phase.charged} charged, "
            f"{phase.charged / elapsed:.1f}/s (R={args.rate:g}), "
            f"429 back-offs {sleeps.count - sleeps_before}, errors {sum(phase.errors.values())}"
        )

    log(f"{label}: {len(requests)} requests, concurrency {args.concurrency}")
    ChargeRunner(phase, charge, args.concurrency, args.redeliver_s).run(requests, progress)
    after = provider.stats()
    phase.provider = {
        key: after[key] - before[key]
        for key in (
            "requests",
            "admitted",
            "rate_limited",
            "charges",
            "replays",
            "idempotency_conflicts",
            "lost_responses",
            "searches",
            "lists",
        )
    }
    phase.provider["client_backoffs"] = sleeps.count - sleeps_before
    log(f"{label}: {progress()} in {phase.wall_s:.1f} s")
    return phase


# --- phases ---------------------------------------------------------------------------------


def calibrate(
    backend: Any, args: argparse.Namespace, provider: Provider, sleeps: SleepCounter
) -> Phase | None:
    """The store path's own ceiling: provider unlimited (latency L kept), C workers, on the
    first stores with invoices of another period."""
    from chalicelib.services.ports import ChargeRequest, IssueRequest

    count = min(args.calibrate, args.stores)
    if count <= 0:
        return None
    period, container = "2000-01", backend.container
    log(f"calibration on {backend.name}: issuing {count} invoices for period {period}")
    requests = []
    for index in range(count):
        store = container.stores.get(store_id(MAIN_PREFIX, index))
        invoice = container.billing.issue(IssueRequest(store.id, period, container.clock.now()))
        requests.append(ChargeRequest(store.id, invoice.id, period))
    provider.configure(rate=0)
    try:
        return charge_phase(
            f"calibration on {backend.name} (provider unlimited)",
            container.charges.charge,
            requests,
            args,
            provider,
            sleeps,
        )
    finally:
        provider.configure(rate=args.rate, burst=args.burst)


def billing_run(container: Any, period: str, label: str) -> tuple[Any, list[Any], float]:
    log(f"{label}: BillingService.run({period!r})")
    started = time.perf_counter()
    issued_before = container.metrics.counts["InvoicesIssued"]
    queued = container.billing.run(period)
    wall = time.perf_counter() - started
    invoiced = container.metrics.counts["InvoicesIssued"] - issued_before
    result = types.SimpleNamespace(invoiced=invoiced, skipped=queued.queued - invoiced)
    requests = container.charge_queue.take()
    log(
        f"{label}: invoiced {result.invoiced}, skipped {result.skipped}, "
        f"queued {len(requests)} in {wall:.1f} s"
    )
    return result, requests, wall


@dataclasses.dataclass
class Pipeline:
    """Seed, run 1 and its charges, the books, run 2 and its charges, on one store path."""

    backend: str
    stores: int
    seed_s: float = 0.0
    billing1: Any = None
    billing1_s: float = 0.0
    charges: Phase | None = None
    books: dict[str, Any] = dataclasses.field(default_factory=dict)
    charged_not_paid: int = 0
    billing2: Any = None
    billing2_s: float = 0.0
    second: Phase | None = None
    books2: dict[str, Any] = dataclasses.field(default_factory=dict)
    webhook_replay: dict[str, int] | None = None
    metrics: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def unpaid(self) -> int:
        """Invoices of the period not paid after both runs (every card here succeeds)."""
        counts = self.books2.get("invoices", {})
        return sum(n for status, n in counts.items() if status != "paid")


def pipeline(
    backend: Any,
    prefix: str,
    count: int,
    period: str,
    args: argparse.Namespace,
    provider: Provider,
    sleeps: SleepCounter,
    seeded: bool = False,
) -> Pipeline:
    result = Pipeline(backend.name, count)
    container = backend.container
    if not seeded:
        log(f"{backend.name}: seeding {count} stores (saved card, customer, autopay on)")
        started = time.perf_counter()
        backend.seed(prefix, count)
        result.seed_s = time.perf_counter() - started
    result.billing1, requests, result.billing1_s = billing_run(
        container, period, f"{backend.name}: billing run 1"
    )
    result.charges = charge_phase(
        f"{backend.name}: charge phase",
        container.charges.charge,
        requests,
        args,
        provider,
        sleeps,
    )
    log(f"{backend.name}: reading the books")
    result.books = backend.books(period)
    result.billing2, queued, result.billing2_s = billing_run(
        container, period, f"{backend.name}: billing run 2"
    )
    # Run 2 charges what it queued, and every message of run 1 arrives once more.
    result.second = charge_phase(
        f"{backend.name}: run 2 charges",
        container.charges.charge,
        queued + requests,
        args,
        provider,
        sleeps,
    )
    result.books2 = backend.books(period)
    wanted = (f"lic_{prefix}", f"_{period.replace('-', '')}")
    stuck = [
        invoice_id
        for invoice_id in provider.charges()
        if invoice_id.startswith(wanted[0])
        and invoice_id.endswith(wanted[1])
        and invoice_id not in result.books2["paid_ids"]
    ]
    result.charged_not_paid = len(stuck)
    if stuck:
        result.webhook_replay = replay_webhooks(backend, provider, stuck, period)
    result.metrics = dict(container.metrics.counts)
    return result


def replay_webhooks(
    backend: Any, provider: Provider, invoice_ids: Sequence[str], period: str
) -> dict[str, int]:
    """What Stripe's payment_intent.succeeded webhook would do for invoices it charged but
    our books do not show as paid: the event as Stripe sends it, through the same mapping
    (the Stripe adapter's webhook_update, after the signature check) and Settlement.apply
    the payment-events function uses."""
    from chalicelib.adapters.stripe_gateway import webhook_update

    intents = provider.intents(invoice_ids)
    for number, invoice_id in enumerate(invoice_ids):
        for intent in intents.get(invoice_id, []):
            event = {
                "id": f"evt_bench_{number}_{intent['id']}",
                "object": "event",
                "type": "payment_intent.succeeded",
                "data": {"object": intent},
            }
            update = webhook_update(event)
            if update is not None:
                backend.container.settlement.apply(update)
    paid = backend.books(period)["paid_ids"]
    fixed = sum(1 for invoice_id in invoice_ids if invoice_id in paid)
    log(
        f"{backend.name}: webhooks replayed for {len(invoice_ids)} charged-not-paid invoices: "
        f"{fixed} now paid"
    )
    return {"replayed": len(invoice_ids), "paid_after": fixed}


def probe_localstripe(count: int) -> dict[str, Any] | None:
    """Confirmed off-session PaymentIntents on localstripe, timed in fifths.
    Note: localstripe writes /tmp/localstripe.pickle (a fixed path) after every POST."""
    import requests

    if count <= 0:
        return None
    port = free_port()
    child = subprocess.Popen(
        [str(Path(sys.executable).parent / "localstripe"), "--port", str(port), "--from-scratch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_die_with_parent,
    )
    base, auth = f"http://127.0.0.1:{port}", (STRIPE_KEY, "")
    log(f"localstripe probe: {count} confirmed off-session charges")
    try:
        wait_until_up(f"{base}/js.stripe.com/v3/")
        customer = requests.post(f"{base}/v1/customers", auth=auth, timeout=30).json()["id"]
        method = requests.post(
            f"{base}/v1/payment_methods",
            auth=auth,
            timeout=30,
            data={
                "type": "card",
                "card[number]": "4242424242424242",
                "card[exp_month]": "12",
                "card[exp_year]": "2035",
                "card[cvc]": "123",
            },
        ).json()["id"]
        requests.post(
            f"{base}/v1/payment_methods/{method}/attach",
            auth=auth,
            timeout=30,
            data={"customer": customer},
        )
        times = []
        for index in range(count):
            started = time.perf_counter()
            requests.post(
                f"{base}/v1/payment_intents",
                auth=auth,
                timeout=60,
                headers={"Idempotency-Key": "same-key-every-time"},
                data={
                    "amount": 5831,
                    "currency": "eur",
                    "customer": customer,
                    "payment_method": method,
                    "confirm": "true",
                    "off_session": "true",
                    "metadata[invoice_id]": f"inv_{index}",
                },
            )
            times.append(time.perf_counter() - started)
        listed = requests.get(f"{base}/v1/payment_intents?limit=100", auth=auth, timeout=30)
        fifth = max(1, count // 5)
        return {
            "requests": count,
            "ms_per_fifth": [
                round(1000 * statistics.mean(times[i : i + fifth]), 1)
                for i in range(0, count, fifth)
            ],
            "same_idempotency_key_made_new_intents": len(listed.json().get("data", [])) > 1,
        }
    finally:
        child.terminate()
        child.wait(timeout=10)


# --- report ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Results:
    args: argparse.Namespace
    period: str = ""
    calibration: Phase | None = None
    main: Pipeline | None = None
    compare: Pipeline | None = None
    duplicates: dict[str, Any] = dataclasses.field(default_factory=dict)
    localstripe: dict[str, Any] | None = None
    wall_s: float = 0.0


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def bottleneck(results: Results) -> list[str]:
    args, ceiling = results.args, results.calibration
    lines = []
    if ceiling is not None and ceiling.rate:
        per_charge_ms = 1000 * args.concurrency / ceiling.rate
        lines.append(
            f"moto store path ceiling (provider unlimited, L kept, C={args.concurrency}): "
            f"{ceiling.rate:.1f} charges/s = {ceiling.rate / args.rate:.2f} x R; a charge "
            f"takes ~{per_charge_ms:.0f} ms there, of which L = {args.latency_ms:g} ms at the "
            f"provider and the rest waiting for/in moto ({os.cpu_count()} cores, load average "
            f"{os.getloadavg()[0]:.1f} now)"
        )
        if ceiling.rate < 0.9 * args.rate:
            lines.append(
                "BOTTLENECK on moto: the local store path (moto server + this process), not "
                f"the provider: even unlimited it does {ceiling.rate:.1f}/s "
                f"< 0.9 x R = {0.9 * args.rate:.0f}/s; the in-memory path measures the rate"
            )
    for run in (results.main, results.compare):
        if run is None or run.charges is None:
            continue
        if run.backend == "memory":
            lines += rate_diagnosis(run.backend, run.charges, args)
        elif ceiling is None and run.charges.rate < 0.9 * args.rate:
            lines.append(
                f"moto path: {run.charges.rate:.1f} charges/s; --calibrate K measures its "
                "ceiling with the provider unlimited (the rate is measured in memory)"
            )
    return lines


def rate_diagnosis(backend: str, charges: Phase, args: argparse.Namespace) -> list[str]:
    """Why a store path fell short of 0.9 x R: too few workers for the time a charge takes,
    or the provider's refusals and our back-off."""
    if charges.rate >= 0.9 * args.rate or not charges.durations:
        return []
    p50 = statistics.median(charges.durations)
    capacity = args.concurrency / p50
    limited = charges.provider.get("rate_limited", 0)
    if limited == 0 or capacity < args.rate:
        return [
            f"BOTTLENECK on {backend}: concurrency, not the provider: C / p50 charge time = "
            f"{args.concurrency} / {1000 * p50:.0f} ms = {capacity:.0f} charges/s at most "
            f"({limited} x 429); raise C to >= {1.3 * args.rate * p50:.0f}"
        ]
    return [
        f"BOTTLENECK on {backend}: the provider's refusals and our back-off ({limited} x 429, "
        f"{charges.provider.get('client_backoffs', 0)} back-offs, workers could do "
        f"{capacity:.0f}/s)"
    ]


def pipeline_rows(run: Pipeline, args: argparse.Namespace) -> list[tuple[str, str]]:
    charges, second = run.charges, run.second
    assert charges is not None and second is not None
    ratio, steady = charges.rate / args.rate, charges.steady_rate
    second_charges = second.provider["charges"]
    billing = run.billing1
    return [
        (f"[{run.backend}] stores", f"{run.stores} (seeded in {run.seed_s:.1f} s)"),
        (
            "billing run 1",
            f"{billing.invoiced} invoices in {run.billing1_s:.1f} s "
            f"({billing.invoiced / max(run.billing1_s, 1e-9):.0f}/s, PDF stubbed)",
        ),
        (
            "charge phase",
            f"{charges.charged} charged in {charges.wall_s:.1f} s "
            f"(provider: {charges.provider['charges']} charges, "
            f"{charges.provider['requests']} requests; "
            f"p50 {charges.summary()['charge_ms_p50']} ms per charge)",
        ),
        (
            "achieved / R",
            f"{charges.rate:.1f}/s / {args.rate:g} = {ratio:.2f} "
            f"(budget >= 0.90: {verdict(ratio >= 0.9)}); steady "
            f"{steady:.1f}/s = {steady / args.rate:.2f} x R",
        ),
        (
            "429s",
            f"{charges.provider['rate_limited']} answered, "
            f"{charges.provider['client_backoffs']} back-offs honoured by the gateway",
        ),
        (
            "charge errors",
            f"{dict(charges.errors) or 0}; redelivered {charges.redelivered}, "
            f"dead-lettered {charges.dead_lettered}",
        ),
        (
            "books after run 1",
            f"invoices {run.books['invoices']}, payments {run.books['payments']}",
        ),
        (
            "billing run 2",
            f"invoiced {run.billing2.invoiced}, skipped {run.billing2.skipped}, "
            f"queued {second.total - charges.total}, in {run.billing2_s:.1f} s",
        ),
        (
            "run 2 charges",
            f"{second.total} requests (queued + every run 1 message again), ChargeService "
            f"answered {dict(second.outcomes)} in {second.wall_s:.1f} s",
        ),
        ("charges by run 2", f"{second_charges} (budget 0: {verdict(second_charges == 0)})"),
        (
            "books after run 2",
            f"invoices {run.books2['invoices']}, payments {run.books2['payments']}",
        ),
        (
            "unpaid after run 2",
            f"{run.unpaid} (every card succeeds here, so 0 expected: {verdict(run.unpaid == 0)})",
        ),
        (
            "charged, not paid",
            f"{run.charged_not_paid} invoices charged at the provider but "
            f"not paid in our books ({verdict(run.charged_not_paid == 0)})",
        ),
    ] + (
        [
            (
                "their webhooks",
                f"payment_intent.succeeded replayed for those "
                f"{run.webhook_replay['replayed']}: "
                f"{run.webhook_replay['paid_after']} paid afterwards",
            )
        ]
        if run.webhook_replay
        else []
    )


def report(results: Results) -> None:
    args, dup = results.args, results.duplicates
    rows = [
        (
            "provider",
            "bench/rate_limited_stripe.py (localstripe: O(n) pickle per POST, "
            "ignores Idempotency-Key)",
        ),
        (
            "provider limit R",
            f"{args.rate:g} requests/s (token bucket, burst {args.burst:g}, "
            f"Retry-After {args.retry_after})",
        ),
        ("provider latency L", f"{args.latency_ms:g} ms per request"),
        ("concurrency C", f"{args.concurrency} (event source MaximumConcurrency)"),
        (
            "moto",
            "stock (deep-copies tables per transaction)"
            if args.stock_moto
            else "local.aws + per-item transaction backups (bench/moto_server.py)",
        ),
        ("period", results.period),
    ]
    for run in (results.main, results.compare):
        if run is not None:
            rows += pipeline_rows(run, args)
    rows += [
        (
            "duplicate charges",
            f"{dup['extra_charges']} on {dup['duplicate_invoices']} invoices, "
            f"all phases (budget 0: {verdict(dup['extra_charges'] == 0)})",
        ),
        ("wall time", f"{results.wall_s:.1f} s total"),
    ]
    print()
    for name, value in rows:
        print(f"{name:<20} {value}")
    for line in bottleneck(results):
        print(line)
    if results.localstripe:
        print(f"localstripe probe: {results.localstripe}")
    print(json.dumps(to_json(results), default=str))


def pipeline_json(run: Pipeline | None, args: argparse.Namespace) -> dict[str, Any] | None:
    if run is None or run.charges is None or run.second is None:
        return None
    return {
        "backend": run.backend,
        "stores": run.stores,
        "achieved_per_s": round(run.charges.rate, 2),
        "achieved_over_r": round(run.charges.rate / args.rate, 3),
        "steady_over_r": round(run.charges.steady_rate / args.rate, 3),
        "second_run_charges": run.second.provider["charges"],
        "charged_not_paid": run.charged_not_paid,
        "seed_s": round(run.seed_s, 1),
        "billing_run_1_s": round(run.billing1_s, 1),
        "billing_run_2_s": round(run.billing2_s, 1),
        "unpaid_after_run_2": run.unpaid,
        "webhook_replay": run.webhook_replay,
        "books": {k: v for k, v in run.books.items() if k != "paid_ids"},
        "books_after_run_2": {k: v for k, v in run.books2.items() if k != "paid_ids"},
        "charge_phase": run.charges.summary(),
        "second_run": run.second.summary(),
        "metrics": run.metrics,
    }


def to_json(results: Results) -> dict[str, Any]:
    args = results.args
    return {
        "stores": args.stores,
        "rate": args.rate,
        "latency_ms": args.latency_ms,
        "concurrency": args.concurrency,
        "burst": args.burst,
        "retry_after": args.retry_after,
        "lost_responses": args.lost_responses,
        "stock_moto": args.stock_moto,
        "store": args.store,
        "period": results.period,
        "duplicate_charges": results.duplicates["extra_charges"],
        "wall_s": round(results.wall_s, 1),
        "calibration": results.calibration.summary() if results.calibration else None,
        "main": pipeline_json(results.main, args),
        "compare": pipeline_json(results.compare, args),
        "localstripe_probe": results.localstripe,
    }


# --- main -----------------------------------------------------------------------------------

MAIN_PREFIX = "st_bench_"
COMPARE_PREFIX = "st_mem_"
MOTO_AUTO_LIMIT = 1000  # above this many stores, auto runs the main pipeline in memory


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=100.0, help="provider limit R, requests/s")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="provider latency L")
    parser.add_argument(
        "--concurrency", type=int, default=12, help="charge workers C (>= 1.3 x R x charge time)"
    )
    parser.add_argument("--burst", type=float, default=None, help="token bucket size (R)")
    parser.add_argument("--retry-after", choices=("integer", "exact"), default="integer")
    parser.add_argument(
        "--store",
        choices=("auto", "moto", "memory"),
        default="auto",
        help=f"main pipeline's store path (auto: moto up to {MOTO_AUTO_LIMIT} stores, else memory)",
    )
    parser.add_argument(
        "--compare",
        type=int,
        default=-1,
        metavar="N",
        help="with --store moto: the same pipeline in memory for N stores "
        "(default --stores; 0 = skip)",
    )
    parser.add_argument("--period", default=None, help="YYYY-MM (the current month)")
    parser.add_argument(
        "--calibrate",
        type=int,
        default=200,
        help="charges on moto with the provider unlimited (0 = skip)",
    )
    parser.add_argument(
        "--lost-responses",
        type=float,
        default=0.0,
        help="fraction of charges whose answer the provider drops",
    )
    parser.add_argument(
        "--redeliver-s",
        type=float,
        default=2.0,
        help="a failed request comes back after this long (visibility timeout)",
    )
    parser.add_argument(
        "--stock-moto",
        action="store_true",
        help="moto's own O(table) transactions (very slow at scale)",
    )
    parser.add_argument(
        "--probe-localstripe",
        type=int,
        default=0,
        metavar="N",
        help="time N charges on localstripe first (writes /tmp/localstripe.pickle)",
    )
    args = parser.parse_args(argv)
    if args.burst is None:
        args.burst = max(1.0, args.rate)
    if args.store == "auto":
        args.store = "moto" if args.stores <= MOTO_AUTO_LIMIT else "memory"
    if args.compare < 0:
        args.compare = args.stores if args.store == "moto" else 0
    return args


def current_period() -> str:
    from chalicelib.domain.dunning import period_of
    from chalicelib.domain.periods import today_in_berlin

    return period_of(today_in_berlin(datetime.now(UTC)))


def provider_duplicates(provider: Provider) -> dict[str, Any]:
    stats = provider.stats()
    keys = ("duplicate_invoices", "extra_charges", "duplicate_examples")
    return {key: stats[key] for key in keys}


def run(args: argparse.Namespace, procs: Processes) -> Results:
    results = Results(args)
    results.localstripe = probe_localstripe(args.probe_localstripe)
    provider = start_provider(args, procs)
    sleeps = SleepCounter()
    moto = None
    if args.store == "moto" or args.calibrate > 0:
        moto = MotoBackend(start_moto(args, procs), provider, sleeps)
        log(f"moto: seeding {args.stores} stores (saved card, customer, autopay on)")
        started = time.perf_counter()
        moto.seed(MAIN_PREFIX, args.stores)
        moto_seed_s = time.perf_counter() - started
        results.calibration = calibrate(moto, args, provider, sleeps)
    results.period = args.period or current_period()
    if args.store == "moto" and moto is not None:
        results.main = pipeline(
            moto, MAIN_PREFIX, args.stores, results.period, args, provider, sleeps, seeded=True
        )
        results.main.seed_s = moto_seed_s
    else:
        memory = MemoryBackend(provider, sleeps)
        results.main = pipeline(
            memory, MAIN_PREFIX, args.stores, results.period, args, provider, sleeps
        )
    if args.compare > 0:
        memory = MemoryBackend(provider, sleeps)
        results.compare = pipeline(
            memory, COMPARE_PREFIX, args.compare, results.period, args, provider, sleeps
        )
    results.duplicates = provider_duplicates(provider)
    return results


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    log(
        f"monthly run bench: {args.stores} stores on {args.store}, R={args.rate:g}/s "
        f"(burst {args.burst:g}, Retry-After {args.retry_after}), L={args.latency_ms:g} ms, "
        f"C={args.concurrency}"
    )
    procs = Processes()
    try:
        results = run(args, procs)
        results.wall_s = time.perf_counter() - T0
        report(results)
    finally:
        procs.stop()


if __name__ == "__main__":
    main()
