"""InvitationRepository: the same behaviour from fake and DynamoDB."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.domain.errors import ConflictError
from chalicelib.domain.invitations import Invitation, InvitationStatus, hash_token, new_token
from tests.contract import exactly_one_won, race, repos_fixture  # noqa: F401
from tests.fakes import T0, unique

LEASE = timedelta(seconds=60)


def _invitation(store, *, created_at=T0) -> Invitation:
    return Invitation(
        token_hash=hash_token(new_token()),
        store_id=store.id,
        email=store.billing_email,
        created_at=created_at,
        expires_at=created_at + timedelta(days=7),
        status=InvitationStatus.PENDING,
    )


def _status(repos, invitation) -> InvitationStatus:
    return repos.invitations.get(invitation.token_hash).status


def test_replace_then_get_returns_the_pending_invitation(repos):
    # Given a store
    store = repos.new_store()
    invitation = _invitation(store)

    # When its invitation is stored
    repos.invitations.replace(invitation)

    # Then it reads back unchanged
    assert repos.invitations.get(invitation.token_hash) == invitation


def test_get_of_an_unknown_hash_is_none(repos):
    assert repos.invitations.get(hash_token(unique())) is None


def test_replace_revokes_the_previous_invitation_of_the_store(repos):
    # Given a store with a pending invitation
    store = repos.new_store()
    first = _invitation(store)
    repos.invitations.replace(first)

    # When a new one is sent
    second = _invitation(store, created_at=T0 + timedelta(minutes=5))
    repos.invitations.replace(second)

    # Then the first is revoked and the second pending
    assert _status(repos, first) == InvitationStatus.REVOKED
    assert _status(repos, second) == InvitationStatus.PENDING


def test_replace_revokes_an_invitation_that_is_being_accepted(repos):
    store = repos.new_store()
    first = _invitation(store)
    repos.invitations.replace(first)
    repos.invitations.claim(first.token_hash, T0, T0 + LEASE)

    repos.invitations.replace(_invitation(store))

    assert _status(repos, first) == InvitationStatus.REVOKED


def test_replace_leaves_other_stores_alone(repos):
    # Given two stores with an invitation each
    one, other = repos.new_store(), repos.new_store()
    theirs = _invitation(other)
    repos.invitations.replace(theirs)
    repos.invitations.replace(_invitation(one))

    # When the first store gets a new invitation
    repos.invitations.replace(_invitation(one))

    # Then the other store's invitation stays pending
    assert _status(repos, theirs) == InvitationStatus.PENDING


def test_a_store_whose_invitation_was_used_can_be_invited_again(repos):
    # Given a store whose invitation was accepted
    store = repos.new_store()
    first = _invitation(store)
    repos.invitations.replace(first)
    repos.invitations.claim(first.token_hash, T0, T0 + LEASE)
    repos.invitations.mark_used(first.token_hash, T0)

    # When the operator sends a new invitation
    second = _invitation(store)
    repos.invitations.replace(second)

    # Then the new one is pending and the used one stays used
    assert _status(repos, second) == InvitationStatus.PENDING
    assert _status(repos, first) == InvitationStatus.USED


def test_a_store_whose_invitation_was_purged_can_be_invited_again(repos):
    # Given a store whose invitation the table's TTL removed (30 days after it expired)
    store = repos.new_store()
    first = _invitation(store)
    repos.invitations.replace(first)
    repos.purge_invitation(first.token_hash)

    # When the operator sends a new invitation
    second = _invitation(store, created_at=T0 + timedelta(days=40))
    repos.invitations.replace(second)

    # Then the new one is pending
    assert _status(repos, second) == InvitationStatus.PENDING


def test_claim_moves_pending_to_accepting(repos):
    store = repos.new_store()
    invitation = _invitation(store)
    repos.invitations.replace(invitation)

    claimed = repos.invitations.claim(invitation.token_hash, T0, T0 + LEASE)

    assert claimed.status == InvitationStatus.ACCEPTING
    assert claimed.store_id == store.id and claimed.email == store.billing_email
    assert _status(repos, invitation) == InvitationStatus.ACCEPTING


def test_a_second_claim_within_the_lease_is_a_conflict(repos):
    # Given a claimed invitation
    store = repos.new_store()
    invitation = _invitation(store)
    repos.invitations.replace(invitation)
    repos.invitations.claim(invitation.token_hash, T0, T0 + LEASE)

    # When it is claimed again before the lease ends
    with pytest.raises(ConflictError):
        repos.invitations.claim(invitation.token_hash, T0 + timedelta(seconds=30), T0 + LEASE * 2)


def test_a_stale_claim_can_be_taken_over(repos):
    # Given a claim whose lease ran out (the accepting process died)
    store = repos.new_store()
    invitation = _invitation(store)
    repos.invitations.replace(invitation)
    repos.invitations.claim(invitation.token_hash, T0, T0 + LEASE)

    # When it is claimed after the lease
    later = T0 + LEASE + timedelta(seconds=1)
    claimed = repos.invitations.claim(invitation.token_hash, later, later + LEASE)

    # Then the new claim holds
    assert claimed.status == InvitationStatus.ACCEPTING


def test_two_concurrent_claims_let_exactly_one_win(repos):
    store = repos.new_store()
    invitation = _invitation(store)
    repos.invitations.replace(invitation)

    def claim():
        return repos.invitations.claim(invitation.token_hash, T0, T0 + LEASE)

    results = race(claim, claim)

    exactly_one_won(repos, results, ConflictError)
    assert _status(repos, invitation) == InvitationStatus.ACCEPTING


@pytest.mark.parametrize("status", ["revoked", "used", "unknown"])
def test_only_pending_invitations_can_be_claimed(repos, status):
    # Given a revoked, a used or an unknown invitation
    store = repos.new_store()
    invitation = _invitation(store)
    if status != "unknown":
        repos.invitations.replace(invitation)
    if status == "revoked":
        repos.invitations.replace(_invitation(store))
    if status == "used":
        repos.invitations.claim(invitation.token_hash, T0, T0 + LEASE)
        repos.invitations.mark_used(invitation.token_hash, T0)

    # When it is claimed, even long after any lease
    later = T0 + timedelta(days=1)
    with pytest.raises(ConflictError):
        repos.invitations.claim(invitation.token_hash, later, later + LEASE)


def test_release_gives_a_claim_back(repos):
    # Given a claimed invitation
    store = repos.new_store()
    invitation = _invitation(store)
    repos.invitations.replace(invitation)
    repos.invitations.claim(invitation.token_hash, T0, T0 + LEASE)

    # When the accept fails and releases it
    repos.invitations.release(invitation.token_hash)

    # Then it is pending and can be claimed at once
    assert _status(repos, invitation) == InvitationStatus.PENDING
    assert repos.invitations.claim(invitation.token_hash, T0, T0 + LEASE).status == (
        InvitationStatus.ACCEPTING
    )


def test_release_does_not_bring_back_a_revoked_invitation(repos):
    store = repos.new_store()
    invitation = _invitation(store)
    repos.invitations.replace(invitation)
    repos.invitations.claim(invitation.token_hash, T0, T0 + LEASE)
    repos.invitations.replace(_invitation(store))

    repos.invitations.release(invitation.token_hash)

    assert _status(repos, invitation) == InvitationStatus.REVOKED


def test_mark_used_ends_the_invitation(repos):
    store = repos.new_store()
    invitation = _invitation(store)
    repos.invitations.replace(invitation)
    repos.invitations.claim(invitation.token_hash, T0, T0 + LEASE)

    repos.invitations.mark_used(invitation.token_hash, T0)

    assert _status(repos, invitation) == InvitationStatus.USED
    # and a release afterwards changes nothing
    repos.invitations.release(invitation.token_hash)
    assert _status(repos, invitation) == InvitationStatus.USED
