"""The local CloudFront stand-in answers everything, and only it sets the CDN's headers."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from local import front

SECRET = "s" * 64


class _Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[list[tuple[str, str]]] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        type(self).seen.append(list(self.headers.items()))
        payload = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture()
def upstream() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    _Upstream.seen = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()


def _start(api_port: int, **options: Any) -> front.FrontServer:
    return front.start(_free_port(), api_port, origin_secret=SECRET, **options)


def _raw(port: int, request: bytes, wait_s: float = 10.0) -> tuple[int, dict[str, Any]]:
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(payload) if payload else {}


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


def test_client_sent_cdn_headers_are_replaced_in_any_case(upstream):
    server = _start(upstream)
    try:
        status, _ = _raw(
            server.server_address[1],
            b"GET /api/health HTTP/1.1\r\nHost: x\r\n"
            b"cloudfront-viewer-address: 6.6.6.6:1\r\nCLOUDFRONT-VIEWER-ADDRESS: 7.7.7.7:1\r\n"
            b"CloudFront-Viewer-Country: XX\r\nx-origin-verify: forged\r\n"
            b"Connection: close\r\n\r\n",
        )
    finally:
        server.shutdown()
    assert status == 200
    (headers,) = _Upstream.seen
    viewer = [v for k, v in headers if k.lower() == "cloudfront-viewer-address"]
    origin = [v for k, v in headers if k.lower() == "x-origin-verify"]
    assert len(viewer) == 1 and viewer[0].startswith("127.0.0.1:")
    assert origin == [SECRET]
    assert not [k for k, _ in headers if k.lower() == "cloudfront-viewer-country"]


@pytest.mark.parametrize("method", [b"OPTIONS", b"TRACE", b"CONNECT", b"PROPFIND", b"BREW"])
def test_unknown_methods_get_405_in_the_contracts_shape(upstream, method):
    server = _start(upstream)
    try:
        status, payload = _raw(
            server.server_address[1], method + b" /api/health HTTP/1.1\r\nHost: x\r\n\r\n"
        )
    finally:
        server.shutdown()
    assert status == 405
    assert payload["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    "length", [b"abc", b"-1", b"1e3", b"5, 6", b"\xd9\xa1", b"99999999999999999999"]
)
def test_a_malformed_content_length_gets_400(upstream, length):
    server = _start(upstream)
    try:
        status, payload = _raw(
            server.server_address[1],
            b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: "
            + length
            + b"\r\n\r\n{}",
        )
    finally:
        server.shutdown()
    assert status in (400, 413)
    assert payload["error"]["code"] in ("invalid_request", "payload_too_large")


def test_a_body_shorter_than_announced_is_answered_not_hung(upstream):
    server = _start(upstream, client_timeout_s=1.0)
    try:
        status, payload = _raw(
            server.server_address[1],
            b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{}",
        )
    finally:
        server.shutdown()
    assert status == 400 and payload["error"]["code"] == "invalid_request"


def test_the_api_down_gives_502():
    server = _start(_free_port())  # nobody listens there
    try:
        status, payload = _raw(server.server_address[1], b"GET /api/health HTTP/1.1\r\n\r\n")
    finally:
        server.shutdown()
    assert status == 502 and payload["error"]["code"] == "bad_gateway"


def test_a_slow_api_gives_504():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)  # accepts connections, never answers
    server = _start(silent.getsockname()[1], api_timeout_s=1.0)
    try:
        status, payload = _raw(server.server_address[1], b"GET /api/health HTTP/1.1\r\n\r\n")
    finally:
        server.shutdown()
        silent.close()
    assert status == 504 and payload["error"]["code"] == "gateway_timeout"


def test_health_is_not_ok_until_the_stack_is_ready(upstream):
    server = _start(upstream, ready=False)
    try:
        port = server.server_address[1]
        status, payload = _raw(port, b"GET /api/health HTTP/1.1\r\nConnection: close\r\n\r\n")
        assert status == 503 and payload["error"]["code"] == "service_unavailable"
        server.ready.set()
        status, payload = _raw(port, b"GET /api/health HTTP/1.1\r\nConnection: close\r\n\r\n")
        assert status == 200 and payload == {"status": "ok"}
    finally:
        server.shutdown()
