"""Work orders, usage metrics and the audit log: /api/work-orders, /api/metrics, /api/audit.

Every read goes through the caller's TenantScope (its tenant; every tenant for a global admin, which
includes the anonymous caller when auth is off). Another tenant's work order is a 404.
"""

from __future__ import annotations

import re
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


# What the document promises (RFC 3339 full-date or date-time), not all that fromisoformat would take.
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def _when(value: str | None, name: str) -> datetime | None:
    """An RFC 3339 date (midnight UTC) or date-time."""
    if value is None:
        return None
    try:
        if _DATE.fullmatch(value):
            parsed = datetime.fromisoformat(value)
        elif m := _DATE_TIME.fullmatch(value):
            day, hm, sec, frac, zone = m.groups()
            sec = min(int(sec), 59)  # a leap second is the second before it
            zone = "+00:00" if zone in ("Z", "z") else zone
            parsed = datetime.fromisoformat(f"{day}T{hm}:{sec:02d}{(frac or '')[:7]}{zone}")
        else:
            raise ValueError(value)
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
    status: Annotated[str | None, Query(json_schema_extra={"enum": list(STATUSES)})] = None,
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
