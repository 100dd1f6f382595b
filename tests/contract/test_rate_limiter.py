"""RateLimiter: the same behaviour from fake and DynamoDB."""

from __future__ import annotations

from tests.contract import repos_fixture  # noqa: F401
from tests.fakes import unique

# One window longer than the session, so no test straddles a window boundary.
WINDOW_S = 10**9


def test_unknown_keys_are_not_blocked(repos):
    assert repos.limiter.blocked([(unique("rl:"), 1)], WINDOW_S) is False


def test_a_key_is_blocked_once_it_reaches_its_limit(repos):
    # Given a key with a limit of three
    key = unique("rl:")

    # When it is hit twice, it is still free; the third hit blocks it
    repos.limiter.hit([key], WINDOW_S)
    repos.limiter.hit([key], WINDOW_S)
    assert repos.limiter.blocked([(key, 3)], WINDOW_S) is False
    repos.limiter.hit([key], WINDOW_S)
    assert repos.limiter.blocked([(key, 3)], WINDOW_S) is True
    # and a higher limit on the same count is not reached yet
    assert repos.limiter.blocked([(key, 4)], WINDOW_S) is False


def test_one_hit_counts_against_every_key(repos):
    pair, client = unique("rl:pair:"), unique("rl:client:")

    repos.limiter.hit([pair, client], WINDOW_S)

    assert repos.limiter.blocked([(pair, 1)], WINDOW_S) is True
    assert repos.limiter.blocked([(client, 1)], WINDOW_S) is True


def test_any_blocked_key_blocks(repos):
    # Given one key at its limit and one untouched
    busy, idle = unique("rl:busy:"), unique("rl:idle:")
    for _ in range(2):
        repos.limiter.hit([busy], WINDOW_S)

    # Then asking for both is blocked, asking for the idle one alone is not
    assert repos.limiter.blocked([(idle, 5), (busy, 2)], WINDOW_S) is True
    assert repos.limiter.blocked([(idle, 5)], WINDOW_S) is False


def test_keys_are_counted_apart(repos):
    a, b = unique("rl:a:"), unique("rl:b:")

    repos.limiter.hit([a], WINDOW_S)

    assert repos.limiter.blocked([(b, 1)], WINDOW_S) is False
