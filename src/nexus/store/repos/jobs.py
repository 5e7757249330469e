"""Background jobs (wave 2 workers claim them); the row is the job's durable state."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from nexus.store.models import Job, utcnow
from nexus.store.repos.base import Repository, clamp_limit


class Jobs(Repository[Job]):
    model = Job
    kind = "job"

    async def enqueue(self, kind: str, payload: dict[str, Any] | None = None) -> Job:
        return await self.add(id=uuid.uuid4().hex, kind=kind, payload=payload or {}, status="queued")

    async def list(self, *, status: str | None = None, limit: int | None = None) -> Sequence[Job]:
        stmt = self.select()
        if status:
            stmt = stmt.where(Job.status == status)
        return await self.all(stmt.order_by(Job.created_at.desc()).limit(clamp_limit(limit)))

    async def claim(self, kind: str | None = None) -> Job | None:
        """Take the oldest queued job (compare-and-set on status so two workers never share one)."""
        stmt = self.scoped(select(Job.id)).where(Job.status == "queued").order_by(Job.created_at).limit(1)
        if kind:
            stmt = stmt.where(Job.kind == kind)
        for _ in range(3):
            ids = await self.rows(stmt)
            if not ids:
                return None
            now = utcnow()
            claimed = await self.run(
                self.update()
                .where(Job.id == ids[0][0], Job.status == "queued")
                .values(status="running", attempts=Job.attempts + 1, started_at=now, updated_at=now)
            )
            if claimed:
                return await self.get(ids[0][0])
        return None

    async def finish(
        self, job_id: str, *, result: dict[str, Any] | None = None, error: str | None = None
    ) -> int:
        now = utcnow()
        return await self.run(
            self.update()
            .where(Job.id == job_id)
            .values(
                status="failed" if error else "done",
                result=result,
                error=error,
                updated_at=now,
                finished_at=now,
            )
        )
