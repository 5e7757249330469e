"""Work orders, usage metrics and the audit log: /api/work-orders, /api/metrics, /api/audit.

Every read goes through the caller's TenantScope (its tenant; every tenant for a global admin, which
includes the anonymous caller when auth is off). Another tenant's work order is a 404.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from nexus.gateway.deps import ScopeDep, StoreDep
from nexus.gateway.errors import APIError
from nexus.store import NotFound
from nexus.store.metrics import PERIODS, UnknownPeriod
from nexus.store.models import Base
from nexus.store.repos.base import MAX_LIMIT
from nexus.store.repos.work_orders import STATUSES

router = APIRouter(prefix="/api", tags=["observability"])

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"At most {MAX_LIMIT} rows.")]
# ISO 8601, a date or a date-time (naive values are UTC).
When = Annotated[
    str | None,
    Query(
        json_schema_extra={
            "anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "date"}]
        }
    ),
]


def _when(value: str | None, name: str) -> datetime | None:
    """ISO 8601 date or datetime; naive values are UTC."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise APIError(
            400,
            f"{name} must be an ISO 8601 date or datetime, e.g. 2025-01-31T12:00:00Z; got {value!r}",
            code="invalid_parameter",
            param=name,
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def row_dict(row: Base) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns}


@router.get("/work-orders", summary="List work orders (newest first)")
async def list_work_orders(
    store: StoreDep,
    scope: ScopeDep,
    status: str | None = None,
    model: str | None = None,
    since: When = None,
    until: When = None,
    request_id: str | None = None,
    limit: Limit = 100,
) -> dict[str, Any]:
    if status and status not in STATUSES:
        raise APIError(
            400,
            f"status must be one of {', '.join(STATUSES)}; got {status!r}",
            code="invalid_parameter",
            param="status",
        )
    repo = store.work_orders(scope)
    rows = await repo.list(
        status=status,
        model=model,
        since=_when(since, "since"),
        until=_when(until, "until"),
        request_id=request_id,
        limit=limit,
    )
    return {"object": "list", "data": [row_dict(r) for r in rows]}


@router.get("/work-orders/{work_order_id}", summary="One work order with its model calls and events")
async def get_work_order(work_order_id: str, store: StoreDep, scope: ScopeDep) -> dict[str, Any]:
    try:
        order = await store.work_orders(scope).get(work_order_id)
    except NotFound:
        raise APIError(404, f"Work order {work_order_id!r} not found.", code="work_order_not_found") from None
    calls = await store.model_calls(scope).for_work_order(order)
    events = await store.run_events(scope).for_run(order.run_id) if order.run_id else []
    return {**row_dict(order), "calls": [row_dict(c) for c in calls], "events": [row_dict(e) for e in events]}


@router.get("/metrics", summary="Requests, errors, tokens, cost and latency over a period")
async def get_metrics(
    store: StoreDep,
    scope: ScopeDep,
    period: Annotated[str, Query(json_schema_extra={"enum": list(PERIODS)})] = "24h",
) -> dict[str, Any]:
    try:
        return await store.metrics(scope, period)
    except UnknownPeriod:
        raise APIError(
            400,
            f"period must be one of {', '.join(PERIODS)}; got {period!r}",
            code="invalid_parameter",
            param="period",
        ) from None


@router.get("/audit", summary="The audit log (newest first)")
async def list_audit(
    store: StoreDep,
    scope: ScopeDep,
    actor: str | None = None,
    action: str | None = None,
    since: When = None,
    until: When = None,
    limit: Limit = 100,
) -> dict[str, Any]:
    rows = await store.audit(scope).list(
        actor=actor, action=action, since=_when(since, "since"), until=_when(until, "until"), limit=limit
    )
    return {"object": "list", "data": [row_dict(r) for r in rows]}
