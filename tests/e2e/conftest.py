"""End-to-end fixtures: the real local stack (`python -m local.stack`) and headless Chromium.

The stack runs as one subprocess per test session, exactly as a person starts it; the tests
talk to it only through its front server (the page and /api/*), its `portal` CLI and the
moto outbox.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
E2E_DIR = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
START_TIMEOUT_S = 180.0  # generous: a busy machine starts slowly
STOP_TIMEOUT_S = 120.0
PHONE = {"width": 375, "height": 812}

# Variables a test session (tests/conftest.py) or a shell may have set for another stack;
# the stack under test must compute its own.
_FOREIGN_ENV = (
    "PORTAL_PREFIX",
    "PORTAL_STATE_FILE",
    "PORTAL_URL",
    "PORT",
    "AWS_ENDPOINT_URL",
    "INVOICE_BUCKET",
    "USER_POOL_ID",
    "USER_POOL_CLIENT_ID",
    "EVENT_BUS_NAME",
    "MAIL_FROM",
    "SUPPORT_EMAIL",
)


# ---------------------------------------------------------------------------------------------
# Marking and failure screenshots


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    slots = []
    for index, item in enumerate(items):
        if E2E_DIR in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)
            slots.append(index)
    # The journey checks the demo store exactly as seeded; other e2e tests run the monthly
    # billing over every store, so the journey takes the first e2e slot.
    e2e = sorted(
        (items[i] for i in slots), key=lambda item: Path(str(item.path)).name != "test_journey.py"
    )
    for index, item in zip(slots, e2e, strict=True):
        items[index] = item


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


# ---------------------------------------------------------------------------------------------
# Process helpers


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _descendants(pid: int) -> list[int]:
    """PIDs of every process below `pid`, from /proc (Linux)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has already exited


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return []


def _listening_ports(pids: list[int]) -> set[int]:
    """The --port arguments of the stack's children (moto and `chalice local`)."""
    ports: set[int] = set()
    for pid in pids:
        args = _cmdline(pid)
        for flag, value in zip(args, args[1:], strict=False):
            if flag == "--port" and value.isdigit():
                ports.add(int(value))
    return ports


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(kein Log)"


def _die_with_parent() -> None:
    # If the test session itself is killed, the stack shuts down (and takes its children).
    import ctypes

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass
    # Started the way a script in the background starts it (SIGINT ignored): the stack must
    # still stop cleanly on SIGINT, which the teardown checks (exit 0).
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _wait_for_state(
    process: subprocess.Popen[bytes],
    state_file: Path,
    log: Path,
) -> dict[str, Any]:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"Der lokale Stack ist beim Start beendet (Exit {process.returncode}).\n"
                f"--- {log} ---\n{_tail(log)}",
                pytrace=False,
            )
        if state_file.exists():
            try:
                state = dict(json.loads(state_file.read_text()))
            except (OSError, ValueError):
                state = {}  # written atomically, but be lenient
            if state and _healthy(state["url"]):
                return state
        time.sleep(0.2)
    pytest.fail(
        f"Der lokale Stack war nach {START_TIMEOUT_S:.0f} s nicht bereit.\n"
        f"--- {log} ---\n{_tail(log)}",
        pytrace=False,
    )


def _healthy(url: str) -> bool:
    """/api/health answers ok only once the stack is ready (seeded, state file written)."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/api/health", timeout=5) as response:
            return bool(response.status == 200 and json.load(response).get("status") == "ok")
    except (OSError, ValueError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGINT, wait generously (the stack stops its children, each given 30 s), kill, wait."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)


# ---------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="session")
def e2e_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def stack(e2e_tmp: Path) -> Iterator[dict[str, Any]]:
    """The running local stack; yields its state file's content plus `state_file` and `log`."""
    port = _free_port()
    state_file = e2e_tmp / "stack.json"
    log = e2e_tmp / "stack.log"
    env = {k: v for k, v in os.environ.items() if k not in _FOREIGN_ENV}
    env["PYTHONUNBUFFERED"] = "1"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "local.stack",
                "--port",
                str(port),
                "--state-file",
                str(state_file),
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
    children: list[int] = []
    ports: set[int] = {port}
    try:
        state = _wait_for_state(process, state_file, log)
        children = _descendants(process.pid)
        ports |= _listening_ports(children)
        ports.add(urlsplit(state["env"]["AWS_ENDPOINT_URL"]).port or 0)
        assert urlsplit(state["url"]).port == port
        yield {**state, "state_file": str(state_file), "log": str(log)}
    finally:
        _stop(process)
        children += [pid for pid in _descendants(process.pid) if pid not in children]
    assert process.returncode == 0, f"Stack endete mit Exit {process.returncode}:\n{_tail(log)}"
    left = [pid for pid in children if _alive(pid)]
    busy = sorted(p for p in ports if p and _accepts(p))
    for pid in left:  # never leave strays behind, even when the assertion below fails
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    assert not left, f"Prozesse des Stacks laufen noch: {[_cmdline(p) for p in left]}"
    assert not busy, f"Ports nehmen nach dem Beenden noch Verbindungen an: {busy}"
    assert not state_file.exists(), "Der Stack hat seine State-Datei nicht aufgeräumt."


@pytest.fixture(scope="session")
def portal(stack: dict[str, Any]) -> Callable[..., dict[str, Any]]:
    """Runs the operator CLI (`portal ...`) against the stack under test; returns its JSON."""
    env = {k: v for k, v in os.environ.items() if k not in _FOREIGN_ENV}
    env["PORTAL_STATE_FILE"] = stack["state_file"]

    def run(*args: str, timeout_s: float = 60.0) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, "-m", "chalicelib.cli", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        assert done.returncode == 0, f"portal {' '.join(args)} → {done.returncode}: {done.stderr}"
        # e.g. "charges still running": the command did not finish its job
        assert "warning" not in done.stderr, done.stderr
        return dict(json.loads(done.stdout))

    return run


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture()
def viewport() -> dict[str, int]:
    """The page's viewport; phone-sized unless a test overrides this fixture."""
    return dict(PHONE)


@pytest.fixture()
def page(
    browser: Any,
    stack: dict[str, Any],
    viewport: dict[str, int],
    e2e_tmp: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Any]:
    from playwright.sync_api import expect

    expect.set_options(timeout=10_000)
    context = browser.new_context(
        viewport=viewport,
        accept_downloads=True,
        locale="de-DE",
        timezone_id="Europe/Berlin",
    )
    context.set_default_timeout(10_000)
    context.set_default_navigation_timeout(10_000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield pg
        assert not errors, f"JavaScript-Fehler auf der Seite: {errors}"
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            target = e2e_tmp / f"{request.node.name}.png"
            try:
                pg.screenshot(path=str(target), full_page=True)
                print(f"Screenshot: {target}")
            except Exception as exc:  # the page may be gone; the failure itself matters
                print(f"Kein Screenshot: {exc}")
        context.close()
