"""Feedback on answers, and the per-tenant router's administration (thin: policy is in RouterTuning).

    POST   /api/feedback                     rate an answer (any caller, its own tenant's work orders)
    GET    /admin/router/{tenant}            settings (A/B arms, cache) and router versions
    PUT    /admin/router/{tenant}/settings   set A/B arms and the semantic cache opt-in
    POST   /admin/router/{tenant}/retrain    fit a candidate from the tenant's feedback
    POST   /admin/router/{tenant}/promote    the candidate (or a named version) serves
    DELETE /admin/router/{tenant}/cache      invalidate the tenant's semantic cache
A tenant admin acts on its own tenant; another is not found. Global admins act on any.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from nexus.gateway.deps import AdminDep, ServicesDep, caller_of, scope_of
from nexus.jsontypes import JsonIntOrNone
from nexus.service.feedback import FeedbackIn, RouterSettingsIn

router = APIRouter(tags=["routing"])
admin = APIRouter(prefix="/admin/router", tags=["admin"])


@router.post("/api/feedback", status_code=201, summary="Rate an answer (thumbs up/down or a score)")
async def feedback(body: FeedbackIn, request: Request, services: ServicesDep) -> dict[str, Any]:
    return await services.tuning.submit(caller_of(request, "feedback"), body)


@admin.get("/{tenant}", summary="A tenant's routing settings and router versions (admin)")
async def show(tenant: str, request: Request, _: AdminDep, services: ServicesDep) -> dict[str, Any]:
    versions = await services.tuning.versions(scope_of(request), tenant)
    own = await services.tuning.settings(tenant)
    return {"tenant": tenant, "settings": own.public(), "versions": versions}


@admin.put("/{tenant}/settings", summary="Set a tenant's A/B arms and semantic cache (admin)")
async def settings(
    tenant: str, body: RouterSettingsIn, request: Request, _: AdminDep, services: ServicesDep
) -> dict[str, Any]:
    own = await services.tuning.save_settings(scope_of(request), tenant, body)
    return {"tenant": tenant, "settings": own.public()}


@admin.post("/{tenant}/retrain", summary="Fit a candidate router from the tenant's feedback (admin)")
async def retrain(tenant: str, request: Request, _: AdminDep, services: ServicesDep) -> dict[str, Any]:
    return await services.tuning.retrain(scope_of(request), tenant)


class PromoteBody(BaseModel):
    version: JsonIntOrNone = Field(default=None, ge=1)


@admin.post("/{tenant}/promote", summary="Serve the tenant's candidate router (admin)")
async def promote(
    tenant: str, request: Request, _: AdminDep, services: ServicesDep, body: PromoteBody | None = None
) -> dict[str, Any]:
    return await services.tuning.promote(scope_of(request), tenant, body.version if body else None)


@admin.delete("/{tenant}/cache", summary="Invalidate the tenant's semantic cache (admin)")
async def invalidate(tenant: str, request: Request, _: AdminDep, services: ServicesDep) -> dict[str, Any]:
    return {"tenant": tenant, "deleted": await services.cache.invalidate(scope_of(request), tenant)}
