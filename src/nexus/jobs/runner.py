"""Runs one job for one broker message: claim the row, call the handler, record how it ended.

The return value says whether the message may be acknowledged: always, except when another live
process holds the job (its message then stays pending and comes back after the reclaim idle time, so a
job is never left without a message while it can still fail).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from nexus.config.settings import Settings
from nexus.jobs import registry
from nexus.jobs.context import JobContext, Outbox, Sender
from nexus.jobs.errors import LeaseLost, PermanentFailure, RetryLater, UnknownJobKind
from nexus.jobs.metrics import JobMetrics
from nexus.store import Store, TenantScope
from nexus.store.models import utcnow
from nexus.store.models_jobs import JOB_FINISHED, Job
from nexus.store.repos.jobs import finish_stmt
from nexus.telemetry.redact import Redactor

log = logging.getLogger("nexus.jobs")
SYSTEM = TenantScope.system()
MAX_ERROR_CHARS = 2000


def backoff_s(attempt: int, base: float, cap: float, *, rng: Callable[[], float] = random.random) -> float:
    """Exponential backoff with equal jitter: half fixed, half random, so retries spread out."""
    delay = min(cap, base * (2 ** max(0, attempt - 1)))
    return delay / 2 + rng() * delay / 2


_REDACT = Redactor()


def describe(exc: BaseException) -> str:
    """The reason stored on the job (shown by the API): credential shapes masked, length bounded."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return _REDACT.redact(text)[:MAX_ERROR_CHARS]


class JobRunner:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        instance_id: str,
        services: Any,
        send: Sender,
        metrics: JobMetrics,
        concurrency: int | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.instance_id = instance_id
        self.services = services
        self.send = send
        self.metrics = metrics
        self._jobs = store.jobs(SYSTEM)
        # job id → (task running it, its context): the heartbeat renews these and stops cancelled ones.
        self.running: dict[str, tuple[asyncio.Task[Any], JobContext[Any]]] = {}
        # Every delivery being processed, also those still waiting for a slot (shutdown cancels them).
        self.active: set[asyncio.Task[Any]] = set()
        self._sem = asyncio.Semaphore(concurrency) if concurrency else None
        self._stopping = False

    @property
    def lease_until(self) -> datetime:
        return utcnow() + timedelta(seconds=self.settings.jobs_lease_s)

    async def run(self, job_id: str) -> bool:
        """Process one delivery of `job_id`; True = acknowledge the message."""
        task = asyncio.current_task()
        if task is not None:
            self.active.add(task)
        try:
            if self._sem is None:
                return await self._run(job_id)
            async with self._sem:
                return await self._run(job_id)
        finally:
            if task is not None:
                self.active.discard(task)

    async def _run(self, job_id: str) -> bool:
        if self._stopping:
            return False
        row = await self._jobs.claim(job_id, self.instance_id, self.lease_until)
        if row is None:
            current = await self._jobs.find(job_id)
            if current is None or current.status != "running":
                # Gone, finished, or queued for later (the dispatcher sends it when due): ack.
                return True
            if not await self.recover(current):
                # Running under a live lease (maybe this process's own long job): keep it pending.
                return False
            row = await self._jobs.claim(job_id, self.instance_id, self.lease_until)
            if row is None:  # another process won it with the message the recovery sent
                return True
        await self._execute(row)
        return True

    async def _execute(self, row: Job) -> None:
        try:
            spec = registry.spec_for(row.kind)
        except UnknownJobKind as exc:
            await self._dead(row, str(exc), status="failed")
            return
        ctx: JobContext[Any] = JobContext(
            job_id=row.id,
            kind=row.kind,
            tenant=TenantScope(row.tenant_id),
            attempt=row.attempts,
            max_attempts=row.max_attempts,
            idempotency_key=row.idempotency_key,
            payload=row.payload,
            services=self.services,
            settings=self.settings,
            store=self.store,
            instance_id=self.instance_id,
            send=self.send,
        )
        task = asyncio.current_task()
        assert task is not None
        self.running[row.id] = (task, ctx)
        self.metrics.started(row.kind, (row.started_at or utcnow()) - row.run_at)
        started = time.perf_counter()
        try:
            payload = spec.load_payload(row.payload)
            async with asyncio.timeout(spec.timeout_s):
                value = await spec.handler(ctx, payload)
            await self._done(row, ctx, value)
        except asyncio.CancelledError:
            if ctx.cancelled:  # cancelled in the database while running: nothing to record
                self.metrics.outcome(row.kind, "cancelled")
                return
            # Shutdown: hand the job back without counting this attempt, then let the task end.
            await asyncio.shield(
                self._jobs.requeue(
                    row.id,
                    owner=self.instance_id,
                    attempt=row.attempts,
                    error=None,
                    run_at=utcnow(),
                    refund=True,
                )
            )
            raise
        except LeaseLost:
            log.info(
                "job %s (%s) lost its lease or was cancelled; its effect was not committed", row.id, row.kind
            )
        except PermanentFailure as exc:
            await self._dead(row, describe(exc), ctx, status="failed")
        except RetryLater as exc:
            await self._retry(row, spec, describe(exc), exc.delay_s, ctx)
        except TimeoutError:
            await self._retry(row, spec, f"timed out after {spec.timeout_s}s", None, ctx)
        except Exception as exc:  # a handler bug or a failed dependency: retried, then dead-lettered
            log.warning("job %s (%s) attempt %d failed: %s", row.id, row.kind, row.attempts, describe(exc))
            await self._retry(row, spec, describe(exc), None, ctx)
        finally:
            self.running.pop(row.id, None)
            self.metrics.finished(row.kind, time.perf_counter() - started)

    async def _done(self, row: Job, ctx: JobContext[Any], value: Any) -> None:
        result = value if isinstance(value, dict) else ({"value": value} if value is not None else None)
        if ctx.effect_committed:
            if result is not None and ctx.result is None:
                await self._jobs.run(self._jobs.update().where(Job.id == row.id).values(result=result))
        elif not await self._jobs.complete(row.id, self.instance_id, row.attempts, result):
            log.info("job %s finished after losing its lease; outcome not recorded", row.id)
            return
        self.metrics.outcome(row.kind, "done")

    async def _retry(
        self, row: Job, spec: registry.JobSpec, reason: str, delay_s: float | None, ctx: JobContext[Any]
    ) -> None:
        if ctx.effect_committed:  # failed after committing: the job is done, nothing to retry
            return
        if row.attempts >= row.max_attempts:
            await self._dead(row, f"{reason} (after {row.attempts} attempts)", ctx)
            return
        if delay_s is None:
            delay_s = backoff_s(
                row.attempts,
                spec.retry_base_s if spec.retry_base_s is not None else self.settings.jobs_retry_base_s,
                spec.retry_max_s if spec.retry_max_s is not None else self.settings.jobs_retry_max_s,
            )
        run_at = utcnow() + timedelta(seconds=delay_s)
        if await self._jobs.requeue(
            row.id, owner=self.instance_id, attempt=row.attempts, error=reason, run_at=run_at
        ):
            self.metrics.outcome(row.kind, "retried")

    async def _dead(
        self, row: Job, reason: str, ctx: JobContext[Any] | None = None, *, status: str = "dead"
    ) -> None:
        """Into the dead-letter store: `dead` (out of attempts) or `failed` (retrying cannot help)."""
        if ctx is not None and ctx.effect_committed:
            return
        if await finish(self.store, self.settings, self.send, row, status, reason, owner=self.instance_id):
            log.warning("job %s (%s) %s: %s", row.id, row.kind, status, reason)
            self.metrics.outcome(row.kind, status)

    async def recover(self, row: Job) -> bool:
        """A running job whose lease expired: back to the queue, or dead when out of attempts."""
        now = utcnow()
        if row.status != "running" or row.lease_expires_at is None or row.lease_expires_at >= now:
            return False
        reason = f"worker {row.lease_owner} lost (lease expired) during attempt {row.attempts}"
        if row.attempts >= row.max_attempts:
            return await finish(
                self.store,
                self.settings,
                self.send,
                row,
                "dead",
                reason,
                owner=row.lease_owner,
                expired_at=now,
            )
        recovered = await self._jobs.recover(row, now, reason)
        if recovered:
            log.warning("job %s (%s) recovered: %s", row.id, row.kind, reason)
            self.metrics.outcome(row.kind, "recovered")
        return recovered

    def stop_cancelled(self, lost: set[str]) -> None:
        """The heartbeat found these jobs cancelled or taken over: stop their handlers."""
        for job_id in lost:
            entry = self.running.get(job_id)
            if entry is not None:
                task, ctx = entry
                ctx.cancelled_event.set()
                task.cancel()

    def begin_shutdown(self) -> None:
        self._stopping = True


async def finish(
    store: Store,
    settings: Settings,
    send: Sender,
    row: Job,
    status: str,
    reason: str,
    *,
    owner: str | None = None,
    expired_at: datetime | None = None,
) -> bool:
    """→ dead | cancelled (| failed) with the kind's final hook in the same transaction.

    `owner`: only from that worker's current attempt; `expired_at`: only if its lease expired by then.
    """
    assert status in JOB_FINISHED
    async with store.sessions() as session:
        async with session.begin():
            stmt = finish_stmt(row.id, status, reason, owner=owner, attempt=row.attempts)
            if owner is None:
                stmt = stmt.where(Job.tenant_id == row.tenant_id)
            if expired_at is not None:
                stmt = stmt.where(Job.lease_expires_at < expired_at)
            changed = await session.execute(stmt)
            if int(getattr(changed, "rowcount", 0) or 0) != 1:
                return False
            box = Outbox(session, TenantScope(row.tenant_id), settings)
            try:
                spec = registry.spec_for(row.kind)
            except UnknownJobKind:
                spec = None
            if spec is not None and spec.on_final is not None:
                await spec.on_final(box, row, status, reason)
        await box.send_staged(send)
    return True
