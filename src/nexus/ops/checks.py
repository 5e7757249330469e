"""The deployment's checks: the gateway's /ready, the database, Redis, each model provider, stuck
pipeline runs and budgets near their limits. Each takes its thresholds from Settings and reports,
never raises (the heartbeat turns an unexpected exception into a critical result anyway)."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func

from nexus.config.settings import Settings
from nexus.ops.types import CheckResult, State, by_threshold, worst
from nexus.providers.hub import ModelHub
from nexus.service.budgets import period_bounds
from nexus.store import Store, TenantScope
from nexus.store.models import Budget, WorkOrder, utcnow

STUCK_STATUSES = ("pending", "running")


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _slow(state: State, latency_ms: float, warn_ms: float) -> State:
    return "warning" if state == "ok" and latency_ms > warn_ms else state


class GatewayCheck:
    """GET {gateway}/ready: 200 is ok (a warning when slow), 503 names what is not ready."""

    name = "gateway"

    def __init__(self, url: str, settings: Settings) -> None:
        self.url = url.rstrip("/") + "/ready"
        self.timeout = settings.heartbeat_timeout_s
        self.warn_ms = settings.heartbeat_latency_warn_ms

    async def run(self) -> list[CheckResult]:
        started = time.perf_counter()
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                r = await client.get(self.url)
        except httpx.HTTPError as exc:
            return [CheckResult(self.name, "critical", f"unreachable: {type(exc).__name__}", _ms(started))]
        ms = _ms(started)
        if r.status_code == 200:
            return [CheckResult(self.name, _slow("ok", ms, self.warn_ms), f"ready in {ms:.0f} ms", ms)]
        try:
            checks = r.json().get("checks", {})
            down = sorted(k for k, v in checks.items() if not v.get("ok"))
        except (ValueError, AttributeError):
            down = []
        what = f"not ready: {', '.join(down)}" if down else f"HTTP {r.status_code}"
        return [CheckResult(self.name, "critical", what, ms, {"status": r.status_code, "down": down})]


class DatabaseCheck:
    """One round trip to the configured database (PostgreSQL or SQLite), named after its backend."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.name = store.backend
        self.timeout = settings.heartbeat_timeout_s
        self.warn_ms = settings.heartbeat_latency_warn_ms

    async def run(self) -> list[CheckResult]:
        started = time.perf_counter()
        try:
            await asyncio.wait_for(self.store.ping(), timeout=self.timeout)
        except Exception as exc:  # any failure is the check's answer
            return [CheckResult(self.name, "critical", f"unreachable: {type(exc).__name__}", _ms(started))]
        ms = _ms(started)
        return [
            CheckResult(self.name, _slow("ok", ms, self.warn_ms), f"{self.store.where} in {ms:.0f} ms", ms)
        ]


class RedisCheck:
    name = "redis"

    def __init__(self, url: str | None, settings: Settings) -> None:
        self.url = url
        self.timeout = settings.heartbeat_timeout_s
        self.warn_ms = settings.heartbeat_latency_warn_ms

    async def run(self) -> list[CheckResult]:
        if not self.url:
            return [CheckResult(self.name, "skipped", "not configured (NEXUS_REDIS_URL)")]
        import redis.asyncio as aioredis

        client = aioredis.from_url(self.url, socket_connect_timeout=self.timeout, socket_timeout=self.timeout)
        started = time.perf_counter()
        try:
            await client.ping()
        except Exception as exc:
            return [CheckResult(self.name, "critical", f"unreachable: {type(exc).__name__}", _ms(started))]
        finally:
            await client.aclose()
        ms = _ms(started)
        return [CheckResult(self.name, _slow("ok", ms, self.warn_ms), f"ping in {ms:.0f} ms", ms)]


class ProvidersCheck:
    """Each model's provider health (`provider:<model id>`): a model down is a warning while others
    answer (fallbacks exist); every model down is critical."""

    name = "providers"

    def __init__(self, hub: ModelHub, settings: Settings) -> None:
        self.hub = hub
        self.timeout = settings.heartbeat_timeout_s * 2
        self.warn_ms = settings.heartbeat_latency_warn_ms

    async def run(self) -> list[CheckResult]:
        try:
            health = await asyncio.wait_for(self.hub.health(), timeout=self.timeout)
        except TimeoutError:
            return [CheckResult(self.name, "critical", "provider health checks timed out")]
        if not health:
            return [CheckResult(self.name, "critical", "no model has credentials")]
        all_down = not any(h.ok for h in health.values())
        out = []
        for model_id, h in sorted(health.items()):
            ms = float(h.latency_ms or 0.0)
            if h.ok:
                state: State = _slow("ok", ms, self.warn_ms)
                detail = f"healthy in {ms:.0f} ms"
            else:
                state = "critical" if all_down else "warning"
                detail = f"down: {h.detail or 'no answer'}"
            out.append(CheckResult(f"provider:{model_id}", state, detail, ms))
        return out


class StuckRunsCheck:
    """Work orders pending or running, untouched for longer than NEXUS_HEARTBEAT_STUCK_RUN_S (far beyond
    any request's time limit): their process died or hung. Paused runs wait for a person: not stuck."""

    name = "stuck_runs"

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.after_s = settings.heartbeat_stuck_run_s

    async def stuck(self) -> list[str]:
        repo = self.store.work_orders(TenantScope.system())
        cutoff = utcnow() - timedelta(seconds=self.after_s)
        stmt = repo.select(WorkOrder.id).where(
            WorkOrder.status.in_(STUCK_STATUSES), WorkOrder.updated_at < cutoff
        )
        return [r[0] for r in await repo.rows(stmt.limit(1000))]

    async def run(self) -> list[CheckResult]:
        ids = await self.stuck()
        if not ids:
            return [CheckResult(self.name, "ok", "none")]
        return [
            CheckResult(
                self.name,
                "warning",
                f"{len(ids)} run(s) untouched for over {self.after_s:.0f} s",
                data={"count": len(ids), "ids": ids[:20]},
            )
        ]


class BudgetsCheck:
    """Each tenant's budgets against what its work orders used this day or month (`budget:<tenant>`,
    readable by that tenant's admins): near the limit is a warning, nearly used up critical."""

    name = "budgets"

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.warn = settings.heartbeat_budget_warn_pct
        self.crit = settings.heartbeat_budget_crit_pct

    async def _used(self, b: Budget) -> float:
        repo = self.store.work_orders(TenantScope.system())
        start, _ = period_bounds(b.period, utcnow())
        what: Any = (
            func.sum(WorkOrder.tokens_in + WorkOrder.tokens_out)
            if b.metric == "tokens"
            else func.sum(WorkOrder.cost_usd)
        )
        stmt = repo.select(func.coalesce(what, 0)).where(
            WorkOrder.tenant_id == b.tenant_id, WorkOrder.created_at >= start
        )
        if b.api_key_id:
            stmt = stmt.where(WorkOrder.api_key_id == b.api_key_id)
        return float((await repo.rows(stmt))[0][0] or 0)

    async def run(self) -> list[CheckResult]:
        budgets = await self.store.budgets(TenantScope.system()).list()
        per_tenant: dict[str, list[tuple[State, str, float]]] = defaultdict(list)
        for b in budgets:
            used = await self._used(b)
            pct = 100.0 * used / b.limit_value if b.limit_value else 0.0
            owner = f"key {b.api_key_id}" if b.api_key_id else "tenant"
            label = f"{owner} {b.period} {b.metric} {pct:.0f}%"
            per_tenant[b.tenant_id].append((by_threshold(pct, self.warn, self.crit), label, pct))
        out = []
        for tenant, items in sorted(per_tenant.items()):
            state = worst(s for s, _, _ in items)
            near = [label for s, label, _ in items if s != "ok"]
            detail = "; ".join(near) if near else f"{len(items)} budget(s) below {self.warn:.0f}%"
            top = max(p for _, _, p in items)
            out.append(CheckResult(f"budget:{tenant}", state, detail, data={"max_pct": top}, tenant=tenant))
        return out or [CheckResult(self.name, "ok", "no budgets set")]
