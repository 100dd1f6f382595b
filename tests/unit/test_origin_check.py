"""The origin check: both values of a rotation pass, unknown values re-read the secret at
most once a minute, nothing passes without a value."""

from __future__ import annotations

import json

from chalicelib.services.edge import OriginCheck, accepted_values
from tests.fakes import FakeSecrets

NAME = "sides-portal-test/origin-secret"
OLD, NEW = "o" * 64, "n" * 64


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _check(secrets: FakeSecrets, clock: Clock) -> OriginCheck:
    return OriginCheck(secrets, NAME, now=clock)


def test_current_and_previous_pass_and_nothing_else():
    secrets = FakeSecrets({NAME: json.dumps({"current": NEW, "previous": OLD})})
    check = _check(secrets, Clock())
    assert check.accepts(NEW) and check.accepts(OLD)
    assert not check.accepts("")
    assert not check.accepts(NEW[:-1])
    assert not check.accepts("x" * 64)


def test_short_or_empty_values_never_count():
    assert accepted_values(json.dumps({"current": "kurz", "previous": ""})) == ()
    assert accepted_values("[1, 2]") == ()
    assert accepted_values(NEW) == (NEW,)  # a plain string is the current value


def test_a_rotation_is_picked_up_but_guessing_does_not_reread_every_time():
    secrets = FakeSecrets({NAME: json.dumps({"current": OLD, "previous": ""})})
    clock = Clock()
    check = _check(secrets, clock)
    assert check.accepts(OLD)
    assert secrets.asked == [NAME]

    # the secret is rotated; the CDN sends the new value before the cache expires
    secrets.values[NAME] = json.dumps({"current": NEW, "previous": OLD})
    for _ in range(5):
        assert not check.accepts(NEW)  # within a minute of the last read: no re-read
    assert secrets.asked == [NAME]

    clock.now += 61
    assert check.accepts(NEW)  # an unknown value after a minute reads the secret again
    assert check.accepts(OLD)  # and the old value still passes until it is dropped
    assert secrets.asked == [NAME, NAME]


def test_the_values_are_read_again_after_five_minutes():
    secrets = FakeSecrets({NAME: json.dumps({"current": OLD, "previous": ""})})
    clock = Clock()
    check = _check(secrets, clock)
    assert check.accepts(OLD)
    secrets.values[NAME] = json.dumps({"current": NEW, "previous": ""})
    clock.now += 301
    assert not check.accepts(OLD)  # dropped from the secret, so refused after the re-read
    assert check.accepts(NEW)
