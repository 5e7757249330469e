# ruff: noqa: F811  (pytest fixtures imported from tests.pipeline.conftest are redefined as arguments)
"""The admin console in Chromium (Playwright), against its own gateway with auth on (demo models):
a global admin creates a tenant and a key, sees service health, filters the audit log; a member sees
none of it. Screenshots land in tests/_output/ui/admin-*.png."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.pipeline.conftest import classifier_cache  # noqa: F401  (fixture)
from tests.pipeline.harness import make_app

from nexus.config.settings import Settings
from nexus.service.keys import create_api_key
from nexus.testing.gateway import GatewayServer
from nexus.ui.admin import MEMBERS_NOTICE
from nexus.ui.supervisor import UISupervisor

from .conftest import OUTPUT, free_port
from .test_browser import ERROR_SELECTORS, chromium_path  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser
ADMIN_PAGES = {"admin-tenants": "Tenants", "admin-health": "Service health", "admin-audit": "Audit log"}


@pytest.fixture(scope="module")
def admin_env(classifier_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    d = tmp_path_factory.mktemp("admin-ui")
    settings = Settings(
        data_dir=d, demo=True, auth="on", heartbeat_disk_warn_pct=100.1, heartbeat_disk_crit_pct=100.2
    )
    with GatewayServer(settings, app=make_app(settings, classifier_cache)) as gw:
        keys = {
            who: gw.call(create_api_key(gw.services.store, tenant=tenant, role=role))[0]
            for who, tenant, role in (("root", "ops", "global_admin"), ("member", "acme", "member"))
        }
        port = free_port()
        sup = UISupervisor(api_url=gw.base_url, port=port)
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
            yield {"gw": gw, "ui": url, "keys": keys}
        finally:
            sup.stop()


def _browser(pw: Any, chromium: Path) -> Any:
    return pw.chromium.launch(
        executable_path=str(chromium),
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        headless=True,
    )


def _use_key(page: Any, key: str) -> None:
    box = page.get_by_label("Bearer key for this gateway", exact=True).and_(page.locator("input"))
    if not box.is_visible():
        page.get_by_text("API key").first.click()
    box.fill(key)
    box.press("Enter")


def _settle(page: Any) -> None:
    """Wait for the script run to finish (Streamlit keeps stale elements on screen while it runs)."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=30_000)
    page.wait_for_timeout(300)


def _clean(page: Any, what: str) -> None:
    for sel in ERROR_SELECTORS:
        assert page.locator(sel).count() == 0, f"{what}: {sel}"


def test_a_global_admin_runs_the_console(admin_env: dict[str, Any], chromium_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    gw, ui, keys = admin_env["gw"], admin_env["ui"], admin_env["keys"]
    OUTPUT.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PLAYWRIGHT_BROWSERS_PATH", "0")
    root = {"Authorization": f"Bearer {keys['root']}"}
    with sync_playwright() as pw:
        browser = _browser(pw, chromium_path)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.set_default_timeout(30_000)
            page.goto(f"{ui}/admin-tenants")
            _use_key(page, keys["root"])
            expect(page.get_by_role("heading", name="Tenants").first).to_be_visible()

            # Create a tenant.
            page.get_by_text("Create a tenant").first.click()
            page.get_by_label("Tenant id").fill("globex")
            page.get_by_label("Name").first.fill("Globex Corp")
            page.get_by_role("button", name="Create tenant").click()
            expect(page.get_by_text("Tenant globex created.")).to_be_visible()
            listed = httpx.get(gw.base_url + "/admin/tenants", headers=root).json()["data"]
            assert "globex" in {t["id"] for t in listed}

            # Create a key for it: shown once, and it works.
            page.get_by_label("Tenant", exact=True).click()
            page.get_by_role("option", name="globex").click()
            _settle(page)
            tab = page.get_by_role("tab", name="API keys")
            expect(tab).to_have_count(1, timeout=30_000)  # the previous run's tabs are gone
            tab.click()
            page.get_by_label("Key name").fill("support-bot")
            page.get_by_role("button", name="Create key").click()
            expect(page.get_by_text("Store it now")).to_be_visible()
            shown = page.locator('[data-testid="stCode"]').first.inner_text().strip()
            assert shown.startswith("nx_")
            me = httpx.get(gw.base_url + "/admin/keys", headers=root).json()["data"]
            assert any(k["tenant"] == "globex" and k["name"] == "support-bot" for k in me)
            assert (
                httpx.get(
                    gw.base_url + "/v1/models", headers={"Authorization": f"Bearer {shown}"}
                ).status_code
                == 200
            )
            page.screenshot(path=str(OUTPUT / "admin-tenants.png"), full_page=True)
            _clean(page, "tenants")

            # Service health: run the checks, see them.
            page.goto(f"{ui}/admin-health")  # a new browser session: the key is entered again
            _use_key(page, keys["root"])
            expect(page.get_by_role("heading", name="Service health").first).to_be_visible()
            page.get_by_role("button", name="Run checks now").click()
            expect(page.get_by_text("Checks ran in")).to_be_visible(timeout=60_000)
            expect(page.get_by_text("History")).to_be_visible(timeout=30_000)
            expect(page.locator('[data-testid="stVegaLiteChart"]').first).to_be_visible()
            page.wait_for_timeout(800)
            page.screenshot(path=str(OUTPUT / "admin-health.png"), full_page=True)
            _clean(page, "health")

            # Audit log, filtered to key creations.
            page.goto(f"{ui}/admin-audit")
            _use_key(page, keys["root"])
            expect(page.get_by_role("heading", name="Audit log").first).to_be_visible()
            box = page.get_by_label("Action")
            box.fill("key.create")
            box.press("Enter")
            expect(page.get_by_text("entries").first).to_be_visible()
            page.wait_for_timeout(1500)
            table = page.locator('[data-testid="stDataFrame"]').first
            expect(table).to_be_visible()
            caption = page.get_by_text("entries").first.inner_text()
            want = httpx.get(
                gw.base_url + "/api/audit", params={"action": "key.create"}, headers=root
            ).json()["data"]
            assert caption.startswith(f"{len(want)} entries") and len(want) >= 1
            alls = httpx.get(gw.base_url + "/api/audit", headers=root).json()["data"]
            assert len(alls) > len(want)  # the filter left the tenant.create entry out
            expect(page.get_by_role("button", name="Export CSV")).to_be_visible()
            page.screenshot(path=str(OUTPUT / "admin-audit.png"), full_page=True)
            _clean(page, "audit")
        finally:
            browser.close()


def test_a_member_sees_none_of_it(admin_env: dict[str, Any], chromium_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    ui, keys = admin_env["ui"], admin_env["keys"]
    os.environ.setdefault("PLAYWRIGHT_BROWSERS_PATH", "0")
    with sync_playwright() as pw:
        browser = _browser(pw, chromium_path)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(30_000)
            for path, title in ADMIN_PAGES.items():
                page.goto(f"{ui}/{path}")
                _use_key(page, keys["member"])
                expect(page.get_by_role("heading", name=title).first).to_be_visible()
                expect(page.get_by_text(MEMBERS_NOTICE)).to_be_visible()
                assert page.locator('[data-testid="stDataFrame"]').count() == 0
                assert page.get_by_role("button", name="Run checks now").count() == 0
                assert page.get_by_role("button", name="Create tenant").count() == 0
            page.screenshot(path=str(OUTPUT / "admin-member.png"), full_page=True)
        finally:
            browser.close()
