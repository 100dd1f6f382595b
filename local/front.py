"""The local CloudFront stand-in: serves web/ at / and forwards /api/* to the API.

Like the distribution in AWS it adds the origin secret and the viewer's address to every
request it forwards, after removing whatever a client sent under those names (in any case),
and it answers every request itself when the API cannot: 405 for methods it does not
forward, 400 for a malformed request, 502 when the API is down and 504 when it is slow.
"""

from __future__ import annotations

import http.client
import json
import mimetypes
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "host"}
# Set by the distribution only; a client's own values never reach the API.
ORIGIN_HEADER = "X-Origin-Verify"
VIEWER_ADDRESS = "CloudFront-Viewer-Address"
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH")
MAX_BODY_BYTES = 64 * 1024
DRAIN_LIMIT_BYTES = 10 * 1024 * 1024  # API Gateway's own limit
# API Gateway gives up on an integration after 29 s, CloudFront on its origin after 30 s.
API_TIMEOUT_S = 30.0
# A client that announces more body than it sends is not waited for longer than this.
CLIENT_TIMEOUT_S = 15.0


def _error(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


NOT_FOUND = _error("not_found", "Diese Adresse gibt es nicht.")
METHOD_NOT_ALLOWED = _error("method_not_allowed", "Diese Methode wird hier nicht unterstützt.")
BAD_REQUEST = _error("invalid_request", "Die Anfrage ist ungültig.")
TOO_LARGE = _error("payload_too_large", "Die Anfrage ist zu groß.")
BAD_GATEWAY = _error(
    "bad_gateway", "Der Dienst ist gerade nicht erreichbar. Bitte versuche es gleich noch einmal."
)
GATEWAY_TIMEOUT = _error(
    "gateway_timeout", "Der Dienst hat nicht rechtzeitig geantwortet. Bitte versuche es erneut."
)
NOT_READY = _error(
    "service_unavailable", "Der Dienst startet gerade. Bitte versuche es gleich noch einmal."
)
JSON = {"Content-Type": "application/json", "Cache-Control": "no-store"}


def security_headers(stripe_origin: str) -> dict[str, str]:
    """The response headers the CloudFront distribution sets in AWS."""
    csp = (
        "default-src 'self'; "
        f"script-src 'self' {stripe_origin}; "
        f"frame-src 'self' {stripe_origin}; "
        f"connect-src 'self' {stripe_origin}; "
        "img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    }


def _set_by_distribution(name: str) -> bool:
    lowered = name.strip().lower()
    return lowered == ORIGIN_HEADER.lower() or lowered.startswith("cloudfront-")


class FrontServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A browser that drops its connection mid-answer is no error of the server's.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def __init__(
        self,
        port: int,
        api_port: int,
        stripe_origin: str = "",
        origin_secret: str = "",
        api_timeout_s: float = API_TIMEOUT_S,
        ready: bool = True,
        client_timeout_s: float = CLIENT_TIMEOUT_S,
    ) -> None:
        self.client_timeout_s = client_timeout_s
        self.api_port = api_port
        self.origin_secret = origin_secret
        self.api_timeout_s = api_timeout_s
        self.headers_out = security_headers(stripe_origin)
        # /api/health answers ok only once the whole stack is ready (seeded, state written)
        self.ready = threading.Event()
        if ready:
            self.ready.set()
        super().__init__(("127.0.0.1", port), FrontHandler)


class FrontHandler(BaseHTTPRequestHandler):
    server: FrontServer
    protocol_version = "HTTP/1.1"
    timeout = CLIENT_TIMEOUT_S  # socket timeout for reading a request

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.client_timeout_s)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # paths can carry identifiers; the stack logs nothing per request

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in {**self.server.headers_out, **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _refuse(self, status: int, body: bytes, extra: dict[str, str] | None = None) -> None:
        """Answer an error and close: after a malformed request the stream is not trusted."""
        self.close_connection = True
        self._send(status, body, {**JSON, "Connection": "close", **(extra or {})})

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # The base class answers malformed request lines and headers with an HTML page.
        body = TOO_LARGE if code in (413, 414, 431) else BAD_REQUEST
        status = 413 if body is TOO_LARGE else 400
        if getattr(self, "command", None) is None:
            self.command = "GET"
        if not hasattr(self, "request_version"):
            self.request_version = self.default_request_version
        try:
            self._refuse(status, body)
        except OSError:
            pass

    def _body(self) -> bytes | None:
        """The request body, or None after answering a malformed or oversized one."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self._refuse(400, BAD_REQUEST)  # CloudFront forwards bodies with a length only
            return None
        values = self.headers.get_all("Content-Length") or []
        if not values:
            return b""
        if len(set(values)) != 1 or not values[0].strip().isascii():
            self._refuse(400, BAD_REQUEST)
            return None
        raw = values[0].strip()
        if not raw.isdigit() or len(raw) > 12:
            self._refuse(400, BAD_REQUEST)
            return None
        length = int(raw)
        if length > MAX_BODY_BYTES:
            # Read what the client sends (up to a bound) before answering, so that it sees
            # the answer instead of a reset connection.
            if length <= DRAIN_LIMIT_BYTES:
                try:
                    self.rfile.read(length)
                except OSError:
                    pass
            self._refuse(413, TOO_LARGE)
            return None
        try:
            body = self.rfile.read(length) if length else b""
        except (TimeoutError, OSError):
            body = b""
        if len(body) != length:  # the client sent less than it announced
            self._refuse(400, BAD_REQUEST)
            return None
        return body

    def _forward(self) -> None:
        body = self._body()
        if body is None:
            return
        if urlsplit(self.path).path == "/api/health" and not self.server.ready.is_set():
            self._send(503, NOT_READY, {**JSON, "Retry-After": "1"})
            return
        headers = {
            k: v
            for k, v in self.headers.items()
            if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"
            and not _set_by_distribution(k)
        }  # fmt: skip
        headers[VIEWER_ADDRESS] = f"{self.client_address[0]}:{self.client_address[1]}"
        headers[ORIGIN_HEADER] = self.server.origin_secret
        connection = http.client.HTTPConnection(
            "127.0.0.1", self.server.api_port, timeout=self.server.api_timeout_s
        )
        try:
            connection.request(self.command, self.path, body=body or None, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            status = response.status
            out = {k: v for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP}
        except TimeoutError:
            self._send(504, GATEWAY_TIMEOUT, dict(JSON))
            return
        except (OSError, http.client.HTTPException):
            self._send(502, BAD_GATEWAY, dict(JSON))
            return
        finally:
            connection.close()
        out.pop("Content-Length", None)
        # API Gateway answers unknown routes with 403 "Missing Authentication Token" (with an
        # Authorization header: "…requires 'Credential'…", echoing the header); the gateway
        # response MISSING_AUTHENTICATION_TOKEN turns either into the contract's 404.
        # chalice local says 405 for a method a route lacks; API Gateway has no such route.
        unknown = any(
            marker in payload
            for marker in (
                b"Missing Authentication Token",
                b"Authorization header requires",
                b"MethodNotAllowedError",
            )
        )
        if status in (403, 405) and unknown:
            status, payload, out = 404, NOT_FOUND, dict(JSON)
        self._send(status, payload, out)

    def _static(self) -> None:
        path = urlsplit(self.path).path
        relative = "index.html" if path in ("", "/") else path.lstrip("/")
        target = (WEB_ROOT / relative).resolve()
        if not target.is_file() or WEB_ROOT not in target.parents:
            self._send(404, b"Nicht gefunden", {"Content-Type": "text/plain; charset=utf-8"})
            return
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind.endswith("javascript"):
            kind += "; charset=utf-8"
        cache = "no-cache" if target.name == "index.html" else "public, max-age=300"
        self._send(200, target.read_bytes(), {"Content-Type": kind, "Cache-Control": cache})

    def _handle(self) -> None:
        if self.path.startswith("/api/") or self.path == "/api":
            self._forward()
        elif self.command in ("GET", "HEAD"):
            if self._body() is not None:
                self._static()
        else:
            self._not_allowed()

    def _not_allowed(self) -> None:
        self._refuse(405, METHOD_NOT_ALLOWED, {"Allow": ", ".join(METHODS)})

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    def __getattr__(self, name: str) -> Any:
        # Any other method (OPTIONS, TRACE, CONNECT, made-up ones) gets the contract's 405
        # instead of the base class's HTML 501.
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)


def start(
    port: int,
    api_port: int,
    stripe_origin: str = "",
    origin_secret: str = "",
    ready: bool = True,
    api_timeout_s: float = API_TIMEOUT_S,
    client_timeout_s: float = CLIENT_TIMEOUT_S,
) -> FrontServer:
    server = FrontServer(
        port,
        api_port,
        stripe_origin,
        origin_secret=origin_secret,
        api_timeout_s=api_timeout_s,
        ready=ready,
        client_timeout_s=client_timeout_s,
    )
    threading.Thread(target=server.serve_forever, name="front", daemon=True).start()
    return server
