"""A rate-limited, Stripe-compatible stand-in for exactly the calls the monthly charge makes.

Why not localstripe: it pickles its whole store to disk after every POST and ignores
Idempotency-Key; measured here, a confirmed off-session PaymentIntent took ~16 ms at first
and ~215 ms after 500 of them (growing with every charge), so 10,000 charges would take
hours and a duplicate would never be answered like Stripe answers it.

What it serves (form-encoded bodies, as the stripe SDK sends them):

    POST /v1/payment_intents          confirm=true → a succeeded PaymentIntent
    GET  /v1/payment_intents/{id}
    GET  /v1/payment_intents/search   (metadata['payment_id']:'…' only, as the gateway asks)
    GET  /v1/payment_intents          (list, newest first)
    POST /v1/customers

Behaviour that matters for the measurement:

- Every request passes a token bucket of `rate` requests/s (burst `burst`). Above it the
  answer is 429 with `Stripe-Should-Retry: true` and `Retry-After`; a refused request takes
  no token and leaves no idempotency record (as at Stripe).
- `Retry-After`: RFC 9110 defines it as whole seconds and that is what real servers send,
  so `integer` (the default) answers ceil(wait) ≥ 1 s; `exact` answers the bucket's exact
  wait in seconds with millisecond precision (e.g. `0.013`), which our gateway also parses.
- Every answer, 429s included, is delayed by `latency_ms` (asyncio sleep, no lock held).
- Idempotency-Key: the same key with the same parameters replays the first answer
  (`Idempotent-Replayed: true`) and makes no new charge; with other parameters it is a 400
  `idempotency_error`. Keys are scoped to the API key, as at Stripe.
- Each charge is counted per `metadata[invoice_id]`, so duplicates are visible.
- `lost_responses` (a fraction): the charge is made and recorded, then the connection is
  dropped instead of answering, as when a network or Lambda timeout loses Stripe's answer.
  Which keys lose their answer is a deterministic function of the key; replays never do.

Observed through `GET /_bench/stats`, `GET /_bench/charges` (charges per invoice id) and
`POST /_bench/intents` (the succeeded intents of given invoices, to replay their webhooks);
`POST /_bench/config` changes rate/latency/burst at
run time (used to measure the store path with an unlimited provider).

Run: python bench/rate_limited_stripe.py --port 12111 --rate 100 --latency-ms 50
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import hashlib
import json
import math
import secrets
import time
import urllib.parse
from typing import Any

from aiohttp import web

UNLIMITED = 0.0  # rate 0 means no limit


class TokenBucket:
    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, burst)
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def take(self, now: float) -> float:
        """0.0 when a token was taken, else the seconds until one will be free."""
        if self.rate <= UNLIMITED:
            return 0.0
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


def parse_form(body: bytes) -> dict[str, Any]:
    """`a=1&metadata[k]=v&types[0]=card` → {"a": "1", "metadata": {"k": "v"}, "types": [...]}"""
    result: dict[str, Any] = {}
    for key, value in urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True):
        name, _, rest = key.partition("[")
        if not rest:
            result[name] = value
            continue
        inner = rest.rstrip("]")
        if inner.isdigit() or inner == "":
            result.setdefault(name, []).append(value)
        else:
            result.setdefault(name, {})[inner] = value
    return result


def _error(status: int, kind: str, message: str, code: str | None = None) -> web.Response:
    error: dict[str, Any] = {"type": kind, "message": message}
    if code:
        error["code"] = code
    return web.json_response({"error": error}, status=status)


class StripeStandIn:
    def __init__(
        self,
        rate: float,
        latency_ms: float,
        burst: float | None,
        retry_after: str,
        lost_responses: float,
    ) -> None:
        self.latency = latency_ms / 1000.0
        self.bucket = TokenBucket(rate, burst if burst is not None else max(1.0, rate / 10))
        self.retry_after = retry_after
        self.lost_responses = lost_responses
        self.intents: dict[str, dict[str, Any]] = {}
        self.customers: dict[str, dict[str, Any]] = {}
        # (api key, idempotency key) → (fingerprint, status, body)
        self.idempotent: dict[tuple[str, str], tuple[str, int, bytes]] = {}
        self.charges_by_invoice: collections.Counter[str] = collections.Counter()
        self.intents_by_invoice: dict[str, list[str]] = collections.defaultdict(list)
        self.counts: collections.Counter[str] = collections.Counter()
        self.first_charge_at: float | None = None
        self.last_charge_at: float | None = None

    # -- plumbing ---------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(client_max_size=1024**2)
        app.router.add_get("/_bench/stats", self.stats)
        app.router.add_get("/_bench/charges", self.charges)
        app.router.add_post("/_bench/intents", self.intents_of)
        app.router.add_post("/_bench/config", self.config)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        self.counts["requests"] += 1
        body = await request.read()
        api_key = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not api_key.startswith("sk_"):
            await asyncio.sleep(self.latency)
            return _error(401, "invalid_request_error", "Invalid API Key provided")
        wait = self.bucket.take(arrived)
        if wait > 0.0:
            self.counts["rate_limited"] += 1
            await asyncio.sleep(self.latency)
            return self._too_many(wait)
        self.counts["admitted"] += 1
        response, lose = self._dispatch(request, api_key, body)
        await asyncio.sleep(self.latency)
        if lose and request.transport is not None:
            self.counts["lost_responses"] += 1
            request.transport.abort()  # the charge is made; the caller never hears of it
        return response

    def _too_many(self, wait: float) -> web.Response:
        if self.retry_after == "integer":
            header = str(max(1, math.ceil(wait)))
        else:
            header = f"{max(0.001, wait):.3f}"
        response = _error(
            429,
            "invalid_request_error",
            "Too many requests hit the API too quickly.",
            code="rate_limit",
        )
        response.headers["Retry-After"] = header
        response.headers["Stripe-Should-Retry"] = "true"
        return response

    def _dispatch(
        self, request: web.Request, api_key: str, body: bytes
    ) -> tuple[web.Response, bool]:
        path = request.path.rstrip("/")
        if request.method == "GET" and path == "/v1/payment_intents/search":
            return self._search_intents(request.query.get("query", "")), False
        if request.method == "GET" and path == "/v1/payment_intents":
            return self._list_intents(request.query), False
        if request.method == "GET" and path.startswith("/v1/payment_intents/"):
            return self._get_intent(path.rsplit("/", 1)[1]), False
        if request.method == "POST" and path in ("/v1/payment_intents", "/v1/customers"):
            return self._idempotent(request, api_key, path, body)
        return _error(404, "invalid_request_error", f"Unrecognized request URL ({path})"), False

    def _idempotent(
        self, request: web.Request, api_key: str, path: str, body: bytes
    ) -> tuple[web.Response, bool]:
        key = request.headers.get("Idempotency-Key")
        params = parse_form(body)
        fingerprint = hashlib.sha256(
            json.dumps([path, params], sort_keys=True).encode()
        ).hexdigest()
        if key is not None and (api_key, key) in self.idempotent:
            first, status, payload = self.idempotent[(api_key, key)]
            if first != fingerprint:
                self.counts["idempotency_conflicts"] += 1
                message = "Keys for idempotent requests can only be used with the same parameters"
                return _error(400, "idempotency_error", message), False
            self.counts["replays"] += 1
            response = web.Response(status=status, body=payload, content_type="application/json")
            response.headers["Idempotent-Replayed"] = "true"
            return response, False
        create = self._create_intent if path == "/v1/payment_intents" else self._create_customer
        status, data = create(params)
        payload = json.dumps(data).encode()
        if key is not None:
            self.idempotent[(api_key, key)] = (fingerprint, status, payload)
        lose = (
            status == 200 and path == "/v1/payment_intents" and key is not None and self._loses(key)
        )
        return web.Response(status=status, body=payload, content_type="application/json"), lose

    def _loses(self, key: str) -> bool:
        if self.lost_responses <= 0:
            return False
        bucket = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        return bucket < self.lost_responses

    # -- resources --------------------------------------------------------------------
    def _create_intent(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        try:
            amount = int(params["amount"])
            currency = str(params["currency"]).lower()
        except (KeyError, ValueError):
            return 400, {
                "error": {
                    "type": "invalid_request_error",
                    "code": "parameter_missing",
                    "message": "amount and currency are required",
                }
            }
        intent_id = "pi_" + secrets.token_hex(12)
        confirm = str(params.get("confirm", "")).lower() == "true"
        method = params.get("payment_method")
        if confirm and method:
            status = "succeeded"
        elif method:
            status = "requires_confirmation"
        else:
            status = "requires_payment_method"
        metadata = params.get("metadata") or {}
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": amount if status == "succeeded" else 0,
            "currency": currency,
            "customer": params.get("customer"),
            "payment_method": method,
            "payment_method_types": params.get("payment_method_types") or ["card"],
            "status": status,
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(8)}",
            "metadata": metadata,
            "last_payment_error": None,
            "livemode": False,
            "created": int(time.time()),
        }
        self.intents[intent_id] = intent
        self.counts["intents_created"] += 1
        if status == "succeeded":
            self.counts["charges"] += 1
            self.charges_by_invoice[str(metadata.get("invoice_id", "?"))] += 1
            self.intents_by_invoice[str(metadata.get("invoice_id", "?"))].append(intent_id)
            now = time.monotonic()
            self.first_charge_at = self.first_charge_at or now
            self.last_charge_at = now
        return 200, intent

    def _create_customer(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        customer = {
            "id": "cus_" + secrets.token_hex(7),
            "object": "customer",
            "email": params.get("email"),
            "name": params.get("name"),
            "metadata": params.get("metadata") or {},
            "livemode": False,
            "created": int(time.time()),
        }
        self.customers[customer["id"]] = customer
        self.counts["customers_created"] += 1
        return 200, customer

    def _get_intent(self, intent_id: str) -> web.Response:
        intent = self.intents.get(intent_id)
        if intent is None:
            return _error(
                404,
                "invalid_request_error",
                f"No such payment_intent: '{intent_id}'",
                code="resource_missing",
            )
        return web.json_response(intent)

    def _search_intents(self, query: str) -> web.Response:
        """Only the query the gateway sends: metadata['payment_id']:'<id>'. Stripe's search
        is eventually consistent (usually within a minute); this one is immediate."""
        self.counts["searches"] += 1
        prefix, _, rest = query.partition(":")
        key = prefix.removeprefix("metadata['").removesuffix("']")
        value = rest.strip("'")
        if not prefix.startswith("metadata['") or not value:
            return _error(400, "invalid_request_error", f"Unsupported search query: {query}")
        found = [i for i in self.intents.values() if i["metadata"].get(key) == value]
        return web.json_response(
            {
                "object": "search_result",
                "url": "/v1/payment_intents/search",
                "data": found,
                "has_more": False,
                "next_page": None,
            }
        )

    def _list_intents(self, query: Any) -> web.Response:
        """Newest first, `limit` and `starting_after`, as Stripe lists."""
        self.counts["lists"] += 1
        ordered = list(reversed(self.intents.values()))
        after = query.get("starting_after")
        if after:
            ids = [i["id"] for i in ordered]
            ordered = ordered[ids.index(after) + 1 :] if after in ids else []
        limit = max(1, min(100, int(query.get("limit", 10))))
        return web.json_response(
            {
                "object": "list",
                "url": "/v1/payment_intents",
                "data": ordered[:limit],
                "has_more": len(ordered) > limit,
            }
        )

    # -- observation ------------------------------------------------------------------
    async def stats(self, request: web.Request) -> web.Response:
        duplicates = {k: n for k, n in self.charges_by_invoice.items() if n > 1}
        span = (
            (self.last_charge_at - self.first_charge_at)
            if self.first_charge_at is not None and self.last_charge_at is not None
            else 0.0
        )
        return web.json_response(
            {
                **{
                    name: self.counts[name]
                    for name in (
                        "requests",
                        "searches",
                        "lists",
                        "admitted",
                        "rate_limited",
                        "charges",
                        "intents_created",
                        "customers_created",
                        "replays",
                        "idempotency_conflicts",
                        "lost_responses",
                    )
                },
                "invoices_charged": len(self.charges_by_invoice),
                "duplicate_invoices": len(duplicates),
                "extra_charges": sum(n - 1 for n in duplicates.values()),
                "duplicate_examples": sorted(duplicates)[:5],
                "charge_span_s": span,
                "rate": self.bucket.rate,
                "burst": self.bucket.capacity,
                "latency_ms": self.latency * 1000,
                "retry_after": self.retry_after,
            }
        )

    async def charges(self, request: web.Request) -> web.Response:
        """Charges made per metadata[invoice_id]."""
        return web.json_response(dict(self.charges_by_invoice))

    async def intents_of(self, request: web.Request) -> web.Response:
        """{"invoice_ids": [...]} → the succeeded PaymentIntents of each of those invoices."""
        wanted = (await request.json()).get("invoice_ids", [])
        return web.json_response(
            {
                invoice_id: [self.intents[i] for i in self.intents_by_invoice.get(invoice_id, [])]
                for invoice_id in wanted
            }
        )

    async def config(self, request: web.Request) -> web.Response:
        data = await request.json()
        if "latency_ms" in data:
            self.latency = float(data["latency_ms"]) / 1000.0
        if "rate" in data:
            rate = float(data["rate"])
            burst = float(data.get("burst") or max(1.0, rate / 10))
            self.bucket = TokenBucket(rate, burst)
        if "lost_responses" in data:
            self.lost_responses = float(data["lost_responses"])
        return await self.stats(request)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, default=100.0, help="requests/s; 0 = unlimited")
    parser.add_argument("--burst", type=float, default=None, help="bucket size (rate/10)")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--retry-after", choices=("integer", "exact"), default="integer")
    parser.add_argument("--lost-responses", type=float, default=0.0)
    args = parser.parse_args()
    standin = StripeStandIn(
        args.rate, args.latency_ms, args.burst, args.retry_after, args.lost_responses
    )
    web.run_app(
        standin.app(),
        host="127.0.0.1",
        port=args.port,
        print=None,
        access_log=None,
        handle_signals=True,
    )


if __name__ == "__main__":
    main()
