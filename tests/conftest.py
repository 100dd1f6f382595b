"""Shared fixtures: one real moto server process per test session, provisioned from infra/."""

from __future__ import annotations

import os
import signal
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
# A busy machine may take long to let a process go; wait generously, then kill.
STOP_TIMEOUT_S = 30.0


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """terminate, wait (generously), kill, wait: never fails a test run on a slow machine."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_S)


def _ends_with_the_session() -> None:
    # A test session that is killed (CI's time limit, Ctrl-C twice) takes the AWS stand-in
    # with it instead of leaving it running.
    import ctypes

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


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
        preexec_fn=_ends_with_the_session,
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
        # MOTO_PID: for tests that pause the AWS stand-in (SIGSTOP) to prove bounded waits
        yield {**env, "MOTO_PID": str(process.pid)}
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    finally:
        stop_process(process)


@pytest.fixture()
def container(aws_stack: dict[str, str]) -> Any:
    """The real object graph on moto, fresh per test (adapters are cheap to rebuild)."""
    from chalicelib.bootstrap import get_container
    from chalicelib.config import get_settings

    get_settings.cache_clear()
    get_container.cache_clear()
    return get_container()


@pytest.fixture(scope="session")
def cdn_secret(aws_stack: dict[str, str]) -> str:
    """The origin secret CloudFront sends (tests/cloudfront.py)."""
    from tests.cloudfront import origin_secret

    return origin_secret()


@pytest.fixture()
def api(container: Any, cdn_secret: str) -> Iterator[Any]:
    """chalice's test client; its requests come through the CDN (origin secret added)."""
    from app import app
    from tests.cloudfront import CloudFrontClient

    with CloudFrontClient(app, cdn_secret) as client:
        yield client


@pytest.fixture(scope="session")
def providers(aws_stack: dict[str, str]) -> Iterator[dict[str, Any]]:
    """localstripe and the PayPal sandbox, with their keys in Secrets Manager as in AWS."""
    import json

    import boto3

    from chalicelib.config import get_settings
    from local.paypal_sandbox import PayPalSandbox
    from local.stack import (
        PAYPAL_CLIENT_ID,
        PAYPAL_CLIENT_SECRET,
        STRIPE_SECRET_KEY,
        free_port,
        wait_until_up,
    )

    port = free_port()
    stripe_url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "localstripe"), "--port", str(port), "--from-scratch"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sandbox = PayPalSandbox(PAYPAL_CLIENT_ID, PAYPAL_CLIENT_SECRET).start()
    try:
        wait_until_up(f"{stripe_url}/js.stripe.com/v3/")
        webhook_id = sandbox.register_webhook("http://127.0.0.1:9/unused")
        os.environ.update(
            {
                "STRIPE_API_BASE": stripe_url,
                "PAYPAL_API_BASE": sandbox.url,
                "PAYPAL_ENABLED": "true",
            }
        )
        get_settings.cache_clear()
        settings = get_settings()
        client = boto3.client("secretsmanager", region_name=REGION)
        webhook_secret = "whsec_test_local_integration"
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
        yield {
            "stripe_url": stripe_url,
            "stripe_webhook_secret": webhook_secret,
            "paypal": sandbox,
            "paypal_webhook_id": webhook_id,
        }
    finally:
        sandbox.stop()
        stop_process(process)
