"""GET /api/agents: the pipeline's roles, the model each is configured with, and its current health.

Health probes call every provider, so the result is cached for a few seconds: the UI's Agents page
(and anyone refreshing it) must not turn into a probe storm against the upstreams.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request

from nexus.config.catalogue import DOMAINS
from nexus.gateway.state import hub_of
from nexus.providers.hub import ModelHub
from nexus.providers.types import Health

router = APIRouter(tags=["admin"])

HEALTH_TTL_S = 10.0

# The roles the pipeline runs, in the order a request meets them; workers are listed per domain after.
ROLE_ORDER: tuple[tuple[str, str], ...] = (
    ("classifier", "Reads the request: domain, complexity, flags, subtasks"),
    ("self_answer", "Answers trivial requests without routing"),
    ("aggregator", "Merges the answers of parallel workers"),
    ("judge", "Scores the answer and writes a critique"),
    ("escalation", "Retries a low-scoring answer with a stronger model"),
)


@dataclass
class _HealthCache:
    at: float = 0.0
    health: dict[str, Health] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def _cache(request: Request) -> _HealthCache:
    cache: _HealthCache | None = getattr(request.app.state, "agents_health_cache", None)
    if cache is None:
        cache = _HealthCache()
        request.app.state.agents_health_cache = cache
    return cache


async def _health(request: Request, hub: ModelHub) -> tuple[dict[str, Health], float]:
    cache = _cache(request)
    async with cache.lock:  # one probe round at a time; concurrent callers share its result
        if time.monotonic() - cache.at > HEALTH_TTL_S or not cache.health:
            cache.health = await hub.health()
            cache.at = time.monotonic()
        return cache.health, time.monotonic() - cache.at


def _agent(
    hub: ModelHub, health: dict[str, Health], role: str, model_id: str, **extra: Any
) -> dict[str, Any]:
    entry = hub.catalogue.get(model_id)
    h = health.get(model_id)
    return {
        "role": role,
        "model": model_id,
        "provider": entry.provider if entry else None,
        "available": hub.is_available(model_id),
        "simulated": bool(entry and entry.simulated),
        "health": h.model_dump() if h else None,
        **extra,
    }


@router.get("/api/agents")
async def list_agents(request: Request) -> dict[str, Any]:
    hub = hub_of(request)
    health, age = await _health(request, hub)
    cat = hub.catalogue
    agents = [_agent(hub, health, role, cat.role(role), description=desc) for role, desc in ROLE_ORDER]
    workers = [
        _agent(
            hub,
            health,
            "worker",
            cat.worker_for(domain),
            domain=domain,
            description=f"Expert for {domain}" + ("" if domain in cat.workers else " (default role)"),
        )
        for domain in DOMAINS
    ]
    return {
        "agents": agents,
        "workers": workers,
        "demo": hub.demo,
        "health_age_s": round(age, 3),
        "health_ttl_s": HEALTH_TTL_S,
    }
