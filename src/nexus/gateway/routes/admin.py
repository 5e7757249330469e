"""Operator actions: catalogue reload without restart."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from nexus.gateway.state import hub_of

router = APIRouter(tags=["admin"])


@router.post("/admin/catalogue/reload", summary="Reload the model catalogue from its file")
async def reload_catalogue(request: Request) -> dict[str, Any]:
    require = getattr(request.app.state, "require_admin", None)
    if require is not None:
        require(request)
    cat = hub_of(request).reload()  # CatalogueError → 400 naming entry and field; running one stays
    return {"status": "reloaded", "models": len(cat.models), "ids": cat.ids}
