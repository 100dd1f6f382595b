"""Use cases of invitations: send, look up, accept (creates the Cognito user)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from chalicelib.domain.errors import (
    ConflictError,
    InvitationExpiredError,
    InvitationNotFoundError,
    PortalError,
    RateLimitedError,
    StoreNotFoundError,
)
from chalicelib.domain.invitations import Invitation, InvitationStatus, hash_token, new_token
from chalicelib.domain.passwords import check_password
from chalicelib.domain.stores import normalize_email
from chalicelib.services import emails
from chalicelib.services.ports import (
    Clock,
    InvitationRepository,
    Mailer,
    MembershipRepository,
    RateLimiter,
    StoreRepository,
    UserDirectory,
)

ACCEPT_LEASE = timedelta(seconds=60)
ACCEPT_WINDOW_S = 15 * 60
ACCEPT_FAILURES_PER_CLIENT = 10
ACCEPT_FAILURES_PER_PAIR = 5
ACCEPT_FAILURES_PER_EMAIL = 100  # the global safety limit, as for sign-in


@dataclasses.dataclass(frozen=True)
class SentInvitation:
    url: str
    expires_at: datetime


@dataclasses.dataclass(frozen=True)
class InvitationView:
    email: str
    store_name: str
    expires_at: datetime


@dataclasses.dataclass(frozen=True)
class InvitationService:
    invitations: InvitationRepository
    stores: StoreRepository
    memberships: MembershipRepository
    users: UserDirectory
    mailer: Mailer
    clock: Clock
    limiter: RateLimiter
    portal_url: str
    ttl: timedelta

    def send(self, store_id: str) -> SentInvitation:
        store = self.stores.get(store_id)
        if store is None:
            raise StoreNotFoundError()
        token = new_token()
        now = self.clock.now()
        invitation = Invitation(
            token_hash=hash_token(token),
            store_id=store.id,
            email=store.billing_email,
            created_at=now,
            expires_at=now + self.ttl,
            status=InvitationStatus.PENDING,
        )
        self.invitations.replace(invitation)
        # The token rides in the fragment so it never reaches a server log.
        url = f"{self.portal_url}/#/einladung/{token}"
        self.mailer.send(
            emails.invitation_mail(store.billing_email, store.name, url, invitation.expires_at)
        )
        return SentInvitation(url=url, expires_at=invitation.expires_at)

    def _valid(self, token: str) -> Invitation:
        invitation = self.invitations.get(hash_token(token))
        if invitation is None or invitation.status in (
            InvitationStatus.USED,
            InvitationStatus.REVOKED,
        ):
            raise InvitationNotFoundError()
        if self.clock.now() >= invitation.expires_at:
            raise InvitationExpiredError()
        return invitation

    def view(self, token: str) -> InvitationView:
        invitation = self._valid(token)
        store = self.stores.get(invitation.store_id)
        if store is None:
            raise InvitationNotFoundError()
        return InvitationView(invitation.email, store.name, invitation.expires_at)

    def accept(self, token: str, password: str, client_ip: str) -> str:
        """Limited per client address and per (invitation e-mail, client) pair, with a global
        safety limit per e-mail: a stranger cannot use up the owner's attempts."""
        client_key = f"accept:client:{client_ip}"
        if self.limiter.blocked([(client_key, ACCEPT_FAILURES_PER_CLIENT)], ACCEPT_WINDOW_S):
            raise RateLimitedError()
        try:
            invitation = self._valid(token)
        except PortalError:
            self.limiter.hit([client_key], ACCEPT_WINDOW_S)
            raise
        email = normalize_email(invitation.email)
        keys = [
            (client_key, ACCEPT_FAILURES_PER_CLIENT),
            (f"accept:pair:{email}|{client_ip}", ACCEPT_FAILURES_PER_PAIR),
            (f"accept:email:{email}", ACCEPT_FAILURES_PER_EMAIL),
        ]
        if self.limiter.blocked(keys[1:], ACCEPT_WINDOW_S):
            raise RateLimitedError()
        try:
            return self._accept(invitation, password)
        except PortalError:
            self.limiter.hit([key for key, _ in keys], ACCEPT_WINDOW_S)
            raise

    def _accept(self, invitation: Invitation, password: str) -> str:
        check_password(password)
        now = self.clock.now()
        try:
            self.invitations.claim(invitation.token_hash, now, now + ACCEPT_LEASE)
        except ConflictError as exc:
            # Someone else is accepting this very link right now (or just did).
            raise InvitationNotFoundError() from exc
        try:
            user_sub = self.users.create_user(invitation.email, password)
        except BaseException:
            self.invitations.release(invitation.token_hash)
            raise
        self.memberships.add(user_sub, invitation.store_id, invitation.email)
        self.invitations.mark_used(invitation.token_hash, now)
        return invitation.email
