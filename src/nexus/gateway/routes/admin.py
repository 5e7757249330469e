"""Administration: everything under /admin needs a role, enforced by one dependency per route.

- Global configuration (the model catalogue, the routing prototypes): global admins only.
- Tenants, their limits, budgets and guard policy: a tenant admin for its own tenant, a global
  admin for any (another tenant is "not found" to a tenant admin, never "forbidden", so its
  existence does not leak).
A test enumerates the app's routes: every /admin route must carry a role dependency, and a member
key gets 403 on each.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from nexus.gateway.deps import AdminDep, GlobalAdminDep, ServicesDep
from nexus.gateway.errors import APIError
from nexus.guard import GuardOverrides
from nexus.jsontypes import JsonBool, JsonFloat, JsonIntOrNone
from nexus.routing.prototypes import PrototypeError
from nexus.runtime.broadcast import BUDGETS, publish_catalogue
from nexus.service.budgets import BudgetRule
from nexus.service.identity import Principal
from nexus.store import TenantScope
from nexus.store.models import Budget, Tenant

router = APIRouter(prefix="/admin", tags=["admin"])

TENANT_ID = r"^[A-Za-z0-9._-]{1,64}$"


@router.post("/catalogue/reload", summary="Reload the model catalogue from its file (global admin)")
async def reload_catalogue(_: GlobalAdminDep, services: ServicesDep) -> dict[str, Any]:
    cat = services.hub.reload()  # CatalogueError → 400 naming entry and field; running one stays
    await publish_catalogue(services.broadcast, services.hub)  # every other gateway and worker too
    return {"status": "reloaded", "models": len(cat.models), "ids": cat.ids}


class PrototypeBody(BaseModel):
    text: str | None = Field(default=None, min_length=1, max_length=4000)
    index: JsonIntOrNone = Field(default=None, ge=0, le=1_000_000)


def _prototypes(services: ServicesDep, model_id: str) -> Any:
    r = services.router
    if r.catalogue.get(model_id) is None:
        raise APIError(404, f"The model {model_id!r} does not exist.", code="model_not_found", param="id")
    if r.prototypes is None:
        raise APIError(
            503, "Prototypes are unavailable: the embedder failed to start.", code="embedder_unavailable"
        )
    return r.prototypes


@router.post(
    "/models/{model_id}/prototypes", status_code=201, summary="Add a routing prototype (global admin)"
)
def add_prototype(
    model_id: str, body: PrototypeBody, _: GlobalAdminDep, services: ServicesDep
) -> dict[str, Any]:
    store = _prototypes(services, model_id)
    if not body.text:
        raise APIError(400, "Give the prototype 'text'.", code="invalid_request", param="text")
    try:
        store.add(model_id, body.text)
    except PrototypeError as exc:
        raise APIError(400, str(exc), code="invalid_prototype") from None
    return {"model": model_id, "added": body.text, "count": store.count(model_id)}


@router.delete(
    "/models/{model_id}/prototypes", summary="Remove a routing prototype by text or index (global admin)"
)
def remove_prototype(
    model_id: str, body: PrototypeBody, _: GlobalAdminDep, services: ServicesDep
) -> dict[str, Any]:
    store = _prototypes(services, model_id)
    if (body.text is None) == (body.index is None):
        raise APIError(400, "Give exactly one of 'text' or 'index'.", code="invalid_request")
    try:
        removed = store.remove(model_id, text=body.text, index=body.index)
    except PrototypeError as exc:
        raise APIError(404, str(exc), code="prototype_not_found") from None
    return {"model": model_id, "removed": removed, "count": store.count(model_id)}


# -- tenants ------------------------------------------------------------------------------------------
class TenantCreate(BaseModel):
    id: str = Field(pattern=TENANT_ID)
    name: str = Field(default="", max_length=200)
    rpm: JsonIntOrNone = Field(default=None, ge=1, le=1_000_000_000)
    tpm: JsonIntOrNone = Field(default=None, ge=1, le=1_000_000_000)


class TenantUpdate(BaseModel):
    name: str | None = Field(default=None, max_length=200)
    rpm: JsonIntOrNone = Field(
        default=None, ge=0, le=1_000_000_000, description="0 clears the tenant's own limit"
    )
    tpm: JsonIntOrNone = Field(
        default=None, ge=0, le=1_000_000_000, description="0 clears the tenant's own limit"
    )
    disabled: JsonBool | None = None


class BudgetSet(BaseModel):
    period: Literal["day", "month"]
    metric: Literal["tokens", "cost"]
    limit: JsonFloat = Field(gt=0, le=1e15)
    hard: JsonBool = True
    api_key_id: str | None = Field(default=None, max_length=64)


def _tenant_view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "disabled": row.disabled,
        "rpm": row.rpm,
        "tpm": row.tpm,
        "guard_policy": row.guard_policy,
        "created_at": row.created_at.isoformat() if row.created_at else None,
    }


def _own(admin: Principal, tenant_id: str) -> TenantScope:
    """The scope an admin acts in on `tenant_id`: its own tenant, or any for a global admin."""
    if tenant_id != admin.tenant_id and not admin.is_global_admin:
        raise APIError(404, f"Unknown tenant {tenant_id!r}.", code="tenant_not_found")
    return TenantScope(tenant_id, admin.is_global_admin)


@router.get("/tenants", summary="Tenants the caller administers")
async def list_tenants(admin: AdminDep, services: ServicesDep) -> dict[str, Any]:
    rows = await services.store.tenants(TenantScope(admin.tenant_id, admin.is_global_admin)).list()
    return {"object": "list", "data": [_tenant_view(r) for r in rows]}


@router.post("/tenants", status_code=201, summary="Create a tenant (global admin)")
async def create_tenant(body: TenantCreate, admin: GlobalAdminDep, services: ServicesDep) -> dict[str, Any]:
    repo = services.store.tenants(TenantScope.system())
    if await repo.find(body.id) is not None:
        raise APIError(409, f"Tenant {body.id!r} already exists.", code="tenant_exists")
    row = await repo.create(body.id, name=body.name, rpm=body.rpm, tpm=body.tpm)
    await services.accounting.audit(
        action="tenant.create", tenant_id=body.id, actor=admin.subject, target=body.id
    )
    return _tenant_view(row)


@router.get("/tenants/{tenant_id}", summary="One tenant")
async def get_tenant(tenant_id: str, admin: AdminDep, services: ServicesDep) -> dict[str, Any]:
    row = await services.store.tenants(_own(admin, tenant_id)).find(tenant_id)
    if row is None:
        raise APIError(404, f"Unknown tenant {tenant_id!r}.", code="tenant_not_found")
    return _tenant_view(row)


@router.patch("/tenants/{tenant_id}", summary="Change a tenant's name, limits or state")
async def update_tenant(
    tenant_id: str, body: TenantUpdate, admin: AdminDep, services: ServicesDep
) -> dict[str, Any]:
    repo = services.store.tenants(_own(admin, tenant_id))
    row = await repo.find(tenant_id) or await services.store.tenants(TenantScope.system()).ensure(tenant_id)
    changes = body.model_dump(exclude_none=True)
    for limit in ("rpm", "tpm"):
        if changes.get(limit) == 0:
            changes[limit] = None
    if changes:
        await repo.run(repo.update().where(type(row).id == tenant_id).values(**changes))
    services.tenants.forget(tenant_id)
    await services.accounting.audit(
        action="tenant.update", tenant_id=tenant_id, actor=admin.subject, target=tenant_id, details=changes
    )
    return _tenant_view(await repo.get(tenant_id))


@router.put(
    "/tenants/{tenant_id}/guard",
    summary="Set a tenant's guard overrides (mask | flag | block per category and risk)",
)
async def set_guard(
    tenant_id: str, body: GuardOverrides, admin: AdminDep, services: ServicesDep
) -> dict[str, Any]:
    repo = services.store.tenants(_own(admin, tenant_id))
    await services.store.tenants(TenantScope.system()).ensure(tenant_id)
    policy = body.model_dump(mode="json", exclude_defaults=True) or None
    await repo.run(repo.update().where(Tenant.id == tenant_id).values(guard_policy=policy))
    services.tenants.forget(tenant_id)
    await services.accounting.audit(
        action="tenant.guard",
        tenant_id=tenant_id,
        actor=admin.subject,
        target=tenant_id,
        details=policy or {},
    )
    return {"tenant": tenant_id, "guard_policy": policy}


@router.get("/tenants/{tenant_id}/budgets", summary="A tenant's budgets")
async def list_budgets(tenant_id: str, admin: AdminDep, services: ServicesDep) -> dict[str, Any]:
    rows = await services.store.budgets(_own(admin, tenant_id)).list()
    data = [
        {
            "id": b.id,
            "api_key_id": b.api_key_id,
            "period": b.period,
            "metric": b.metric,
            "limit": b.limit_value,
            "hard": b.hard,
            "used": services.budgets.used(BudgetRule.from_row(b)),
        }
        for b in rows
        if b.tenant_id == tenant_id
    ]
    return {"object": "list", "data": data}


@router.put("/tenants/{tenant_id}/budgets", summary="Set (create or replace) one of a tenant's budgets")
async def set_budget(
    tenant_id: str, body: BudgetSet, admin: AdminDep, services: ServicesDep
) -> dict[str, Any]:
    row = await services.store.budgets(_own(admin, tenant_id)).set(
        period=body.period,
        metric=body.metric,
        limit=body.limit,
        hard=body.hard,
        api_key_id=body.api_key_id,
        tenant_id=tenant_id,
    )
    await services.budgets.reload_rules()
    await services.broadcast.publish(BUDGETS, local=False)
    await services.accounting.audit(
        action="budget.set",
        tenant_id=tenant_id,
        actor=admin.subject,
        target=tenant_id,
        details=body.model_dump(),
    )
    return {"id": row.id, "tenant": tenant_id, **body.model_dump()}


@router.delete("/tenants/{tenant_id}/budgets/{budget_id}", summary="Remove one of a tenant's budgets")
async def delete_budget(
    tenant_id: str,
    budget_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    admin: AdminDep,
    services: ServicesDep,
) -> dict[str, Any]:
    repo = services.store.budgets(_own(admin, tenant_id))
    n = await repo.run(repo.delete().where(Budget.id == budget_id, Budget.tenant_id == tenant_id))
    if not n:
        raise APIError(404, f"No budget {budget_id} for tenant {tenant_id!r}.", code="budget_not_found")
    await services.budgets.reload_rules()
    await services.broadcast.publish(BUDGETS, local=False)
    await services.accounting.audit(
        action="budget.delete", tenant_id=tenant_id, actor=admin.subject, target=str(budget_id)
    )
    return {"id": budget_id, "deleted": True}
