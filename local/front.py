"""The local CloudFront stand-in: serves web/ at / and forwards /api/* to the API."""

from __future__ import annotations

import http.client
import json
import mimetypes
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "host"}
NOT_FOUND = json.dumps(
    {"error": {"code": "not_found", "message": "Diese Adresse gibt es nicht."}}
).encode()


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


class FrontServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, api_port: int, stripe_origin: str = "") -> None:
        self.api_port = api_port
        self.headers_out = security_headers(stripe_origin)
        super().__init__(("127.0.0.1", port), FrontHandler)


class FrontHandler(BaseHTTPRequestHandler):
    server: FrontServer
    protocol_version = "HTTP/1.1"

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

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["CloudFront-Viewer-Address"] = f"{self.client_address[0]}:{self.client_address[1]}"
        connection = http.client.HTTPConnection("127.0.0.1", self.server.api_port, timeout=60)
        try:
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            status = response.status
            out = {k: v for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP}
        finally:
            connection.close()
        out.pop("Content-Length", None)
        # API Gateway answers unknown routes with 403 "Missing Authentication Token";
        # the distribution's gateway response turns that into the contract's 404.
        # chalice local says 405 for a method a route lacks; API Gateway has no such route.
        unknown = b"Missing Authentication Token" in payload or b"MethodNotAllowedError" in payload
        if status in (403, 405) and unknown:
            status, payload, out = 404, NOT_FOUND, {"Content-Type": "application/json"}
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
            self._static()
        else:
            self._send(405, b"", {})

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = _handle


def start(port: int, api_port: int, stripe_origin: str = "") -> FrontServer:
    server = FrontServer(port, api_port, stripe_origin)
    threading.Thread(target=server.serve_forever, name="front", daemon=True).start()
    return server
