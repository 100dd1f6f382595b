"""Cold import of the API Lambda (`import app`), and the cold path to its first signed-in
read, each against `import boto3` alone.

Budgets (design.md §8), median of 10 fresh interpreters each:
- `import app` ≤ 1.5 × `import boto3`; stripe, fpdf and the Powertools idempotency utility
  must not be imported by `import app`;
- the cold path to the first signed-in read ≤ 1.5 × `import boto3`: `import app` plus every
  client and adapter that a signed-in GET /api/profile builds before its first AWS call
  (the authorizer's token check and membership read, the store read), with no network: the
  settings point at a closed local port and nothing is sent.

Both run the API as it is deployed: a copy of app.py and chalicelib/ with the bytecode that
infra/package.py puts into the package (a Lambda's code directory is read-only, so without
it every cold start would compile the portal's modules). The libraries come from the virtual
environment, whose bytecode pip wrote at install.

A last line gives the floor under the read path: the libraries it cannot do without (chalice,
the Powertools logger, PynamoDB, PyJWT with cryptography for RS256, one DynamoDB client) and
none of the portal's code, against `import boto3`.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra.definitions import load_template  # noqa: E402
from infra.package import lambda_platform, precompile  # noqa: E402

RUNS = 10
HEAVY = ("stripe", "fpdf", "aws_lambda_powertools.utilities.idempotency", "boto3", "pynamodb")

PROBE = """
import json, sys, time
start = time.perf_counter()
import {module}
elapsed = time.perf_counter() - start
print(json.dumps({{"ms": elapsed * 1000, "modules": sorted(sys.modules)}}))
"""

# What the first signed-in read builds, in the order it builds it (api/signed_in.py, then
# GET /api/profile): the container, the authorizer's service and adapters, the botocore
# client their tables talk through, the store service.
READ_PATH = """
import json, sys, time
start = time.perf_counter()
import app
from chalicelib.bootstrap import get_container
container = get_container()
auth = container.auth  # the authorizer: token check + membership read
auth.verifier
from chalicelib.adapters.dynamo_models import StoreRecord, UserRecord
UserRecord._get_connection().connection.client  # built on the first read, no call yet
container.store_service  # GET /api/profile
StoreRecord._get_connection().connection.client
elapsed = time.perf_counter() - start
clients = {{id(m._get_connection().connection.client) for m in (StoreRecord, UserRecord)}}
import chalicelib
print(json.dumps({{"ms": elapsed * 1000, "modules": sorted(sys.modules), "clients": len(clients),
                  "code": chalicelib.__file__}}))
"""

FLOOR = """
import json, sys, time
start = time.perf_counter()
import chalice.app, aws_lambda_powertools.logging, jwt, pynamodb.models, pynamodb.connection
from botocore.session import get_session
get_session().create_client("dynamodb", region_name="eu-central-1",
    aws_access_key_id="bench", aws_secret_access_key="bench")
elapsed = time.perf_counter() - start
print(json.dumps({{"ms": elapsed * 1000, "modules": []}}))
"""

# Settings for the read path that lead nowhere: a closed port, fake credentials.
OFFLINE_ENV = {
    "PORTAL_PREFIX": "sides-portal-bench",
    "AWS_DEFAULT_REGION": "eu-central-1",
    "AWS_REGION": "eu-central-1",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "INVOICE_BUCKET": "bench-invoices",
    "USER_POOL_ID": "eu-central-1_bench",
    "USER_POOL_CLIENT_ID": "bench",
    "EVENT_BUS_NAME": "bench",
    "MAIL_FROM": "portal@sides.example",
    "PORTAL_URL": "http://127.0.0.1:9",
}


def deployed_copy(target: Path) -> Path:
    """app.py and chalicelib/ as the API's package holds them, bytecode included."""
    shutil.copy2(ROOT / "app.py", target / "app.py")
    shutil.copytree(
        ROOT / "chalicelib", target / "chalicelib", ignore=shutil.ignore_patterns("__pycache__")
    )
    if not precompile(target, lambda_platform(load_template())):
        print("note: this interpreter is not the runtime's version; measuring without bytecode")
    return target


def _once(code: str, cwd: Path, env: dict[str, str] | None = None) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-X", "frozen_modules=on", "-c", code],
        cwd=cwd,  # first on sys.path, as the package root is in Lambda
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    ).stdout
    result: dict[str, object] = json.loads(out)
    return result


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="cold-start-") as tmp:
        measure(deployed_copy(Path(tmp)))


def measure(package: Path) -> None:
    # The probes take turns, so a busy machine slows each of them alike.
    probes = {
        "boto3": (PROBE.format(module="boto3"), None),
        "app": (PROBE.format(module="app"), None),
        "read": (READ_PATH.format(), OFFLINE_ENV),
        "floor": (FLOOR.format(), None),
    }
    times: dict[str, list[float]] = {name: [] for name in probes}
    last: dict[str, dict[str, object]] = {}
    for _ in range(RUNS):
        for name, (code, env) in probes.items():
            last[name] = _once(code, package, env)
            times[name].append(float(str(last[name]["ms"])))
    boto, app, read, floor = (
        statistics.median(times[name]) for name in ("boto3", "app", "read", "floor")
    )
    code = Path(str(last["read"]["code"]))
    assert code.is_relative_to(package), f"measured {code}, not the deployed copy"
    app_modules = last["app"]["modules"]
    read_modules = last["read"]["modules"]
    assert isinstance(app_modules, list) and isinstance(read_modules, list)
    print(f"import boto3: median {boto:7.1f} ms over {RUNS} fresh interpreters")
    print(f"import app:   median {app:7.1f} ms over {RUNS} fresh interpreters")
    print(f"ratio app/boto3: {app / boto:.2f} (budget <= 1.50)")
    loaded = [name for name in HEAVY if name in app_modules]
    print(f"heavy modules imported by `import app`: {loaded or 'none'}")
    print(
        f"cold path to the first signed-in read: median {read:7.1f} ms"
        f" over {RUNS} fresh interpreters"
    )
    print(f"  botocore clients behind its tables: {last['read']['clients']}")
    unneeded = sorted(
        {
            top
            for top in ("stripe", "fpdf", "facturx", "pypdf", "lxml")
            if any(m == top or m.startswith(top + ".") for m in read_modules)
        }
        | {m for m in read_modules if m.endswith((".cognito", ".invoice_pdf", ".einvoice"))}
    )
    print(f"  modules it does not need but loads: {unneeded or 'none'}")
    print(
        f"floor: the read path's libraries alone: median {floor:7.1f} ms"
        f" = {floor / boto:.2f} x import boto3"
    )
    print(
        f"cold path to the first signed-in read / import boto3: {read / boto:.2f} (budget <= 1.50)"
    )


if __name__ == "__main__":
    main()
