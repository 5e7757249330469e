"""Process leases (one row per running gateway, worker or scheduler) and named leases (one holder).

These are the process's own bookkeeping, not tenant data: the repositories take no scope.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import case, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus.store.models import utcnow
from nexus.store.models_jobs import Instance, Lease


class Instances:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def register(self, instance_id: str, *, role: str, host: str, pid: int, lease_s: float) -> Instance:
        now = utcnow()
        row = Instance(
            id=instance_id,
            role=role,
            host=host,
            pid=pid,
            started_at=now,
            heartbeat_at=now,
            lease_expires_at=now + timedelta(seconds=lease_s),
        )
        async with self._sessions() as s, s.begin():
            s.add(row)
        return row

    async def renew(self, instance_id: str, until: datetime) -> bool:
        """False when the row is gone (pruned as dead): the caller must stop acting as that instance."""
        stmt = (
            update(Instance)
            .where(Instance.id == instance_id, Instance.stopped_at.is_(None))
            .values(heartbeat_at=utcnow(), lease_expires_at=until)
        )
        async with self._sessions() as s, s.begin():
            return int(getattr(await s.execute(stmt), "rowcount", 0) or 0) == 1

    async def stop(self, instance_id: str) -> None:
        """A clean exit: the lease ends now, so anything left behind is recoverable at once."""
        now = utcnow()
        stmt = update(Instance).where(Instance.id == instance_id).values(stopped_at=now, lease_expires_at=now)
        async with self._sessions() as s, s.begin():
            await s.execute(stmt)

    async def expire_dead_on_host(self, host: str, alive: Callable[[int], bool]) -> list[str]:
        """Instances on this host whose process is gone (`alive(pid)` is False) lose their lease now.

        A restart after a crash or SIGKILL need not wait out the dead process's lease to recover its work:
        on the same host the process table says it is dead. A pid that is alive (even reused by another
        program) is left to its lease, so this can only be early when it is certainly right."""
        now = utcnow()
        stmt = select(Instance).where(
            Instance.host == host, Instance.stopped_at.is_(None), Instance.lease_expires_at >= now
        )
        async with self._sessions() as s, s.begin():
            dead = [row for row in (await s.execute(stmt)).scalars().all() if not alive(row.pid)]
            for row in dead:
                row.lease_expires_at = now
                row.stopped_at = now
        return [row.id for row in dead]

    async def get(self, instance_id: str) -> Instance | None:
        async with self._sessions() as s:
            return await s.get(Instance, instance_id)

    async def live(self, now: datetime | None = None) -> Sequence[Instance]:
        stmt = (
            select(Instance)
            .where(Instance.lease_expires_at >= (now or utcnow()))
            .order_by(Instance.started_at)
        )
        async with self._sessions() as s:
            return (await s.execute(stmt)).scalars().all()

    async def prune(self, before: datetime) -> int:
        async with self._sessions() as s, s.begin():
            result = await s.execute(delete(Instance).where(Instance.lease_expires_at < before))
            return int(getattr(result, "rowcount", 0) or 0)


class Leases:
    """Named leases: compare-and-set on (holder, expiry), so at most one holder wins at any time."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def acquire(self, name: str, holder: str, ttl_s: float) -> bool:
        """Take or renew `name` for `holder`; False while another holder's lease is still valid."""
        now = utcnow()
        until = now + timedelta(seconds=ttl_s)
        take = (
            update(Lease)
            .where(Lease.name == name, (Lease.holder == holder) | (Lease.expires_at < now))
            .values(
                holder=holder,
                expires_at=until,
                acquired_at=case((Lease.holder == holder, Lease.acquired_at), else_=now),
            )
            .returning(Lease.holder)
        )
        async with self._sessions() as s, s.begin():
            row = (await s.execute(take)).first()
            if row is not None:
                return True
        try:
            async with self._sessions() as s, s.begin():
                s.add(Lease(name=name, holder=holder, acquired_at=now, expires_at=until))
            return True
        except IntegrityError:  # someone holds it (or inserted first)
            return False

    async def release(self, name: str, holder: str) -> None:
        async with self._sessions() as s, s.begin():
            await s.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))

    async def holder(self, name: str) -> Lease | None:
        async with self._sessions() as s:
            return await s.get(Lease, name)
