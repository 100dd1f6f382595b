"""CursorCodec: signed, scope-bound pagination cursors."""

from __future__ import annotations

import pytest

from chalicelib.domain.errors import InvalidCursorError
from chalicelib.services.cursors import CursorCodec

KEY = {"invoice_id": {"S": "inv_1"}, "store_id": {"S": "st_1"}, "list_key": {"S": "2026-03-02#RE"}}


def test_a_cursor_round_trips_within_its_scope():
    codec = CursorCodec(b"k" * 32)

    cursor = codec.encode("st_1|all", KEY)

    assert codec.decode("st_1|all", cursor) == KEY
    assert "=" not in cursor  # URL-safe without padding


def test_a_cursor_is_bound_to_its_scope():
    codec = CursorCodec(b"k" * 32)
    cursor = codec.encode("st_1|all", KEY)

    for scope in ("st_2|all", "st_1|open", "st_1|all "):
        with pytest.raises(InvalidCursorError):
            codec.decode(scope, cursor)


def test_a_cursor_of_another_key_is_refused():
    cursor = CursorCodec(b"a" * 32).encode("st_1|all", KEY)

    with pytest.raises(InvalidCursorError):
        CursorCodec(b"b" * 32).decode("st_1|all", cursor)


def test_a_signed_payload_without_a_key_dict_is_refused():
    codec = CursorCodec(b"k" * 32)
    cursor = codec.encode("st_1|all", "not-a-dict")  # type: ignore[arg-type]

    with pytest.raises(InvalidCursorError):
        codec.decode("st_1|all", cursor)
