"""First load of the page on the local stack in headless Chromium (design.md §8).

Budget: ≤ 60 KB of our own assets (everything served from web/: the page loads the modules
the sign-in needs, the other screens when first visited), usable in ≤ 500 ms (the sign-in
form can be typed into). Prints the median of 5 cold loads and what was loaded.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def main() -> None:
    from playwright.sync_api import sync_playwright

    from local.stack import Stack, free_port

    state = Path(tempfile.mkdtemp()) / "stack.json"
    with (
        Stack(port=free_port(), state_file=state, seed=False, quiet=True) as stack,
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        timings, sizes = [], []
        files: dict[str, int] = {}
        for _ in range(5):
            context = browser.new_context(viewport={"width": 375, "height": 812})
            page = context.new_page()
            own: dict[str, int] = {}

            def record(response, own=own):  # noqa: ANN001
                url = response.url
                if url.startswith(stack.url) and "/api/" not in url:
                    own[url] = len(response.body())

            page.on("response", record)
            started = time.perf_counter()
            page.goto(f"{stack.url}/#/anmelden")
            page.get_by_test_id("login-email").wait_for(state="visible")
            page.get_by_test_id("login-email").fill("probe@example.org")
            timings.append((time.perf_counter() - started) * 1000)
            page.wait_for_load_state("networkidle")
            sizes.append(sum(own.values()))
            files = own
            context.close()
        browser.close()
    for url, size in sorted(files.items(), key=lambda item: -item[1]):
        print(f"  {size / 1000:6.1f} KB  {url.removeprefix(stack.url)}")
    total = max(sizes) / 1000
    print(f"own assets on first load: {total:.1f} KB in {len(files)} files (budget ≤ 60 KB)")
    print(
        f"usable (sign-in form typed into): median {statistics.median(timings):.0f} ms, "
        f"max {max(timings):.0f} ms over 5 cold loads (budget ≤ 500 ms)"
    )


if __name__ == "__main__":
    main()
