"""Shared fixtures: one real moto server process per test session, provisioned from infra/."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

REGION = "eu-central-1"


@pytest.fixture(scope="session")
def aws_stack() -> Iterator[dict[str, str]]:
    """A moto server (with Cognito's e-mail delivery emulated), provisioned like the stack."""
    from local.stack import MAIL_FROM, free_port, wait_until_up

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "local.aws", "--port", str(port), "--mail-from", MAIL_FROM],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_up(f"{endpoint}/moto-api/data.json")
        from local.provision import provision, settings_env

        outputs = provision("test", endpoint_url=endpoint, region=REGION)
        env = {
            **settings_env(outputs, endpoint),
            "PORTAL_URL": "http://127.0.0.1:8000",
            "MAIL_FROM": MAIL_FROM,
            "SUPPORT_EMAIL": "support@sides.example",
        }
        saved = {key: os.environ.get(key) for key in env}
        os.environ.update(env)
        yield env
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture()
def container(aws_stack: dict[str, str]) -> Any:
    """The real object graph on moto, fresh per test (adapters are cheap to rebuild)."""
    from chalicelib.bootstrap import get_container
    from chalicelib.config import get_settings

    get_settings.cache_clear()
    get_container.cache_clear()
    return get_container()


@pytest.fixture()
def api(container: Any) -> Iterator[Any]:
    from chalice.test import Client

    from app import app

    with Client(app) as client:
        yield client
