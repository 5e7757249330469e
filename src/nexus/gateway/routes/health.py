"""Liveness (`/health`: the process answers), readiness (`/ready`: database, Redis and the catalogue), and
a detailed view (providers, database, version) for operators."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from nexus import __version__
from nexus.gateway.deps import services_of
from nexus.runtime import Services

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness: the process is up")
async def health() -> dict[str, str]:
    return {"status": "ok"}


async def _database(services: Services) -> dict[str, Any]:
    try:
        await asyncio.wait_for(services.store.ping(), timeout=3.0)
        return {"ok": True, "backend": services.store.backend}
    except Exception as exc:  # reported, never raised
        return {"ok": False, "backend": services.store.backend, "detail": type(exc).__name__}


async def _redis(services: Services) -> dict[str, Any] | None:
    url = services.settings.redis_url
    if not url:
        return None
    import redis.asyncio as aioredis

    client = aioredis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        await client.ping()
        return {"ok": True}
    except Exception as exc:
        return {"ok": False, "detail": type(exc).__name__}
    finally:
        await client.aclose()


@router.get("/ready", summary="Readiness: database, Redis (when configured) and the model catalogue")
async def ready(request: Request) -> JSONResponse:
    services = services_of(request)
    checks: dict[str, Any] = {
        "database": await _database(services),
        "catalogue": {"ok": bool(services.hub.catalogue.models)},
    }
    if services.jobs is not None:
        checks["jobs"] = {"ok": services.jobs.ready}
    redis = await _redis(services)
    if redis is not None:
        checks["redis"] = redis
    ok = all(c["ok"] for c in checks.values())
    return JSONResponse(
        {"status": "ready" if ok else "not_ready", "checks": checks}, status_code=200 if ok else 503
    )


@router.get("/api/health/detailed", summary="Providers, database, Redis and version")
async def health_detailed(request: Request) -> dict[str, Any]:
    services = services_of(request)
    started = time.perf_counter()
    try:
        checks = await asyncio.wait_for(services.hub.health(), timeout=5.0)
        providers = {mid: h.model_dump() for mid, h in checks.items()}
    except TimeoutError:
        providers = {"_": {"ok": False, "detail": "health checks timed out"}}
    db = await _database(services)
    redis = await _redis(services)
    degraded = not db["ok"] or (redis is not None and not redis["ok"])
    return {
        "status": "degraded" if degraded else "ok",
        "version": __version__,
        "demo": services.hub.demo,
        "providers": providers,
        "database": db,
        "redis": redis,
        "elapsed_ms": round((time.perf_counter() - started) * 1000, 2),
    }
