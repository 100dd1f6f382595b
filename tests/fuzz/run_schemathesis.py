"""`make test`'s contract fuzzing: schemathesis against the running local stack.

Starts its own local stack (seeded, on a free port), creates a store of its own and signs
its owner in, then runs schemathesis twice with /api/openapi.json: anonymous and with the
owner's bearer token. A bounded number of examples per operation keeps the whole run within
a few minutes. Fails on any server error or any response that does not conform to the
document. Usage: python -m tests.fuzz.run_schemathesis [--max-examples N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "ignored_auth",
    )
)
PASSWORD = "Fuzz-Passwort-2026"


def _owner_token(url: str) -> str:
    """A store of the run's own (not the demo store) and its owner's access token."""
    from chalicelib.bootstrap import Container
    from chalicelib.config import get_settings
    from chalicelib.domain.stores import Address
    from chalicelib.services.ports import NO_METRICS
    from chalicelib.services.stores import NewStore

    get_settings.cache_clear()
    container = Container(get_settings(), metrics=NO_METRICS)
    email = f"fuzz-{uuid.uuid4().hex[:8]}@restaurant.example"
    store_id = container.store_service.create(
        NewStore(
            name="Fuzz-Filiale",
            email=email,
            address=Address("Teststraße 1", "10115", "Berlin", "DE"),
            vat_id=None,
        )
    )
    token = container.invitation_service.send(store_id).url.rsplit("/", 1)[-1]
    accepted = requests.post(
        f"{url}/api/invitations/{token}/accept", json={"password": PASSWORD}, timeout=30
    )
    accepted.raise_for_status()
    login = requests.post(
        f"{url}/api/auth/login", json={"email": email, "password": PASSWORD}, timeout=30
    )
    login.raise_for_status()
    return str(login.json()["access_token"])


def _schemathesis(url: str, max_examples: int, seed: int, extra: list[str]) -> int:
    command = [
        str(Path(sys.executable).parent / "st"),
        "run",
        f"{url}/api/openapi.json",
        "--url",
        url,
        "--checks",
        CHECKS,
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(max_examples),
        "--seed",
        str(seed),
        # One worker: hypothesis parses lambda sources with ast.parse, which CPython 3.11
        # cannot do from two threads at once ("AST constructor recursion depth mismatch").
        "--workers",
        "1",
        "--request-timeout",
        "20",
        "--suppress-health-check",
        "all",
        "--no-shrink",
        *extra,
    ]
    started = time.monotonic()
    # in a directory of its own: schemathesis and hypothesis leave their caches in it
    with tempfile.TemporaryDirectory(prefix="schemathesis-") as workdir:
        done = subprocess.run(command, cwd=workdir, check=False)
    print(f"schemathesis: exit {done.returncode} after {time.monotonic() - started:.0f} s")
    return done.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-examples", type=int, default=15)
    parser.add_argument("--seed", type=int, default=20261130)
    args = parser.parse_args()

    from local.stack import Stack, free_port

    state_file = Path(tempfile.mkdtemp(prefix="fuzz-")) / "stack.json"
    os.environ["PORTAL_STATE_FILE"] = str(state_file)
    with Stack(port=free_port(), state_file=state_file, seed=True, quiet=True) as stack:
        token = _owner_token(stack.url)
        print("schemathesis, anonymous:", flush=True)
        anonymous = _schemathesis(stack.url, args.max_examples, args.seed, [])
        print("schemathesis, signed in as the run's own store:", flush=True)
        signed_in = _schemathesis(
            stack.url,
            args.max_examples,
            args.seed,
            [
                "--header",
                f"Authorization: Bearer {token}",
                # signing out would end the token for the rest of the run
                "--exclude-path",
                "/api/auth/logout",
            ],
        )
    return 1 if anonymous or signed_in else 0


if __name__ == "__main__":
    sys.exit(main())
