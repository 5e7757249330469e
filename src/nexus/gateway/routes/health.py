"""Liveness (instant) and a detailed health view (providers, database, version)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Request

from nexus import __version__
from nexus.gateway.state import hub_of

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/api/health/detailed", summary="Providers, database and version")
async def health_detailed(request: Request) -> dict[str, Any]:
    hub = hub_of(request)
    started = time.perf_counter()
    try:
        checks = await asyncio.wait_for(hub.health(), timeout=5.0)
        providers = {mid: h.model_dump() for mid, h in checks.items()}
    except TimeoutError:
        providers = {"_": {"ok": False, "detail": "health checks timed out"}}
    db: dict[str, Any] = {"ok": None, "detail": "no database configured"}
    store = getattr(request.app.state, "store", None)
    if store is not None:
        try:
            await asyncio.wait_for(store.ping(), timeout=3.0)
            db = {"ok": True, "backend": store.backend}
        except Exception as exc:  # reported, never raised
            db = {"ok": False, "backend": getattr(store, "backend", "?"), "detail": type(exc).__name__}
    return {
        "status": "ok" if db.get("ok") is not False else "degraded",
        "version": __version__,
        "demo": hub.demo,
        "providers": providers,
        "database": db,
        "elapsed_ms": round((time.perf_counter() - started) * 1000, 2),
    }
