"""Token and cost budgets per tenant and per API key, daily and monthly, hard (refuse) and soft (warn).

Enforced from in-memory counters so the request path never waits on the database; the counters are
reconciled with the work_orders table at start and periodically, so several gateway processes sharing
one database converge (each keeps the larger of its own count and the database's).

With Redis (`shared`, nexus.service.budget_counters) every process also adds its spend to shared
counters and, before admitting a request that a hard budget applies to, raises its own counters to
them: a budget spent across any number of gateways is enforced exactly, not per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func

from nexus.service.budget_counters import SharedCounters
from nexus.service.errors import ServiceError
from nexus.store import AccountingQueue, Store, TenantScope
from nexus.store.models import Budget, WorkOrder, utcnow

log = logging.getLogger("nexus.service.budgets")


@dataclass(frozen=True, slots=True)
class BudgetRule:
    id: int
    tenant_id: str
    api_key_id: str | None
    period: str  # day | month
    metric: str  # tokens | cost
    limit: float
    hard: bool

    @classmethod
    def from_row(cls, b: Budget) -> BudgetRule:
        return cls(b.id, b.tenant_id, b.api_key_id, b.period, b.metric, b.limit_value, b.hard)

    @property
    def owner(self) -> str:
        return f"API key {self.api_key_id}" if self.api_key_id else f"tenant {self.tenant_id!r}"


class BudgetExceeded(ServiceError):
    """A hard budget is used up: 429 with Retry-After until `reset_at`."""

    def __init__(self, message: str, reset_at: datetime, rule: BudgetRule | None = None) -> None:
        self.reset_at = reset_at
        self.rule = rule
        super().__init__(
            429, message, code="budget_exceeded", headers={"Retry-After": str(self.retry_after_s())}
        )

    def retry_after_s(self, now: datetime | None = None) -> int:
        return max(1, int((self.reset_at - (now or utcnow())).total_seconds()))


def period_bounds(period: str, now: datetime) -> tuple[datetime, datetime]:
    """(start, reset) of the UTC day or month containing `now`."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day, day + timedelta(days=1)
    start = day.replace(day=1)
    reset = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, reset


# (tenant, api key or None for the whole tenant, period, period start) -> [tokens, cost]
_Key = tuple[str, str | None, str, datetime]
SoftHook = Callable[[BudgetRule, float], None]


class BudgetManager:
    def __init__(
        self,
        store: Store,
        *,
        queue: AccountingQueue | None = None,
        on_soft: SoftHook | None = None,
        reconcile_s: float = 60.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.queue = queue
        self.on_soft = on_soft
        self.reconcile_s = reconcile_s
        self.clock = clock
        self.rules: list[BudgetRule] = []
        self._used: dict[_Key, list[float]] = {}
        self._warned: set[tuple[int, datetime]] = set()
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[Any]] = set()  # audit writes when no queue is attached
        # Redis counters shared by every process (None: this process's counters only).
        self.shared: SharedCounters | None = None

    # ---- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.reconcile()
        self._task = asyncio.create_task(self._loop(), name="nexus-budget-reconcile")

    async def close(self) -> None:
        if self.shared is not None:
            await self.shared.close()
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.reconcile_s)
            try:
                await self.reconcile()
            except Exception:  # a database hiccup must not stop enforcement from memory
                log.exception("budget reconciliation failed")

    async def reload_rules(self) -> None:
        rows = await self.store.budgets(TenantScope.system()).list()
        self.rules = [BudgetRule.from_row(b) for b in rows]

    async def reconcile(self) -> None:
        """Reload the rules and raise the counters to today's/this month's sums in the database."""
        await self.reload_rules()
        now = self.clock()
        repo = self.store.work_orders(TenantScope.system())
        tokens = func.coalesce(func.sum(WorkOrder.tokens_in + WorkOrder.tokens_out), 0)
        cost = func.coalesce(func.sum(WorkOrder.cost_usd), 0.0)
        fresh: dict[_Key, list[float]] = {}
        for period in ("day", "month"):
            start, _ = period_bounds(period, now)
            stmt = (
                repo.select(WorkOrder.tenant_id, WorkOrder.api_key_id, tokens, cost)
                .where(WorkOrder.created_at >= start)
                .group_by(WorkOrder.tenant_id, WorkOrder.api_key_id)
            )
            for tenant, key_id, t, c in await repo.rows(stmt):
                for k in {(tenant, None, period, start), (tenant, key_id, period, start)}:
                    acc = fresh.setdefault(k, [0.0, 0.0])
                    acc[0] += float(t)
                    acc[1] += float(c)
        current = {k[3] for k in fresh} | {period_bounds(p, now)[0] for p in ("day", "month")}
        for k, (t, c) in fresh.items():
            mine = self._used.setdefault(k, [0.0, 0.0])
            mine[0], mine[1] = max(mine[0], t), max(mine[1], c)
        # Forget counters of periods that have ended.
        self._used = {k: v for k, v in self._used.items() if k[3] in current}

    # ---- the request path ---------------------------------------------------------------------------

    def _applicable(self, tenant: str, key_id: str | None) -> list[BudgetRule]:
        return [
            r
            for r in self.rules
            if r.tenant_id == tenant and (r.api_key_id is None or r.api_key_id == key_id)
        ]

    def used(self, rule: BudgetRule, now: datetime | None = None) -> float:
        start, _ = period_bounds(rule.period, now or self.clock())
        acc = self._used.get((rule.tenant_id, rule.api_key_id, rule.period, start), [0.0, 0.0])
        return acc[0] if rule.metric == "tokens" else acc[1]

    def check(self, tenant: str, key_id: str | None = None, *, tokens: int = 0, cost: float = 0.0) -> None:
        """Before a request: raise BudgetExceeded if a hard budget is used up (or this estimate overruns it)."""
        now = self.clock()
        for rule in self._applicable(tenant, key_id):
            if not rule.hard:
                continue
            used = self.used(rule, now)
            estimate = tokens if rule.metric == "tokens" else cost
            if used >= rule.limit or used + estimate > rule.limit:
                _, reset = period_bounds(rule.period, now)
                raise BudgetExceeded(
                    f"The {'daily' if rule.period == 'day' else 'monthly'} {rule.metric} budget of "
                    f"{rule.owner} is used up ({_fmt(used, rule.metric)} of {_fmt(rule.limit, rule.metric)}); "
                    f"it resets at {reset.isoformat()}.",
                    reset,
                    rule,
                )

    async def refresh(self, tenant: str, key_id: str | None = None) -> None:
        """Raise this process's counters to the shared ones for the hard rules that apply (no-op without
        Redis or without such rules). A Redis failure leaves the local counters in charge."""
        if self.shared is None:
            return
        rules = [r for r in self._applicable(tenant, key_id) if r.hard]
        if not rules:
            return
        now = self.clock()
        keys = list({(r.tenant_id, r.api_key_id, r.period, period_bounds(r.period, now)[0]) for r in rules})
        try:
            values = await self.shared.read(keys)
        except Exception as exc:
            log.warning("shared budget counters unreadable (%s): enforcing from this process's", exc)
            return
        for k, (t, c) in zip(keys, values, strict=True):
            mine = self._used.setdefault(k, [0.0, 0.0])
            mine[0], mine[1] = max(mine[0], t), max(mine[1], c)

    def enforce(self, principal: Any) -> None:
        """Before a turn: the principal's tenant and key; a used-up hard budget raises BudgetExceeded (429)."""
        self.check(principal.tenant_id, getattr(principal, "key_id", None))

    def record(self, tenant: str, key_id: str | None, tokens: int, cost: float) -> None:
        """After a request: count it; crossing a soft budget audits and calls the hook once per period.

        Synchronous so the request path can call it without awaiting; the audit row goes via the queue."""
        now = self.clock()
        for period in ("day", "month"):
            start, _ = period_bounds(period, now)
            for k in {(tenant, None, period, start), (tenant, key_id, period, start)}:
                acc = self._used.setdefault(k, [0.0, 0.0])
                acc[0] += tokens
                acc[1] += cost
                if self.shared is not None:
                    self.shared.add(k, tokens, cost, reset=period_bounds(period, now)[1])
        for rule in self._applicable(tenant, key_id):
            start, _ = period_bounds(rule.period, now)
            used = self.used(rule, now)
            if rule.hard or used < rule.limit or (rule.id, start) in self._warned:
                continue
            self._warned.add((rule.id, start))
            self._soft_exceeded(rule, used)

    def _soft_exceeded(self, rule: BudgetRule, used: float) -> None:
        details: dict[str, Any] = {
            "period": rule.period,
            "metric": rule.metric,
            "limit": rule.limit,
            "used": used,
            "api_key_id": rule.api_key_id,
        }
        audit: dict[str, Any] = {
            "action": "budget.soft_exceeded",
            "actor": "system",
            "target": rule.owner,
            "status": "warning",
            "details": details,
        }
        if self.queue is not None:
            self.queue.audit_soon(tenant_id=rule.tenant_id, **audit)
        else:
            write = self.store.audit(TenantScope(rule.tenant_id)).add(**audit)
            task = asyncio.get_running_loop().create_task(write)
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        if self.on_soft is not None:
            try:
                self.on_soft(rule, used)
            except Exception:
                log.exception("soft budget hook failed")
        log.warning(
            "soft %s %s budget of %s exceeded: %s of %s",
            rule.period,
            rule.metric,
            rule.owner,
            used,
            rule.limit,
        )


def _fmt(value: float, metric: str) -> str:
    return f"${value:.4f}" if metric == "cost" else f"{int(value)} tokens"
