"""One settings object, read lazily from the environment and validated once."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from decimal import Decimal, InvalidOperation
from pathlib import Path

from chalicelib.domain.supplier import (
    DEFAULT_SUPPLIER,
    SAMPLE_SELLER,
    Supplier,
    missing_supplier,
    parse_supplier,
)
from chalicelib.domain.validation import DEFAULT_MAX_INVOICE_GROSS_CENTS, DEFAULT_VAT_RATES

# The seller's data of each stage: chalicelib/seller/<stage>.json (docs/deploy.md).
SELLER_DIR = Path(__file__).parent / "seller"
STAGE_PREFIX = "sides-portal-"

TABLES = (
    "stores",
    "email_claims",
    "users",
    "invitations",
    "invoices",
    "counters",
    "support_requests",
    "rate_limits",
    "payments",
    "processed_events",
    "documents",
    "idempotency",
    "activity",
)


class ConfigError(RuntimeError):
    """A required setting is missing or malformed."""


@dataclasses.dataclass(frozen=True)
class Settings:
    prefix: str
    region: str
    aws_endpoint_url: str | None
    invoice_bucket: str
    user_pool_id: str
    user_pool_client_id: str
    event_bus_name: str
    mail_from: str
    support_email: str
    support_phone: str
    support_hours: str
    portal_url: str
    stripe_publishable_key: str
    stripe_js_url: str
    paypal_enabled: bool
    stripe_api_base: str | None = None
    paypal_api_base: str = "https://api-m.paypal.com"
    supplier: Supplier = DEFAULT_SUPPLIER
    invitation_ttl_days: int = 7
    payment_terms_days: int = 14
    dunning_grace_days: int = 14
    vat_rates: tuple[Decimal, ...] = DEFAULT_VAT_RATES
    max_invoice_gross_cents: int = DEFAULT_MAX_INVOICE_GROSS_CENTS

    @property
    def cursor_secret_name(self) -> str:
        return f"{self.prefix}/cursor-key"

    @property
    def stripe_secret_name(self) -> str:
        return f"{self.prefix}/stripe"

    @property
    def paypal_secret_name(self) -> str:
        return f"{self.prefix}/paypal"

    @property
    def origin_secret_name(self) -> str:
        return f"{self.prefix}/origin-secret"

    def table(self, name: str) -> str:
        if name not in TABLES:
            raise ConfigError(f"unknown table {name}")
        return f"{self.prefix}-{name}"

    @property
    def cognito_issuer(self) -> str:
        # The iss claim always has the AWS form, also on the local stand-in.
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"

    @property
    def jwks_url(self) -> str:
        base = (
            self.aws_endpoint_url.rstrip("/")
            if self.aws_endpoint_url
            else (f"https://cognito-idp.{self.region}.amazonaws.com")
        )
        return f"{base}/{self.user_pool_id}/.well-known/jwks.json"


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"setting {name} is missing")
    return value


def load_supplier(prefix: str, on_local_stand_in: bool) -> Supplier:
    """The stage's seller; never raises (checked on first use: an invalid one issues nothing).

    SELLER_CONFIG names a JSON file; otherwise chalicelib/seller/<stage>.json is read. A
    local stand-in (moto) without such a file uses the sample seller."""
    explicit = os.environ.get("SELLER_CONFIG", "").strip()
    stage = prefix.removeprefix(STAGE_PREFIX)
    path = Path(explicit) if explicit else SELLER_DIR / f"{stage}.json"
    if not path.exists():
        if on_local_stand_in and not explicit:
            return parse_supplier(SAMPLE_SELLER, source="Beispieldaten des lokalen Stacks")
        return missing_supplier(
            str(path), f"die Datei {path} mit den Verkäuferdaten der Stage „{stage}“ fehlt"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return missing_supplier(str(path), f"{path} ist kein lesbares JSON ({exc})")
    if not isinstance(data, dict):
        return missing_supplier(str(path), f"{path} enthält kein JSON-Objekt")
    return parse_supplier(data, source=str(path))


def _vat_rates() -> tuple[Decimal, ...]:
    raw = os.environ.get("VAT_RATES", "").strip()
    if not raw:
        return DEFAULT_VAT_RATES
    try:
        return tuple(sorted({Decimal(part.strip()) for part in raw.split(",")}))
    except InvalidOperation as exc:
        raise ConfigError("setting VAT_RATES is not a comma-separated list of numbers") from exc


def _max_gross() -> int:
    raw = os.environ.get("INVOICE_MAX_GROSS_CENTS", "").strip()
    if not raw:
        return DEFAULT_MAX_INVOICE_GROSS_CENTS
    if not raw.isdigit() or int(raw) <= 0:
        raise ConfigError("setting INVOICE_MAX_GROSS_CENTS is not a positive integer")
    return int(raw)


def load_settings() -> Settings:
    prefix = _required("PORTAL_PREFIX")
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or None
    return Settings(
        prefix=prefix,
        region=os.environ.get("AWS_REGION") or _required("AWS_DEFAULT_REGION"),
        aws_endpoint_url=endpoint,
        invoice_bucket=_required("INVOICE_BUCKET"),
        user_pool_id=_required("USER_POOL_ID"),
        user_pool_client_id=_required("USER_POOL_CLIENT_ID"),
        event_bus_name=_required("EVENT_BUS_NAME"),
        mail_from=_required("MAIL_FROM"),
        support_email=os.environ.get("SUPPORT_EMAIL", "support@sides.example"),
        support_phone=os.environ.get("SUPPORT_PHONE", "+49 30 1234567"),
        support_hours=os.environ.get("SUPPORT_HOURS", "Mo–Fr 9–18 Uhr"),
        portal_url=_required("PORTAL_URL").rstrip("/"),
        stripe_publishable_key=os.environ.get("STRIPE_PUBLISHABLE_KEY", ""),
        stripe_js_url=os.environ.get("STRIPE_JS_URL", "https://js.stripe.com/v3/"),
        paypal_enabled=os.environ.get("PAYPAL_ENABLED", "false").lower() == "true",
        stripe_api_base=os.environ.get("STRIPE_API_BASE") or None,
        paypal_api_base=os.environ.get("PAYPAL_API_BASE") or "https://api-m.paypal.com",
        supplier=load_supplier(prefix, on_local_stand_in=endpoint is not None),
        vat_rates=_vat_rates(),
        max_invoice_gross_cents=_max_gross(),
    )


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
