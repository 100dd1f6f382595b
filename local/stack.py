"""Starts the whole local stack: moto, provisioning, API, queue pump, front server, demo data."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import requests

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE = Path(os.environ.get("PORTAL_STATE_FILE") or ROOT / ".local" / "stack.json")
REGION = "eu-central-1"
MAIL_FROM = "portal@sides.example"
# Obviously fake local credentials; real ones live only in the stage's Secrets Manager.
STRIPE_SECRET_KEY = "sk_test_local_portal"
STRIPE_PUBLISHABLE_KEY = "pk_test_local_portal"
PAYPAL_CLIENT_ID = "sandbox-client-local"
PAYPAL_CLIENT_SECRET = "sandbox-secret-local"


T = TypeVar("T")


class StackError(RuntimeError):
    """The stack cannot start; the message says why, for a person."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _die_with_parent() -> None:
    # Children get SIGTERM when the stack process dies, however it dies.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    # Stopping is the stack's job: it stops its children in order, none prints a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def wait_until_up(url: str, timeout_s: float = 90.0) -> None:  # generous: busy machines
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=1).status_code < 500:
                return
        time.sleep(0.1)
    raise StackError(f"{url} antwortet nicht")


def running_stack(state_file: Path) -> dict[str, Any] | None:
    if not state_file.exists():
        return None
    state: dict[str, Any] = json.loads(state_file.read_text())
    try:
        os.kill(int(state["pid"]), 0)
    except (OSError, KeyError, ValueError):
        return None
    return state


class Stack:
    """One running local stack; use as a context manager."""

    def __init__(
        self,
        port: int = 8000,
        state_file: Path = DEFAULT_STATE,
        seed: bool = True,
        quiet: bool = False,
        announce: bool = False,
    ) -> None:
        self.port = port
        self.state_file = state_file
        self.seed = seed
        self.quiet = quiet
        self.announce = announce  # a line per start-up step on stdout, with its duration
        self.children: list[subprocess.Popen[bytes]] = []
        self.env: dict[str, str] = {}
        self.url = f"http://127.0.0.1:{port}"
        self.demo_store_id: str | None = None
        self.invitation_url: str | None = None
        self._stoppers: list[Any] = []
        self.stripe_url = ""
        self.paypal: Any = None
        self._front: Any = None

    def _spawn(self, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        out = subprocess.DEVNULL if self.quiet else None
        child = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
            preexec_fn=_die_with_parent,
            start_new_session=True,  # the terminal's Ctrl-C reaches the stack, not its children
        )
        self.children.append(child)
        return child

    def _start_aws(self) -> str:
        moto_port = free_port()
        endpoint = f"http://127.0.0.1:{moto_port}"
        self._spawn(
            [sys.executable, "-m", "local.aws", "--port", str(moto_port), "--mail-from", MAIL_FROM],
            {**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        wait_until_up(f"{endpoint}/moto-api/data.json")
        return endpoint

    def _provision(self, endpoint: str) -> None:
        from local.provision import provision, settings_env

        outputs = provision("local", endpoint_url=endpoint, region=REGION)
        self.env = {
            **settings_env(outputs, endpoint),
            "PORTAL_URL": self.url,
            "MAIL_FROM": MAIL_FROM,
            "SUPPORT_EMAIL": "support@sides.example",
        }
        os.environ.update(self.env)

    def _start_providers(self, endpoint: str) -> None:
        """localstripe as the Stripe API and Stripe.js, the PayPal sandbox, their webhooks
        registered to the portal, and their keys in Secrets Manager as in AWS."""
        import boto3

        from chalicelib.config import get_settings
        from local.paypal_sandbox import PayPalSandbox

        stripe_port = free_port()
        self._spawn(
            [
                str(Path(sys.executable).parent / "localstripe"),
                "--port",
                str(stripe_port),
                "--from-scratch",
            ],
            {**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.stripe_url = f"http://127.0.0.1:{stripe_port}"
        wait_until_up(f"{self.stripe_url}/js.stripe.com/v3/")
        webhook_secret = "whsec_local_" + os.urandom(12).hex()
        requests.post(
            f"{self.stripe_url}/_config/webhooks/portal",
            data={"url": f"{self.url}/api/webhooks/stripe", "secret": webhook_secret},
            timeout=5,
        ).raise_for_status()
        sandbox = PayPalSandbox(PAYPAL_CLIENT_ID, PAYPAL_CLIENT_SECRET).start()
        self.paypal = sandbox
        self._stoppers.append(sandbox.stop)
        webhook_id = sandbox.register_webhook(f"{self.url}/api/webhooks/paypal")
        self.env.update(
            {
                "STRIPE_API_BASE": self.stripe_url,
                "STRIPE_PUBLISHABLE_KEY": STRIPE_PUBLISHABLE_KEY,
                "STRIPE_JS_URL": f"{self.stripe_url}/js.stripe.com/v3/",
                "PAYPAL_API_BASE": sandbox.url,
                "PAYPAL_ENABLED": "true",
            }
        )
        os.environ.update(self.env)
        settings = get_settings()
        client = boto3.client("secretsmanager", endpoint_url=endpoint, region_name=REGION)
        client.put_secret_value(
            SecretId=settings.stripe_secret_name,
            SecretString=json.dumps(
                {"secret_key": STRIPE_SECRET_KEY, "webhook_secret": webhook_secret}
            ),
        )
        client.put_secret_value(
            SecretId=settings.paypal_secret_name,
            SecretString=json.dumps(
                {
                    "client_id": PAYPAL_CLIENT_ID,
                    "client_secret": PAYPAL_CLIENT_SECRET,
                    "webhook_id": webhook_id,
                }
            ),
        )

    def _start_api(self) -> int:
        api_port = free_port()
        self._spawn(
            [
                str(Path(sys.executable).parent / "chalice"),
                "local",
                "--stage",
                "local",
                "--host",
                "127.0.0.1",
                "--port",
                str(api_port),
                "--no-autoreload",
            ],
            {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"},
        )
        wait_until_up(f"http://127.0.0.1:{api_port}/api/health")
        return api_port

    def _start_pump(self) -> None:
        from local.pump import QueuePump

        pump = QueuePump.for_stack()
        pump.start()
        self._stoppers.append(pump.stop)

    def _start_front(self, api_port: int) -> None:
        import boto3

        from chalicelib.config import get_settings
        from chalicelib.services.edge import accepted_values
        from local import front

        # The distribution's origin custom header: the current value of the origin secret.
        client = boto3.client(
            "secretsmanager", endpoint_url=self.env["AWS_ENDPOINT_URL"], region_name=REGION
        )
        secret = client.get_secret_value(SecretId=get_settings().origin_secret_name)
        origin_secret = accepted_values(secret["SecretString"])[0]
        # /api/health through the front answers ok only once the stack is seeded and its
        # state file written (see start()).
        server = front.start(self.port, api_port, self.stripe_url, origin_secret, ready=False)
        self._front = server
        self._stoppers.append(server.shutdown)

    def _seed(self) -> None:
        from chalicelib.bootstrap import Container
        from chalicelib.config import get_settings
        from chalicelib.services.ports import NO_METRICS
        from local.seed import seed_demo

        container = Container(get_settings(), metrics=NO_METRICS)
        self.demo_store_id = seed_demo(container)
        self.invitation_url = container.invitation_service.send(self.demo_store_id).url

    def start(self) -> Stack:
        existing = running_stack(self.state_file)
        if existing:
            raise StackError(
                f"Es läuft bereits ein lokaler Stack (PID {existing['pid']}) unter "
                f"{existing['url']}. Beende ihn zuerst mit Ctrl-C."
            )
        if port_in_use(self.port):
            raise StackError(f"Port {self.port} ist belegt. Wähle einen anderen mit PORT=…")
        try:
            endpoint = self._step("AWS-Stand-in (moto) starten", self._start_aws)
            self._step(
                "Ressourcen aus infra/template.yaml anlegen", lambda: self._provision(endpoint)
            )
            self._step(
                "Stripe (localstripe) und PayPal-Sandbox starten",
                lambda: self._start_providers(endpoint),
            )
            api_port = self._step("API (chalice local) starten", self._start_api)
            self._step("Warteschlangen-Pumpe starten", self._start_pump)
            self._step(
                f"Front-Server auf Port {self.port} starten", lambda: self._start_front(api_port)
            )
            if self.seed:
                self._step("Demodaten anlegen (Pizzeria Da Mario)", self._seed)
            self._write_state()
            if self._front is not None:
                self._front.ready.set()
        except BaseException:
            self.stop()
            raise
        return self

    def _step(self, label: str, run: Callable[[], T]) -> T:
        """Runs one start-up step; with `announce`, says what it does and how long it took."""
        if self.announce:
            print(f"  {label} …", end="", flush=True)
        started = time.monotonic()
        result = run()
        if self.announce:
            print(f" {time.monotonic() - started:.1f} s".replace(".", ","), flush=True)
        return result

    def _write_state(self) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "pid": os.getpid(),
            "url": self.url,
            "env": self.env,
            "demo_store_id": self.demo_store_id,
            "invitation_url": self.invitation_url,
        }
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.state_file)

    def stop(self) -> None:
        for stopper in reversed(self._stoppers):
            with contextlib.suppress(Exception):
                stopper()
        for child in self.children:
            child.terminate()
        for child in self.children:
            try:
                child.wait(timeout=30)  # generous: a busy machine is slow to let go
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=30)
        self.children.clear()
        state = running_stack(self.state_file)
        if state is None or state.get("pid") == os.getpid():
            with contextlib.suppress(FileNotFoundError):
                self.state_file.unlink()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description="SIDES Kundenportal – lokaler Stack")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--state-file", type=Path, default=DEFAULT_STATE)
    args = parser.parse_args()
    print("Starte den lokalen Stack …", flush=True)
    started = time.monotonic()
    signal.signal(signal.SIGTERM, _interrupt)  # stop as on Ctrl-C
    # Ctrl-C stops the stack even when it was started from a script in the background, where
    # the shell hands it SIGINT ignored (and Python then leaves it ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    stack = Stack(port=args.port, state_file=args.state_file, quiet=True, announce=True)
    try:
        stack.start()
    except StackError as exc:
        print(f"\nFehler: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # start() has stopped whatever was already running
        print("\nStart abgebrochen; lokaler Stack beendet.", file=sys.stderr)
        return 0
    print(f"Bereit nach {time.monotonic() - started:.0f} s.", flush=True)
    print(
        f"\nSIDES Kundenportal läuft: {stack.url}\n\n"
        f"Einladungslink für „Pizzeria Da Mario“ (gilt 7 Tage):\n  {stack.invitation_url}\n\n"
        "Befehle für den Betrieb in einem zweiten Terminal: .venv/bin/portal --help\n"
        "E-Mails, die der Stack verschickt hat (lesbar): .venv/bin/portal outbox --text\n"
        "Alle Stores mit ihrer ID: .venv/bin/portal stores list\n"
        f"Logs der Funktionen (wie CloudWatch): {_function_log(args.state_file)}\n"
        "Beenden mit Ctrl-C.",
        flush=True,
    )
    _send_stdout_to(_function_log(args.state_file))
    try:
        while all(child.poll() is None for child in stack.children):
            time.sleep(0.5)
        print("Ein Dienst des Stacks ist ausgefallen; fahre herunter …", end="", file=sys.stderr)
    except KeyboardInterrupt:  # one line, after the terminal's "^C"
        print("\nLokaler Stack wird beendet …", end="", file=sys.stderr, flush=True)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C does not cut the shutdown short
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    stack.stop()
    print(" fertig.", file=sys.stderr)
    return 0


def _function_log(state_file: Path) -> Path:
    return state_file.parent / "functions.log"


def _send_stdout_to(path: Path) -> None:
    """The functions' JSON logs and metrics go where CloudWatch would be, not the terminal."""
    sys.stdout.flush()
    path.parent.mkdir(parents=True, exist_ok=True)
    log = path.open("a", encoding="utf-8")
    os.dup2(log.fileno(), sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
