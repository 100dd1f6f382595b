"""Strict JSON at the HTTP edge: nesting, Unicode, control characters, numbers, path ids."""

from __future__ import annotations

import pytest

from chalicelib.api import http
from chalicelib.domain.errors import InvalidRequestError, PasswordPolicyError

SCHEMA = {"subject": (str, True), "message": (str, False)}


def test_brackets_inside_strings_do_not_count_as_nesting():
    assert http.json_depth('{"a": "[[[[[[[[[[[[", "b": "\\"[{"}') == 1
    assert http.json_depth('{"a": [[{"b": []}]]}') == 5


def test_nesting_beyond_the_bound_is_refused_before_parsing():
    deep = '{"subject": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(InvalidRequestError, match="verschachtelt"):
        http.parse_json(deep.encode()[: http.MAX_BODY_BYTES], SCHEMA)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"subject": "a\\ud800"}',
        b'{"subject": "ok", "message": "\\udc00"}',
        b'{"subject": "\xff"}',
    ],
)
def test_broken_unicode_is_refused(raw):
    with pytest.raises(InvalidRequestError):
        http.parse_json(raw, SCHEMA)


def test_line_breaks_only_where_a_field_is_multiline():
    raw = b'{"subject": "Betreff", "message": "Zeile 1\\nZeile 2\\tTab"}'
    assert http.parse_json(raw, SCHEMA, multiline=("message",))["message"].count("\n") == 1
    with pytest.raises(InvalidRequestError, match="subject"):
        http.parse_json(b'{"subject": "a\\r\\nBcc: x"}', SCHEMA, multiline=("message",))
    with pytest.raises(InvalidRequestError, match="message"):
        http.parse_json(raw, SCHEMA)
    with pytest.raises(InvalidRequestError):
        http.parse_json(b'{"subject": "a", "message": "x\\u0000y"}', SCHEMA, multiline=("message",))


def test_a_password_with_a_control_character_names_the_rule():
    with pytest.raises(PasswordPolicyError, match="Steuerzeichen"):
        http.parse_json(b'{"password": "Sicheres-\\u0000Passwort-2026"}', {"password": (str, True)})


@pytest.mark.parametrize("value", ["١٠", "²", "1e3", "-1", " 5", "", "9" * 20, "0", "101"])
def test_numbers_take_ascii_digits_within_bounds_only(value):
    with pytest.raises(InvalidRequestError):
        http.int_param(value, "limit", 1, 100)


def test_a_plain_number_passes():
    assert http.int_param("20", "limit", 1, 100) == 20


@pytest.mark.parametrize("value", ["", " ", "a/b", "a\nb", "ä", "x" * 129, "a%00"])
def test_path_ids_are_checked(value):
    with pytest.raises(InvalidRequestError):
        http.path_id(value)
