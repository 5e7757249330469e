"""The UI in a real browser: Debian's chromium, headless, driven by Playwright.

The UI runs as `nexus serve` runs it: a child process under UISupervisor, pointed at the demo gateway.
Screenshots of each page land in tests/_output/ui/.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from nexus.ui.supervisor import UISupervisor

from .conftest import OUTPUT, REQUIRE_SERVICES, Gateway, free_port

CHROMIUM = Path("/usr/bin/chromium")
PAGES = {"work-orders": "Work orders", "metrics": "Metrics", "models": "Models & routing", "agents": "Agents"}
ERROR_SELECTORS = ('[data-testid="stException"]', '[data-testid="stAlertContentError"]')

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chromium_path() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    msg = f"{CHROMIUM} is missing: apt-get install chromium to run the browser test"
    if REQUIRE_SERVICES:
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="module")
def ui(gateway: Gateway, chromium_path: Path) -> Iterator[str]:
    port = free_port()
    sup = UISupervisor(api_url=gateway.url, port=port)
    sup.start()
    url = f"http://127.0.0.1:{port}"
    try:
        up = False
        for _ in range(200):
            try:
                up = httpx.get(url + "/_stcore/health", timeout=1).status_code == 200
            except httpx.TransportError:
                up = False
            if up:
                break
            time.sleep(0.2)
        assert up, "Streamlit did not come up"
        yield url
    finally:
        sup.stop()
    assert sup.pid is None


def test_every_page_in_chromium(gateway: Gateway, ui: str, chromium_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    OUTPUT.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PLAYWRIGHT_BROWSERS_PATH", "0")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(chromium_path),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            headless=True,
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(30_000)
            page.goto(ui + "/")
            box = page.get_by_test_id("stChatInputTextArea")
            box.fill("Write a Python function that reverses a string.")
            box.press("Enter")
            # The run is over when the answer's badges and the vote chart are drawn.
            expect(page.locator('[data-testid="stVegaLiteChart"]').first).to_be_visible(timeout=40_000)
            expect(page.get_by_text("tokens").first).to_be_visible()
            sid = parse_qs(urlparse(page.url).query)["session"][0]
            trace = httpx.get(f"{gateway.url}/trace/{sid}", timeout=10).json()
            events = trace["events"] if isinstance(trace, dict) else trace
            answer = next(e["data"]["answer"] for e in events if e["type"] == "final")
            page.wait_for_timeout(500)  # let the chart finish its layout before the picture
            page.screenshot(path=str(OUTPUT / "chat.png"), full_page=True)
            body = page.locator("body").inner_text()
            assert " ".join(answer.split()[:6]) in " ".join(body.split())
            for sel in ERROR_SELECTORS:
                assert page.locator(sel).count() == 0, f"chat: {sel}"

            for path, title in PAGES.items():
                if path == "agents" and httpx.get(f"{gateway.url}/api/agents", timeout=10).status_code == 404:
                    continue  # the gateway does not mount the agents route yet; test_pages says so
                page.goto(f"{ui}/{path}")
                expect(page.get_by_role("heading", name=title).first).to_be_visible()
                page.wait_for_timeout(1000)  # charts render after the data arrives
                page.screenshot(path=str(OUTPUT / f"{path}.png"), full_page=True)
                for sel in ERROR_SELECTORS:
                    assert page.locator(sel).count() == 0, f"{path}: {sel}"
        finally:
            browser.close()
    assert (OUTPUT / "chat.png").stat().st_size > 10_000
