"""In-memory fakes of every port in chalicelib/services/ports.py, plus builders.

Each fake records what it was given and mirrors the observable behaviour of its DynamoDB,
S3, SES or Cognito adapter; tests/contract runs one suite against both so they cannot drift.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from chalicelib.adapters.paypal_gateway import order_update as paypal_order_update
from chalicelib.adapters.paypal_gateway import webhook_update as paypal_webhook_update
from chalicelib.adapters.stripe_gateway import intent_update as stripe_intent_update
from chalicelib.adapters.stripe_gateway import webhook_update as stripe_webhook_update
from chalicelib.bootstrap import Container
from chalicelib.config import Settings
from chalicelib.domain.documents import (
    Document,
    DocumentKind,
    DocumentSummary,
    Refund,
    counter_id,
    format_document_number,
)
from chalicelib.domain.einvoice import EInvoiceFiles
from chalicelib.domain.errors import (
    ConflictError,
    EmailInUseError,
    InvalidCodeError,
    InvalidCredentialsError,
    InvalidPayloadError,
    InvalidSignatureError,
    InvoiceNotPayableError,
    ServiceUnavailableError,
    StoreNotFoundError,
    UnauthorizedError,
)
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.invitations import Invitation, InvitationStatus
from chalicelib.domain.invoices import (
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    format_number,
    list_group,
)
from chalicelib.domain.passwords import check_password
from chalicelib.domain.payments import (
    OPEN_STATUSES,
    Payment,
    PaymentStatus,
    ProviderStatus,
    ProviderUpdate,
)
from chalicelib.domain.stores import Address, OpenItem, SavedCard, Store
from chalicelib.domain.supplier import DEFAULT_SUPPLIER
from chalicelib.services.cursors import CursorCodec
from chalicelib.services.ports import (
    BillingCandidate,
    ChargeRequest,
    CorrectionEffect,
    InvoicePage,
    IssueRequest,
    Mail,
    Member,
    PaymentRequest,
    SettleOutcome,
    SupportRequest,
    Tokens,
)

# --------------------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------------------

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def unique(prefix: str = "") -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def make_store(
    *,
    id: str | None = None,
    name: str = "Trattoria Bellavista",
    billing_email: str | None = None,
    vat_id: str | None = None,
    monthly_fee_cents: int = 4900,
    account_status: str = "active",
    created_at: datetime = T0,
    **fields: Any,
) -> Store:
    store_id = id or unique("st_")
    return Store(
        id=store_id,
        name=name,
        billing_email=billing_email or f"chef-{store_id}@bellavista.example",
        address=Address(street="Königsallee 27", postal_code="40212", city="Düsseldorf"),
        vat_id=vat_id,
        monthly_fee_cents=monthly_fee_cents,
        account_status=account_status,
        created_at=created_at,
        **fields,
    )


def make_line(
    description: str = "SIDES Kassenlizenz Monatsgebühr",
    quantity: int = 1,
    unit_net_cents: int = 4900,
    tax_rate_percent: Decimal | int | str = 19,
) -> InvoiceLine:
    return InvoiceLine(
        description=description,
        quantity=quantity,
        unit_net_cents=unit_net_cents,
        tax_rate_percent=Decimal(tax_rate_percent),
    )


def make_invoice(
    *,
    id: str | None = None,
    store_id: str = "st_test",
    number: str | None = None,
    issue_date: date = date(2026, 3, 2),
    due_days: int = 14,
    due_date: date | None = None,
    period: str | None = "2026-03",
    description: str = "SIDES Kassenlizenz Monatsgebühr",
    lines: Sequence[InvoiceLine] | None = None,
    status: InvoiceStatus = InvoiceStatus.OPEN,
    paid_at: datetime | None = None,
    created_at: datetime = T0,
) -> Invoice:
    return Invoice(
        id=id or unique("inv_"),
        store_id=store_id,
        number=number or f"RE-{issue_date.year}-{unique()}",
        issue_date=issue_date,
        due_date=due_date or issue_date + timedelta(days=due_days),
        period=period,
        description=description,
        lines=tuple(lines) if lines is not None else (make_line(),),
        status=status,
        paid_at=paid_at,
        created_at=created_at,
    )


# --------------------------------------------------------------------------------------
# Failures on demand
# --------------------------------------------------------------------------------------


class InjectedFault(RuntimeError):
    """A crash a test asked for: the process died or the call timed out (not a PortalError,
    so no service mistakes it for an answer it may handle)."""


class Faults:
    """Makes chosen calls of a fake raise, once or a few times, either before the call takes
    effect ("before": nothing happened) or after it ("after": the write landed, the caller
    never heard back, as with a timeout)."""

    def __init__(self, error: type[Exception] = InjectedFault) -> None:
        self.error = error
        self.armed: dict[str, list[tuple[str, type[Exception]]]] = {}
        self.fired: list[tuple[str, str]] = []

    def fail_next(
        self,
        method: str,
        *,
        when: str = "before",
        times: int = 1,
        error: type[Exception] | None = None,
    ) -> None:
        if when not in ("before", "after"):
            raise ValueError("when is 'before' or 'after'")
        self.armed.setdefault(method, []).extend([(when, error or self.error)] * times)

    def pending(self) -> bool:
        return any(self.armed.values())

    def clear(self) -> None:
        self.armed.clear()

    def check(self, method: str, when: str) -> None:
        plans = self.armed.get(method)
        if plans and plans[0][0] == when:
            _, error = plans.pop(0)
            self.fired.append((method, when))
            raise error(f"injected failure {when} {method}")


# --------------------------------------------------------------------------------------
# Clock and secrets
# --------------------------------------------------------------------------------------


class FakeClock:
    """A settable clock, always timezone-aware UTC."""

    def __init__(self, now: datetime = T0) -> None:
        self.set(now)

    def set(self, now: datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = now.astimezone(UTC)

    def advance(self, **delta: float) -> datetime:
        self._now += timedelta(**delta)
        return self._now

    def now(self) -> datetime:
        return self._now


class FakeSecrets:
    def __init__(self, values: dict[str, str] | None = None) -> None:
        self.values = dict(values or {})
        self.asked: list[str] = []

    def get(self, name: str) -> str:
        self.asked.append(name)
        return self.values[name]


# --------------------------------------------------------------------------------------
# Stores and memberships
# --------------------------------------------------------------------------------------


class FakeStores:
    """StoreRepository: the e-mail claim makes one (exact) address one store, atomically."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.stores: dict[str, Store] = {}
        self.claims: dict[str, str] = {}  # billing e-mail -> store id
        self.added: list[Store] = []
        self.access_changes: list[tuple[str, str, datetime]] = []
        self.payment_methods: list[tuple[str, SavedCard | None]] = []
        self.open_item_updates: list[tuple[str, OpenItem]] = []
        self.faults = Faults()
        # Which stores were invited: the invitations fake of the same container knows.
        self.invitations: FakeInvitations | None = None

    def get(self, store_id: str) -> Store | None:
        return self.stores.get(store_id)

    def update_details(self, store: Store, new_email: str | None) -> None:
        with self._lock:
            self.faults.check("update_details", "before")
            current = self._existing(store.id)
            email = current.billing_email
            if new_email is not None and new_email != email:
                # Like the adapter's transaction: the claim moves with the address, or
                # nothing changes.
                if new_email in self.claims:
                    raise EmailInUseError()
                del self.claims[email]
                self.claims[new_email] = store.id
                email = new_email
            self.stores[store.id] = dataclasses.replace(
                current,
                name=store.name,
                address=store.address,
                vat_id=store.vat_id,
                billing_email=email,
            )

    def invited(self, store_id: str) -> bool:
        return self.invitations is not None and store_id in self.invitations.live

    def add(self, store: Store) -> None:
        with self._lock:
            # The adapter fails the whole transaction on either condition alike, unless the
            # address is claimed by this very store (its own earlier write, answer lost).
            if self.claims.get(store.billing_email) == store.id:
                return
            if store.billing_email in self.claims or store.id in self.stores:
                raise EmailInUseError()
            self.claims[store.billing_email] = store.id
            # Like the adapter: a new store starts without open items, autopay or block.
            self.stores[store.id] = dataclasses.replace(
                store, open_items=(), autopay=False, blocked_since=None
            )
            self.added.append(store)

    def list_ids(self) -> list[str]:
        return list(self.stores)

    def billing_candidates(self) -> Iterator[BillingCandidate]:
        """StoreDirectory: the stores as the monthly run reads them."""
        for store in list(self.stores.values()):
            yield BillingCandidate(
                store.id, store.monthly_fee_cents, store.created_at, store.closed_at
            )

    def list_all(self) -> list[Store]:
        return list(self.stores.values())

    def close(self, store_id: str, now: datetime) -> bool:
        with self._lock:
            store = self.stores.get(store_id)
            if store is None or store.closed_at is not None:
                return False
            self.stores[store_id] = dataclasses.replace(store, closed_at=now, autopay=False)
            return True

    def set_payment_method(self, store_id: str, card: SavedCard | None) -> None:
        with self._lock:
            self.faults.check("set_payment_method", "before")
            store = self._existing(store_id)
            if card is None:
                # Like the adapter: removing the card also turns autopay off.
                self.stores[store_id] = dataclasses.replace(
                    store, payment_method=None, autopay=False
                )
            else:
                self.stores[store_id] = dataclasses.replace(store, payment_method=card)
            self.payment_methods.append((store_id, card))
            self.faults.check("set_payment_method", "after")

    def set_autopay(self, store_id: str, enabled: bool) -> bool:
        with self._lock:
            store = self.stores.get(store_id)
            if store is None or (enabled and store.payment_method is None):
                return False
            self.stores[store_id] = dataclasses.replace(store, autopay=enabled)
            return True

    def update_open_item(self, store_id: str, item: OpenItem) -> bool:
        with self._lock:
            self.faults.check("update_open_item", "before")
            store = self.stores.get(store_id)
            # Only while the invoice is still unsettled: never resurrect a paid one.
            if store is None or all(i.invoice_id != item.invoice_id for i in store.open_items):
                return False
            items = [i for i in store.open_items if i.invoice_id != item.invoice_id]
            self._set_open_items(store, [*items, item])
            self.open_item_updates.append((store_id, item))
            self.faults.check("update_open_item", "after")
            return True

    def set_customer_id(self, store_id: str, customer_id: str) -> str:
        with self._lock:
            store = self._existing(store_id)
            if store.card_customer_id:
                return store.card_customer_id
            self.stores[store_id] = dataclasses.replace(store, card_customer_id=customer_id)
            return customer_id

    def set_access(self, store_id: str, status: str, now: datetime) -> bool:
        with self._lock:
            self.faults.check("set_access", "before")
            store = self.stores.get(store_id)
            if store is None or store.account_status == status:
                return False
            self.stores[store_id] = dataclasses.replace(
                store,
                account_status=status,
                blocked_since=now if status == "blocked" else None,
            )
            self.access_changes.append((store_id, status, now))
            self.faults.check("set_access", "after")
            return True

    def _existing(self, store_id: str) -> Store:
        store = self.stores.get(store_id)
        if store is None:
            # The adapter's update is conditional on the store existing (UpdateError).
            raise LookupError(f"unknown store {store_id}")
        return store

    # used by FakeInvoices, like the adapter's transactions touch StoreRecord.open_items
    def _put_open_item(self, invoice: Invoice) -> None:
        store = self.stores[invoice.store_id]
        items = [item for item in store.open_items if item.invoice_id != invoice.id]
        items.append(OpenItem(invoice.id, invoice.totals.gross_cents, invoice.due_date))
        self._set_open_items(store, items)

    def _drop_open_item(self, store_id: str, invoice_id: str) -> None:
        store = self.stores.get(store_id)
        if store is not None:
            self._set_open_items(
                store, [item for item in store.open_items if item.invoice_id != invoice_id]
            )

    def _set_open_items(self, store: Store, items: list[OpenItem]) -> None:
        ordered = tuple(sorted(items, key=lambda item: (item.due_date, item.invoice_id)))
        self.stores[store.id] = dataclasses.replace(store, open_items=ordered)


class FakeMemberships:
    """MembershipRepository: a user belongs to one store; re-adding to it is harmless."""

    def __init__(self) -> None:
        self.members: dict[str, tuple[str, str]] = {}  # sub -> (store id, e-mail)
        self.added: list[tuple[str, str, str]] = []
        self.signed_out: dict[str, int] = {}  # sub -> last sign-out (epoch seconds)

    def store_of(self, user_sub: str) -> str | None:
        member = self.members.get(user_sub)
        return member[0] if member else None

    def member(self, user_sub: str) -> Member | None:
        current = self.members.get(user_sub)
        if current is None:
            return None
        return Member(current[0], self.signed_out.get(user_sub))

    def sign_out(self, user_sub: str, at: int) -> None:
        self.signed_out[user_sub] = at

    def add(self, user_sub: str, store_id: str, email: str) -> None:
        current = self.members.get(user_sub)
        if current is not None and current[0] != store_id:
            raise ConflictError()
        self.members[user_sub] = (store_id, email)
        self.added.append((user_sub, store_id, email))


# --------------------------------------------------------------------------------------
# Invitations
# --------------------------------------------------------------------------------------


class FakeInvitations:
    """InvitationRepository: one live invitation per store, conditional status moves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.invitations: dict[str, Invitation] = {}
        self.leases: dict[str, datetime] = {}
        self.used_at: dict[str, datetime] = {}
        self.live: dict[str, str] = {}  # store id -> token hash of its newest invitation
        self.replaced: list[Invitation] = []

    def get(self, token_hash: str) -> Invitation | None:
        return self.invitations.get(token_hash)

    def replace(self, invitation: Invitation) -> None:
        with self._lock:
            if invitation.token_hash in self.invitations:
                raise ConflictError()
            previous = self.live.get(invitation.store_id)
            if previous in self.invitations:  # the table's TTL may have removed it
                self._set_status(previous, InvitationStatus.REVOKED, only_from=_LIVE)
            self.invitations[invitation.token_hash] = invitation
            self.live[invitation.store_id] = invitation.token_hash
            self.replaced.append(invitation)

    def claim(self, token_hash: str, now: datetime, lease_until: datetime) -> Invitation:
        with self._lock:
            invitation = self.invitations.get(token_hash)
            if invitation is None:
                raise ConflictError()
            stale = (
                invitation.status == InvitationStatus.ACCEPTING
                and token_hash in self.leases
                and self.leases[token_hash] < now
            )
            if invitation.status != InvitationStatus.PENDING and not stale:
                raise ConflictError()
            self.leases[token_hash] = lease_until
            return self._set_status(token_hash, InvitationStatus.ACCEPTING)

    def release(self, token_hash: str) -> None:
        with self._lock:
            invitation = self.invitations.get(token_hash)
            if invitation is not None and invitation.status == InvitationStatus.ACCEPTING:
                self._set_status(token_hash, InvitationStatus.PENDING)

    def mark_used(self, token_hash: str, now: datetime) -> None:
        with self._lock:
            if token_hash in self.invitations:
                self._set_status(token_hash, InvitationStatus.USED)
                self.used_at[token_hash] = now

    def _set_status(
        self,
        token_hash: str,
        status: InvitationStatus,
        only_from: frozenset[InvitationStatus] | None = None,
    ) -> Invitation:
        invitation = self.invitations[token_hash]
        if only_from is not None and invitation.status not in only_from:
            return invitation
        moved = dataclasses.replace(invitation, status=status)
        self.invitations[token_hash] = moved
        return moved


_LIVE = frozenset({InvitationStatus.PENDING, InvitationStatus.ACCEPTING})


# --------------------------------------------------------------------------------------
# Invoices and documents
# --------------------------------------------------------------------------------------


def _list_key(invoice: Invoice) -> str:
    return f"{invoice.issue_date.isoformat()}#{invoice.number}"


class FakeInvoices:
    """InvoiceRepository: gap-free counters per year; the store's open items kept in sync
    with every write, as the DynamoDB adapter does in the same transaction."""

    def __init__(self, stores: FakeStores | None = None) -> None:
        self._lock = threading.Lock()
        self.stores = stores if stores is not None else FakeStores()
        self.invoices: dict[str, Invoice] = {}
        self.counters: dict[int, int] = {}
        self.numbered: list[tuple[Invoice, int]] = []
        self.moves: list[tuple[str, InvoiceStatus, InvoiceStatus, datetime]] = []
        self.render_leases: dict[str, datetime] = {}
        self.faults = Faults()

    def get(self, invoice_id: str) -> Invoice | None:
        return self.invoices.get(invoice_id)

    def issue(self, invoice: Invoice, render_until: datetime) -> tuple[Invoice, bool]:
        """Like the adapter: number, invoice (not ready, leased for rendering) and open item
        at once; an invoice with this id comes back as it is."""
        with self._lock:
            self.faults.check("issue", "before")
            existing = self.invoices.get(invoice.id)
            if existing is not None:
                return existing, False
            if invoice.store_id not in self.stores.stores:
                raise StoreNotFoundError()
            year = invoice.issue_date.year
            sequence = self.counters.get(year, 0) + 1
            numbered = dataclasses.replace(
                invoice, number=format_number(year, sequence), ready=False
            )
            self.counters[year] = sequence
            self.invoices[invoice.id] = numbered
            self.stores._put_open_item(numbered)
            self.numbered.append((numbered, sequence))
            self.render_leases[invoice.id] = render_until
            self.faults.check("issue", "after")
            return numbered, True

    def claim_render(self, invoice_id: str, now: datetime, until: datetime) -> bool:
        with self._lock:
            self.faults.check("claim_render", "before")
            invoice = self.invoices.get(invoice_id)
            lease = self.render_leases.get(invoice_id)
            if invoice is None or invoice.ready or (lease is not None and lease >= now):
                return False
            self.render_leases[invoice_id] = until
            return True

    def mark_ready(self, invoice: Invoice) -> Invoice:
        with self._lock:
            self.faults.check("mark_ready", "before")
            stored = self.invoices.get(invoice.id)
            if stored is None or stored.number != invoice.number:
                raise ConflictError()
            ready = dataclasses.replace(stored, ready=True)
            self.invoices[invoice.id] = ready
            self.render_leases.pop(invoice.id, None)
            self.faults.check("mark_ready", "after")
            return ready

    def expire_leases(self) -> None:
        """Time passes: every render lease of a crashed issuer has run out."""
        with self._lock:
            self.render_leases.clear()

    def next_number(self, year: int) -> int:
        return self.counters.get(year, 0) + 1

    def add_numbered(self, invoice: Invoice, sequence: int) -> None:
        with self._lock:
            year = invoice.issue_date.year
            if self.counters.get(year, 0) != sequence - 1:
                raise ConflictError()
            if invoice.id in self.invoices or invoice.store_id not in self.stores.stores:
                raise ConflictError()
            self.counters[year] = sequence
            self.invoices[invoice.id] = invoice
            self.stores._put_open_item(invoice)
            self.numbered.append((invoice, sequence))

    def list_for_store(
        self, store_id: str, group: str | None, limit: int, start_key: dict[str, Any] | None
    ) -> InvoicePage:
        if group is None:
            hash_name, hash_value = "store_id", store_id
        else:
            hash_name, hash_value = "store_status", f"{store_id}#{group}"
        mine = [
            invoice
            for invoice in self.invoices.values()
            if invoice.store_id == store_id
            and invoice.ready  # the adapter's list indexes hold only ready invoices
            and (group is None or list_group(invoice.status) == group)
        ]
        mine.sort(key=lambda invoice: (_list_key(invoice), invoice.id), reverse=True)
        if start_key is not None:
            after = (start_key["list_key"]["S"], start_key["invoice_id"]["S"])
            mine = [invoice for invoice in mine if (_list_key(invoice), invoice.id) < after]
        if len(mine) <= limit:
            return InvoicePage(items=mine, last_key=None)
        last = mine[limit - 1]
        last_key = {
            "invoice_id": {"S": last.id},
            hash_name: {"S": hash_value},
            "list_key": {"S": _list_key(last)},
        }
        return InvoicePage(items=mine[:limit], last_key=last_key)

    def move(self, invoice: Invoice, target: InvoiceStatus, now: datetime) -> Invoice:
        with self._lock:
            stored = self.invoices.get(invoice.id)
            if stored is None or stored.status != invoice.status:
                raise ConflictError()
            paid_at = now if target == InvoiceStatus.PAID else stored.paid_at
            moved = dataclasses.replace(stored, status=target, paid_at=paid_at)
            self.invoices[invoice.id] = moved
            if list_group(target) != "open":
                self.stores._drop_open_item(invoice.store_id, invoice.id)
            self.moves.append((invoice.id, invoice.status, target, now))
            return dataclasses.replace(invoice, status=target, paid_at=paid_at)


class FakeDocuments:
    """DocumentStore: bytes by key; presigned links are fake URLs naming key and filename."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.retention: dict[str, date | None] = {}
        self.links: list[tuple[str, str, int]] = []

    def put_pdf(self, key: str, body: bytes, retain_until: date | None = None) -> None:
        self.objects[key] = body
        self.retention[key] = retain_until

    def get_pdf(self, key: str) -> bytes:
        return self.objects[key]

    def put_xml(self, key: str, body: bytes, retain_until: date | None = None) -> None:
        self.put_pdf(key, body, retain_until)

    def get_xml(self, key: str) -> bytes | None:
        return self.objects.get(key)

    def presigned_download(self, key: str, filename: str, expires_in: int) -> str:
        expires_in = min(expires_in, 300)
        self.links.append((key, filename, expires_in))
        return f"https://documents.fake/{key}?filename={filename}&expires={expires_in}"


# --------------------------------------------------------------------------------------
# Mail, support, rate limits
# --------------------------------------------------------------------------------------


class FakeMailer:
    def __init__(self) -> None:
        self.sent: list[Mail] = []
        # As the SES adapter reports a throttled or failed send.
        self.faults = Faults(ServiceUnavailableError)

    def send(self, mail: Mail) -> None:
        self.faults.check("send", "before")
        self.sent.append(mail)

    def to(self, address: str) -> list[Mail]:
        return [mail for mail in self.sent if mail.to == address]


class FakeSupport:
    """SupportRepository."""

    def __init__(self) -> None:
        self.requests: dict[str, SupportRequest] = {}

    def add(self, request: SupportRequest) -> None:
        if request.id in self.requests:
            raise ConflictError()
        self.requests[request.id] = request


class FakeRateLimiter:
    """RateLimiter: counts per key (one window for the whole test)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.hits: list[tuple[str, int]] = []

    def blocked(self, keys: Sequence[tuple[str, int]], window_s: int) -> bool:
        return any(self.counts.get(key, 0) >= limit for key, limit in keys)

    def hit(self, keys: Sequence[str], window_s: int) -> None:
        for key in keys:
            self.counts[key] = self.counts.get(key, 0) + 1
            self.hits.append((key, window_s))

    def count(self, fragment: str) -> int:
        """The summed count of every key containing `fragment`."""
        return sum(n for key, n in self.counts.items() if fragment in key)


# --------------------------------------------------------------------------------------
# Identity: user directory and token verifier
# --------------------------------------------------------------------------------------


class FakeVerifier:
    """TokenVerifier: a map of valid access tokens to user subs."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        self.issued: dict[str, int] = {}
        self.now = 1_800_000_000  # the iat of the next token (epoch seconds)

    def issue(self, user_sub: str) -> str:
        token = unique("access-")
        self.tokens[token] = user_sub
        self.issued[token] = self.now
        return token

    def issued_at(self, token: str) -> int:
        return self.issued[token]

    def revoke(self, token: str) -> None:
        self.tokens.pop(token, None)

    def verify(self, token: str) -> str:
        try:
            return self.tokens[token]
        except KeyError:
            raise UnauthorizedError() from None


class FakeUserDirectory:
    """UserDirectory: users by e-mail with sub and password; tokens it issues verify with
    the linked FakeVerifier."""

    def __init__(self, verifier: FakeVerifier | None = None) -> None:
        self.verifier = verifier if verifier is not None else FakeVerifier()
        self.users: dict[str, tuple[str, str]] = {}  # e-mail -> (sub, password)
        self.codes: dict[str, str] = {}  # e-mail -> reset code
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> sub
        self.created: list[str] = []
        self.logins: list[str] = []
        self.logged_out: list[str] = []
        self.forgot_requests: list[str] = []
        self._codes = itertools.count(100000)

    def create_user(self, email: str, password: str) -> str:
        check_password(password)
        existing = self.users.get(email)
        sub = existing[0] if existing else str(uuid.uuid4())
        self.users[email] = (sub, password)
        if existing is None:
            self.created.append(email)
        return sub

    def sub_of(self, email: str) -> str:
        return self.users[email][0]

    def _tokens(self, sub: str) -> Tokens:
        refresh = unique("refresh-")
        self.refresh_tokens[refresh] = sub
        return Tokens(
            access_token=self.verifier.issue(sub),
            id_token=unique("id-"),
            refresh_token=refresh,
            expires_in=3600,
        )

    def login(self, email: str, password: str) -> Tokens:
        self.logins.append(email)
        user = self.users.get(email)
        if user is None or user[1] != password:
            raise InvalidCredentialsError()
        return self._tokens(user[0])

    def refresh(self, refresh_token: str) -> Tokens:
        sub = self.refresh_tokens.get(refresh_token)
        if sub is None:
            raise InvalidCredentialsError()
        tokens = self._tokens(sub)
        return dataclasses.replace(tokens, refresh_token=refresh_token)

    def logout(self, access_token: str) -> None:
        self.verifier.verify(access_token)
        self.verifier.revoke(access_token)
        self.logged_out.append(access_token)

    def forgot_password(self, email: str) -> None:
        self.forgot_requests.append(email)
        if email in self.users:
            self.codes[email] = str(next(self._codes))

    def reset_password(self, email: str, code: str, password: str) -> None:
        if email not in self.users or self.codes.get(email) != code:
            raise InvalidCodeError()
        check_password(password)
        del self.codes[email]
        self.users[email] = (self.users[email][0], password)


# --------------------------------------------------------------------------------------
# Payments: ledger, processed events, bus, charge queue
# --------------------------------------------------------------------------------------

_OPEN_PAYMENTS = frozenset({PaymentStatus.PENDING, PaymentStatus.REQUIRES_ACTION})
_ledger_log = logging.getLogger("portal.ledger")


class FakeLedger:
    """PaymentLedger: payments and the invoices (and store open items) they move, changed
    together as the DynamoDB adapter's transactions do, with the same conditions."""

    def __init__(self, invoices: FakeInvoices | None = None) -> None:
        self._lock = threading.RLock()
        self.invoices = invoices if invoices is not None else FakeInvoices()
        self.stores = self.invoices.stores
        self.payments: dict[str, Payment] = {}
        self.opened: list[Payment] = []
        # (payment id, from, to, when) of every payment status change
        self.transitions: list[tuple[str, PaymentStatus | None, PaymentStatus, datetime]] = []
        self.claims: list[str] = []  # payment ids whose claim held
        self.paid_by: dict[str, str] = {}  # invoice id -> payment id (InvoiceRecord.paid_by)
        self.leases: dict[str, datetime] = {}  # payment id -> follow-up lease until
        self.faults = Faults()

    def get(self, payment_id: str) -> Payment | None:
        return self.payments.get(payment_id)

    def list_for_invoice(self, invoice_id: str) -> list[Payment]:
        return [p for p in self.payments.values() if p.invoice_id == invoice_id]

    def open(self, payment: Payment) -> None:
        with self._lock:
            self.faults.check("open", "before")
            invoices = [self.invoices.invoices.get(i) for i in payment.invoice_ids]
            if payment.id in self.payments or any(
                invoice is None
                or invoice.status != InvoiceStatus.OPEN
                or invoice.store_id != payment.store_id
                for invoice in invoices
            ):
                raise InvoiceNotPayableError()
            stored = dataclasses.replace(
                payment,
                provider_ref=None,
                approve_url=None,
                failure_code=None,
                followed_up=frozenset(),
                refund_due=False,
            )
            self.payments[payment.id] = stored
            self.opened.append(stored)
            self.transitions.append((payment.id, None, stored.status, payment.created_at))
            for invoice in invoices:
                assert invoice is not None
                self._move_invoice(
                    invoice,
                    payment.created_at,
                    status=InvoiceStatus.PROCESSING,
                    active_payment_id=payment.id,
                )
            self._log_on_invoices(stored)
            self.faults.check("open", "after")

    def set_provider_ref(self, payment_id: str, ref: str, approve_url: str | None) -> Payment:
        with self._lock:
            self.faults.check("set_provider_ref", "before")
            stored = self.payments.get(payment_id)
            if stored is None:
                raise LookupError(f"unknown payment {payment_id}")
            if stored.provider_ref is not None and stored.provider_ref != ref:
                raise ConflictError()
            changed = dataclasses.replace(
                stored, provider_ref=ref, approve_url=approve_url or stored.approve_url
            )
            self.payments[payment_id] = changed
            self.faults.check("set_provider_ref", "after")
            return changed

    def mark(self, payment: Payment, status: PaymentStatus, now: datetime) -> Payment:
        with self._lock:
            self.faults.check("mark", "before")
            stored = self.payments.get(payment.id)
            if stored is None or stored.status not in OPEN_STATUSES:
                return stored or payment
            moved = self._move_payment(stored, status, now)
            self.faults.check("mark", "after")
            return moved

    def _is_current(self, payment: Payment, invoice_id: str) -> bool:
        invoice = self.invoices.invoices.get(invoice_id)
        return (
            invoice is not None
            and invoice.status == InvoiceStatus.PROCESSING
            and invoice.active_payment_id == payment.id
        )

    def claim(self, payment: Payment, now: datetime) -> bool:
        with self._lock:
            self.faults.check("claim", "before")
            stored = self.payments.get(payment.id)
            if stored is None or stored.status not in OPEN_STATUSES:
                return False
            if not all(self._is_current(stored, i) for i in stored.invoice_ids):
                return False
            self.claims.append(payment.id)
            self.faults.check("claim", "after")
            return True

    def settle_success(self, payment: Payment, now: datetime) -> SettleOutcome:
        with self._lock:
            self.faults.check("settle_success", "before")
            stored = self.payments.get(payment.id)
            if stored is None or stored.status in (
                PaymentStatus.SUCCEEDED,
                PaymentStatus.REFUNDED,
            ):
                return SettleOutcome.ALREADY
            invoices = [self.invoices.invoices.get(i) for i in stored.invoice_ids]
            payable = all(
                invoice is not None
                and invoice.status in (InvoiceStatus.OPEN, InvoiceStatus.PROCESSING)
                and invoice.store_id == stored.store_id
                for invoice in invoices
            )
            if not payable:
                moved = self._move_payment(
                    stored, PaymentStatus.SUCCEEDED, now, failure_code=None, refund_due=True
                )
                for invoice_id in moved.invoice_ids:
                    self.release(moved, invoice_id, PaymentStatus.SUCCEEDED, None, now)
                self.faults.check("settle_success", "after")
                return SettleOutcome.UNWANTED
            self._move_payment(stored, PaymentStatus.SUCCEEDED, now, failure_code=None)
            for invoice in invoices:
                assert invoice is not None
                self._move_invoice(
                    invoice,
                    now,
                    status=InvoiceStatus.PAID,
                    paid_at=now,
                    active_payment_id=None,
                    paid_by=stored.id,
                )
                self.paid_by[invoice.id] = stored.id
                self.stores._drop_open_item(stored.store_id, invoice.id)
            self.faults.check("settle_success", "after")
            return SettleOutcome.APPLIED

    def settle_failure(
        self, payment: Payment, status: PaymentStatus, failure_code: str | None, now: datetime
    ) -> bool:
        with self._lock:
            self.faults.check("settle_failure", "before")
            stored = self.payments.get(payment.id)
            if stored is None or stored.status not in OPEN_STATUSES:
                return False
            code = failure_code or stored.failure_code
            moved = self._move_payment(stored, status, now, failure_code=code)
            self.faults.check("settle_failure", "between")
            for invoice_id in moved.invoice_ids:
                self.release(moved, invoice_id, status, code, now)
            self.faults.check("settle_failure", "after")
            return True

    def release(
        self,
        payment: Payment,
        invoice_id: str,
        status: PaymentStatus,
        failure_code: str | None,
        now: datetime,
    ) -> None:
        with self._lock:
            if self._is_current(payment, invoice_id):
                invoice = self.invoices.invoices[invoice_id]
                self._move_invoice(invoice, now, status=InvoiceStatus.OPEN, active_payment_id=None)

    def mark_refunded(self, payment: Payment, now: datetime) -> bool:
        with self._lock:
            self.faults.check("mark_refunded", "before")
            stored = self.payments.get(payment.id)
            if stored is None or stored.status != PaymentStatus.SUCCEEDED:
                return False
            self._move_payment(stored, PaymentStatus.REFUNDED, now)
            self.faults.check("mark_refunded", "after")
            return True

    def claim_follow_up(self, payment_id: str, stage: str, now: datetime) -> bool:
        with self._lock:
            self.faults.check("claim_follow_up", "before")
            stored = self.payments.get(payment_id)
            if stored is None or stage in stored.followed_up:
                return False
            # Like the adapter's one lease per payment: while one delivery sends a stage's
            # follow-ups, no other stage's start either (a refund mail never overtakes the
            # receipt it refers to).
            until = self.leases.get(payment_id)
            if until is not None and until >= now:
                return False
            self.leases[payment_id] = now + timedelta(seconds=60)
            return True

    def mark_followed_up(self, payment_id: str, stage: str) -> bool:
        with self._lock:
            self.faults.check("mark_followed_up", "before")
            stored = self.payments.get(payment_id)
            if stored is None or stage in stored.followed_up:
                return False
            self.payments[payment_id] = dataclasses.replace(
                stored, followed_up=stored.followed_up | {stage}
            )
            self.leases.pop(payment_id, None)
            self.faults.check("mark_followed_up", "after")
            return True

    def expire_leases(self) -> None:
        """Time passes: a follow-up whose sender died may be taken over."""
        self.leases.clear()

    # helpers ---------------------------------------------------------------------------
    def _move_payment(
        self, stored: Payment, status: PaymentStatus, now: datetime, **changes: Any
    ) -> Payment:
        moved = dataclasses.replace(stored, status=status, updated_at=now, **changes)
        self.payments[stored.id] = moved
        self.transitions.append((stored.id, stored.status, status, now))
        self._log_on_invoices(moved)
        return moved

    def _log_on_invoices(self, payment: Payment) -> None:
        """Like InvoiceRecord.payment_log: each invoice keeps a summary of its payments."""
        for invoice_id in payment.invoice_ids:
            invoice = self.invoices.invoices.get(invoice_id)
            if invoice is None:
                continue
            others = tuple(p for p in invoice.payments if p.id != payment.id)
            summary = dataclasses.replace(payment, provider_ref=None, approve_url=None)
            listed = sorted((*others, summary), key=lambda p: p.created_at)
            self.invoices.invoices[invoice_id] = dataclasses.replace(
                invoice, payments=tuple(listed)
            )

    def _move_invoice(self, invoice: Invoice, now: datetime, **changes: Any) -> None:
        current = self.invoices.invoices[invoice.id]
        moved = dataclasses.replace(current, **changes)
        self.invoices.invoices[invoice.id] = moved
        self.invoices.moves.append((invoice.id, current.status, moved.status, now))


class FakeDocumentRecords:
    """DocumentRepository: numbered gap-free per kind and year, listed on their invoices."""

    def __init__(self, invoices: FakeInvoices) -> None:
        self._lock = threading.RLock()
        self.invoices = invoices
        self.documents: dict[str, Document] = {}
        self.counters: dict[str, int] = {}
        self.faults = Faults()

    def get(self, document_id: str) -> Document | None:
        return self.documents.get(document_id)

    def add_numbered(self, document: Document, effect: CorrectionEffect | None = None) -> Document:
        with self._lock:
            self.faults.check("add_numbered", "before")
            existing = self.documents.get(document.id)
            if existing is not None:
                return existing
            if any(i not in self.invoices.invoices for i in document.invoice_ids):
                # Like the adapter's transaction: no number is taken for a document whose
                # invoice does not exist.
                raise ConflictError()
            if effect is not None:
                self._check_effect(effect)
            year = document.issue_date.year
            sequence = self._counter(document.kind, year) + 1
            numbered = dataclasses.replace(
                document,
                number=format_document_number(document.kind, year, sequence),
                ready=False,
            )
            self._set_counter(document.kind, year, sequence)
            self.documents[document.id] = numbered
            self._list(numbered)
            if effect is not None:
                self._apply(effect)
            self.faults.check("add_numbered", "after")
            return numbered

    def _check_effect(self, effect: CorrectionEffect) -> None:
        invoice = self.invoices.invoices[effect.invoice_id]
        if invoice.status != effect.expected_status or (
            invoice.credited_cents != effect.credited_before
        ):
            raise ConflictError()  # the invoice moved meanwhile

    def _apply(self, effect: CorrectionEffect) -> None:
        invoice = self.invoices.invoices[effect.invoice_id]
        status = InvoiceStatus.VOID if effect.void else invoice.status
        self.invoices.invoices[invoice.id] = dataclasses.replace(
            invoice, credited_cents=effect.credited_after, status=status
        )
        if status != invoice.status:
            self.invoices.moves.append((invoice.id, invoice.status, status, invoice.created_at))
        if effect.open_item_after is None:
            return
        if effect.open_item_after <= 0:
            self.invoices.stores._drop_open_item(effect.store_id, invoice.id)
        else:
            store = self.invoices.stores.stores[effect.store_id]
            items = tuple(
                dataclasses.replace(item, gross_cents=effect.open_item_after)
                if item.invoice_id == invoice.id
                else item
                for item in store.open_items
            )
            self.invoices.stores.stores[effect.store_id] = dataclasses.replace(
                store, open_items=items
            )

    def record_refund(self, document: Document, refund: Refund) -> Document:
        with self._lock:
            self.faults.check("record_refund", "before")
            stored = self.documents[document.id]
            if stored.refund is None:
                stored = dataclasses.replace(stored, refund=refund)
                self.documents[document.id] = stored
                for invoice_id in stored.invoice_ids:
                    invoice = self.invoices.invoices[invoice_id]
                    self.invoices.invoices[invoice_id] = dataclasses.replace(
                        invoice,
                        credit_refunded_cents=invoice.credit_refunded_cents + refund.amount_cents,
                    )
            return stored

    def _counter(self, kind: DocumentKind, year: int) -> int:
        if kind == DocumentKind.INVOICE:
            # The adapter's counters table: invoice documents continue the invoices' own
            # sequence (counter_id keeps the invoices' counter name).
            return self.invoices.counters.get(year, 0)
        return self.counters.get(counter_id(kind, year), 0)

    def _set_counter(self, kind: DocumentKind, year: int, sequence: int) -> None:
        if kind == DocumentKind.INVOICE:
            self.invoices.counters[year] = sequence
        else:
            self.counters[counter_id(kind, year)] = sequence

    def mark_ready(self, document: Document) -> None:
        with self._lock:
            self.faults.check("mark_ready", "before")
            if document.id not in self.documents:
                raise ConflictError()
            ready = dataclasses.replace(self.documents[document.id], ready=True)
            self.documents[document.id] = ready
            self._list(ready)

    def _list(self, document: Document) -> None:
        summary = DocumentSummary(
            id=document.id,
            kind=document.kind,
            number=document.number,
            issue_date=document.issue_date,
            gross_cents=document.gross_cents,
            currency=document.currency,
            ready=document.ready,
        )
        for invoice_id in document.invoice_ids:
            invoice = self.invoices.invoices.get(invoice_id)
            if invoice is not None:
                others = tuple(d for d in invoice.documents if d.id != document.id)
                listed = sorted((*others, summary), key=lambda d: (d.issue_date, d.number))
                self.invoices.invoices[invoice_id] = dataclasses.replace(
                    invoice, documents=tuple(listed)
                )

    def of_kind(self, kind: DocumentKind) -> list[Document]:
        return [d for d in self.documents.values() if d.kind == kind]


class FakeProcessedEvents:
    """ProcessedEvents: provider event ids already applied; remembering twice is harmless."""

    def __init__(self) -> None:
        self.events: dict[str, datetime] = {}
        self.faults = Faults()

    def seen(self, event_id: str) -> bool:
        return event_id in self.events

    def remember(self, event_id: str, now: datetime) -> None:
        self.faults.check("remember", "before")
        self.events.setdefault(event_id, now)


class FakePublisher:
    """EventPublisher: every landed event as (detail_type, detail), in order. Like
    PutEvents, events go in batches of 10 and a failing batch leaves earlier ones landed."""

    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []
        self.sources: list[str] = []
        self.faults = Faults(ServiceUnavailableError)

    def publish(self, events: Sequence[DomainEvent]) -> None:
        """faults: "publish" fails the next batch, "publish:<DetailType>" the next batch
        holding an event of that type."""
        for start in range(0, len(events), 10):
            batch = events[start : start + 10]
            names = ["publish", *(f"publish:{event.detail_type}" for event in batch)]
            for name in names:
                self.faults.check(name, "before")
            for event in batch:
                self.published.append((event.detail_type, dict(event.detail)))
                self.sources.append(event.source)
            for name in names:
                self.faults.check(name, "after")

    def of_type(self, detail_type: str) -> list[dict[str, Any]]:
        return [detail for kind, detail in self.published if kind == detail_type]


class FakeIssueQueue:
    """IssueQueue: like FakeChargeQueue (batches of ten, take()/done() to deliver). With
    `deliver` set, each request is handed to it as soon as it is sent (the worker that
    never lags); make_container sets it to issue the invoice and put its charge on the
    charge queue, so tests drive the charges as before."""

    def __init__(self) -> None:
        self.deliver: Callable[[IssueRequest], Any] | None = None
        self.sent: list[IssueRequest] = []
        self.waiting: list[IssueRequest] = []
        self.in_progress = 0
        self.faults = Faults(ServiceUnavailableError)

    def enqueue(self, requests: Sequence[IssueRequest]) -> None:
        for start in range(0, len(requests), 10):
            self.faults.check("enqueue", "before")
            chunk = list(requests[start : start + 10])
            self.sent.extend(chunk)
            self.waiting.extend(chunk)
            self.faults.check("enqueue", "after")
        if self.deliver is not None:
            self.drain(self.deliver)

    def drain(self, handler: Callable[[IssueRequest], Any], limit: int = 100_000) -> None:
        while self.waiting and limit > 0:
            limit -= 1
            request = self.take(0)
            try:
                handler(request)
            except BaseException:
                self.done(request, delete=False)
                raise
            self.done(request)

    def in_flight(self) -> int:
        return len(self.waiting) + self.in_progress

    def take(self, index: int = 0) -> IssueRequest:
        request = self.waiting.pop(index)
        self.in_progress += 1
        return request

    def done(self, request: IssueRequest, delete: bool = True) -> None:
        self.in_progress -= 1
        if not delete:
            self.waiting.append(request)


class FakeChargeQueue:
    """ChargeQueue: `sent` holds every request ever enqueued, `waiting` what is still to be
    delivered. Like SQS, requests go in batches of 10 and a failing batch leaves earlier
    batches sent. Tests deliver with take()/done() (or drain())."""

    def __init__(self) -> None:
        self.sent: list[ChargeRequest] = []
        self.waiting: list[ChargeRequest] = []
        self.in_progress = 0
        self.faults = Faults(ServiceUnavailableError)

    def enqueue(self, requests: Sequence[ChargeRequest]) -> None:
        for start in range(0, len(requests), 10):
            self.faults.check("enqueue", "before")
            chunk = list(requests[start : start + 10])
            self.sent.extend(chunk)
            self.waiting.extend(chunk)
            self.faults.check("enqueue", "after")

    def in_flight(self) -> int:
        return len(self.waiting) + self.in_progress

    def take(self, index: int = 0) -> ChargeRequest:
        """Receive one waiting request (it is in flight until done())."""
        request = self.waiting.pop(index)
        self.in_progress += 1
        return request

    def done(self, request: ChargeRequest, delete: bool = True) -> None:
        """Finish a received request; not deleted, it comes back (visibility timeout)."""
        self.in_progress -= 1
        if not delete:
            self.waiting.append(request)

    def drain(self, handler: Callable[[ChargeRequest], Any], limit: int = 1000) -> list[Any]:
        """Deliver every waiting request (and those enqueued meanwhile) to `handler`."""
        results = []
        while self.waiting and limit > 0:
            limit -= 1
            request = self.take(0)
            try:
                results.append(handler(request))
            except BaseException:
                self.done(request, delete=False)
                raise
            self.done(request)
        return results


# --------------------------------------------------------------------------------------
# Payment providers: Stripe (cards) and PayPal
# --------------------------------------------------------------------------------------

SUCCEED = "succeed"
AUTHENTICATE = "authentication_required"
# What Stripe says for a decline: (error code, decline_code)
_STRIPE_DECLINES = {
    "insufficient_funds": ("card_declined", "insufficient_funds"),
    "card_declined": ("card_declined", "generic_decline"),
    "expired_card": ("expired_card", "expired_card"),
    "incorrect_cvc": ("incorrect_cvc", "incorrect_cvc"),
    "lost_card": ("card_declined", "lost_card"),
    AUTHENTICATE: (AUTHENTICATE, AUTHENTICATE),
}
_STRIPE_STATUS = {
    "requires_payment_method": PaymentStatus.PENDING,
    "requires_confirmation": PaymentStatus.PENDING,
    "requires_capture": PaymentStatus.PENDING,
    "processing": PaymentStatus.PENDING,
    "requires_action": PaymentStatus.REQUIRES_ACTION,
    "succeeded": PaymentStatus.SUCCEEDED,
    "canceled": PaymentStatus.CANCELED,
}
_CANCELABLE = frozenset(
    {"requires_payment_method", "requires_confirmation", "requires_action", "requires_capture"}
)


class FakeStripeError(Exception):
    """A Stripe error the adapter does not translate (it would surface as it is)."""

    def __init__(self, kind: str, message: str = "") -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind


class FakeMetrics:
    """Metrics that remember their counts."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def count(self, name: str, value: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + value


@dataclasses.dataclass
class FakeIntent:
    id: str
    amount: int
    currency: str  # lower case, as Stripe keeps it
    customer: str | None
    metadata: dict[str, str]
    client_secret: str
    status: str = "requires_payment_method"
    payment_method: str | None = None
    error: dict[str, str] | None = None  # last_payment_error
    off_session: bool = False


@dataclasses.dataclass
class FakeSetupIntent:
    id: str
    customer: str
    store_id: str
    client_secret: str
    status: str = "requires_payment_method"
    payment_method: str | None = None


@dataclasses.dataclass(frozen=True)
class FakeCharge:
    """Money that moved at a provider."""

    provider: str
    ref: str
    payment_id: str | None
    invoice_id: str | None
    amount_cents: int
    currency: str
    off_session: bool = False
    invoice_ids: tuple[str, ...] = ()


def _invoice_ids(metadata: Mapping[str, str]) -> tuple[str, ...]:
    listed = metadata.get("invoice_ids")
    if listed:
        return tuple(listed.split(","))
    single = metadata.get("invoice_id")
    return (single,) if single else ()


@dataclasses.dataclass(frozen=True)
class OffSessionCall:
    customer: str
    method_id: str
    amount_cents: int
    currency: str
    metadata: dict[str, str]
    idempotency_key: str


class FakeCards:
    """The card provider (PaymentProvider + CardVault) with Stripe's behaviour as the adapter
    sees it: idempotency keys replay
    the first answer (a different request under a used key is refused), intents move
    through Stripe's statuses, and each move leaves a webhook event in `events`.

    Cards and tokens behave as configured with add_card() (default: succeed):
    "succeed", "authentication_required", or a decline code (insufficient_funds,
    card_declined, expired_card, ...)."""

    def __init__(self, webhook_signature: str = "fake-signature") -> None:
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self.behaviours: dict[str, str] = {}
        self.details: dict[str, SavedCard] = {}
        self.attached: dict[str, str] = {}  # payment method -> customer
        self.customers: dict[str, str] = {}  # customer id -> store id
        self.customer_calls: list[str] = []
        self.intents: dict[str, FakeIntent] = {}
        self.setup_intents: dict[str, FakeSetupIntent] = {}
        self.charge_calls: list[OffSessionCall] = []
        self.confirm_calls: list[tuple[str, str, str]] = []  # intent, token, key
        self.charges: list[FakeCharge] = []
        self.removed: list[tuple[str, str]] = []
        self.canceled: list[str] = []
        self.refunds: dict[str, FakeCharge] = {}  # refund key -> money given back
        self.events: list[dict[str, Any]] = []
        self.webhook_signature = webhook_signature
        self._replies: dict[str, tuple[Any, Any]] = {}  # idempotency key -> (request, reply)
        self.faults = Faults(ServiceUnavailableError)

    # configuration and owner actions (what happens in the browser or at the bank) -------
    def add_card(
        self,
        method_id: str,
        behaviour: str = SUCCEED,
        *,
        customer: str | None = None,
        brand: str = "visa",
        last4: str = "4242",
        exp_month: int = 12,
        exp_year: int = 2030,
    ) -> str:
        self.behaviours[method_id] = behaviour
        self.details[method_id] = SavedCard(method_id, brand, last4, exp_month, exp_year)
        if customer is not None:
            self.attached[method_id] = customer
        return method_id

    def behaviour(self, method_or_token: str) -> str:
        return self.behaviours.get(method_or_token, SUCCEED)

    def complete_setup(
        self, setup: str, method_id: str, behaviour: str = SUCCEED, succeed: bool = True
    ) -> str:
        """The owner entered a card for this SetupIntent (id or client secret)."""
        intent = self.setup_intents[setup.split("_secret_")[0]]
        self.add_card(method_id, behaviour)
        intent.payment_method = method_id
        if succeed:
            intent.status = "succeeded"
            self.attached[method_id] = intent.customer
        else:
            intent.status = "requires_payment_method"
        return intent.id

    def authenticate(self, intent_id: str, success: bool = True) -> ProviderUpdate:
        """The owner finished (or failed) 3-D Secure for an intent in requires_action."""
        with self._lock:
            intent = self.intents[intent_id]
            if intent.status != "requires_action":
                return self._view(intent)
            if success:
                self._succeed(intent)
            else:
                self._decline(intent, "payment_intent_authentication_failure", None)
            return self._view(intent)

    def charged_cents(self, invoice_id: str) -> int:
        return sum(c.amount_cents for c in self.charges if c.invoice_id == invoice_id)

    def charges_for(self, invoice_id: str) -> list[FakeCharge]:
        return [c for c in self.charges if c.invoice_id == invoice_id]

    # CardGateway ----------------------------------------------------------------------
    def ensure_customer(self, store_id: str, email: str, name: str) -> str:
        with self._lock:
            self.faults.check("ensure_customer", "before")
            self.customer_calls.append(store_id)
            key = f"cus-{store_id}"
            if key not in self._replies:
                customer = f"cus_{next(self._ids)}"
                self.customers[customer] = store_id
                self._replies[key] = ((store_id,), customer)
            return str(self._replies[key][1])

    def create_intent(
        self,
        *,
        payment_id: str,
        amount_cents: int,
        currency: str,
        customer: str,
        metadata: Mapping[str, str],
        idempotency_key: str,
    ) -> ProviderUpdate:
        with self._lock:
            self.faults.check("create_intent", "before")
            request = ("create", amount_cents, currency.lower(), customer, sorted(metadata.items()))
            replay = self._replay(idempotency_key, request)
            if replay is not None:
                return replay  # type: ignore[no-any-return]
            intent = self._new_intent(amount_cents, currency, customer, metadata)
            reply = self._view(intent)
            self._replies[idempotency_key] = (request, reply)
            self.faults.check("create_intent", "after")
            return reply

    def attach_card_and_confirm(
        self, intent_id: str, customer: str, token: str, idempotency_key: str
    ) -> ProviderUpdate:
        with self._lock:
            self.faults.check("attach_card_and_confirm", "before")
            intent = self._intent(intent_id)
            # Like the adapter: confirm only what still needs confirming.
            if intent.status not in ("requires_payment_method", "requires_confirmation"):
                return self._view(intent)
            self.confirm_calls.append((intent_id, token, idempotency_key))
            replay = self._replay(idempotency_key, ("confirm", token))
            if replay is not None:
                return replay  # type: ignore[no-any-return]
            source = f"card_{token}"
            self.add_card(source, self.behaviour(token), customer=customer)
            intent.payment_method = source
            behaviour = self.behaviour(token)
            if behaviour == SUCCEED:
                self._succeed(intent)
                reply = self._view(intent)
            elif behaviour == AUTHENTICATE:
                intent.status = "requires_action"
                self._event("payment_intent.requires_action", intent)
                reply = self._view(intent)
            else:
                code, _ = self._decline(
                    intent, *_STRIPE_DECLINES.get(behaviour, ("card_declined", behaviour))
                )
                # The adapter reports the error code of the CardError (not decline_code).
                reply = dataclasses.replace(
                    self._view(intent), status=ProviderStatus.FAILED, failure_code=code
                )
            self._replies[idempotency_key] = (("confirm", token), reply)
            self.faults.check("attach_card_and_confirm", "after")
            return reply

    def get_intent(self, intent_id: str) -> ProviderUpdate:
        self.faults.check("get_intent", "before")
        return self._view(self._intent(intent_id))

    def find_intent(self, payment_id: str) -> ProviderUpdate | None:
        self.faults.check("find_intent", "before")
        with self._lock:
            found = [i for i in self.intents.values() if i.metadata.get("payment_id") == payment_id]
        return self._view(found[0]) if found else None

    def cancel_intent(self, intent_id: str) -> ProviderUpdate:
        with self._lock:
            self.faults.check("cancel_intent", "before")
            intent = self._intent(intent_id)
            if intent.status in _CANCELABLE:
                intent.status = "canceled"
                self.canceled.append(intent_id)
                self._event("payment_intent.canceled", intent)
            return self._view(intent)  # not cancelable any more: say what it is

    def create_setup_intent(self, customer: str, store_id: str) -> str:
        with self._lock:
            self.faults.check("create_setup_intent", "before")
            setup_id = f"seti_{next(self._ids)}"
            secret = f"{setup_id}_secret_{next(self._ids)}"
            self.setup_intents[setup_id] = FakeSetupIntent(setup_id, customer, store_id, secret)
            return secret

    def succeeded_setup(self, setup_intent_id: str, customer: str) -> str | None:
        intent = self.setup_intents.get(setup_intent_id)
        if (
            intent is None
            or intent.status != "succeeded"
            or intent.customer != customer
            or not intent.payment_method
        ):
            return None
        self.attached.setdefault(intent.payment_method, customer)
        return intent.payment_method

    def card_details(self, customer: str, method_id: str) -> SavedCard:
        if method_id not in self.details:
            raise FakeStripeError("resource_missing", method_id)
        return self.details[method_id]

    def remove_card(self, customer: str, method_id: str) -> None:
        self.faults.check("remove_card", "before")
        self.removed.append((customer, method_id))
        if self.attached.get(method_id) == customer:
            del self.attached[method_id]  # else: already gone at Stripe, which is fine

    def charge_off_session(
        self,
        *,
        customer: str,
        method_id: str,
        amount_cents: int,
        currency: str,
        metadata: Mapping[str, str],
        idempotency_key: str,
    ) -> ProviderUpdate:
        with self._lock:
            self.faults.check("charge_off_session", "before")
            self.charge_calls.append(
                OffSessionCall(
                    customer, method_id, amount_cents, currency, dict(metadata), idempotency_key
                )
            )
            request = (
                "off_session",
                customer,
                method_id,
                amount_cents,
                currency.lower(),
                sorted(metadata.items()),
            )
            replay = self._replay(idempotency_key, request)
            if replay is not None:
                self.faults.check("charge_off_session", "after")
                return replay  # type: ignore[no-any-return]
            if self.attached.get(method_id) != customer:
                # Stripe refuses (400, not cached); the adapter does not translate it.
                raise FakeStripeError("invalid_request", f"{method_id} is not {customer}'s")
            intent = self._new_intent(amount_cents, currency, customer, metadata)
            intent.off_session = True
            intent.payment_method = method_id
            behaviour = self.behaviour(method_id)
            if behaviour == SUCCEED:
                self._succeed(intent)
                reply = self._view(intent)
            else:
                # Off-session, Stripe answers a CardError (402) for declines and for
                # authentication_required alike; the intent waits for a new method.
                code, decline = self._decline(
                    intent, *_STRIPE_DECLINES.get(behaviour, ("card_declined", behaviour))
                )
                reply = dataclasses.replace(
                    self._view(intent), status=ProviderStatus.FAILED, failure_code=decline or code
                )
            self._replies[idempotency_key] = (request, reply)
            self.faults.check("charge_off_session", "after")
            return reply

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> ProviderUpdate | None:
        received = {name.lower(): value for name, value in headers.items()}
        if received.get("stripe-signature") != self.webhook_signature:
            raise InvalidSignatureError()
        try:
            event = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidPayloadError() from exc
        if not isinstance(event, dict) or "type" not in event or "id" not in event:
            raise InvalidPayloadError()
        return stripe_webhook_update(event)

    # PaymentProvider ------------------------------------------------------------------
    name = "stripe"

    def start(self, request: PaymentRequest) -> ProviderUpdate:
        return self.create_intent(
            payment_id=request.payment_id,
            amount_cents=request.amount_cents,
            currency=request.currency,
            customer=request.customer(),
            metadata=request.metadata,
            idempotency_key=f"pay-{request.payment_id}",
        )

    def read(self, payment: Payment) -> ProviderUpdate | None:
        if payment.provider_ref:
            return self.get_intent(payment.provider_ref)
        return self.find_intent(payment.id)

    def collect(self, payment: Payment, details: Mapping[str, str]) -> ProviderUpdate:
        assert payment.provider_ref is not None
        token = details.get("token")
        intent = self._intent(payment.provider_ref)
        if not token:
            return self._view(intent)
        return self.attach_card_and_confirm(
            payment.provider_ref, intent.customer or "", token, f"pay-{payment.id}-confirm"
        )

    def cancel(self, payment: Payment) -> ProviderUpdate:
        found = self.read(payment)
        if found is None or found.provider_ref is None:
            return ProviderUpdate(
                "stripe", None, ProviderStatus.CANCELED, payment.amount_cents, payment.currency,
                payment_id=payment.id, failure_code="canceled",
            )  # fmt: skip
        return self.cancel_intent(found.provider_ref)

    def refund(
        self, payment: Payment, idempotency_key: str, amount_cents: int | None = None
    ) -> ProviderUpdate:
        with self._lock:
            self.faults.check("refund", "before")
            assert payment.provider_ref is not None
            intent = self._intent(payment.provider_ref)
            if intent.status != "succeeded":
                raise FakeStripeError("invalid_request", "Cannot refund a failed payment.")
            cents = intent.amount if amount_cents is None else amount_cents
            back = sum(r.amount_cents for r in self.refunds.values() if r.ref == intent.id)
            if idempotency_key not in self.refunds:
                if back + cents > intent.amount:
                    raise FakeStripeError("invalid_request", "Refund exceeds the charge.")
                self.refunds[idempotency_key] = FakeCharge(
                    "stripe", intent.id, intent.metadata.get("payment_id"),
                    intent.metadata.get("invoice_id"), cents, intent.currency.upper(),
                    invoice_ids=_invoice_ids(intent.metadata),
                )  # fmt: skip
            self.faults.check("refund", "after")
            done = self.refunds[idempotency_key].amount_cents
            return dataclasses.replace(
                self._view(intent), status=ProviderStatus.REFUNDED, amount_cents=done
            )

    def charge_saved(
        self,
        payment: Payment,
        customer: str,
        method_ref: str,
        metadata: Mapping[str, str],
        idempotency_key: str,
    ) -> ProviderUpdate:
        return self.charge_off_session(
            customer=customer,
            method_id=method_ref,
            amount_cents=payment.amount_cents,
            currency=payment.currency,
            metadata=metadata,
            idempotency_key=idempotency_key,
        )

    def kept_cents(self, payment_id: str) -> int:
        """Money the provider holds for one of our payments (charged minus refunded)."""
        charged = sum(c.amount_cents for c in self.charges if c.payment_id == payment_id)
        back = sum(r.amount_cents for r in self.refunds.values() if r.payment_id == payment_id)
        return charged - back

    # helpers ----------------------------------------------------------------------------
    def _replay(self, key: str, request: Any) -> Any:
        known = self._replies.get(key)
        if known is None:
            return None
        if known[0] != request:
            raise FakeStripeError("idempotency_error", f"key {key} was used for another request")
        return known[1]

    def _intent(self, intent_id: str) -> FakeIntent:
        intent = self.intents.get(intent_id)
        if intent is None:
            raise FakeStripeError("resource_missing", intent_id)
        return intent

    def _new_intent(
        self, amount: int, currency: str, customer: str, metadata: Mapping[str, str]
    ) -> FakeIntent:
        intent_id = f"pi_{next(self._ids)}"
        intent = FakeIntent(
            id=intent_id,
            amount=amount,
            currency=currency.lower(),
            customer=customer,
            metadata=dict(metadata),
            client_secret=f"{intent_id}_secret_{next(self._ids)}",
        )
        self.intents[intent_id] = intent
        return intent

    def _succeed(self, intent: FakeIntent) -> None:
        intent.status = "succeeded"
        intent.error = None
        self.charges.append(
            FakeCharge(
                provider="stripe",
                ref=intent.id,
                payment_id=intent.metadata.get("payment_id"),
                invoice_id=intent.metadata.get("invoice_id"),
                amount_cents=intent.amount,
                currency=intent.currency.upper(),
                off_session=intent.off_session,
                invoice_ids=_invoice_ids(intent.metadata),
            )
        )
        self._event("payment_intent.succeeded", intent)

    def _decline(
        self, intent: FakeIntent, code: str, decline: str | None
    ) -> tuple[str, str | None]:
        intent.status = "requires_payment_method"
        intent.error = {"code": code, **({"decline_code": decline} if decline else {})}
        self._event("payment_intent.payment_failed", intent)
        return code, decline

    def _view(self, intent: FakeIntent) -> ProviderUpdate:
        return stripe_intent_update(self._as_stripe(intent))

    @staticmethod
    def _as_stripe(intent: FakeIntent) -> dict[str, Any]:
        return {
            "id": intent.id,
            "object": "payment_intent",
            "amount": intent.amount,
            "currency": intent.currency,
            "status": intent.status,
            "client_secret": intent.client_secret,
            "metadata": dict(intent.metadata),
            "payment_method": intent.payment_method,
            "last_payment_error": dict(intent.error) if intent.error else None,
        }

    def _event(self, kind: str, intent: FakeIntent) -> None:
        self.events.append(
            {
                "id": f"evt_{next(self._ids)}",
                "type": kind,
                "data": {
                    "object": {
                        "id": intent.id,
                        "object": "payment_intent",
                        "amount": intent.amount,
                        "currency": intent.currency,
                        "status": intent.status,
                        "metadata": dict(intent.metadata),
                        "payment_method": intent.payment_method,
                        "last_payment_error": dict(intent.error) if intent.error else None,
                    }
                },
            }
        )


def _paypal_value(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


@dataclasses.dataclass
class FakeOrder:
    id: str
    payment_id: str
    amount_cents: int
    currency: str
    status: str = "CREATED"  # CREATED → APPROVED → COMPLETED
    capture_id: str | None = None
    refunded: bool = False


class FakePayPal:
    """The PayPal provider, minimal: orders created once per payment (PayPal-Request-Id),
    approved by the owner (approve()), captured at most once, refunded at most once; each
    step leaves a webhook event in `events`, each capture a FakeCharge in `captures`."""

    name = "paypal"

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.orders: dict[str, FakeOrder] = {}
        self.by_request: dict[str, str] = {}
        self.captures: list[FakeCharge] = []
        self.refunds: dict[str, FakeCharge] = {}
        self.events: list[dict[str, Any]] = []
        self.verify_result = True
        self.faults = Faults(ServiceUnavailableError)

    def capture_unasked(self, order_id: str) -> None:
        """Money moves for an approved order (our capture, or one we never asked for)."""
        order = self.orders[order_id]
        if order.status == "APPROVED":
            order.status = "COMPLETED"
            order.capture_id = f"CAP{next(self._ids)}"
            self.captures.append(
                FakeCharge(
                    "paypal",
                    order.id,
                    order.payment_id,
                    None,
                    order.amount_cents,
                    order.currency,
                )  # fmt: skip
            )
            self._event("PAYMENT.CAPTURE.COMPLETED", order)

    def approve(self, order_id: str) -> None:
        order = self.orders[order_id]
        if order.status == "CREATED":
            order.status = "APPROVED"
            self._event("CHECKOUT.ORDER.APPROVED", order)

    # PaymentProvider ------------------------------------------------------------------
    def start(self, request: PaymentRequest) -> ProviderUpdate:
        self.faults.check("create_order", "before")
        request_id = f"order-{request.payment_id}"
        if request_id not in self.by_request:
            order = FakeOrder(
                f"PP{next(self._ids)}",
                request.payment_id,
                request.amount_cents,
                request.currency.upper(),
            )
            self.orders[order.id] = order
            self.by_request[request_id] = order.id
        return self._view(self.orders[self.by_request[request_id]])

    def read(self, payment: Payment) -> ProviderUpdate | None:
        self.faults.check("get_order", "before")
        if not payment.provider_ref:
            return None
        return self._view(self.orders[payment.provider_ref])

    def collect(self, payment: Payment, details: Mapping[str, str]) -> ProviderUpdate:
        self.faults.check("capture_order", "before")
        assert payment.provider_ref is not None
        order = self.orders[payment.provider_ref]
        self.capture_unasked(order.id)
        self.faults.check("capture_order", "after")
        # not approved / already captured: the adapter reads the order instead
        return self._view(order)

    def cancel(self, payment: Payment) -> ProviderUpdate:
        current = self.read(payment)
        if current is not None and current.moved_money:
            return current
        return ProviderUpdate(
            "paypal", payment.provider_ref, ProviderStatus.CANCELED, payment.amount_cents,
            payment.currency, payment_id=payment.id,
        )  # fmt: skip

    def refund(
        self, payment: Payment, idempotency_key: str, amount_cents: int | None = None
    ) -> ProviderUpdate:
        self.faults.check("refund", "before")
        assert payment.provider_ref is not None
        order = self.orders[payment.provider_ref]
        assert order.status == "COMPLETED", "nothing captured to refund"
        cents = order.amount_cents if amount_cents is None else amount_cents
        back = sum(r.amount_cents for r in self.refunds.values() if r.ref == order.id)
        if idempotency_key not in self.refunds:
            assert back + cents <= order.amount_cents, "refund exceeds the capture"
            self.refunds[idempotency_key] = FakeCharge(
                "paypal", order.id, order.payment_id, None, cents, order.currency
            )
            order.refunded = back + cents == order.amount_cents
            if order.refunded:
                self._event("PAYMENT.CAPTURE.REFUNDED", order)
        self.faults.check("refund", "after")
        done = self.refunds[idempotency_key].amount_cents
        return dataclasses.replace(
            self._view(order), status=ProviderStatus.REFUNDED, amount_cents=done
        )

    def charge_saved(
        self,
        payment: Payment,
        customer: str,
        method_ref: str,
        metadata: Mapping[str, str],
        idempotency_key: str,
    ) -> ProviderUpdate:
        raise AssertionError("PayPal charges no saved methods")

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> ProviderUpdate | None:
        if not self.verify_result:
            raise InvalidSignatureError()
        try:
            event = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidPayloadError() from exc
        if not isinstance(event, dict):
            raise InvalidPayloadError()
        return paypal_webhook_update(event)

    def kept_cents(self, payment_id: str) -> int:
        charged = sum(c.amount_cents for c in self.captures if c.payment_id == payment_id)
        back = sum(r.amount_cents for r in self.refunds.values() if r.payment_id == payment_id)
        return charged - back

    def _view(self, order: FakeOrder) -> ProviderUpdate:
        unit: dict[str, Any] = {
            "custom_id": order.payment_id,
            "amount": {"value": _paypal_value(order.amount_cents), "currency_code": order.currency},
        }
        if order.capture_id:
            status = "REFUNDED" if order.refunded else "COMPLETED"
            unit["payments"] = {"captures": [{"id": order.capture_id, "status": status}]}
        return paypal_order_update(
            {
                "id": order.id,
                "status": order.status,
                "purchase_units": [unit],
                "links": [
                    {"rel": "approve", "href": f"https://paypal.fake/checkoutnow?token={order.id}"}
                ],
            }
        )

    def _event(self, kind: str, order: FakeOrder) -> None:
        amount = {"value": _paypal_value(order.amount_cents), "currency_code": order.currency}
        if kind == "CHECKOUT.ORDER.APPROVED":
            resource: dict[str, Any] = {
                "id": order.id,
                "status": order.status,
                "purchase_units": [{"custom_id": order.payment_id, "amount": amount}],
            }
        else:
            resource = {
                "id": order.capture_id,
                "status": "REFUNDED" if kind.endswith("REFUNDED") else "COMPLETED",
                "custom_id": order.payment_id,
                "amount": amount,
                "supplementary_data": {"related_ids": {"order_id": order.id}},
            }
        self.events.append(
            {"id": f"WH-{next(self._ids)}", "event_type": kind, "resource": resource}
        )


# --------------------------------------------------------------------------------------
# The container with every fake
# --------------------------------------------------------------------------------------


def make_settings(**changes: Any) -> Settings:
    values: dict[str, Any] = {
        "prefix": "unit",
        "region": "eu-central-1",
        "aws_endpoint_url": None,
        "invoice_bucket": "unit-invoices",
        "user_pool_id": "eu-central-1_unit",
        "user_pool_client_id": "unit-client",
        "event_bus_name": "unit-portal",
        "mail_from": "portal@sides.example",
        "support_email": "support@sides.example",
        "support_phone": "+49 30 1234567",
        "support_hours": "Mo–Fr 9–18 Uhr",
        "portal_url": "https://portal.test",
        "stripe_publishable_key": "pk_test_unit",
        "stripe_js_url": "https://js.stripe.com/v3/",
        "paypal_enabled": False,
        "supplier": DEFAULT_SUPPLIER,
    }
    values.update(changes)
    return Settings(**values)


def make_container(*, settings: Settings | None = None, **overrides: Any) -> Container:
    """The real object graph with every adapter replaced by its fake (or an override)."""
    stores = overrides.pop("stores", None) or FakeStores()
    invoices = overrides.pop("invoices", None) or FakeInvoices(stores)
    verifier = overrides.pop("verifier", None) or FakeVerifier()
    invitations = overrides.pop("invitations", None) or FakeInvitations()
    if isinstance(stores, FakeStores) and stores.invitations is None:
        stores.invitations = invitations
    from tests.fakes_account import FakeAccounts, FakeAccountUsers, FakeActivityLog

    activity_log = overrides.pop("activity_log", None) or FakeActivityLog()
    fakes: dict[str, Any] = {
        "activity_log": activity_log,
        "accounts": FakeAccounts(stores, activity_log)
        if isinstance(stores, FakeStores)
        else overrides.pop("accounts"),
        "clock": FakeClock(),
        "secrets": FakeSecrets(),
        "stores": stores,
        "store_directory": stores,
        "memberships": FakeMemberships(),
        "invitations": invitations,
        "invoices": invoices,
        "ledger": FakeLedger(invoices),
        "document_records": FakeDocumentRecords(invoices),
        "render_receipt": lambda document, payment, invoices, store, supplier: (
            b"%PDF-fake " + document.number.encode()
        ),
        "render_correction": lambda document, invoice, store, supplier: EInvoiceFiles(
            b"%PDF-fake " + document.number.encode(), b"<xml>" + document.number.encode()
        ),
        "processed_events": FakeProcessedEvents(),
        "publisher": FakePublisher(),
        "charge_queue": FakeChargeQueue(),
        "issue_queue": FakeIssueQueue(),
        "cards": FakeCards(),
        "paypal": FakePayPal(),
        "support_requests": FakeSupport(),
        "limiter": FakeRateLimiter(),
        "verifier": verifier,
        "users": FakeAccountUsers(verifier),
        "documents": FakeDocuments(),
        "mailer": FakeMailer(),
        "render_pdf": lambda invoice, store, supplier: b"%PDF-fake " + invoice.number.encode(),
        "render_einvoice": lambda invoice, store, supplier: EInvoiceFiles(
            pdf=b"%PDF-fake " + invoice.number.encode(),
            xml=b"<xrechnung-fake>" + invoice.number.encode() + b"</xrechnung-fake>",
        ),
        "metrics": FakeMetrics(),
        "cursors": CursorCodec(b"k" * 32),
    }
    fakes.update(overrides)
    container = Container(settings or make_settings(), **fakes)
    issue_queue = container.__dict__.get("issue_queue")
    if isinstance(issue_queue, FakeIssueQueue) and "issue_queue" not in overrides:
        issue_queue.deliver = issue_then_queue_charge(container)
    return container


def issue_then_queue_charge(container: Container) -> Callable[[IssueRequest], Any]:
    """The issue worker for tests that drive charges through the charge queue themselves:
    issues the store's invoice and queues its charge instead of charging at once."""

    def deliver(request: IssueRequest) -> Any:
        queue = container.charge_queue
        return container.billing.bill_store(request, lambda charge: queue.enqueue([charge]))

    return deliver
