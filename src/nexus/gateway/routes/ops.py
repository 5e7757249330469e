"""Operations APIs: the heartbeat's check history, running the checks now, and the audit log as CSV.

All of it is for admins (a member gets 403): the history shows a tenant admin the deployment-wide
checks and its own tenant's; the audit export is the caller's tenant (every tenant for a global admin).
The router's lifespan also tells systemd the gateway is ready and alive (watchdog), when started by it.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from starlette.responses import Response

from nexus.gateway.deps import AdminDep, GlobalAdminDep, ServicesDep
from nexus.gateway.errors import APIError
from nexus.gateway.routes.observability import When, _when
from nexus.ops import systemd
from nexus.ops.heartbeat import Heartbeat, default_checks
from nexus.ops.history import History
from nexus.ops.jobs_probe import StoreJobsProbe
from nexus.ops.types import SEVERITY
from nexus.store import TenantScope
from nexus.store.repos.base import MAX_LIMIT
from nexus.store.repos.ops import HealthChecks


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(systemd.watchdog(stop), name="systemd-watchdog")
    try:
        yield
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task


router = APIRouter(tags=["ops"], lifespan=_lifespan)
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"At most {MAX_LIMIT} rows.")]


def _row(r: Any) -> dict[str, Any]:
    return {
        "name": r.name,
        "state": r.state,
        "detail": r.detail,
        "latency_ms": r.latency_ms,
        "data": r.data,
        "tenant": None if r.tenant_id == "*" else r.tenant_id,
        "ts": r.ts.isoformat(),
    }


@router.get("/api/health/history", summary="The heartbeat's latest state per check and its history (admins)")
async def health_history(
    admin: AdminDep,
    services: ServicesDep,
    name: str | None = None,
    state: Annotated[str | None, Query(json_schema_extra={"enum": list(SEVERITY)})] = None,
    since: When = None,
    limit: Limit = 200,
) -> dict[str, Any]:
    if state is not None and state not in SEVERITY:
        raise APIError(
            400,
            f"state must be one of {', '.join(SEVERITY)}; got {state!r}",
            code="invalid_parameter",
            param="state",
        )
    repo = HealthChecks(services.store.sessions, TenantScope(admin.tenant_id, admin.is_global_admin))
    latest = await repo.latest()
    rows = await repo.history(name=name, state=state, since=_when(since, "since"), limit=limit)
    worst = max((r.state for r in latest), key=lambda s: SEVERITY.get(s, 0), default="ok")
    return {
        "object": "list",
        "status": worst if latest else "unknown",
        "latest": [_row(r) for r in latest],
        "data": [_row(r) for r in rows],
    }


@router.post("/admin/health/run", summary="Run the heartbeat's checks now and record them (global admin)")
async def run_checks(request: Request, _: GlobalAdminDep, services: ServicesDep) -> dict[str, Any]:
    s = services.settings
    here = str(request.base_url).rstrip("/")  # the gateway check asks this very process
    beat = Heartbeat(
        default_checks(
            s,
            services.store,
            services.hub,
            jobs=StoreJobsProbe(services.store),
            ui_url=None,
            gateway_url=here,
        ),
        timeout_s=s.heartbeat_timeout_s,
        history=History(services.store, s.heartbeat_history_days),
    )
    report = await beat.run_once()
    return {
        "status": report.worst,
        "elapsed_ms": report.elapsed_ms,
        "results": [
            {"name": r.name, "state": r.state, "detail": r.detail, "latency_ms": r.latency_ms}
            for r in report.results
        ],
    }


AUDIT_COLUMNS = ("ts", "tenant_id", "actor", "action", "target", "status", "details")


def _cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text: a leading = + - @ would otherwise run as a formula."""
    text = (
        value.isoformat()
        if hasattr(value, "isoformat")
        else (json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value))
    )
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@router.get(
    "/admin/audit/export", summary="The audit log as CSV, with the same filters as /api/audit (admins)"
)
async def export_audit(
    admin: AdminDep,
    services: ServicesDep,
    actor: str | None = None,
    action: str | None = None,
    since: When = None,
    until: When = None,
    limit: Limit = MAX_LIMIT,
) -> Response:
    scope = TenantScope(admin.tenant_id, admin.is_global_admin)
    rows = await services.store.audit(scope).list(
        actor=actor, action=action, since=_when(since, "since"), until=_when(until, "until"), limit=limit
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(AUDIT_COLUMNS)
    for r in rows:
        writer.writerow([_cell(getattr(r, c)) for c in AUDIT_COLUMNS])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="nexus-audit.csv"'},
    )
