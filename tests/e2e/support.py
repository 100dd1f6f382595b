"""Helpers the end-to-end tests share: test ids, tokens through the API, the outbox."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Page


def _tag() -> str:
    return uuid.uuid4().hex[:8]


def api_token(stack: dict[str, Any], owner: dict[str, Any]) -> str:
    response = requests.post(
        f"{stack['url']}/api/auth/login",
        json={"email": owner["email"], "password": owner["password"]},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def wait_for_mail(
    stack: dict[str, Any],
    matches: Callable[[dict[str, Any]], bool],
    seen: int = 0,
    timeout_s: float = 20.0,
) -> dict[str, Any]:
    """Polls the outbox until more than `seen` mails match; returns the newest match."""
    from local.outbox import read_outbox

    deadline = time.monotonic() + timeout_s
    while True:
        hits = [m for m in read_outbox(stack["env"]["AWS_ENDPOINT_URL"]) if matches(m)]
        if len(hits) > seen:
            return hits[-1]
        if time.monotonic() > deadline:
            pytest.fail(f"Keine passende E-Mail nach {timeout_s:.0f} s im Postausgang.")
        time.sleep(0.3)


def badge(page: Page) -> Any:
    """The status badge of the invoice on its detail page (the only one there: strict)."""
    return page.get_by_test_id("invoice-status")


# ---------------------------------------------------------------------------------------------
# Accessibility: axe-core (installed by `make test` from the npm registry) on the live page

AXE_FILE = Path(__file__).resolve().parents[2] / ".local/node/node_modules/axe-core/axe.min.js"
_axe_source: list[str] = []

# The card field is the payment provider's widget (an iframe from Stripe in production; the
# local stand-in draws its own inputs there), not our markup.
AXE_EXCLUDE = ['[data-testid$="card-element"] > *']

_RUN_AXE = """async (exclude) => {
  const result = await window.axe.run({ exclude: exclude.map((s) => [s]) }, {
    resultTypes: ['violations'],
  });
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(' ')} – ${n.failureSummary}`),
    }));
}"""


def expect_accessible(page: Page, where: str) -> None:
    """axe-core on the page as it is now: no violation of impact serious or critical."""
    if not _axe_source:
        if not AXE_FILE.exists():
            pytest.fail(
                f"axe-core fehlt ({AXE_FILE}); `make axe` (Teil von `make test`) installiert es.",
                pytrace=False,
            )
        _axe_source.append(AXE_FILE.read_text(encoding="utf-8"))
    page.wait_for_load_state("networkidle")
    # Evaluated through the browser's debugging protocol: the page's CSP (no inline script)
    # stays in force for everything else.
    if page.evaluate("typeof window.axe") != "object":
        page.evaluate(_axe_source[0])
    violations = page.evaluate(_RUN_AXE, AXE_EXCLUDE)
    width = page.viewport_size["width"] if page.viewport_size else 0
    # Reflow (WCAG 1.4.10): the content fits the screen without scrolling sideways.
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"{where}: horizontaler Scroll ({scroll_width}px > {width}px)"
    assert not violations, f"axe ({where}, {width} px): " + "\n".join(
        f"{v['impact']} {v['id']}: {v['help']}\n    " + "\n    ".join(v["nodes"])
        for v in violations
    )
