# ruff: noqa: F811  (pytest fixtures imported from tests.pipeline.conftest are redefined as arguments)
"""Each check against a dependency the test starts itself: failing when it stops, passing when it is back."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest
from tests.ops.services import RedisServer, TcpProxy
from tests.pipeline.conftest import classifier_cache, fakes  # noqa: F401  (fixtures)
from tests.pipeline.harness import TEST_KEY, make_app, write_test_catalogue
from tests.store.helpers import _asyncpg_dsn

from nexus.config.settings import Settings
from nexus.ops.checks import (
    BudgetsCheck,
    DatabaseCheck,
    GatewayCheck,
    ProvidersCheck,
    RedisCheck,
    StuckRunsCheck,
)
from nexus.ops.history import History
from nexus.ops.system import DiskCheck, GpuCheck, MemoryCheck
from nexus.ops.types import Check, CheckResult
from nexus.providers.hub import ModelHub
from nexus.store import TenantScope, open_store
from nexus.store.models import utcnow
from nexus.store.repos.ops import HealthChecks
from nexus.testing import FakeOpenAI
from nexus.testing.gateway import GatewayServer, free_port, write_catalogue


async def states(check: Check) -> dict[str, str]:
    return {r.name: r.state for r in await check.run()}


async def eventually(check: Check, name: str, state: str, tries: int = 3) -> CheckResult:
    """A pool may hold one connection the outage broke: it is dropped on first use, then the next works."""
    last: CheckResult | None = None
    for _ in range(tries):
        last = next(r for r in await check.run() if r.name == name)
        if last.state == state:
            return last
    raise AssertionError(f"{name}: {last}")


async def test_redis_fails_when_its_server_stops_and_passes_when_it_returns(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path).start()
    check = RedisCheck(redis.url, Settings(data_dir=tmp_path, heartbeat_timeout_s=1))
    try:
        assert await states(check) == {"redis": "ok"}
        redis.stop()
        down = (await check.run())[0]
        assert down.state == "critical" and "unreachable" in down.detail
        redis.start()
        assert await states(check) == {"redis": "ok"}
    finally:
        redis.stop()
    assert await states(RedisCheck(None, Settings(data_dir=tmp_path))) == {"redis": "skipped"}


async def test_a_provider_down_is_a_warning_and_all_down_critical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEXUS_TEST_KEY", TEST_KEY)
    with FakeOpenAI() as a, FakeOpenAI() as b:
        cat = write_catalogue(
            tmp_path / "cat.yaml", [{"id": "a", "base_url": a.base_url}, {"id": "b", "base_url": b.base_url}]
        )
        settings = Settings(data_dir=tmp_path, config=cat)
        hub = ModelHub(settings)
        hub.load()
        check = ProvidersCheck(hub, settings)
        try:
            assert await states(check) == {"provider:a": "ok", "provider:b": "ok"}
            a.stop()
            assert await states(check) == {"provider:a": "warning", "provider:b": "ok"}
            b.stop()
            assert await states(check) == {"provider:a": "critical", "provider:b": "critical"}
            a.start()
            b.start()
            await eventually(check, "provider:a", "ok")  # a pooled connection to the dead server goes first
            assert await states(check) == {"provider:a": "ok", "provider:b": "ok"}
        finally:
            await hub.aclose()


@pytest.mark.postgres
async def test_postgresql_fails_when_it_goes_away_and_the_history_keeps_the_outage(
    postgres_url: str, tmp_path: Path
) -> None:
    target = int(postgres_url.rsplit(":", 1)[1].split("/")[0])
    proxy = TcpProxy(target).start()
    schema = f"ops_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(_asyncpg_dsn(postgres_url))
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    url = postgres_url.replace(f":{target}/", f":{proxy.port}/")
    settings = Settings(data_dir=tmp_path, database_url=url, heartbeat_timeout_s=2)
    store = await open_store(settings, server_settings={"search_path": schema})
    try:
        check, history = DatabaseCheck(store, settings), History(store, keep_days=7)
        assert check.name == "postgresql"
        assert await states(check) == {"postgresql": "ok"}
        proxy.stop()
        down = await check.run()
        assert down[0].state == "critical"
        assert await history.record(down) is False and history.pending == 1  # held back, not lost
        proxy.start()
        back = await eventually(check, "postgresql", "ok")
        assert await history.record([back]) is True and history.pending == 0
        rows = await HealthChecks(store.sessions, TenantScope.system()).history(name="postgresql")
        assert [r.state for r in rows] == ["ok", "critical"]
    finally:
        proxy.stop()
        await store.close()
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


def test_the_gateway_check_follows_the_gateway(
    fakes: dict[str, FakeOpenAI], classifier_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    monkeypatch.setenv("NEXUS_TEST_KEY", TEST_KEY)
    port = free_port()
    settings = Settings(
        data_dir=tmp_path, config=write_test_catalogue(tmp_path / "c.yaml", fakes), heartbeat_timeout_s=2
    )
    check = GatewayCheck(f"http://127.0.0.1:{port}", settings)
    with GatewayServer(settings, port=port, app=make_app(settings, classifier_cache)):
        assert asyncio.run(states(check)) == {"gateway": "ok"}
    down = asyncio.run(check.run())[0]
    assert down.state == "critical" and "unreachable" in down.detail
    with GatewayServer(settings, port=port, app=make_app(settings, classifier_cache)):
        assert asyncio.run(states(check)) == {"gateway": "ok"}


async def test_stuck_runs_and_budgets_near_their_limits(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        heartbeat_stuck_run_s=60,
        heartbeat_budget_warn_pct=80,
        heartbeat_budget_crit_pct=95,
    )
    store = await open_store(settings)
    try:
        orders = store.work_orders(TenantScope("acme"))
        old = utcnow() - timedelta(minutes=10)
        await orders.add(id="stuck", status="running", updated_at=old, created_at=old)
        await orders.add(id="waiting", status="paused", updated_at=old, created_at=old)  # a person's turn
        await orders.add(id="fresh", status="running")
        stuck = (await StuckRunsCheck(store, settings).run())[0]
        assert stuck.state == "warning" and stuck.data["ids"] == ["stuck"]

        budgets = BudgetsCheck(store, settings)
        assert await states(budgets) == {"budgets": "ok"}
        await store.budgets(TenantScope("acme")).set(
            period="day", metric="tokens", limit=1000, tenant_id="acme"
        )
        await orders.add(id="spent", status="done", tokens_in=400, tokens_out=450)
        result = (await budgets.run())[0]
        assert (result.name, result.state, result.tenant) == ("budget:acme", "warning", "acme")
        await orders.add(id="more", status="done", tokens_in=100, tokens_out=10)
        assert await states(budgets) == {"budget:acme": "critical"}
    finally:
        await store.close()


async def test_disk_and_memory_follow_their_thresholds_and_gpu_is_skipped_cleanly(tmp_path: Path) -> None:
    calm = Settings(
        data_dir=tmp_path,
        heartbeat_disk_warn_pct=100.1,
        heartbeat_disk_crit_pct=100.2,
        heartbeat_memory_warn_pct=100.1,
        heartbeat_memory_crit_pct=100.2,
    )
    tight = Settings(
        data_dir=tmp_path,
        heartbeat_disk_warn_pct=0,
        heartbeat_disk_crit_pct=100.2,
        heartbeat_memory_warn_pct=0,
        heartbeat_memory_crit_pct=0,
    )
    assert await states(DiskCheck(tmp_path, calm)) == {"disk": "ok"}
    assert await states(DiskCheck(tmp_path, tight)) == {"disk": "warning"}
    assert await states(MemoryCheck(calm)) == {"memory": "ok"}
    assert await states(MemoryCheck(tight)) == {"memory": "critical"}
    gpu = await GpuCheck(calm).run()
    if os.path.exists("/dev/nvidia0"):
        assert all(r.name.startswith("gpu:") for r in gpu)
    else:
        assert [(r.name, r.state) for r in gpu] == [("gpu", "skipped")]
        assert "NVML" in gpu[0].detail or "NVIDIA" in gpu[0].detail
