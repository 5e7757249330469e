"""Budgets: hard → BudgetExceeded (429) with the reset time; soft → one audit row and one hook call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from nexus.gateway.errors import APIError
from nexus.service.budgets import BudgetExceeded, BudgetManager, BudgetRule, period_bounds
from nexus.store import Store, TenantScope
from store.helpers import BACKENDS, open_test_store

NOW = datetime(2025, 12, 31, 15, 0, tzinfo=UTC)
ADMIN = TenantScope("root", is_global_admin=True)


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with open_test_store(request.param, tmp_path, request) as s:
        yield s


def test_period_bounds_roll_over_month_and_year() -> None:
    assert period_bounds("day", NOW) == (datetime(2025, 12, 31, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
    assert period_bounds("month", NOW) == (
        datetime(2025, 12, 1, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC),
    )


async def test_hard_token_budget_refuses_with_reset_time(store: Store) -> None:
    await store.budgets(TenantScope("acme")).set(period="day", metric="tokens", limit=1000, hard=True)
    budgets = BudgetManager(store, clock=lambda: NOW)
    await budgets.reconcile()
    budgets.check("acme", "key-1")
    budgets.record("acme", "key-1", 600, 0.01)
    budgets.check("acme", "key-1")
    with pytest.raises(BudgetExceeded):
        budgets.check("acme", "key-1", tokens=500)  # this request would overrun it
    budgets.record("acme", "key-2", 400, 0.01)  # the tenant budget counts every key
    with pytest.raises(BudgetExceeded) as info:
        budgets.check("acme", "key-1")
    assert info.value.reset_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert "daily tokens budget of tenant 'acme'" in info.value.message
    assert "2026-01-01T00:00:00+00:00" in info.value.message
    budgets.check("globex", "key-9")  # other tenants are untouched
    with pytest.raises(APIError) as api:
        budgets.enforce(SimpleNamespace(tenant_id="acme", key_id="key-1"))
    assert api.value.status == 429 and api.value.code == "budget_exceeded"
    assert int(api.value.headers["Retry-After"]) >= 1


async def test_key_budget_applies_to_that_key_only(store: Store) -> None:
    await store.budgets(ADMIN).set(
        tenant_id="acme", api_key_id="key-1", period="month", metric="cost", limit=1.0
    )
    budgets = BudgetManager(store, clock=lambda: NOW)
    await budgets.reconcile()
    budgets.record("acme", "key-1", 10, 1.5)
    with pytest.raises(BudgetExceeded) as info:
        budgets.check("acme", "key-1")
    assert "monthly cost budget of API key key-1" in info.value.message
    budgets.check("acme", "key-2")


async def test_soft_budget_audits_and_calls_the_hook_once_per_period(store: Store) -> None:
    await store.budgets(TenantScope("acme")).set(period="day", metric="cost", limit=0.5, hard=False)
    queue = store.accounting_queue()
    hits: list[tuple[BudgetRule, float]] = []
    budgets = BudgetManager(
        store, queue=queue, on_soft=lambda rule, used: hits.append((rule, used)), clock=lambda: NOW
    )
    await budgets.reconcile()
    for _ in range(4):
        budgets.record("acme", None, 10, 0.2)
        budgets.check("acme", None)  # soft: never refuses
    await queue.close()
    assert len(hits) == 1 and hits[0][1] == pytest.approx(0.6)
    rows = await store.audit(TenantScope("acme")).list(action="budget.soft_exceeded")
    assert len(rows) == 1 and rows[0].status == "warning" and rows[0].details["limit"] == 0.5


async def test_counters_are_reconciled_from_the_database(store: Store) -> None:
    await store.budgets(TenantScope("acme")).set(period="day", metric="tokens", limit=100)
    queue = store.accounting_queue()
    wid = await queue.work_order_started(tenant_id="acme", api_key_id="key-1", created_at=NOW)
    await queue.work_order_finished(wid, tenant_id="acme", tokens_in=70, tokens_out=40)
    await queue.close()
    budgets = BudgetManager(store, clock=lambda: NOW)  # e.g. a restarted process
    await budgets.start()
    try:
        with pytest.raises(BudgetExceeded):
            budgets.check("acme", "key-1")
        assert budgets.used(budgets.rules[0]) == 110
    finally:
        await budgets.close()


async def test_soft_audit_without_a_queue_writes_directly(store: Store) -> None:
    await store.budgets(TenantScope("acme")).set(period="month", metric="tokens", limit=5, hard=False)
    budgets = BudgetManager(store, clock=lambda: NOW)
    await budgets.reconcile()
    budgets.record("acme", None, 6, 0.0)
    await budgets.close()
    assert len(await store.audit(TenantScope("acme")).list(action="budget.soft_exceeded")) == 1
