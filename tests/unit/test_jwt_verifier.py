"""The Cognito token check against a JWKS served on 127.0.0.1: keys, refusals, an absent pool."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib.adapters.jwt_verifier import CognitoTokenVerifier
from chalicelib.domain.errors import ServiceUnavailableError, UnauthorizedError

ISSUER = "https://cognito-idp.eu-central-1.amazonaws.com/eu-central-1_test"
CLIENT_ID = "portal-client"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Jwks:
    """Serves the public key as a JWKS, or a status of the test's choosing."""

    def __init__(self) -> None:
        self.status = 200
        self.requests = 0
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key()))
        body = json.dumps({"keys": [jwk | {"kid": "k1", "alg": "RS256", "use": "sig"}]}).encode()
        jwks = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                jwks.requests += 1
                payload = body if jwks.status == 200 else b"{}"
                self.send_response(jwks.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()


@pytest.fixture()
def jwks() -> Iterator[Jwks]:
    served = Jwks()
    yield served
    served.server.shutdown()
    served.server.server_close()


def token(kid: str = "k1", **claims: Any) -> str:
    now = int(time.time())
    body = {
        "sub": "user-1",
        "iss": ISSUER,
        "iat": now,
        "exp": now + 600,
        "token_use": "access",
        "client_id": CLIENT_ID,
    } | claims
    return jwt.encode(body, KEY, algorithm="RS256", headers={"kid": kid})


def test_a_token_signed_by_the_pool_names_its_user(jwks: Jwks) -> None:
    verifier = CognitoTokenVerifier(jwks.url, ISSUER, CLIENT_ID)

    assert verifier.verify(token()) == "user-1"
    assert verifier.verify(token()) == "user-1"
    assert jwks.requests == 1  # the keys are kept


@pytest.mark.parametrize(
    "forged",
    [
        token(kid="unknown"),
        token(token_use="id"),
        token(client_id="another-client"),
        token(iss="https://cognito-idp.eu-central-1.amazonaws.com/other"),
        token(exp=int(time.time()) - 60),
    ],
    ids=["unknown-kid", "id-token", "other-client", "other-issuer", "expired"],
)
def test_tokens_the_pool_did_not_issue_for_this_client_are_refused(jwks: Jwks, forged: str) -> None:
    with pytest.raises(UnauthorizedError):
        CognitoTokenVerifier(jwks.url, ISSUER, CLIENT_ID).verify(forged)


@pytest.mark.parametrize("status", [500, 503, 404])
def test_a_key_set_that_cannot_be_read_is_an_unavailable_dependency(
    jwks: Jwks, status: int
) -> None:
    jwks.status = status

    with pytest.raises(ServiceUnavailableError):
        CognitoTokenVerifier(jwks.url, ISSUER, CLIENT_ID).verify(token())


def test_a_pool_that_does_not_answer_is_unavailable_within_the_bound() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when the check runs
    verifier = CognitoTokenVerifier(f"http://127.0.0.1:{port}/jwks.json", ISSUER, CLIENT_ID)

    started = time.monotonic()
    with pytest.raises(ServiceUnavailableError):
        verifier.verify(token())
    assert time.monotonic() - started < 9
