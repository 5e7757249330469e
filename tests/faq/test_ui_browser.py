"""The FAQ, Smart agent and Compare pages in Chromium (Playwright), against the real gateway of tests/faq
(auth on, PostgreSQL; the page's key is one tenant's member key): a FAQ upload reaching its pairs, a
smart-agent chat filling the leads table over three messages, a compare view with one side past its
timeout. What the page shows is checked on screen and against the API. Screenshots land in
tests/_output/ui/faq-*.png."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.faq.conftest import Env
from tests.faq.test_extract import MARKDOWN
from tests.ui.conftest import OUTPUT, free_port
from tests.ui.test_admin_browser import _browser, _clean, _settle, _use_key
from tests.ui.test_browser import chromium_path  # noqa: F401  (fixture)

from nexus.service.keys import create_api_key
from nexus.testing import Reply
from nexus.ui.supervisor import UISupervisor

pytestmark = pytest.mark.browser
TENANT = "browser-co"


@pytest.fixture(scope="module")
def ui(env: Env) -> Iterator[dict[str, Any]]:
    token, _ = env.gw.call(create_api_key(env.gw.services.store, tenant=TENANT, role="member"))
    port = free_port()
    sup = UISupervisor(api_url=env.gw.base_url, port=port)
    sup.start()
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(url + "/_stcore/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        with httpx.Client(
            base_url=env.gw.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as api:
            yield {"url": url, "key": token, "api": api}
    finally:
        sup.stop()


@pytest.fixture
def page(chromium_path: Path) -> Iterator[Any]:  # noqa: F811
    from playwright.sync_api import sync_playwright

    OUTPUT.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PLAYWRIGHT_BROWSERS_PATH", "0")
    with sync_playwright() as pw:
        browser = _browser(pw, chromium_path)
        try:
            p = browser.new_page(viewport={"width": 1400, "height": 1100})
            p.set_default_timeout(30_000)
            yield p
        finally:
            browser.close()


def test_a_faq_upload_reaches_its_pairs(ui: dict[str, Any], page: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    doc = tmp_path / "help.md"
    doc.write_text(MARKDOWN)
    page.goto(ui["url"] + "/faq")
    _use_key(page, ui["key"])
    expect(page.get_by_role("heading", name="FAQ").first).to_be_visible()
    _settle(page)  # the key's rerun redraws the uploader: a file set before that is dropped
    # The upload goes to the UI server first; the button appears on the rerun that follows it.
    for _ in range(3):
        page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(doc))
        try:
            expect(page.get_by_text("help.md")).to_be_visible(timeout=10_000)
            break
        except AssertionError:
            _settle(page)
    expect(page.get_by_text("help.md")).to_be_visible()
    _settle(page)
    page.get_by_role("button", name="Extract FAQs").click(timeout=60_000)
    _settle(page)
    box = page.get_by_label("Document id")
    expect(box).not_to_have_value("")
    doc_id = box.input_value()
    for _ in range(60):  # the job runs in the background; the page's Refresh button re-reads it
        if page.get_by_text("Status: done").count():
            break
        refresh = page.get_by_role("button", name="Refresh")
        if refresh.count():
            refresh.click()
        _settle(page)
        page.wait_for_timeout(300)
    expect(page.get_by_text("Status: done")).to_be_visible()
    expect(page.get_by_text("3 pairs")).to_be_visible()
    expect(page.locator('[data-testid="stDataFrame"]').first).to_be_visible()
    pairs = ui["api"].get(f"/api/faqs/documents/{doc_id}").json()["pairs"]
    assert {p["question"] for p in pairs} == {
        "Do you ship abroad?",
        "How long do I have to return an item?",
        "Can I pay by invoice?",
    }
    page.screenshot(path=str(OUTPUT / "faq-pairs.png"), full_page=True)
    _clean(page, "faq")


def test_a_smart_agent_chat_fills_the_leads_table(ui: dict[str, Any], env: Env, page: Any) -> None:
    from playwright.sync_api import expect

    page.goto(ui["url"] + "/smart-agent")
    _use_key(page, ui["key"])
    expect(page.get_by_role("heading", name="Smart agent").first).to_be_visible()
    expect(page.get_by_text("No leads yet")).to_be_visible()
    page.get_by_text("Create an agent").first.click()
    page.get_by_label("Name", exact=True).fill("shop-desk")
    page.get_by_label("FAQs: one per line, 'question | answer'").fill(
        "Do you ship abroad? | Yes, to 40 countries."
    )
    page.get_by_role("button", name="Create", exact=True).click()
    # (the message sits in the expander, which a rerun may fold: present, and the agent selectable)
    expect(page.get_by_text("Agent shop-desk created with 1 FAQs.")).to_be_attached()
    expect(page.get_by_placeholder("Write as a customer")).to_be_visible()  # drawn once an agent exists
    _settle(page)

    messages = (
        "Hi, I'm Ada Byron.",
        "I'm writing for Engines Ltd, we'd like to order abroad.",
        "You can reach me at ada@engines.example. Do you ship abroad?",
    )
    for i, text in enumerate(messages):
        env.writer.push(Reply(text=f"Answer {i + 1}: yes, we ship to 40 countries."))
        box = page.get_by_placeholder("Write as a customer")
        box.fill(text)
        box.press("Enter")
        expect(page.get_by_text(f"Answer {i + 1}: yes, we ship to 40 countries.")).to_be_visible()
        _settle(page)
    expect(page.get_by_text("Citations: faq_").first).to_be_visible()
    expect(page.get_by_text("No leads yet")).to_have_count(0)
    expect(page.locator('[data-testid="stDataFrame"]').last).to_be_visible()
    [lead] = ui["api"].get("/api/leads").json()["data"]
    assert (lead["name"], lead["email"], lead["company"], lead["messages"]) == (
        "Ada Byron",
        "ada@engines.example",
        "Engines Ltd",
        3,
    )
    page.screenshot(path=str(OUTPUT / "faq-smart-agent.png"), full_page=True)
    _clean(page, "smart agent")


def _pick(page: Any, label: str, option: str) -> None:
    page.get_by_label(label).click()
    page.get_by_role("option", name=option, exact=True).click()
    _settle(page)


def test_the_compare_view_shows_both_sides(ui: dict[str, Any], env: Env, page: Any) -> None:
    from playwright.sync_api import expect

    env.fast.push(Reply(text="The fast side answers."))
    env.slow.push(Reply(text="The slow side answers.", delay=5.0))
    page.goto(ui["url"] + "/compare")
    _use_key(page, ui["key"])
    expect(page.get_by_role("heading", name="Compare").first).to_be_visible()
    _settle(page)
    _pick(page, "Model A", "fast")
    _pick(page, "Model B", "slow")
    timeout = page.get_by_label("Timeout (s)")
    timeout.fill("1")
    timeout.press("Enter")
    _settle(page)
    page.get_by_label("Prompt").fill("Which plan suits a team of five?")
    page.get_by_label("Prompt").press("Control+Enter")
    _settle(page)
    page.get_by_role("button", name="Compare").click()
    expect(page.get_by_text("The fast side answers.")).to_be_visible()
    expect(page.get_by_text("Timed out after 1 s")).to_be_visible()
    expect(page.get_by_text("The slow side answers.")).to_have_count(0)
    page.screenshot(path=str(OUTPUT / "faq-compare.png"), full_page=True)
    _clean(page, "compare")
