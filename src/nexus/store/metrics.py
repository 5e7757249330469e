"""Usage figures for /api/metrics and `nexus metrics`, computed in Python from the rows themselves.

SQLite has no percentile function, and one code path for both backends means the figures always agree
with the rows (the tests check exactly that).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from nexus.store.models import ModelCall, WorkOrder, utcnow
from nexus.store.repos import ModelCalls, WorkOrders

Period = Literal["today", "24h", "7d", "30d"]
PERIODS: dict[str, timedelta | None] = {
    "today": None,
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}


class UnknownPeriod(ValueError):
    def __init__(self, period: str) -> None:
        super().__init__(f"unknown period {period!r}; use one of: {', '.join(PERIODS)}")


def period_start(period: str, now: datetime) -> datetime:
    if period not in PERIODS:
        raise UnknownPeriod(period)
    span = PERIODS[period]
    return now.replace(hour=0, minute=0, second=0, microsecond=0) if span is None else now - span


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default), on pre-sorted values."""
    if not sorted_values:
        return None
    k = (len(sorted_values) - 1) * q / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


@dataclass
class Agg:
    requests: int = 0
    errors: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    latencies: list[float] = field(default_factory=list)

    def add(self, ok: bool, tokens_in: int, tokens_out: int, cost: float, latency: float | None) -> None:
        self.requests += 1
        self.errors += 0 if ok else 1
        self.tokens_in += tokens_in or 0
        self.tokens_out += tokens_out or 0
        self.cost_usd += cost or 0.0
        if latency is not None:
            self.latencies.append(float(latency))

    def as_dict(self) -> dict[str, Any]:
        lat = sorted(self.latencies)
        return {
            "requests": self.requests,
            "errors": self.errors,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "tokens": self.tokens_in + self.tokens_out,
            "cost_usd": round(self.cost_usd, 10),
            "latency_ms": {
                "p50": percentile(lat, 50),
                "p95": percentile(lat, 95),
                "p99": percentile(lat, 99),
            },
        }


def _grouped(groups: dict[str, Agg]) -> dict[str, dict[str, Any]]:
    return {k: v.as_dict() for k, v in sorted(groups.items())}


def _hour(ts: datetime) -> str:
    return ts.replace(minute=0, second=0, microsecond=0).isoformat()


def summarise(orders: Iterable[Any], calls: Iterable[Any]) -> dict[str, Any]:
    """Totals and breakdowns from work-order rows and model-call rows (any objects with those columns)."""
    total = Agg()
    by_model: dict[str, Agg] = defaultdict(Agg)
    by_tenant: dict[str, Agg] = defaultdict(Agg)
    by_rule: Counter[str] = Counter()
    routed_to: Counter[str] = Counter()
    for o in orders:
        ok = o.status != "failed"
        model = o.owner_model or o.model_requested or "unknown"
        for agg in (total, by_model[model], by_tenant[o.tenant_id]):
            agg.add(ok, o.tokens_in, o.tokens_out, o.cost_usd, o.latency_ms)
        routed_to[model] += 1
        by_rule[o.route_rule or "explicit"] += 1

    by_provider: dict[str, Agg] = defaultdict(Agg)
    calls_by_model: dict[str, Agg] = defaultdict(Agg)
    series: dict[tuple[str, str], Agg] = defaultdict(Agg)
    for c in calls:
        for agg in (
            by_provider[c.provider or "unknown"],
            calls_by_model[c.model],
            series[(_hour(c.ts), c.provider or "unknown")],
        ):
            agg.add(c.success, c.tokens_in, c.tokens_out, c.cost_usd, c.latency_ms)

    return {
        "totals": total.as_dict(),
        "by_model": _grouped(by_model),
        "by_tenant": _grouped(by_tenant),
        "by_provider": _grouped(by_provider),
        "calls_by_model": _grouped(calls_by_model),
        "timeseries": [
            {
                "hour": hour,
                "provider": provider,
                "requests": a.requests,
                "errors": a.errors,
                "tokens_in": a.tokens_in,
                "tokens_out": a.tokens_out,
                "cost_usd": round(a.cost_usd, 10),
            }
            for (hour, provider), a in sorted(series.items())
        ],
        "routing": {"by_model": dict(routed_to.most_common()), "by_rule": dict(by_rule.most_common())},
    }


async def compute_metrics(
    work_orders: WorkOrders, model_calls: ModelCalls, period: str = "24h", *, now: datetime | None = None
) -> dict[str, Any]:
    """The /api/metrics body for the repositories' scope over `period`."""
    now = now or utcnow()
    since = period_start(period, now)
    wo_cols = (
        WorkOrder.tenant_id,
        WorkOrder.status,
        WorkOrder.owner_model,
        WorkOrder.model_requested,
        WorkOrder.route_rule,
        WorkOrder.tokens_in,
        WorkOrder.tokens_out,
        WorkOrder.cost_usd,
        WorkOrder.latency_ms,
    )
    orders = await work_orders.rows(work_orders.select(*wo_cols).where(WorkOrder.created_at >= since))
    call_cols = (
        ModelCall.ts,
        ModelCall.provider,
        ModelCall.model,
        ModelCall.success,
        ModelCall.tokens_in,
        ModelCall.tokens_out,
        ModelCall.cost_usd,
        ModelCall.latency_ms,
    )
    calls = await model_calls.rows(model_calls.select(*call_cols).where(ModelCall.ts >= since))
    return {
        "period": period,
        "since": since.isoformat(),
        "until": now.isoformat(),
        **summarise(orders, calls),
    }
