"""`nexus metrics` and `nexus work-orders`: the same figures as /api/metrics and /api/work-orders, as tables.

They read the database through the store (no running gateway needed) with global visibility.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:  # the store loads with the command, not with `nexus --help`
    from nexus.store import Store
    from nexus.store.models import WorkOrder

console = Console()
T = TypeVar("T")


def _with_store(fn: Callable[[Store], Awaitable[T]]) -> T:
    from nexus.config.settings import Settings
    from nexus.store import DatabaseUnreachable, open_store
    from nexus.store.metrics import UnknownPeriod

    async def main() -> T:
        store = await open_store(Settings())
        try:
            return await fn(store)
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except (DatabaseUnreachable, UnknownPeriod) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}"


def _group_table(title: str, groups: dict[str, dict[str, Any]]) -> Table:
    table = Table(title=title)
    for col in (
        "name",
        "requests",
        "errors",
        "tokens in",
        "tokens out",
        "cost $",
        "p50 ms",
        "p95 ms",
        "p99 ms",
    ):
        table.add_column(col, justify="left" if col == "name" else "right")
    for name, a in groups.items():
        lat = a["latency_ms"]
        table.add_row(
            name,
            str(a["requests"]),
            str(a["errors"]),
            str(a["tokens_in"]),
            str(a["tokens_out"]),
            f"{a['cost_usd']:.6f}",
            _ms(lat["p50"]),
            _ms(lat["p95"]),
            _ms(lat["p99"]),
        )
    return table


def render_metrics(m: dict[str, Any]) -> list[Table]:
    routing = Table(title="Routing")
    routing.add_column("by")
    routing.add_column("name")
    routing.add_column("work orders", justify="right")
    for by in ("by_model", "by_rule"):
        for name, n in m["routing"][by].items():
            routing.add_row(by.removeprefix("by_"), name, str(n))
    return [
        _group_table(f"Totals ({m['period']}, since {m['since'][:19]}Z)", {"all": m["totals"]}),
        _group_table("Work orders by model", m["by_model"]),
        _group_table("Model calls by provider", m["by_provider"]),
        _group_table("Work orders by tenant", m["by_tenant"]),
        routing,
    ]


def metrics_cmd(period: Annotated[str, typer.Option(help="today, 24h, 7d or 30d.")] = "24h") -> None:
    """Requests, errors, tokens, cost and latency percentiles, in total and per model/provider/tenant."""
    from nexus.store import TenantScope

    m = _with_store(lambda store: store.metrics(TenantScope.system(), period))
    for table in render_metrics(m):
        console.print(table)


def render_work_orders(rows: list[WorkOrder]) -> Table:
    table = Table(title=f"Work orders ({len(rows)})")
    for col in (
        "id",
        "created (UTC)",
        "tenant",
        "status",
        "requested",
        "model",
        "tokens",
        "cost $",
        "ms",
        "error",
    ):
        table.add_column(col, justify="right" if col in ("tokens", "cost $", "ms") else "left")
    for r in rows:
        status = r.status + (" (incomplete)" if r.incomplete else "")
        table.add_row(
            r.id[:12],
            r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            r.tenant_id,
            status,
            r.model_requested,
            r.owner_model or "-",
            str(r.tokens_in + r.tokens_out),
            f"{r.cost_usd:.6f}",
            _ms(r.latency_ms),
            (r.error or "")[:40],
        )
    return table


def work_orders_cmd(
    status: Annotated[str | None, typer.Option(help="pending, running, paused, done or failed.")] = None,
    model: Annotated[str | None, typer.Option(help="Requested or serving model id.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Newest N.")] = 20,
) -> None:
    """The newest work orders, as /api/work-orders lists them."""

    from nexus.store import TenantScope

    async def fetch(store: Store) -> list[WorkOrder]:
        return list(
            await store.work_orders(TenantScope.system()).list(status=status, model=model, limit=limit)
        )

    console.print(render_work_orders(_with_store(fetch)))
