"""Ports: what the use cases need from the outside world (adapters implement them)."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

# The ports name domain types only in signatures: importing a port loads no domain module,
# so a cold container loads just the ones its request uses.
if TYPE_CHECKING:
    from chalicelib.domain.documents import Document, Refund
    from chalicelib.domain.einvoice import EInvoiceFiles
    from chalicelib.domain.events import DomainEvent
    from chalicelib.domain.invitations import Invitation
    from chalicelib.domain.invoices import Invoice, InvoiceStatus
    from chalicelib.domain.payments import Payment, PaymentStatus, ProviderUpdate
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
class DownloadLink:
    """A short-lived link to one stored file, and the name it is saved under."""

    url: str
    expires_in: int
    filename: str


# How long a download link works: long enough to start the download, short enough that a
# forwarded link is of no use.
LINK_SECONDS = 300


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

    def issued_at(self, token: str) -> int:
        """When a token that verify() accepted was issued (epoch seconds, its iat)."""


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
        """Remember the store's customer at the card vault once; return the one that is kept."""

    def set_access(self, store_id: str, status: str, now: datetime) -> bool:
        """Set active/blocked; return False if it already had that status."""

    def update_details(self, store: Store, new_email: str | None) -> None:
        """Write name, address and VAT ID of `store`; with new_email also move the
        one-address-one-store claim to it in the same transaction (EmailInUseError if the
        address belongs to another store, ConflictError if the store changed meanwhile)."""

    def invited(self, store_id: str) -> bool:
        """Whether an invitation to the portal was ever sent for this store."""


@dataclasses.dataclass(frozen=True)
class Member:
    """A user's membership: its store and when it last signed out (epoch seconds)."""

    store_id: str
    signed_out_at: int | None = None


class MembershipRepository(Protocol):
    def store_of(self, user_sub: str) -> str | None: ...

    def member(self, user_sub: str) -> Member | None:
        """The membership in one read (the signed-in read path's only membership call)."""

    def sign_out(self, user_sub: str, at: int) -> None:
        """Tokens of this user issued before `at` (epoch seconds) are no longer accepted."""

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

    def issue(self, invoice: Invoice, render_until: datetime) -> tuple[Invoice, bool]:
        """Take the next number of the invoice's year and write it, not ready (its files do
        not exist yet) and leased to this caller for rendering until `render_until`, with
        its store's open item, in one transaction; another issuer's number is retried with
        the next one. If an invoice with this id exists: that one and False (nothing
        written). StoreNotFoundError if the store does not exist."""

    def claim_render(self, invoice_id: str, now: datetime, until: datetime) -> bool:
        """Take over rendering the files of an invoice that is not ready and whose render
        lease ran out (its issuer died); False if it is ready or still leased."""

    def mark_ready(self, invoice: Invoice) -> Invoice:
        """Its files are stored: from now on it is listed, shown and may be mailed."""

    def list_for_store(
        self, store_id: str, group: str | None, limit: int, start_key: dict[str, Any] | None
    ) -> InvoicePage: ...

    def move(self, invoice: Invoice, target: InvoiceStatus, now: datetime) -> Invoice:
        """Conditionally move the status forward (checks the status it leaves)."""


class DocumentStore(Protocol):
    def put_pdf(self, key: str, body: bytes, retain_until: date | None = None) -> None:
        """Archive a PDF, locked (object lock) until `retain_until`; without it, until the
        retention end of a document issued today (see domain.archive)."""

    def get_pdf(self, key: str) -> bytes: ...

    def put_xml(self, key: str, body: bytes, retain_until: date | None = None) -> None:
        """Archive an e-invoice XML next to its PDF, locked like the PDF."""

    def get_xml(self, key: str) -> bytes | None:
        """A stored XML; None for documents issued before they were e-invoices."""

    def presigned_download(self, key: str, filename: str, expires_in: int) -> str: ...


class PdfRenderer(Protocol):
    def __call__(self, invoice: Invoice, store: Store, supplier: Supplier) -> bytes: ...


class EInvoiceRenderer(Protocol):
    """Hybrid PDF (ZUGFeRD / Factur-X, PDF/A-3) and XRechnung XML of an invoice."""

    def __call__(self, invoice: Invoice, store: Store, supplier: Supplier) -> EInvoiceFiles: ...


@dataclasses.dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    body: bytes


@dataclasses.dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    attachments: tuple[Attachment, ...] = ()


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
class PaymentRequest:
    """Everything a provider needs to start collecting one payment."""

    payment_id: str
    amount_cents: int
    currency: str
    description: str  # what the payer sees at the provider, e.g. "Rechnung RE-2026-000123"
    reference: str  # our invoice number(s), for the provider's invoice field
    metadata: Mapping[str, str]  # payment, store and invoice ids, echoed in the provider's news
    return_url: str  # where the payer comes back to after approving at the provider
    cancel_url: str  # … and after cancelling there
    customer: Callable[[], str]  # the payer at the card vault, created on first need


class PaymentProvider(Protocol):
    """One way to collect money (a card network, a wallet, a bank). Every provider speaks
    in ProviderUpdates; no caller ever needs to know which provider it talks to."""

    name: str

    def start(self, request: PaymentRequest) -> ProviderUpdate:
        """Create the provider's side of a payment, idempotently for one payment id; the
        update carries what the browser needs (client secret or approval URL)."""

    def read(self, payment: Payment) -> ProviderUpdate | None:
        """The provider's current state of our payment (found by its reference, or by our
        payment id where the reference was lost); None if the provider knows nothing."""

    def collect(self, payment: Payment, details: Mapping[str, str]) -> ProviderUpdate:
        """Make the money move: confirm with the payer's details or capture an approved
        payment. Callers hold a claim on the payment first."""

    def cancel(self, payment: Payment) -> ProviderUpdate:
        """Make sure no money can move any more where the provider allows it, and say what
        the payment is now (it may have succeeded after all)."""

    def refund(
        self, payment: Payment, idempotency_key: str, amount_cents: int | None = None
    ) -> ProviderUpdate:
        """Give a succeeded payment back, in full or `amount_cents` of it; the key makes a
        repeat a no-op. REFUNDED once the money is on its way back."""

    def charge_saved(
        self,
        payment: Payment,
        customer: str,
        method_ref: str,
        metadata: Mapping[str, str],
        idempotency_key: str,
    ) -> ProviderUpdate:
        """Charge a saved method without the payer present; declines come back as a
        failed update (never raised)."""

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> ProviderUpdate | None:
        """Verify one webhook delivery and normalize it; None for news we do not act on.
        InvalidSignatureError / InvalidPayloadError for forged or malformed deliveries."""


class CardVault(Protocol):
    """Cards the owner keeps with the provider for the monthly charge (never with us)."""

    def ensure_customer(self, store_id: str, email: str, name: str) -> str:
        """The store's customer at the vault (created once, idempotently)."""

    def create_setup_intent(self, customer: str, store_id: str) -> str:
        """Start saving a card for charges without the owner; returns the client secret."""

    def succeeded_setup(self, setup_intent_id: str, customer: str) -> str | None:
        """The card of this customer's succeeded setup, else None."""

    def card_details(self, customer: str, method_id: str) -> SavedCard: ...

    def remove_card(self, customer: str, method_id: str) -> None: ...


class CardProvider(PaymentProvider, CardVault, Protocol):
    """A provider that also keeps cards for later charges."""


class SettleOutcome(enum.StrEnum):
    APPLIED = "applied"  # the payment succeeded and paid every one of its invoices
    ALREADY = "already"  # this success was recorded before
    UNWANTED = "unwanted"  # money came for invoices that no longer need it: refund it


class PaymentLedger(Protocol):
    """Payments and the invoice states they drive, written together in transactions."""

    def get(self, payment_id: str) -> Payment | None: ...

    def list_for_invoice(self, invoice_id: str) -> list[Payment]: ...

    def open(self, payment: Payment) -> None:
        """Write the payment and move every one of its invoices open → processing (this
        payment current) in one transaction; InvoiceNotPayableError if one is not open."""

    def set_provider_ref(self, payment_id: str, ref: str, approve_url: str | None) -> Payment:
        """Remember the provider's id once; a second, different ref is refused (ConflictError)."""

    def mark(self, payment: Payment, status: PaymentStatus, now: datetime) -> Payment:
        """Move a payment between open statuses (pending ↔ requires_action)."""

    def claim(self, payment: Payment, now: datetime) -> bool:
        """The right to move money: holds only while the payment is open and is the current
        payment of every one of its invoices, each still being paid (processing)."""

    def settle_success(self, payment: Payment, now: datetime) -> SettleOutcome:
        """Payment → succeeded and all its invoices → paid (store balance updated) in one
        transaction. If any invoice is no longer payable, none moves: the payment is
        recorded succeeded with a refund due."""

    def settle_failure(
        self, payment: Payment, status: PaymentStatus, failure_code: str | None, now: datetime
    ) -> bool:
        """Payment → failed/canceled and each invoice it was current for back to open;
        False if nothing changed."""

    def release(
        self,
        payment: Payment,
        invoice_id: str,
        status: PaymentStatus,
        failure_code: str | None,
        now: datetime,
    ) -> None:
        """Give one invoice back to open if this (settled) payment is still its current
        one: finishes a settle_failure that a crash interrupted."""

    def mark_refunded(self, payment: Payment, now: datetime) -> bool:
        """A succeeded payment whose money went back: → refunded; False if already."""

    def claim_follow_up(self, payment_id: str, stage: str, now: datetime) -> bool:
        """A short lease on sending the follow-ups of one stage ("paid", "refunded") of a
        payment, so parallel deliveries do not both send; False if done or leased."""

    def mark_followed_up(self, payment_id: str, stage: str) -> bool:
        """Remember that the follow-ups of a stage ran; False if already remembered."""


class ReceiptRenderer(Protocol):
    def __call__(
        self,
        document: Document,
        payment: Payment,
        invoices: Sequence[Invoice],
        store: Store,
        supplier: Supplier,
    ) -> bytes: ...


@dataclasses.dataclass(frozen=True)
class CorrectionEffect:
    """What a correction does to its invoice, in the transaction that numbers it."""

    invoice_id: str
    store_id: str
    expected_status: InvoiceStatus  # the invoice as the correction was computed from
    credited_before: int
    credited_after: int
    void: bool  # nothing is owed any more: the invoice becomes void
    open_item_after: int | None  # the store's open item: new amount due, 0 = gone, None = none


class DocumentRepository(Protocol):
    """Documents issued for invoices (receipts, corrections), numbered gap-free per kind
    and year, and listed on the invoices they belong to."""

    def get(self, document_id: str) -> Document | None: ...

    def add_numbered(self, document: Document, effect: CorrectionEffect | None = None) -> Document:
        """Take the next number of the document's kind and year and store the document
        (listed on its invoices, with a correction's effect on its invoice) in one
        transaction; if a document with this id exists, return that one unchanged. A
        correction whose invoice moved meanwhile raises ConflictError."""

    def record_refund(self, document: Document, refund: Refund) -> Document:
        """Remember a credit note's refund once (its invoice's refunded money grows)."""

    def mark_ready(self, document: Document) -> None:
        """Its PDF is stored: from now on the owner sees it."""


class EventPublisher(Protocol):
    def publish(self, events: Sequence[DomainEvent]) -> None:
        """Put events on the bus (each with its own source); raise ServiceUnavailableError
        unless every entry landed."""


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


@dataclasses.dataclass(frozen=True)
class BillingCandidate:
    """What the monthly run decides on for one store (no more than that is read)."""

    store_id: str
    monthly_fee_cents: int
    created_at: datetime | None
    closed_at: datetime | None


class StoreDirectory(Protocol):
    def billing_candidates(self) -> Iterator[BillingCandidate]:
        """Every store, as the monthly run needs it (a projected scan, page by page)."""


@dataclasses.dataclass(frozen=True)
class IssueRequest:
    """One store's licence invoice of one period (a message on the issue queue); stores
    opened after `cutoff` (the run's start) are billed next period, closed ones never."""

    store_id: str
    period: str
    cutoff: datetime


class IssueQueue(Protocol):
    def enqueue(self, requests: Sequence[IssueRequest]) -> None:
        """Send in batches; a failure raises after earlier batches were sent (safe to
        send again: the worker skips what exists)."""

    def in_flight(self) -> int:
        """Requests still waiting or being worked on."""


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
