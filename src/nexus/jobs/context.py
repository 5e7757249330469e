"""What a handler sees: its job, its tenant, the process's services, and one way to commit its effect.

    @job("faq.extract", payload=Extract)
    async def extract(ctx: JobContext[MyServices], p: Extract) -> None:
        faqs = await ctx.services.extractor(p.document_id)     # may run twice (retries)
        async with ctx.effect() as tx:                          # commits once, with the job's `done`
            tx.session.add_all(faqs)
            tx.result = {"faqs": len(faqs)}

The effect block opens a transaction whose first statement moves the job from this attempt's `running`
to `done`. When that compare-and-set matches no row (the job was cancelled, or a recovered lease gave it
to another worker) the block raises `LeaseLost` before the handler writes anything; otherwise the effect
and `done` commit together, so a redelivered message finds `done` and never repeats the effect.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, NamedTuple, TypeVar

from pydantic import BaseModel
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from nexus.config.settings import Settings
from nexus.jobs import registry
from nexus.jobs.errors import LeaseLost
from nexus.store import Store, TenantScope
from nexus.store.models import utcnow
from nexus.store.models_jobs import Job
from nexus.store.repos.jobs import COMPLETE, complete_params, insert_jobs, new_job

S = TypeVar("S")
# Sends a broker message for a job once its row is committed: (job id, priority).
Sender = Callable[[str, int], Awaitable[None]]
# Messages sent at once after a bulk commit (each is one Redis round trip).
SEND_CONCURRENCY = 64


class JobRequest(BaseModel):
    """One job of a bulk enqueue (`JobQueue.enqueue_many`, `Outbox.enqueue_many`)."""

    kind: str
    payload: dict[str, Any] = {}
    idempotency_key: str | None = None
    priority: int = 0
    delay_s: float | None = None


class Enqueued(NamedTuple):
    id: str
    created: bool  # False: the tenant's idempotency key named an existing job


@dataclass
class Outbox:
    """A transaction plus the jobs enqueued inside it; their messages go out only after the commit."""

    session: AsyncSession
    tenant: TenantScope
    settings: Settings
    result: dict[str, Any] | None = None
    staged: list[tuple[str, int]] = field(default_factory=list)

    async def enqueue(
        self,
        kind: str,
        payload: BaseModel | dict[str, Any] | None = None,
        *,
        tenant: TenantScope | str | None = None,
        idempotency_key: str | None = None,
        priority: int | None = None,
        delay_s: float | None = None,
        run_at: datetime | None = None,
        max_attempts: int | None = None,
    ) -> Enqueued:
        owner = _scope(tenant) if tenant is not None else self.tenant
        row = self._row(owner, kind, payload, idempotency_key, priority, delay_s, run_at, max_attempts)
        return (await self._insert([row]))[0]

    async def enqueue_many(self, jobs: Sequence[JobRequest]) -> list[Enqueued]:
        """Many jobs of this tenant in as few statements as possible."""
        rows = [
            self._row(self.tenant, j.kind, j.payload, j.idempotency_key, j.priority, j.delay_s, None, None)
            for j in jobs
        ]
        return await self._insert(rows)

    def _row(
        self,
        owner: TenantScope,
        kind: str,
        payload: BaseModel | dict[str, Any] | None,
        idempotency_key: str | None,
        priority: int | None,
        delay_s: float | None,
        run_at: datetime | None,
        max_attempts: int | None,
    ) -> dict[str, Any]:
        spec = registry.spec_for(kind)
        when = run_at or (utcnow() + timedelta(seconds=delay_s) if delay_s else None)
        return new_job(
            owner.tenant_id,
            kind,
            spec.dump_payload(payload),
            idempotency_key=idempotency_key,
            priority=priority or 0,
            run_at=when,
            max_attempts=max_attempts or spec.attempts_for(self.settings),
            # A delayed job gets its message from the dispatcher once due.
            dispatched=when is None,
        )

    async def _insert(self, rows: list[dict[str, Any]]) -> list[Enqueued]:
        out = []
        for row, (job_id, created) in zip(rows, await insert_jobs(self.session, rows), strict=True):
            if created and row["dispatched_at"] is not None:
                self.staged.append((job_id, row["priority"]))
            out.append(Enqueued(job_id, created))
        return out

    async def send_staged(self, send: Sender) -> None:
        staged, self.staged = self.staged, []
        for start in range(0, len(staged), SEND_CONCURRENCY):
            await asyncio.gather(
                *(send(job_id, prio) for job_id, prio in staged[start : start + SEND_CONCURRENCY])
            )


@asynccontextmanager
async def outbox(
    store: Store, tenant: TenantScope, settings: Settings, send: Sender, *, single: bool = False
) -> AsyncIterator[Outbox]:
    """One transaction for the caller's own rows and the jobs they start (transactional outbox).

    `single`: the block runs one atomic INSERT (a lone enqueue), so it runs in autocommit and saves the
    BEGIN/COMMIT round trips on the enqueue → start path.
    """
    async with store.sessions() as session:
        if single:
            await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            box = Outbox(session, tenant, settings)
            yield box
        else:
            async with session.begin():
                box = Outbox(session, tenant, settings)
                yield box
    await box.send_staged(send)


def _scope(tenant: TenantScope | str) -> TenantScope:
    return tenant if isinstance(tenant, TenantScope) else TenantScope(tenant)


@dataclass
class JobContext(Generic[S]):
    job_id: str
    kind: str
    tenant: TenantScope
    attempt: int
    max_attempts: int
    idempotency_key: str | None
    payload: dict[str, Any]
    services: S
    settings: Settings
    store: Store
    instance_id: str
    send: Sender
    cancelled_event: asyncio.Event = field(default_factory=asyncio.Event)
    effect_committed: bool = False
    result: dict[str, Any] | None = None

    @property
    def cancelled(self) -> bool:
        """True once the job was cancelled (or lost) while running: stop early, nothing will commit."""
        return self.cancelled_event.is_set()

    @asynccontextmanager
    async def effect(self) -> AsyncIterator[Outbox]:
        """The job's effect and its `done`, in one transaction (one effect block per job)."""
        async with self.store.sessions() as session:
            async with session.begin():
                won = await session.execute(
                    COMPLETE, complete_params(self.job_id, self.instance_id, self.attempt, None)
                )
                if int(getattr(won, "rowcount", 0) or 0) != 1:
                    raise LeaseLost(f"job {self.job_id} attempt {self.attempt} no longer holds its lease")
                box = Outbox(session, self.tenant, self.settings)
                yield box
                if box.result is not None:
                    await session.execute(update(Job).where(Job.id == self.job_id).values(result=box.result))
            self.effect_committed = True
            self.result = box.result
            await box.send_staged(self.send)

    async def enqueue(
        self,
        kind: str,
        payload: BaseModel | dict[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        priority: int | None = None,
        delay_s: float | None = None,
    ) -> Enqueued:
        """Start another job for this tenant now (not tied to this job's effect; see Outbox.enqueue)."""
        async with outbox(self.store, self.tenant, self.settings, self.send) as box:
            return await box.enqueue(
                kind, payload, idempotency_key=idempotency_key, priority=priority, delay_s=delay_s
            )
