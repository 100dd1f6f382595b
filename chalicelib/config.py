"""One settings object, read lazily from the environment and validated once."""

from __future__ import annotations

import dataclasses
import functools
import os

from chalicelib.domain.supplier import DEFAULT_SUPPLIER, Supplier

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
    "idempotency",
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

    @property
    def cursor_secret_name(self) -> str:
        return f"{self.prefix}/cursor-key"

    @property
    def stripe_secret_name(self) -> str:
        return f"{self.prefix}/stripe"

    @property
    def paypal_secret_name(self) -> str:
        return f"{self.prefix}/paypal"

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


def load_settings() -> Settings:
    return Settings(
        prefix=_required("PORTAL_PREFIX"),
        region=os.environ.get("AWS_REGION") or _required("AWS_DEFAULT_REGION"),
        aws_endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None,
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
    )


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
