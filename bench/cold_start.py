"""Cold import of the API Lambda (`import app`) against `import boto3` alone.

Budget (design.md §8): median of 10 fresh interpreters, `import app` ≤ 1.5 × `import boto3`;
stripe, fpdf and the Powertools idempotency utility must not be imported by `import app`.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 10
HEAVY = ("stripe", "fpdf", "aws_lambda_powertools.utilities.idempotency", "boto3", "pynamodb")

PROBE = """
import json, sys, time
start = time.perf_counter()
import {module}
elapsed = time.perf_counter() - start
print(json.dumps({{"ms": elapsed * 1000, "modules": sorted(sys.modules)}}))
"""


def measure(module: str) -> tuple[list[float], list[str]]:
    times, modules = [], []
    for _ in range(RUNS):
        out = subprocess.run(
            [sys.executable, "-X", "frozen_modules=on", "-c", PROBE.format(module=module)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        result = json.loads(out)
        times.append(result["ms"])
        modules = result["modules"]
    return times, modules


def main() -> None:
    boto_times, _ = measure("boto3")
    app_times, app_modules = measure("app")
    boto, app = statistics.median(boto_times), statistics.median(app_times)
    print(f"import boto3: median {boto:7.1f} ms over {RUNS} fresh interpreters")
    print(f"import app:   median {app:7.1f} ms over {RUNS} fresh interpreters")
    print(f"ratio app/boto3: {app / boto:.2f} (budget <= 1.50)")
    loaded = [name for name in HEAVY if name in app_modules]
    print(f"heavy modules imported by `import app`: {loaded or 'none'}")


if __name__ == "__main__":
    main()
