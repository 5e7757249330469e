"""Queued work and background jobs: POST /api/work-orders (202), /api/jobs (status, cancel), and dead
letters for admins. Every read is scoped to the caller's tenant; another tenant's job is a 404."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse

from nexus.gateway.deps import AdminDep, ServicesDep, caller_of, principal_of
from nexus.gateway.errors import APIError
from nexus.jobs import InvalidPayload, JobConflict, JobEngine, JobQueue, JobView, UnknownJobKind
from nexus.jsontypes import JsonInt
from nexus.runtime import Services
from nexus.service.sessions import SESSION_ID_RULE
from nexus.service.work_orders import WorkOrderSubmission
from nexus.store import NotFound, TenantScope
from nexus.store.repos.base import MAX_LIMIT

router = APIRouter(prefix="/api", tags=["jobs"])

JOB_STATUSES = ("queued", "running", "done", "failed", "cancelled", "dead")


class WorkOrderCreate(BaseModel):
    content: str = Field(min_length=1, max_length=200_000)
    priority: JsonInt = Field(default=0, ge=-100, le=100, description="higher runs sooner")
    session_id: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", description=SESSION_ID_RULE
    )
    callback_url: str | None = Field(
        default=None,
        max_length=2000,
        # What nexus.jobs.callbacks accepts: an absolute http(s) URL with a host and no credentials.
        pattern=r"^https?://[A-Za-z0-9][A-Za-z0-9.-]*(:[0-9]{1,5})?([/?#][^\s@]*)?$",
        description="POSTed the result, signed (X-Nexus-Signature)",
    )


def _engine(services: Services) -> JobEngine:
    if services.jobs is None:
        raise APIError(503, "This process runs no job engine.", code="jobs_unavailable")
    return services.jobs


def _queue(services: Services) -> JobQueue:
    return _engine(services).queue


def _view(job: JobView) -> dict[str, Any]:
    return job.model_dump(mode="json")


@router.post(
    "/work-orders", status_code=202, summary="Queue a work order; a worker runs it through the chat service"
)
async def create_work_order(
    body: WorkOrderCreate,
    request: Request,
    services: ServicesDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> JSONResponse:
    order = WorkOrderSubmission(
        content=body.content,
        priority=body.priority,
        session_id=body.session_id,
        callback_url=body.callback_url,
        idempotency_key=idempotency_key,
    )
    try:
        submitted = await services.work_orders.submit(caller_of(request, "work_order"), order)
    except InvalidPayload as exc:
        raise APIError(400, str(exc), code="invalid_work_order") from None
    return JSONResponse(
        {
            "id": submitted.work_order_id,
            "job_id": submitted.job_id,
            "status": "queued",
            "created": submitted.created,
        },
        status_code=202 if submitted.created else 200,
        headers={"Location": f"/api/work-orders/{submitted.work_order_id}"},
    )


@router.get("/jobs", summary="Background jobs of the caller's tenant")
async def list_jobs(
    request: Request,
    services: ServicesDep,
    status: Annotated[str | None, Query(json_schema_extra={"enum": list(JOB_STATUSES)})] = None,
    kind: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> dict[str, Any]:
    if status is not None and status not in JOB_STATUSES:
        raise APIError(
            400, f"status must be one of {', '.join(JOB_STATUSES)}", code="invalid_parameter", param="status"
        )
    jobs = await _queue(services).list(tenant=_scope(request), status=status, kind=kind, limit=limit)
    return {"object": "list", "data": [_view(j) for j in jobs]}


@router.get("/jobs/{job_id}", summary="One background job")
async def get_job(job_id: str, request: Request, services: ServicesDep) -> dict[str, Any]:
    try:
        return _view(await _queue(services).status(job_id, tenant=_scope(request)))
    except NotFound:
        raise APIError(404, f"Job {job_id!r} not found.", code="job_not_found") from None


@router.post("/jobs/{job_id}/cancel", summary="Cancel a queued or running job (its effect never commits)")
async def cancel_job(job_id: str, request: Request, services: ServicesDep) -> dict[str, Any]:
    try:
        return _view(await _queue(services).cancel(job_id, tenant=_scope(request)))
    except NotFound:
        raise APIError(404, f"Job {job_id!r} not found.", code="job_not_found") from None
    except JobConflict as exc:
        raise APIError(409, str(exc), code="job_finished") from None


admin = APIRouter(prefix="/admin/jobs", tags=["admin"])


@admin.get("/dead-letters", summary="Jobs out of attempts or failed for good, with the reason")
async def dead_letters(
    admin_: AdminDep, services: ServicesDep, limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100
) -> dict[str, Any]:
    jobs = await _queue(services).dead_letters(
        tenant=TenantScope(admin_.tenant_id, admin_.is_global_admin), limit=limit
    )
    return {"object": "list", "data": [_view(j) for j in jobs]}


@admin.post("/{job_id}/retry", summary="Give a dead-lettered job a fresh set of attempts")
async def retry_job(job_id: str, admin_: AdminDep, services: ServicesDep) -> dict[str, Any]:
    try:
        return _view(
            await _queue(services).retry_dead(
                job_id, tenant=TenantScope(admin_.tenant_id, admin_.is_global_admin)
            )
        )
    except NotFound:
        raise APIError(404, f"Job {job_id!r} not found.", code="job_not_found") from None
    except (JobConflict, UnknownJobKind) as exc:
        raise APIError(409, str(exc), code="job_not_dead") from None


def _scope(request: Request) -> TenantScope:
    p = principal_of(request)
    return TenantScope(p.tenant_id, p.is_global_admin)
