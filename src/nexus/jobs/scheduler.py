"""Recurring jobs with a single active scheduler across instances.

Registering a schedule is one line, anywhere imported at start:

    schedule("retention", "store.prune", every=timedelta(hours=1))
    schedule("fine-tune-poll", "finetune.poll", cron="*/5 * * * *")

Every scheduler process competes for the database lease "scheduler"; the holder renews it each pass and
enqueues each schedule's job once per tick, and the others wait. When the holder dies, its lease
expires and a standby takes over within NEXUS_SCHEDULER_LEASE_S. The job of a tick carries the
idempotency key `schedule:<name>:<tick>`, so even two schedulers overlapping for a moment (a frozen
leader waking up) enqueue it once. Ticks that fall while no scheduler holds the lease are skipped, not
replayed; the current tick runs as soon as a leader holds the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pycron

from nexus.config.settings import Settings
from nexus.store import DEFAULT_TENANT, Store
from nexus.store.models import utcnow

if TYPE_CHECKING:
    from nexus.jobs.queue import JobQueue

log = logging.getLogger("nexus.jobs.scheduler")
LEASE_NAME = "scheduler"


@dataclass(frozen=True, slots=True)
class Schedule:
    name: str
    kind: str
    every_s: float | None = None
    cron: str | None = None  # minute resolution: "m h dom mon dow"
    payload: dict[str, Any] = field(default_factory=dict)
    tenant: str = DEFAULT_TENANT

    def tick(self, now: datetime) -> str | None:
        """The key of the tick `now` falls in; None when a cron schedule does not match this minute."""
        if self.every_s:
            return str(int(now.timestamp() // self.every_s))
        minute = now.astimezone(UTC).replace(second=0, microsecond=0)
        assert self.cron is not None
        return minute.strftime("%Y%m%dT%H%M") if pycron.is_now(self.cron, minute) else None


_SCHEDULES: dict[str, Schedule] = {}


def schedule(
    name: str,
    kind: str,
    *,
    every: float | timedelta | None = None,
    cron: str | None = None,
    payload: dict[str, Any] | None = None,
    tenant: str = DEFAULT_TENANT,
) -> Schedule:
    """Register (or replace) a recurring job: `every` seconds/timedelta, or a cron expression."""
    every_s = every.total_seconds() if isinstance(every, timedelta) else every
    if (every_s is None) == (cron is None):
        raise ValueError(f"schedule {name!r}: give exactly one of every= or cron=")
    if every_s is not None and every_s <= 0:
        raise ValueError(f"schedule {name!r}: every must be positive")
    if cron is not None:
        try:
            pycron.is_now(cron, utcnow())
        except Exception as exc:
            raise ValueError(f"schedule {name!r}: invalid cron expression {cron!r}: {exc}") from None
    entry = Schedule(name, kind, every_s, cron, dict(payload or {}), tenant)
    _SCHEDULES[name] = entry
    return entry


def unschedule(name: str) -> None:
    _SCHEDULES.pop(name, None)


def schedules() -> list[Schedule]:
    return sorted(_SCHEDULES.values(), key=lambda s: s.name)


class Scheduler:
    def __init__(
        self,
        store: Store,
        queue: JobQueue,
        settings: Settings,
        *,
        holder_id: str,
        entries: list[Schedule] | None = None,
    ) -> None:
        self.store = store
        self.queue = queue
        self.ttl_s = settings.scheduler_lease_s
        self.holder_id = holder_id
        self._entries = entries
        self.is_leader = False
        self._last: dict[str, str] = {}

    @property
    def entries(self) -> list[Schedule]:
        return self._entries if self._entries is not None else schedules()

    @property
    def poll_s(self) -> float:
        shortest = min((e.every_s for e in self.entries if e.every_s), default=60.0)
        return max(0.05, min(1.0, self.ttl_s / 3, shortest / 4))

    async def step(self, now: datetime | None = None) -> int:
        """One pass: hold (or wait for) the lease; as leader, enqueue the jobs of new ticks."""
        leader = await self.store.leases().acquire(LEASE_NAME, self.holder_id, self.ttl_s)
        if leader != self.is_leader:
            log.warning(
                "scheduler %s %s", self.holder_id, "is now the leader" if leader else "lost the lease"
            )
            self.is_leader = leader
            self._last.clear()
        if not leader:
            return 0
        now = now or utcnow()
        fired = 0
        for entry in self.entries:
            key = entry.tick(now)
            if key is None or self._last.get(entry.name) == key:
                continue
            payload = {**entry.payload, "_schedule": {"name": entry.name, "tick": key, "by": self.holder_id}}
            async with self.queue.outbox(entry.tenant) as tx:
                done = await tx.enqueue(entry.kind, payload, idempotency_key=f"schedule:{entry.name}:{key}")
            self._last[entry.name] = key
            fired += int(done.created)
        return fired

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                await self.step()
            except Exception as exc:  # the database blipped: keep trying; the lease bounds any overlap
                log.warning("scheduler pass failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.poll_s)

    async def release(self) -> None:
        """A clean exit hands the lease over at once instead of after its expiry."""
        if self.is_leader:
            try:
                await self.store.leases().release(LEASE_NAME, self.holder_id)
            except Exception as exc:
                log.warning("scheduler lease release failed: %s", exc)
            self.is_leader = False
