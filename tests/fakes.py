"""In-memory fakes of every port in chalicelib/services/ports.py, plus builders.

Each fake records what it was given and mirrors the observable behaviour of its DynamoDB,
S3, SES or Cognito adapter; tests/contract runs one suite against both so they cannot drift.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from chalicelib.bootstrap import Container
from chalicelib.config import Settings
from chalicelib.domain.errors import (
    ConflictError,
    EmailInUseError,
    InvalidCodeError,
    InvalidCredentialsError,
    UnauthorizedError,
)
from chalicelib.domain.invitations import Invitation, InvitationStatus
from chalicelib.domain.invoices import Invoice, InvoiceLine, InvoiceStatus, list_group
from chalicelib.domain.passwords import check_password
from chalicelib.domain.stores import Address, OpenItem, Store
from chalicelib.domain.supplier import DEFAULT_SUPPLIER
from chalicelib.services.cursors import CursorCodec
from chalicelib.services.ports import InvoicePage, Mail, SupportRequest, Tokens

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

    def get(self, store_id: str) -> Store | None:
        return self.stores.get(store_id)

    def add(self, store: Store) -> None:
        with self._lock:
            # The adapter fails the whole transaction on either condition alike.
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

    def set_access(self, store_id: str, status: str, now: datetime) -> bool:
        with self._lock:
            store = self.stores.get(store_id)
            if store is None or store.account_status == status:
                return False
            self.stores[store_id] = dataclasses.replace(
                store,
                account_status=status,
                blocked_since=now if status == "blocked" else None,
            )
            self.access_changes.append((store_id, status, now))
            return True

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

    def store_of(self, user_sub: str) -> str | None:
        member = self.members.get(user_sub)
        return member[0] if member else None

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

    def get(self, invoice_id: str) -> Invoice | None:
        return self.invoices.get(invoice_id)

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
        self.links: list[tuple[str, str, int]] = []

    def put_pdf(self, key: str, body: bytes) -> None:
        self.objects[key] = body

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

    def send(self, mail: Mail) -> None:
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

    def issue(self, user_sub: str) -> str:
        token = unique("access-")
        self.tokens[token] = user_sub
        return token

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
    verifier = overrides.pop("verifier", None) or FakeVerifier()
    fakes: dict[str, Any] = {
        "clock": FakeClock(),
        "secrets": FakeSecrets(),
        "stores": stores,
        "memberships": FakeMemberships(),
        "invitations": FakeInvitations(),
        "invoices": FakeInvoices(stores),
        "support_requests": FakeSupport(),
        "limiter": FakeRateLimiter(),
        "verifier": verifier,
        "users": FakeUserDirectory(verifier),
        "documents": FakeDocuments(),
        "mailer": FakeMailer(),
        "render_pdf": lambda invoice, store, supplier: b"%PDF-fake " + invoice.number.encode(),
        "cursors": CursorCodec(b"k" * 32),
    }
    fakes.update(overrides)
    return Container(settings or make_settings(), **fakes)
