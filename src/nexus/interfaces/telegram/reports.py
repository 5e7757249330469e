"""The read-only commands' texts (/status, /cost, /audit, /model), as Markdown for the renderer.

Reads only: no model work, so these are not counted against rate limits or budgets.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func

from nexus.runtime import Services
from nexus.service.budgets import BudgetRule, period_bounds
from nexus.service.chat import AUTO_MODEL
from nexus.service.identity import Principal
from nexus.store import TenantScope
from nexus.store.models import Budget, WorkOrder
from nexus.store.repos.ops import HealthChecks

STATE_ICON = {"ok": "🟢", "warning": "🟡", "critical": "🔴", "skipped": "⚪"}
AUDIT_LINES = 10


def _scope(p: Principal) -> TenantScope:
    return TenantScope(p.tenant_id, False)


async def status_text(services: Services, principal: Principal) -> str:
    """Live database and provider health, and the heartbeat's latest state of each check."""
    lines = ["**Nexus status**"]
    try:
        await asyncio.wait_for(services.store.ping(), timeout=3.0)
        lines.append(f"🟢 database ({services.store.backend})")
    except Exception as exc:  # reported, never raised
        lines.append(f"🔴 database: {type(exc).__name__}")
    health, _ = await services.hub.cached_health(10.0)
    ok = sorted(m for m, h in health.items() if h.ok)
    down = sorted(m for m, h in health.items() if not h.ok)
    lines.append(f"{'🟢' if not down else '🟡'} models: {len(ok)} of {len(health)} healthy")
    if down:
        lines.append("down: " + ", ".join(f"`{m}`" for m in down))
    rows = await HealthChecks(services.store.sessions, _scope(principal)).latest()
    if rows:
        newest = max(r.ts for r in rows)
        worst = _worst(r.state for r in rows)
        lines.append(f"{STATE_ICON.get(worst, '⚪')} heartbeat: {worst} (last run {_ago(newest)})")
        lines += [f"{STATE_ICON.get(r.state, '⚪')} {r.name}: {r.detail}" for r in rows if r.state != "ok"]
    else:
        lines.append("⚪ heartbeat: no checks recorded yet (`nexus heartbeat --service`)")
    return "\n".join(lines)


def _worst(states: Any) -> str:
    order = ["skipped", "ok", "warning", "critical"]
    return max(states, key=lambda s: order.index(s) if s in order else 0, default="ok")


def _ago(ts: datetime) -> str:
    s = max(0, int((datetime.now(UTC) - ts).total_seconds()))
    return f"{s} s ago" if s < 120 else f"{s // 60} min ago" if s < 7200 else f"{s // 3600} h ago"


async def cost_text(services: Services, principal: Principal) -> str:
    """The tenant's spend today and this month (work orders), and its budgets with what is used."""
    repo = services.store.work_orders(_scope(principal))
    now = datetime.now(UTC)
    lines = [f"**Spend of {principal.tenant_id}**"]
    for label, period in (("today", "day"), ("this month", "month")):
        start, _ = period_bounds(period, now)
        stmt = repo.select(
            func.count(WorkOrder.id),
            func.coalesce(func.sum(WorkOrder.cost_usd), 0.0),
            func.coalesce(func.sum(WorkOrder.tokens_in + WorkOrder.tokens_out), 0),
        ).where(WorkOrder.created_at >= start)
        n, cost, tokens = (await repo.rows(stmt))[0]
        lines.append(f"{label}: ${float(cost):.4f} · {int(tokens):,} tokens · {int(n)} requests")
    budgets = await services.store.budgets(_scope(principal)).list()
    for b in budgets:
        if b.api_key_id not in (None, principal.key_id):
            continue
        rule = BudgetRule.from_row(b)
        used = services.budgets.used(rule)
        owner = "you" if b.api_key_id else "tenant"
        lines.append(
            f"budget ({owner}, {b.period}, {'hard' if b.hard else 'soft'}): "
            f"{_amount(used, b.metric)} of {_amount(b.limit_value, b.metric)} ({_pct(used, b)})"
        )
    return "\n".join(lines)


def _amount(v: float, metric: str) -> str:
    return f"${v:.2f}" if metric == "cost" else f"{int(v):,} tokens"


def _pct(used: float, b: Budget) -> str:
    return f"{100 * used / b.limit_value:.0f}%" if b.limit_value else "—"


async def audit_text(services: Services, principal: Principal) -> str:
    rows = await services.store.audit(_scope(principal)).list(limit=AUDIT_LINES)
    if not rows:
        return f"**Audit log of {principal.tenant_id}**\nno entries yet"
    lines = [f"**Audit log of {principal.tenant_id}** (last {len(rows)})"]
    for r in rows:
        when = r.ts.strftime("%Y-%m-%d %H:%M:%S")
        target = f" → `{r.target}`" if r.target else ""
        lines.append(f"{when} `{r.action}` by `{r.actor or '—'}`{target} ({r.status})")
    return "\n".join(lines)


def model_text(services: Services, pinned: str | None) -> str:
    hub = services.hub
    available = sorted(hub.available_ids())
    current = pinned or AUTO_MODEL
    lines = [
        f"**Model for this chat**: `{current}`" + (" (routed per request)" if not pinned else " (pinned)")
    ]
    lines.append("choices: `auto`, " + ", ".join(f"`{m}`" for m in available))
    lines.append("pin one with /model NAME; /model auto routes again")
    return "\n".join(lines)
