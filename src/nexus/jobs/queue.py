"""The JobQueue seam: enqueue, status, cancel, list, dead letters. Callers never see the broker.

The job row is written first (committed), then a broker message is sent. A message lost in between (a
crash, Redis down) is not a lost job: the dispatcher sends again any queued job whose message is stale.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from taskiq import AsyncBroker, AsyncTaskiqDecoratedTask

from nexus.config.settings import Settings
from nexus.jobs import registry
from nexus.jobs.broker import JobStreamBroker
from nexus.jobs.context import JobRequest, Outbox, outbox
from nexus.jobs.errors import JobConflict
from nexus.jobs.runner import finish
from nexus.store import Store, TenantScope
from nexus.store.models_jobs import JOB_ACTIVE, JOB_DEAD_LETTERS, JOB_STATUSES, Job

log = logging.getLogger("nexus.jobs")
TASK_NAME = "nexus.jobs.run"


class JobView(BaseModel):
    """A job as the API shows it (GET /api/jobs/{id})."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    tenant_id: str
    kind: str
    status: str
    priority: int
    attempts: int
    max_attempts: int
    idempotency_key: str | None
    payload: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    run_at: datetime
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def _scope(tenant: TenantScope | str) -> TenantScope:
    return tenant if isinstance(tenant, TenantScope) else TenantScope(tenant)


class JobQueue:
    def __init__(
        self, store: Store, settings: Settings, broker: AsyncBroker, task: AsyncTaskiqDecoratedTask[Any, Any]
    ) -> None:
        self.store = store
        self.settings = settings
        self.broker = broker
        self._task = task

    @property
    def backend(self) -> str:
        """ "redis-streams" or "in-process"."""
        return "redis-streams" if isinstance(self.broker, JobStreamBroker) else "in-process"

    async def send(self, job_id: str, priority: int = 0) -> None:
        """One broker message for a committed job row. Failing to send is logged, never raised: the row
        is durable and the dispatcher sends it again once the message counts as stale."""
        kicker = self._task.kicker()
        if isinstance(self.broker, JobStreamBroker):
            kicker = kicker.with_labels(queue_name=self.broker.lane(priority))
        try:
            await kicker.kiq(job_id)
        except Exception as exc:
            log.warning(
                "job %s queued but its message was not sent (%s); the dispatcher will resend", job_id, exc
            )

    @asynccontextmanager
    async def outbox(self, tenant: TenantScope | str) -> AsyncIterator[Outbox]:
        """Write your own rows and enqueue jobs in one transaction; messages go out after the commit."""
        async with outbox(self.store, _scope(tenant), self.settings, self.send) as box:
            yield box

    async def enqueue(
        self,
        kind: str,
        payload: BaseModel | dict[str, Any] | None = None,
        *,
        tenant: TenantScope | str,
        idempotency_key: str | None = None,
        priority: int | None = None,
        delay_s: float | None = None,
        run_at: datetime | None = None,
        max_attempts: int | None = None,
    ) -> str:
        """Queue a job and return its id (the existing job's id when the key was already used).
        To learn whether it was new, or to write your own rows with it, use `outbox()`."""
        async with outbox(self.store, _scope(tenant), self.settings, self.send, single=True) as box:
            enqueued = await box.enqueue(
                kind,
                payload,
                idempotency_key=idempotency_key,
                priority=priority,
                delay_s=delay_s,
                run_at=run_at,
                max_attempts=max_attempts,
            )
        return enqueued.id

    async def enqueue_many(self, jobs: Sequence[JobRequest], *, tenant: TenantScope | str) -> list[str]:
        """Many jobs in one transaction (bulk inserts, one commit, then the messages)."""
        async with self.outbox(tenant) as box:
            return [e.id for e in await box.enqueue_many(jobs)]

    async def status(self, job_id: str, *, tenant: TenantScope | str) -> JobView:
        """The job as its tenant sees it; another tenant's job is NotFound (store.NotFound)."""
        return JobView.model_validate(await self.store.jobs(_scope(tenant)).get(job_id))

    async def list(
        self,
        *,
        tenant: TenantScope | str,
        status: str | None = None,
        kind: str | None = None,
        limit: int | None = None,
    ) -> builtins.list[JobView]:
        if status is not None and status not in JOB_STATUSES:
            raise ValueError(f"status must be one of {', '.join(JOB_STATUSES)}; got {status!r}")
        rows = await self.store.jobs(_scope(tenant)).list(status=status, kind=kind, limit=limit)
        return [JobView.model_validate(r) for r in rows]

    async def dead_letters(
        self, *, tenant: TenantScope | str, limit: int | None = None
    ) -> builtins.list[JobView]:
        """The dead-letter store: jobs out of attempts (dead) or failed for good (failed), with the reason."""
        rows = await self.store.jobs(_scope(tenant)).list(status=JOB_DEAD_LETTERS, limit=limit)
        return [JobView.model_validate(r) for r in rows]

    async def cancel(self, job_id: str, *, tenant: TenantScope | str, reason: str = "cancelled") -> JobView:
        """Cancel a queued or running job: its effect never commits. A finished job is a JobConflict."""
        scope = _scope(tenant)
        row: Job = await self.store.jobs(scope).get(job_id)
        if row.status in JOB_ACTIVE and await finish(
            self.store, self.settings, self.send, row, "cancelled", reason
        ):
            return await self.status(job_id, tenant=scope)
        current = await self.store.jobs(scope).get(job_id)
        if current.status == "cancelled":
            return JobView.model_validate(current)
        raise JobConflict(job_id, current.status, "cancel")

    async def retry_dead(self, job_id: str, *, tenant: TenantScope | str) -> JobView:
        """Give a dead-lettered job a fresh set of attempts."""
        scope = _scope(tenant)
        row = await self.store.jobs(scope).requeue_dead(job_id)
        if row is None:
            current = await self.store.jobs(scope).get(job_id)
            raise JobConflict(job_id, current.status, "retry")
        await self.send(row.id, row.priority)
        return JobView.model_validate(row)

    async def counts(self, *, tenant: TenantScope | str) -> dict[str, int]:
        return await self.store.jobs(_scope(tenant)).count_by_status()

    def kinds(self) -> builtins.list[str]:
        return registry.kinds()
