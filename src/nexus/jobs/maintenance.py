"""Housekeeping as jobs: retention pruning, run hourly by the scheduler."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from nexus.jobs.context import JobContext
from nexus.jobs.registry import job
from nexus.jobs.scheduler import schedule
from nexus.store.prune import prune_all


class Prune(BaseModel):
    # None: NEXUS_RETENTION_DAYS; 0 or less there means keep everything (the scheduled run does nothing).
    older_than_days: int | None = None


@job("store.prune", payload=Prune, max_attempts=3, timeout_s=3600)
async def prune_job(ctx: JobContext[Any], p: Prune) -> dict[str, Any]:
    days = ctx.settings.retention_days if p.older_than_days is None else p.older_than_days
    if days <= 0:
        return {"skipped": "retention disabled"}
    return {"older_than_days": days, **await prune_all(ctx.settings, ctx.store, days)}


schedule("retention", "store.prune", every=timedelta(hours=1))
