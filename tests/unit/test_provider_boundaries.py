"""A payment provider is an adapter plus a registry line: nothing in services/ or domain/
names one, so a new provider (SEPA direct debit, …) never touches the use cases."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("chalicelib/services", "chalicelib/domain")
# An identifier that names a provider, or a string that is one (a name, a code, a key);
# German sentences that mention PayPal to the owner as a way to pay are not code.
NAME = re.compile(r"stripe|paypal", re.IGNORECASE)
VALUE = re.compile(r"^(stripe|paypal)([_.:-]\w*)?$", re.IGNORECASE)


def provider_mentions(source: str) -> list[tuple[int, str]]:
    found = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.NAME and NAME.search(token.string):
            found.append((token.start[0], token.string))
        elif token.type == tokenize.STRING:
            value = token.string.strip("rbfuRBFU").strip("\"'")
            if VALUE.match(value):
                found.append((token.start[0], token.string))
    return found


@pytest.mark.parametrize(
    "path",
    sorted(p for layer in LAYERS for p in (ROOT / layer).rglob("*.py")),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_use_cases_and_domain_name_no_provider(path: Path) -> None:
    assert provider_mentions(path.read_text()) == []


def test_the_check_finds_a_provider_branch() -> None:
    branchy = 'if payment.provider == "stripe":\n    stripe_ref = 1\nx = "paypal_canceled"\n'
    assert [line for line, _ in provider_mentions(branchy)] == [1, 2, 3]
    prose = 'message = "Bitte nutze eine andere Karte oder PayPal."\n'
    assert provider_mentions(prose) == []
