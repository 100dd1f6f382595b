"""InvitationService on fakes: send, view and accept an invitation link."""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta

import pytest

from chalicelib.domain.errors import (
    InvitationExpiredError,
    InvitationNotFoundError,
    PasswordPolicyError,
    RateLimitedError,
    ServiceUnavailableError,
    StoreNotFoundError,
)
from chalicelib.domain.invitations import InvitationStatus
from tests.fakes import FakeUserDirectory, make_container, make_store

GOOD_PASSWORD = "Sicheres-Passwort-2026"


@pytest.fixture()
def c():
    container = make_container()
    container.stores.add(
        make_store(id="st_1", name="Trattoria Bellavista", billing_email="chef@bellavista.example")
    )
    return container


def _token(url: str) -> str:
    return url.rsplit("/", 1)[1]


def _send(c) -> str:
    return _token(c.invitation_service.send("st_1").url)


def _status(c, token: str) -> InvitationStatus:
    return c.invitations.get(hashlib.sha256(token.encode()).hexdigest()).status


# send -----------------------------------------------------------------------------------


def test_send_stores_only_the_hash_of_the_token(c):
    # When an invitation is sent
    sent = c.invitation_service.send("st_1")
    token = _token(sent.url)

    # Then the repository holds the SHA-256 of the token, never the token itself
    (stored,) = c.invitations.replaced
    assert stored.token_hash == hashlib.sha256(token.encode("utf-8")).hexdigest()
    assert token not in repr(stored)
    assert stored.status == InvitationStatus.PENDING
    assert stored.email == "chef@bellavista.example"
    assert len(token) >= 43  # 256 bits, URL-safe base64


def test_send_expires_after_seven_days(c):
    sent = c.invitation_service.send("st_1")

    assert sent.expires_at == c.clock.now() + timedelta(days=7)
    assert c.invitations.replaced[0].expires_at == sent.expires_at


def test_send_mails_the_link_to_the_stores_address(c):
    # When an invitation is sent
    sent = c.invitation_service.send("st_1")

    # Then exactly one e-mail goes to the store's address and carries the link
    (mail,) = c.mailer.sent
    assert mail.to == "chef@bellavista.example"
    assert sent.url in mail.text
    assert sent.url.startswith("https://portal.test/#/einladung/")
    assert "Trattoria Bellavista" in mail.text


def test_each_send_makes_a_new_token(c):
    assert _send(c) != _send(c)


def test_a_new_send_revokes_the_previous_link(c):
    # Given a sent invitation
    old = _send(c)

    # When another is sent
    new = _send(c)

    # Then the old link is not found, the new one works
    with pytest.raises(InvitationNotFoundError) as raised:
        c.invitation_service.view(old)
    assert raised.value.code == "invitation_not_found"
    assert _status(c, old) == InvitationStatus.REVOKED
    assert c.invitation_service.view(new).email == "chef@bellavista.example"


def test_send_for_an_unknown_store_fails_and_sends_nothing(c):
    with pytest.raises(StoreNotFoundError):
        c.invitation_service.send("st_missing")

    assert c.mailer.sent == [] and c.invitations.replaced == []


# view -----------------------------------------------------------------------------------


def test_view_shows_address_store_and_expiry(c):
    sent = c.invitation_service.send("st_1")

    view = c.invitation_service.view(_token(sent.url))

    assert (view.email, view.store_name, view.expires_at) == (
        "chef@bellavista.example",
        "Trattoria Bellavista",
        sent.expires_at,
    )


def _used(c) -> str:
    token = _send(c)
    c.invitation_service.accept(token, GOOD_PASSWORD, "10.0.0.1")
    return token


def _revoked(c) -> str:
    token = _send(c)
    _send(c)
    return token


def _unknown(c) -> str:
    return "a" * 43


@pytest.mark.parametrize(
    "make_token", [_used, _revoked, _unknown], ids=["used", "revoked", "unknown"]
)
@pytest.mark.parametrize("action", ["view", "accept"])
def test_used_revoked_and_unknown_links_give_one_answer(c, make_token, action):
    # Given a used, a revoked or an unknown link
    token = make_token(c)
    reference = InvitationNotFoundError()

    # When it is viewed or accepted
    with pytest.raises(InvitationNotFoundError) as raised:
        if action == "view":
            c.invitation_service.view(token)
        else:
            c.invitation_service.accept(token, GOOD_PASSWORD, "10.0.0.2")

    # Then the answer does not tell which one it was
    assert type(raised.value) is InvitationNotFoundError
    assert (raised.value.code, str(raised.value)) == (reference.code, str(reference))


def test_an_expired_link_says_so(c):
    # Given an invitation sent seven days ago
    token = _send(c)
    c.clock.advance(days=7)

    # When it is viewed or accepted
    with pytest.raises(InvitationExpiredError):
        c.invitation_service.view(token)
    with pytest.raises(InvitationExpiredError):
        c.invitation_service.accept(token, GOOD_PASSWORD, "10.0.0.1")

    # Then nobody was created
    assert c.users.users == {}


def test_a_link_is_valid_until_just_before_it_expires(c):
    token = _send(c)
    c.clock.advance(days=7, seconds=-1)

    assert (
        c.invitation_service.accept(token, GOOD_PASSWORD, "10.0.0.1") == "chef@bellavista.example"
    )


# accept ---------------------------------------------------------------------------------


def test_accept_creates_exactly_one_user_and_membership(c):
    # Given a sent invitation
    token = _send(c)

    # When the owner accepts it with a good password
    email = c.invitation_service.accept(token, GOOD_PASSWORD, "10.0.0.1")

    # Then one user with that password and one membership to the store exist
    assert email == "chef@bellavista.example"
    assert c.users.created == ["chef@bellavista.example"]
    sub, password = c.users.users["chef@bellavista.example"]
    assert password == GOOD_PASSWORD
    assert c.memberships.added == [(sub, "st_1", "chef@bellavista.example")]
    assert c.memberships.store_of(sub) == "st_1"
    assert _status(c, token) == InvitationStatus.USED


def test_the_new_user_can_sign_in_and_reaches_the_store(c):
    token = _send(c)
    c.invitation_service.accept(token, GOOD_PASSWORD, "10.0.0.1")

    tokens = c.auth.login("chef@bellavista.example", GOOD_PASSWORD, "10.0.0.1")

    assert c.auth.authenticate(tokens.access_token).store_id == "st_1"


def test_a_second_accept_of_the_same_link_fails(c):
    # Given an accepted invitation
    token = _send(c)
    c.invitation_service.accept(token, GOOD_PASSWORD, "10.0.0.1")

    # When the link is used again
    with pytest.raises(InvitationNotFoundError):
        c.invitation_service.accept(token, "Anderes-Passwort-2026", "10.0.0.1")

    # Then nothing changed: one user, one membership, the first password
    assert len(c.users.users) == 1 and len(c.memberships.added) == 1
    assert c.users.users["chef@bellavista.example"][1] == GOOD_PASSWORD


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("Kurz-1", "mindestens 12 Zeichen"),
        ("nur-kleinbuchstaben-123", "Großbuchstaben"),
        ("NUR-GROSSBUCHSTABEN-123", "Kleinbuchstaben"),
        ("Keine-Ziffern-hier", "Ziffer"),
    ],
)
def test_a_weak_password_names_the_unmet_rule_and_keeps_the_link(c, password, rule):
    # Given a sent invitation
    token = _send(c)

    # When it is accepted with a weak password
    with pytest.raises(PasswordPolicyError) as raised:
        c.invitation_service.accept(token, password, "10.0.0.1")

    # Then the error names the rule, nobody was created and the link still works
    assert rule in str(raised.value)
    assert c.users.users == {} and c.memberships.added == []
    assert _status(c, token) == InvitationStatus.PENDING
    assert c.invitation_service.accept(token, GOOD_PASSWORD, "10.0.0.1")


def test_an_accept_in_progress_elsewhere_answers_not_found(c):
    # Given someone else is accepting the link right now
    token = _send(c)
    token_hash = hashlib.sha256(token.encode()).hexdigest()
    now = c.clock.now()
    c.invitations.claim(token_hash, now, now + timedelta(seconds=60))

    # When it is accepted in parallel
    with pytest.raises(InvitationNotFoundError):
        c.invitation_service.accept(token, GOOD_PASSWORD, "10.0.0.1")

    # Then no second user is created
    assert c.users.users == {}


def test_an_abandoned_accept_can_be_finished_after_its_lease(c):
    # Given an accept that claimed the link and died
    token = _send(c)
    token_hash = hashlib.sha256(token.encode()).hexdigest()
    now = c.clock.now()
    c.invitations.claim(token_hash, now, now + timedelta(seconds=60))

    # When the owner tries again after the lease
    c.clock.advance(seconds=61)
    email = c.invitation_service.accept(token, GOOD_PASSWORD, "10.0.0.1")

    # Then it succeeds
    assert email == "chef@bellavista.example"
    assert _status(c, token) == InvitationStatus.USED


class _FlakyDirectory(FakeUserDirectory):
    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def create_user(self, email: str, password: str) -> str:
        if self.failures:
            self.failures -= 1
            raise ServiceUnavailableError()
        return super().create_user(email, password)


def test_a_failed_user_creation_gives_the_link_back():
    # Given the identity provider fails once
    c = make_container(users=_FlakyDirectory(failures=1))
    c.stores.add(make_store(id="st_1", billing_email="chef@bellavista.example"))
    token = _send(c)

    # When the owner accepts
    with pytest.raises(ServiceUnavailableError):
        c.invitation_service.accept(token, GOOD_PASSWORD, "10.0.0.1")

    # Then the link is pending again and a retry succeeds at once
    assert _status(c, token) == InvitationStatus.PENDING
    assert c.memberships.added == []
    assert c.invitation_service.accept(token, GOOD_PASSWORD, "10.0.0.1")
    assert len(c.memberships.added) == 1


def test_accept_finishes_a_user_left_behind_by_an_interrupted_accept(c):
    # Given a user that exists already (an earlier accept died after creating it)
    sub = c.users.create_user("chef@bellavista.example", "Altes-Passwort-2025")
    token = _send(c)

    # When the link is accepted
    c.invitation_service.accept(token, GOOD_PASSWORD, "10.0.0.1")

    # Then the same user gets the new password and the membership
    assert c.users.users["chef@bellavista.example"] == (sub, GOOD_PASSWORD)
    assert c.memberships.store_of(sub) == "st_1"


def test_accept_is_rate_limited_after_ten_failures_per_client(c):
    # Given a client that failed ten times with guessed links
    token = _send(c)
    for n in range(10):
        with pytest.raises(InvitationNotFoundError):
            c.invitation_service.accept(f"guess-{n}", GOOD_PASSWORD, "203.0.113.9")

    # When it tries again, even with the real link
    with pytest.raises(RateLimitedError):
        c.invitation_service.accept(token, GOOD_PASSWORD, "203.0.113.9")

    # Then nothing was created; another client is not affected
    assert c.users.users == {}
    assert c.invitation_service.accept(token, GOOD_PASSWORD, "198.51.100.7")


def test_a_successful_accept_is_not_counted_as_failure(c):
    c.invitation_service.accept(_send(c), GOOD_PASSWORD, "10.0.0.1")

    assert c.limiter.count("accept:") == 0


def test_two_simultaneous_accepts_of_one_link_create_one_user(c):
    # Given a sent invitation
    token = _send(c)
    barrier = threading.Barrier(2)
    results = []

    def accept(password):
        barrier.wait()
        try:
            results.append(c.invitation_service.accept(token, password, "10.0.0.1"))
        except InvitationNotFoundError as exc:
            results.append(exc)

    # When two requests accept it at the same moment
    threads = [
        threading.Thread(target=accept, args=(p,)) for p in (GOOD_PASSWORD, "Anderes-Passwort-2026")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then one succeeds, the other is told the link is gone, and one user exists
    assert sorted(type(r).__name__ for r in results) == ["InvitationNotFoundError", "str"]
    assert len(c.users.users) == 1 and len(c.memberships.added) == 1
