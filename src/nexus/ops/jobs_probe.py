"""The heartbeat's view of nexus.jobs: queue lag, stuck jobs (a running job whose worker stopped renewing
its lease), and handing stuck jobs back to the queue — the same recovery the job engine's own
maintenance runs, so it is idempotent and safe to run from any process."""

from __future__ import annotations

from sqlalchemy import func, select

from nexus.ops.jobs import QueueStats
from nexus.store import Store, TenantScope
from nexus.store.models import utcnow
from nexus.store.models_jobs import Job

SYSTEM = TenantScope.system()


class StoreJobsProbe:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def stats(self) -> QueueStats:
        repo = self.store.jobs(SYSTEM)
        counts = await repo.count_by_status()
        now = utcnow()
        oldest = await repo.rows(repo.select(func.min(Job.created_at)).where(Job.status == "queued"))
        first = oldest[0][0] if oldest and oldest[0][0] is not None else None
        stuck = await repo.rows(
            select(func.count()).select_from(Job).where(Job.status == "running", Job.lease_expires_at < now)
        )
        return QueueStats(
            queued=counts.get("queued", 0),
            running=counts.get("running", 0),
            oldest_queued_s=max(0.0, (now - first).total_seconds()) if first is not None else 0.0,
            stuck=int(stuck[0][0]) if stuck else 0,
        )

    async def reclaim_stuck(self, limit: int) -> int:
        repo = self.store.jobs(SYSTEM)
        now = utcnow()
        n = 0
        for row in await repo.expired(now, limit=limit):
            if await repo.recover(
                row, now, "reclaimed by the heartbeat: its worker stopped renewing the lease"
            ):
                n += 1
        return n
