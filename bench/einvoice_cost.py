"""What an e-invoice costs the issuing client: CPU per invoice, hybrid PDF/A-3 + XRechnung
against today's plain PDF (budget: at most 1.5×, issue 11).

Both runs issue through the production graph (chalicelib.bootstrap: InvoiceIssuer with the
DynamoDB, S3 and SES adapters) against our moto server (bench/moto_server.py, provisioned as
stage "bench"), so "per invoice" is what the monthly run spends on one invoice: numbering
transaction, PDF (and XML) to S3 with retention, the mail with its attachments, the open item.
Only this process's CPU is counted (time.process_time); moto's runs in its own process.
Each of the two issue runs has a store of its own: issuing adds an open item to the store's
record, which every later issue reads and writes again, so a run on a store that the other
run already filled would pay for the other run's invoices.

Work done once per process (the e-invoice adapters prepare their fonts and the XML schema on
first use) is not a cost per invoice; the bench prints it on its own line, measured on the
first hybrid render of the process.

"Today's plain PDF" is chalicelib/adapters/invoice_pdf.py as it was before e-invoices
(commit BASELINE_COMMIT, built-in Helvetica, no PDF/A), read with `git show`.

    python bench/einvoice_cost.py [--invoices 40]
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BASELINE_COMMIT = "6afe767"  # the last commit with the plain (non-PDF/A) invoice PDF
BUDGET = 1.5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()  # noqa: S310  loopback only
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def baseline_renderer() -> Callable[..., bytes]:
    source = subprocess.run(
        ["git", "show", f"{BASELINE_COMMIT}:chalicelib/adapters/invoice_pdf.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "plain_invoice_pdf.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("plain_invoice_pdf", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    render: Callable[..., bytes] = module.render_invoice_pdf
    return render


def cpu_ms_per_call(action: Callable[[], Any], count: int) -> float:
    action()  # warm: imports, first connections
    start = time.process_time()
    for _ in range(count):
        action()
    return (time.process_time() - start) / count * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=40)
    args = parser.parse_args()

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    moto = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "moto_server.py"), "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_up(f"{endpoint}/moto-api/data.json")
        return measure(endpoint, args.invoices)
    finally:
        moto.terminate()
        moto.wait(timeout=10)


def measure(endpoint: str, count: int) -> int:
    from local.provision import provision, settings_env

    outputs = provision("bench", endpoint_url=endpoint, region="eu-central-1")
    os.environ.update(settings_env(outputs, endpoint))
    os.environ.setdefault("PORTAL_URL", "http://127.0.0.1:8000")

    from chalicelib.adapters.einvoice import render_einvoice
    from chalicelib.adapters.invoice_pdf import render_invoice_pdf
    from chalicelib.bootstrap import Container
    from chalicelib.config import get_settings
    from chalicelib.domain.invoices import InvoiceLine
    from chalicelib.domain.stores import Address, Store
    from chalicelib.domain.supplier import SAMPLE_SUPPLIER
    from chalicelib.services.ports import NO_METRICS

    settings = dataclasses.replace(get_settings(), supplier=SAMPLE_SUPPLIER)
    plain = baseline_renderer()
    today = Container(settings, render_pdf=plain, render_einvoice=None, metrics=NO_METRICS)
    einvoice = Container(settings, metrics=NO_METRICS)

    def new_store() -> Store:
        store_id = "st_" + secrets.token_hex(6)
        store = Store(
            id=store_id,
            name="Trattoria Bellavista",
            billing_email=f"chef+{store_id}@bellavista.example",
            address=Address(street="Königsallee 27", postal_code="40212", city="Düsseldorf"),
            vat_id="DE811569869",
            monthly_fee_cents=4900,
            created_at=datetime.now(UTC),
        )
        today.stores.add(store)
        return store

    store, plain_store, hybrid_store = new_store(), new_store(), new_store()
    lines = [
        InvoiceLine("SIDES Kassenlizenz Monatsgebühr", 1, 4900, Decimal(19)),
        InvoiceLine("Zusatzterminal je Gerät", 2, 1500, Decimal(19)),
        InvoiceLine("Bonrollen für Drucker", 3, 1234, Decimal(7)),
    ]
    sample = today.invoice_issuer.issue(store.id, lines, period="2026-11")

    start = time.process_time()
    render_einvoice(sample, store, SAMPLE_SUPPLIER)
    first_ms = (time.process_time() - start) * 1000
    rows = {
        "render: plain PDF (today)": cpu_ms_per_call(
            lambda: plain(sample, store, SAMPLE_SUPPLIER), count
        ),
        "render: PDF/A-3 page only": cpu_ms_per_call(
            lambda: render_invoice_pdf(sample, store, SAMPLE_SUPPLIER), count
        ),
        "render: hybrid PDF + XRechnung": cpu_ms_per_call(
            lambda: render_einvoice(sample, store, SAMPLE_SUPPLIER), count
        ),
        "issue: plain PDF (today)": cpu_ms_per_call(
            lambda: today.invoice_issuer.issue(plain_store.id, lines, period="2026-11"), count
        ),
        "issue: hybrid PDF + XRechnung": cpu_ms_per_call(
            lambda: einvoice.invoice_issuer.issue(hybrid_store.id, lines, period="2026-11"),
            count,
        ),
    }
    print(f"once per process: first hybrid render {first_ms:.1f} ms (fonts and schema prepared)")
    print(f"client CPU per invoice, {count} invoices each (moto at {endpoint}):")
    for label, ms in rows.items():
        print(f"  {label:34} {ms:7.1f} ms")
    ratio = rows["issue: hybrid PDF + XRechnung"] / rows["issue: plain PDF (today)"]
    verdict = "within" if ratio <= BUDGET else "OVER"
    print(f"issuing with PDF/A + XML costs {ratio:.2f}× today's ({verdict} the {BUDGET}× budget)")
    return 0 if ratio <= BUDGET else 1


if __name__ == "__main__":
    sys.exit(main())
