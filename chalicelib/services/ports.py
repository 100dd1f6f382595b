"""Ports: what the use cases need from the outside world (adapters implement them)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from chalicelib.domain.invitations import Invitation
from chalicelib.domain.invoices import Invoice, InvoiceStatus
from chalicelib.domain.payments import Payment, PaymentStatus
from chalicelib.domain.stores import OpenItem, SavedCard, Store
from chalicelib.domain.supplier import Supplier


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""


@dataclasses.dataclass(frozen=True)
class Tokens:
    access_token: str
    id_token: str
    refresh_token: str | None
    expires_in: int


@dataclasses.dataclass(frozen=True)
class Principal:
    """A verified signed-in user; the store comes from our membership record."""

    user_sub: str
    store_id: str
    access_token: str


class UserDirectory(Protocol):
    """The identity provider that alone holds passwords (Cognito)."""

    def create_user(self, email: str, password: str) -> str:
        """Create (or, after an interrupted accept, re-password) the user; return its sub."""

    def login(self, email: str, password: str) -> Tokens:
        """Raise InvalidCredentialsError for unknown e-mail and wrong password alike."""

    def refresh(self, refresh_token: str) -> Tokens: ...

    def logout(self, access_token: str) -> None: ...

    def forgot_password(self, email: str) -> None:
        """Send a reset code; silent for unknown addresses."""

    def reset_password(self, email: str, code: str, password: str) -> None: ...


class TokenVerifier(Protocol):
    def verify(self, token: str) -> str:
        """Return the user's sub of a valid access token; raise UnauthorizedError otherwise."""


class StoreRepository(Protocol):
    def get(self, store_id: str) -> Store | None: ...

    def add(self, store: Store) -> None:
        """Add a store and claim its e-mail atomically; raise EmailInUseError if taken."""

    def list_ids(self) -> list[str]: ...

    def list_all(self) -> list[Store]: ...

    def close(self, store_id: str, now: datetime) -> bool:
        """Mark the store closed (no more licence invoices); False if unknown or closed."""

    def set_payment_method(self, store_id: str, card: SavedCard | None) -> None:
        """Save the store's card, or remove it (which also turns autopay off)."""

    def set_autopay(self, store_id: str, enabled: bool) -> bool:
        """False if autopay should go on but no card is saved."""

    def update_open_item(self, store_id: str, item: OpenItem) -> bool:
        """Update dunning fields of an unsettled invoice; False once it is settled."""

    def set_customer_id(self, store_id: str, customer_id: str) -> str:
        """Remember the store's Stripe customer once; return the one that is kept."""

    def set_access(self, store_id: str, status: str, now: datetime) -> bool:
        """Set active/blocked; return False if it already had that status."""


class MembershipRepository(Protocol):
    def store_of(self, user_sub: str) -> str | None: ...

    def add(self, user_sub: str, store_id: str, email: str) -> None: ...


class InvitationRepository(Protocol):
    def get(self, token_hash: str) -> Invitation | None: ...

    def replace(self, invitation: Invitation) -> None:
        """Store a new pending invitation and revoke every earlier one of its store."""

    def claim(self, token_hash: str, now: datetime, lease_until: datetime) -> Invitation:
        """Move pending (or a stale accepting) to accepting; raise ConflictError if taken."""

    def release(self, token_hash: str) -> None:
        """Give an accepting invitation back (the accept failed before creating anything)."""

    def mark_used(self, token_hash: str, now: datetime) -> None: ...


@dataclasses.dataclass(frozen=True)
class InvoicePage:
    items: Sequence[Invoice]
    last_key: dict[str, Any] | None


class InvoiceRepository(Protocol):
    def get(self, invoice_id: str) -> Invoice | None: ...

    def next_number(self, year: int) -> int:
        """The number the next invoice of this year would get (read only)."""

    def add_numbered(self, invoice: Invoice, sequence: int) -> None:
        """Write the invoice and advance the year's counter to `sequence` in one transaction;
        raise ConflictError if another invoice took that number first."""

    def list_for_store(
        self, store_id: str, group: str | None, limit: int, start_key: dict[str, Any] | None
    ) -> InvoicePage: ...

    def move(self, invoice: Invoice, target: InvoiceStatus, now: datetime) -> Invoice:
        """Conditionally move the status forward (checks the status it leaves)."""


class DocumentStore(Protocol):
    def put_pdf(self, key: str, body: bytes) -> None: ...

    def presigned_download(self, key: str, filename: str, expires_in: int) -> str: ...


class PdfRenderer(Protocol):
    def __call__(self, invoice: Invoice, store: Store, supplier: Supplier) -> bytes: ...


@dataclasses.dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str


class Mailer(Protocol):
    def send(self, mail: Mail) -> None: ...


@dataclasses.dataclass(frozen=True)
class SupportRequest:
    id: str
    store_id: str
    subject: str
    message: str
    invoice_id: str | None
    created_at: datetime


class SupportRepository(Protocol):
    def add(self, request: SupportRequest) -> None: ...


class RateLimiter(Protocol):
    def blocked(self, keys: Sequence[tuple[str, int]], window_s: int) -> bool:
        """True if any key has reached its limit in the current window."""

    def hit(self, keys: Sequence[str], window_s: int) -> None:
        """Count one attempt against every key."""


class Secrets(Protocol):
    def get(self, name: str) -> str: ...


@dataclasses.dataclass(frozen=True)
class ProviderPayment:
    """A provider's view of one payment attempt, normalized.

    status: "pending" | "requires_action" | "succeeded" | "failed" | "canceled"
    (PayPal: CREATED/SAVED/PAYER_ACTION_REQUIRED → pending, APPROVED → requires_action
    (approved, capture still to do), COMPLETED → succeeded, VOIDED → canceled,
    capture DECLINED/DENIED → failed.)
    """

    provider_ref: str
    status: str
    amount_cents: int
    currency: str
    client_secret: str | None = None
    approve_url: str | None = None
    failure_code: str | None = None
    custom_id: str | None = None
    capture_id: str | None = None
    payment_method_id: str | None = None


class PayPalGateway(Protocol):
    """PayPal REST (OAuth2 client credentials, Orders v2, webhook verification)."""

    def create_order(
        self,
        *,
        payment_id: str,
        invoice_number: str,
        amount_cents: int,
        currency: str,
        return_url: str,
        cancel_url: str,
    ) -> ProviderPayment:
        """Create a CAPTURE order; `PayPal-Request-Id` is derived from payment_id and
        custom_id is payment_id, so a retry returns the same order."""

    def get_order(self, order_id: str) -> ProviderPayment: ...

    def capture_order(self, order_id: str, request_id: str) -> ProviderPayment:
        """Capture an approved order; the same request_id captures at most once."""

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Ask PayPal's verify-webhook-signature API; False on FAILURE or missing headers."""


class CardGateway(Protocol):
    """Stripe: customers, PaymentIntents and webhook signatures."""

    def ensure_customer(self, store_id: str, email: str, name: str) -> str:
        """The store's Stripe customer id (created once, idempotently)."""

    def create_intent(
        self,
        *,
        payment_id: str,
        amount_cents: int,
        currency: str,
        customer: str,
        metadata: Mapping[str, str],
        idempotency_key: str,
    ) -> ProviderPayment: ...

    def attach_card_and_confirm(
        self, intent_id: str, customer: str, token: str, idempotency_key: str
    ) -> ProviderPayment:
        """Store the tokenized card on the customer, put it on the intent and confirm."""

    def get_intent(self, intent_id: str) -> ProviderPayment: ...

    def find_intent(self, payment_id: str) -> ProviderPayment | None:
        """The intent created for one of our payments (by metadata), if any."""

    def cancel_intent(self, intent_id: str) -> ProviderPayment: ...

    def create_setup_intent(self, customer: str, store_id: str) -> str:
        """A SetupIntent (usage off_session) for saving a card; returns its client secret."""

    def succeeded_setup(self, setup_intent_id: str, customer: str) -> str | None:
        """The payment method of this customer's succeeded SetupIntent, else None."""

    def card_details(self, customer: str, method_id: str) -> SavedCard: ...

    def remove_card(self, customer: str, method_id: str) -> None: ...

    def charge_off_session(
        self,
        *,
        customer: str,
        method_id: str,
        amount_cents: int,
        currency: str,
        metadata: Mapping[str, str],
        idempotency_key: str,
    ) -> ProviderPayment:
        """Charge a saved card without the owner present (confirm=true, off_session=true)."""

    def parse_webhook(self, body: bytes, signature_header: str | None) -> Any:
        """Verify the Stripe-Signature and return the event dict; InvalidSignatureError
        or InvalidPayloadError otherwise."""


class PaymentLedger(Protocol):
    """Payments and the invoice states they drive, written together in transactions."""

    def get(self, payment_id: str) -> Payment | None: ...

    def list_for_invoice(self, invoice_id: str) -> list[Payment]: ...

    def open(self, payment: Payment) -> None:
        """Write the payment and move its invoice open → processing (active payment set);
        raise InvoiceNotPayableError if the invoice is not open."""

    def set_provider_ref(self, payment_id: str, ref: str, approve_url: str | None) -> Payment:
        """Remember the provider's id once; a second, different ref is refused (ConflictError)."""

    def mark(self, payment: Payment, status: PaymentStatus, now: datetime) -> Payment:
        """Move a payment between open statuses (pending ↔ requires_action)."""

    def settle_success(self, payment: Payment, now: datetime) -> bool:
        """Payment → succeeded and its invoice → paid (store balance updated) in one
        transaction; False if it already was."""

    def settle_failure(
        self, payment: Payment, status: PaymentStatus, failure_code: str | None, now: datetime
    ) -> bool:
        """Payment → failed/canceled and, if it was the invoice's active payment,
        invoice processing → open; False if nothing changed."""

    def mark_notified(self, payment_id: str) -> bool:
        """Remember that the follow-ups of a success ran; False if already remembered."""


@dataclasses.dataclass(frozen=True)
class DomainEvent:
    detail_type: str
    detail: dict[str, Any]


class EventPublisher(Protocol):
    def publish(self, events: Sequence[DomainEvent], source: str) -> None:
        """Put events on the bus; raise ServiceUnavailableError unless every entry landed."""


class ProcessedEvents(Protocol):
    def seen(self, event_id: str) -> bool: ...

    def remember(self, event_id: str, now: datetime) -> None: ...


@dataclasses.dataclass(frozen=True)
class ChargeRequest:
    """One store's automatic charge of one invoice (a message on the charge queue)."""

    store_id: str
    invoice_id: str
    period: str
    attempt: int = 1


class ChargeQueue(Protocol):
    def enqueue(self, requests: Sequence[ChargeRequest]) -> None: ...

    def in_flight(self) -> int:
        """Requests still waiting or being charged."""


class Metrics(Protocol):
    def count(self, name: str, value: int = 1) -> None:
        """Add to a business counter (payments, invoices, webhooks, retries)."""


class NoMetrics:
    """Metrics that go nowhere, for callers that do not report any."""

    def count(self, name: str, value: int = 1) -> None:
        return None


NO_METRICS = NoMetrics()
