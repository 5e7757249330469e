"""Scheduling: run a job at a time or on a cron expression.

`Scheduler` is the seam the job layer (`nexus.jobs`) implements durably; `InProcessScheduler` runs
schedules on this process's event loop (they do not survive a restart). Jobs are a kind plus a JSON
payload, not closures, so a durable implementation can store and hand them to any worker.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from nexus.execution.errors import ScheduleError

log = logging.getLogger("nexus.execution")

# A job handler gets its payload and the time this occurrence was due.
JobHandler = Callable[[dict[str, Any], datetime], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class At:
    """Once, at `when` (an aware datetime)."""

    when: datetime

    def next_after(self, after: datetime | None) -> datetime | None:
        return self.when if after is None else None


@dataclass(frozen=True, slots=True)
class Cron:
    """Every time the cron expression matches, in `timezone`."""

    expression: str
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if not croniter.is_valid(self.expression):
            raise ScheduleError(f"invalid cron expression {self.expression!r}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ScheduleError(f"unknown time zone {self.timezone!r}") from None

    def next_after(self, after: datetime | None) -> datetime:
        base = (after or datetime.now(UTC)).astimezone(ZoneInfo(self.timezone))
        nxt: datetime = croniter(self.expression, base).get_next(datetime)
        return nxt.astimezone(UTC)


Trigger = At | Cron


@dataclass(slots=True)
class ScheduledJob:
    id: str
    tenant: str
    kind: str
    payload: dict[str, Any]
    trigger: Trigger
    next_run: datetime | None
    runs: int = 0
    last_error: str | None = None
    history: list[datetime] = field(default_factory=list)


class Scheduler(Protocol):
    def register(self, kind: str, handler: JobHandler) -> None: ...

    async def schedule(self, kind: str, payload: dict[str, Any], trigger: Trigger, *, tenant: str) -> str: ...

    async def cancel(self, schedule_id: str, *, tenant: str) -> bool: ...

    def jobs(self, tenant: str) -> list[ScheduledJob]: ...

    async def aclose(self) -> None: ...


class InProcessScheduler:
    def __init__(self) -> None:
        self._handlers: dict[str, JobHandler] = {}
        self._jobs: dict[str, ScheduledJob] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def register(self, kind: str, handler: JobHandler) -> None:
        self._handlers[kind] = handler

    async def schedule(self, kind: str, payload: dict[str, Any], trigger: Trigger, *, tenant: str) -> str:
        if kind not in self._handlers:
            raise ScheduleError(f"no handler for job kind {kind!r}")
        if isinstance(trigger, At):
            if trigger.when.tzinfo is None:
                raise ScheduleError("a scheduled time must carry a time zone")
        first = trigger.next_after(None)
        job = ScheduledJob(uuid.uuid4().hex, tenant, kind, dict(payload), trigger, first)
        self._jobs[job.id] = job
        task = asyncio.create_task(self._loop(job), name=f"schedule-{job.id}")
        self._tasks[job.id] = task
        task.add_done_callback(self._forget(job.id))
        return job.id

    def _forget(self, job_id: str) -> Callable[[asyncio.Task[None]], None]:
        def done(_task: asyncio.Task[None]) -> None:
            self._tasks.pop(job_id, None)

        return done

    async def _loop(self, job: ScheduledJob) -> None:
        while job.next_run is not None:
            delay = (job.next_run - datetime.now(UTC)).total_seconds()
            if delay > 0:
                await asyncio.sleep(delay)
            due = job.next_run
            job.runs += 1
            job.history.append(datetime.now(UTC))
            try:
                await self._handlers[job.kind](job.payload, due)
                job.last_error = None
            except Exception as exc:  # one failed occurrence must not end a cron schedule
                job.last_error = f"{type(exc).__name__}: {exc}"[:500]
                log.warning("scheduled job %s (%s) failed: %s", job.id, job.kind, job.last_error)
            job.next_run = job.trigger.next_after(due)

    async def cancel(self, schedule_id: str, *, tenant: str) -> bool:
        job = self._jobs.get(schedule_id)
        if job is None or job.tenant != tenant:
            return False
        del self._jobs[schedule_id]
        task = self._tasks.pop(schedule_id, None)
        if task is not None:
            task.cancel()
        return True

    def jobs(self, tenant: str) -> list[ScheduledJob]:
        return [j for j in self._jobs.values() if j.tenant == tenant]

    async def aclose(self) -> None:
        tasks = list(self._tasks.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
