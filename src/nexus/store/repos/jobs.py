"""Job rows: the durable state behind nexus.jobs. Every change of status is a compare-and-set on the row,
so two workers, a late duplicate message or a recovering process can never both win the same job.

The lease token of a running job is (lease_owner, attempts): a worker whose lease was taken over, or
whose job was cancelled, finds its writes match no row and stops.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Result, Update, and_, bindparam, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from nexus.store.models import utcnow
from nexus.store.models_jobs import JOB_ACTIVE, JOB_DEAD_LETTERS, Job
from nexus.store.repos.base import Repository, clamp_limit

T = TypeVar("T")


def _rowcount(result: Result[Any]) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


# Rows per INSERT: 14 bound parameters each stays far below SQLite's and asyncpg's limits.
INSERT_CHUNK = 500


def new_job(
    tenant_id: str,
    kind: str,
    payload: dict[str, Any],
    *,
    idempotency_key: str | None = None,
    priority: int = 0,
    run_at: datetime | None = None,
    max_attempts: int = 5,
    dispatched: bool = False,
) -> dict[str, Any]:
    """The column values of a new queued job."""
    now = utcnow()
    return {
        "id": uuid.uuid4().hex,
        "tenant_id": tenant_id,
        "kind": kind,
        "payload": payload,
        "status": "queued",
        "attempts": 0,
        "idempotency_key": idempotency_key,
        "priority": priority,
        "run_at": run_at or now,
        "max_attempts": max_attempts,
        "dispatched_at": now if dispatched else None,
        "created_at": now,
        "updated_at": now,
    }


async def insert_jobs(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> list[tuple[str, bool]]:
    """Insert inside the caller's transaction, one statement per chunk; per row (id, True), or (the
    existing job's id, False) when its tenant already used the idempotency key. ON CONFLICT DO NOTHING
    keeps the transaction usable (an IntegrityError would abort it on PostgreSQL)."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    out: list[tuple[str, bool]] = []
    for start in range(0, len(rows), INSERT_CHUNK):
        chunk = list(rows[start : start + INSERT_CHUNK])
        stmt = (
            insert(Job)
            .values(chunk)
            .on_conflict_do_nothing(index_elements=["tenant_id", "idempotency_key"])
            .returning(Job.id)
        )
        inserted = set((await session.execute(stmt)).scalars())
        for values in chunk:
            if values["id"] in inserted:
                out.append((values["id"], True))
                continue
            existing = select(Job.id).where(
                Job.tenant_id == values["tenant_id"], Job.idempotency_key == values["idempotency_key"]
            )
            out.append(((await session.execute(existing)).scalar_one(), False))
    return out


async def insert_job(session: AsyncSession, values: dict[str, Any]) -> tuple[str, bool]:
    return (await insert_jobs(session, [values]))[0]


def running_as(job_id: str, owner: str, attempt: int) -> ColumnElement[bool]:
    """The row is still this worker's attempt (not cancelled, not taken over)."""
    return and_(Job.id == job_id, Job.status == "running", Job.lease_owner == owner, Job.attempts == attempt)


# The two statements every job runs (claim, done) are built once and executed with parameters: building
# and cache-keying a statement per call cost more CPU than the round trip. No ORM session sync either:
# the sessions that run them hold no Job objects.
_NO_SYNC = {"synchronize_session": False}
CLAIM = (
    update(Job)
    .where(Job.id == bindparam("job_id"), Job.status == "queued", Job.run_at <= bindparam("now"))
    .values(
        status="running",
        attempts=Job.attempts + 1,
        lease_owner=bindparam("owner"),
        lease_expires_at=bindparam("lease"),
        started_at=bindparam("now"),
        updated_at=bindparam("now"),
    )
    .returning(Job)
    .execution_options(**_NO_SYNC)
)
COMPLETE = (
    update(Job)
    .where(
        Job.id == bindparam("job_id"),
        Job.status == "running",
        Job.lease_owner == bindparam("owner"),
        Job.attempts == bindparam("attempt"),
    )
    .values(
        status="done",
        result=bindparam("result"),
        error=None,
        lease_expires_at=None,
        updated_at=bindparam("now"),
        finished_at=bindparam("now"),
    )
    .execution_options(**_NO_SYNC)
)


def complete_params(job_id: str, owner: str, attempt: int, result: dict[str, Any] | None) -> dict[str, Any]:
    """Parameters of COMPLETE: running → done for exactly this attempt (inside the effect's transaction
    when there is one)."""
    return {"job_id": job_id, "owner": owner, "attempt": attempt, "result": result, "now": utcnow()}


def finish_stmt(
    job_id: str, status: str, reason: str, *, owner: str | None = None, attempt: int = 0
) -> Update:
    """→ failed | dead | cancelled: from this worker's attempt (owner given) or from any active state."""
    now = utcnow()
    cond = running_as(job_id, owner, attempt) if owner else and_(Job.id == job_id, Job.status.in_(JOB_ACTIVE))
    return (
        update(Job)
        .where(cond)
        .values(status=status, error=reason, lease_expires_at=None, updated_at=now, finished_at=now)
        .execution_options(**_NO_SYNC)
    )


class Jobs(Repository[Job]):
    model = Job
    kind = "job"

    # -- the API side (tenant-scoped) ------------------------------------------------------------------
    async def enqueue(
        self,
        kind: str,
        payload: dict[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        priority: int = 0,
        run_at: datetime | None = None,
        max_attempts: int = 5,
        dispatched: bool = False,
    ) -> Job:
        """A new queued job, or the existing one when this tenant already used the idempotency key."""
        values = new_job(
            self.scope.tenant_id,
            kind,
            payload or {},
            idempotency_key=idempotency_key,
            priority=priority,
            run_at=run_at,
            max_attempts=max_attempts,
            dispatched=dispatched,
        )
        async with self._sessions() as s, s.begin():
            job_id, _ = await insert_job(s, values)
        return await self.get(job_id)

    async def by_key(self, idempotency_key: str) -> Job | None:
        found = await self.all(self.select().where(Job.idempotency_key == idempotency_key).limit(1))
        return found[0] if found else None

    async def list(
        self,
        *,
        status: str | Sequence[str] | None = None,
        kind: str | None = None,
        limit: int | None = None,
    ) -> Sequence[Job]:
        stmt = self.select()
        if isinstance(status, str):
            stmt = stmt.where(Job.status == status)
        elif status:
            stmt = stmt.where(Job.status.in_(status))
        if kind:
            stmt = stmt.where(Job.kind == kind)
        return await self.all(stmt.order_by(Job.created_at.desc(), Job.id).limit(clamp_limit(limit)))

    async def count_by_status(self) -> dict[str, int]:
        rows = await self.rows(self.select(Job.status, func.count()).group_by(Job.status))
        return {status: int(n) for status, n in rows}

    # -- the worker side (called with the system scope) ---------------------------------------------------
    # Each of these is one atomic statement, so it runs in autocommit: no BEGIN/COMMIT round trips, which
    # halves the database round trips per job on the hot path (claim, done, renew, dispatch).
    async def _auto(self, stmt: Any, fetch: Callable[[Result[Any]], T]) -> T:
        """`stmt`, or (stmt, parameters)."""
        stmt, params = stmt if isinstance(stmt, tuple) else (stmt, None)
        async with self._sessions() as s:
            await s.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            return fetch(await s.execute(stmt, params))

    async def claim(self, job_id: str, owner: str, lease_until: datetime) -> Job | None:
        """queued (and due) → running for `owner`; None when someone else has it or it is not runnable."""
        stmt = CLAIM if self.scope.is_global_admin else CLAIM.where(Job.tenant_id == self.scope.tenant_id)
        params = {"job_id": job_id, "owner": owner, "lease": lease_until, "now": utcnow()}
        row: Job | None = await self._auto((stmt, params), lambda r: r.scalar_one_or_none())
        return row

    async def complete(self, job_id: str, owner: str, attempt: int, result: dict[str, Any] | None) -> bool:
        """running → done for a handler that committed no effect of its own."""
        return await self._auto((COMPLETE, complete_params(job_id, owner, attempt, result)), _rowcount) == 1

    async def requeue(
        self,
        job_id: str,
        *,
        owner: str,
        attempt: int,
        error: str | None,
        run_at: datetime,
        refund: bool = False,
    ) -> bool:
        """This worker's attempt goes back to the queue (a retry after `run_at`); `refund` uncounts it."""
        values: dict[str, Any] = {
            "status": "queued",
            "error": error,
            "run_at": run_at,
            "lease_owner": None,
            "lease_expires_at": None,
            "dispatched_at": None,
            "updated_at": utcnow(),
        }
        if refund:
            values["attempts"] = Job.attempts - 1
        stmt = (
            self.update()
            .where(running_as(job_id, owner, attempt))
            .values(**values)
            .execution_options(**_NO_SYNC)
        )
        return await self._auto(stmt, _rowcount) == 1

    async def expired(self, now: datetime, *, limit: int = 100) -> Sequence[Job]:
        """Running jobs whose owner stopped renewing the lease (a dead or frozen process)."""
        stmt = self.select().where(Job.status == "running", Job.lease_expires_at < now)
        return await self.all(stmt.order_by(Job.lease_expires_at).limit(limit))

    async def recover(self, job: Job, now: datetime, error: str) -> bool:
        """An expired running job back to the queue at once (its attempt stays counted)."""
        stmt = (
            self.update()
            .where(
                Job.id == job.id,
                Job.status == "running",
                Job.lease_owner == job.lease_owner,
                Job.attempts == job.attempts,
                Job.lease_expires_at < now,
            )
            .values(
                status="queued",
                error=error,
                run_at=now,
                lease_owner=None,
                lease_expires_at=None,
                dispatched_at=None,
                updated_at=now,
            )
        )
        return await self._auto(stmt, _rowcount) == 1

    async def take_due(
        self, now: datetime, stale_before: datetime, *, limit: int = 500
    ) -> builtins.list[tuple[str, int]]:
        """Mark due jobs as dispatched and return (id, priority) for the ones this caller should send.

        Due: queued, run_at passed, and never sent or sent so long ago that the message may be lost.
        """
        due = and_(
            Job.status == "queued",
            Job.run_at <= now,
            or_(Job.dispatched_at.is_(None), Job.dispatched_at < stale_before),
        )
        ids = self.scoped(select(Job.id)).where(due).order_by(Job.priority.desc(), Job.run_at).limit(limit)
        stmt = (
            self.update()
            .where(Job.id.in_(ids.scalar_subquery()), due)
            .values(dispatched_at=now)
            .returning(Job.id, Job.priority)
            .execution_options(**_NO_SYNC)
        )
        rows: Sequence[Any] = await self._auto(stmt, lambda res: res.all())
        return [(r[0], int(r[1])) for r in rows]

    async def extend_leases(self, owner: str, until: datetime, job_ids: Sequence[str]) -> set[str]:
        """Renew this owner's running jobs; return those of `job_ids` it no longer holds (cancelled, lost)."""
        if not job_ids:
            return set()
        ids = list(job_ids)
        stmt = (
            update(Job)
            .where(Job.id.in_(ids), Job.status == "running", Job.lease_owner == owner)
            .values(lease_expires_at=until)
            .returning(Job.id)
            .execution_options(**_NO_SYNC)
        )
        held = await self._auto(stmt, lambda res: {r[0] for r in res})
        return set(ids) - held

    async def forget_dispatch(self) -> int:
        """Queued jobs count as never sent (the in-process broker's messages died with its process)."""
        return await self.run(self.update().where(Job.status == "queued").values(dispatched_at=None))

    async def requeue_dead(self, job_id: str) -> Job | None:
        """Give a dead-lettered job (dead or failed) a fresh set of attempts."""
        now = utcnow()
        stmt = (
            self.update()
            .where(Job.id == job_id, Job.status.in_(JOB_DEAD_LETTERS))
            .values(
                status="queued", attempts=0, run_at=now, dispatched_at=None, updated_at=now, finished_at=None
            )
        )
        return await self.get(job_id) if await self.run(stmt) else None
