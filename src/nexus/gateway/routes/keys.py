"""Admin API for keys: create (shown once), list (never the secret), revoke."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from nexus.gateway.body import body_schema, parse_body
from nexus.gateway.deps import AdminDep, ServicesDep
from nexus.gateway.errors import APIError
from nexus.jsontypes import JsonIntOrNone
from nexus.service.keys import create_api_key, parse_budget
from nexus.store import TenantScope

router = APIRouter(tags=["admin"])


class KeyCreate(BaseModel):
    name: str = Field(default="", max_length=200)
    role: Literal["member", "admin", "global_admin"] = "member"
    tenant: str | None = Field(default=None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._-]+$")
    rpm: JsonIntOrNone = Field(default=None, ge=1, le=1_000_000_000)
    tpm: JsonIntOrNone = Field(default=None, ge=1, le=1_000_000_000)
    budget: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^\$?([0-9]*[1-9][0-9]*(\.[0-9]+)?|[0-9]*\.[0-9]*[1-9][0-9]*)(tok|tokens)?/(day|month)$",
        description="e.g. '5/day' (USD) or '200000tok/month' (tokens)",
    )


def _public(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "tenant": row.tenant_id,
        "name": row.name,
        "role": row.role,
        "prefix": f"nx_{row.prefix}_…",
        "rpm": row.rpm,
        "tpm": row.tpm,
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
        "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
    }


@router.post(
    "/admin/keys", openapi_extra=body_schema(KeyCreate), status_code=201, summary="Create an API key"
)
async def create_key(request: Request, admin: AdminDep, services: ServicesDep) -> dict[str, Any]:
    body = await parse_body(request, KeyCreate)
    tenant = body.tenant or admin.tenant_id
    if tenant != admin.tenant_id and not admin.is_global_admin:
        raise APIError(404, "Unknown tenant.", code="not_found")
    if body.role == "global_admin" and not admin.is_global_admin:
        raise APIError(403, "Only a global admin can create global admin keys.", code="forbidden")
    try:
        budget = parse_budget(body.budget) if body.budget else None
    except ValueError as exc:
        raise APIError(400, str(exc), code="invalid_budget", param="budget") from None
    token, row = await create_api_key(
        services.store,
        tenant=tenant,
        role=body.role,
        name=body.name,
        rpm=body.rpm,
        tpm=body.tpm,
        budget=budget,
    )
    services.auth.key_created()  # the keyless demo mode (NEXUS_AUTH=off) ends with the first key
    await services.accounting.audit(
        action="key.create", tenant_id=tenant, actor=admin.subject, target=row.id, details={"role": body.role}
    )
    return {**_public(row), "key": token, "note": "Store this key now: it is not shown again."}


@router.get("/admin/keys", summary="List API keys of the caller's tenant")
async def list_keys(admin: AdminDep, services: ServicesDep) -> dict[str, Any]:
    rows = await services.store.api_keys(TenantScope(admin.tenant_id, admin.is_global_admin)).list()
    return {"object": "list", "data": [_public(r) for r in rows]}


@router.delete("/admin/keys/{key_id}", summary="Revoke an API key")
async def revoke_key(key_id: str, admin: AdminDep, services: ServicesDep) -> dict[str, Any]:
    repo = services.store.api_keys(TenantScope(admin.tenant_id, admin.is_global_admin))
    row = await repo.find(key_id)
    if row is None:
        raise APIError(404, f"No API key {key_id!r}.", code="not_found")
    await repo.revoke(key_id)
    services.auth.forget(row.prefix)
    await services.accounting.audit(
        action="key.revoke", tenant_id=row.tenant_id, actor=admin.subject, target=key_id
    )
    return {"id": key_id, "revoked": True}
