"""GET /api/roles: the pipeline's roles, the model each is configured with, and its current health.
(Formerly /api/agents; that path now belongs to the agent runtime.)

Health probes call every provider, so the result is cached for a few seconds: the UI's Agents page
(and anyone refreshing it) must not turn into a probe storm against the upstreams.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from nexus.config.catalogue import DOMAINS
from nexus.gateway.deps import services_of
from nexus.providers.hub import ModelHub
from nexus.providers.types import Health

router = APIRouter(tags=["observability"])

HEALTH_TTL_S = 10.0

# The roles the pipeline runs, in the order a request meets them; workers are listed per domain after.
ROLE_ORDER: tuple[tuple[str, str], ...] = (
    ("classifier", "Reads the request: domain, complexity, flags, subtasks"),
    ("self_answer", "Answers trivial requests without routing"),
    ("aggregator", "Merges the answers of parallel workers"),
    ("judge", "Scores the answer and writes a critique"),
    ("escalation", "Retries a low-scoring answer with a stronger model"),
)


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


@router.get("/api/roles", summary="The pipeline's roles, their models and health")
async def list_roles(request: Request) -> dict[str, Any]:
    hub = services_of(request).hub
    health, age = await hub.cached_health(HEALTH_TTL_S)
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
