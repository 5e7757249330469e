"""Work orders (one per request), the model calls made for them, and pipeline run events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, or_, select

from nexus.store.models import Instance, ModelCall, RunEvent, WorkOrder, utcnow
from nexus.store.repos.base import Repository, clamp_limit

ACTIVE_STATUSES = ("pending", "running")
STATUSES = ("pending", "queued", "running", "paused", "done", "failed", "cancelled", "interrupted")


class WorkOrders(Repository[WorkOrder]):
    model = WorkOrder
    kind = "work order"

    async def list(
        self,
        *,
        status: str | None = None,
        model: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        request_id: str | None = None,
        limit: int | None = None,
    ) -> Sequence[WorkOrder]:
        stmt = self.select()
        if request_id:
            stmt = stmt.where(WorkOrder.request_id == request_id)
        if status:
            stmt = stmt.where(WorkOrder.status == status)
        if model:
            stmt = stmt.where(or_(WorkOrder.owner_model == model, WorkOrder.model_requested == model))
        if since:
            stmt = stmt.where(WorkOrder.created_at >= since)
        if until:
            stmt = stmt.where(WorkOrder.created_at < until)
        stmt = stmt.order_by(WorkOrder.created_at.desc(), WorkOrder.id.desc()).limit(clamp_limit(limit))
        return await self.all(stmt)

    async def by_request_id(self, request_id: str) -> WorkOrder | None:
        found = await self.all(self.select().where(WorkOrder.request_id == request_id).limit(1))
        return found[0] if found else None

    async def active(self, before: datetime | None = None) -> Sequence[WorkOrder]:
        """Work orders still pending or running (at start-up: what a dead process left behind)."""
        stmt = self.select().where(WorkOrder.status.in_(ACTIVE_STATUSES))
        if before is not None:
            stmt = stmt.where(WorkOrder.created_at < before)
        return await self.all(stmt.limit(clamp_limit(None, 10_000)))

    async def mark_interrupted(
        self, before: datetime | None = None, *, now: datetime | None = None, unowned: bool = True
    ) -> int:
        """How many work orders `interrupt_dead` marked (see there)."""
        return len(await self.interrupt_dead(before, now=now, unowned=unowned))

    async def interrupt_dead(
        self, before: datetime | None = None, *, now: datetime | None = None, unowned: bool = True
    ) -> Sequence[WorkOrder]:
        """Work orders a dead process left pending/running become failed + incomplete; returns them.

        Dead means: the row names an instance whose lease expired (or whose row is gone). A row that names
        no instance (written by code that does not record one) counts as dead when created before
        `before` (default: now), unless `unowned` is False (periodic recovery while other processes that
        may not record their instance are running). Paused orders wait for a human, and queued orders (job_id set) follow
        their job, which the job queue retries: neither is touched.
        """
        now = now or utcnow()
        live = select(Instance.id).where(Instance.lease_expires_at >= now)
        dead_owner = and_(WorkOrder.instance_id.is_not(None), WorkOrder.instance_id.not_in(live))
        if unowned:
            dead_owner = or_(
                dead_owner, and_(WorkOrder.instance_id.is_(None), WorkOrder.created_at < (before or now))
            )
        found = self.select().where(
            WorkOrder.status.in_(ACTIVE_STATUSES), WorkOrder.job_id.is_(None), dead_owner
        )
        rows = list(await self.all(found.limit(clamp_limit(None, 10_000))))
        if not rows:
            return []
        stmt = (
            self.update()
            .where(WorkOrder.id.in_([r.id for r in rows]), WorkOrder.status.in_(ACTIVE_STATUSES))
            .values(status="failed", incomplete=True, error="interrupted", updated_at=now, finished_at=now)
        )
        await self.run(stmt)
        return rows


class ModelCalls(Repository[ModelCall]):
    model = ModelCall
    kind = "model call"

    async def for_work_order(self, order: WorkOrder) -> Sequence[ModelCall]:
        # Calls are linked by work order id when the caller knew it, else by the request id.
        link = ModelCall.work_order_id == order.id
        if order.request_id:
            link = or_(link, ModelCall.request_id == order.request_id)
        return await self.all(self.select().where(link).order_by(ModelCall.ts, ModelCall.id))


class RunEvents(Repository[RunEvent]):
    model = RunEvent
    kind = "run event"

    async def for_run(self, run_id: str, *, limit: int | None = None) -> Sequence[RunEvent]:
        stmt = self.select().where(RunEvent.run_id == run_id).order_by(RunEvent.seq, RunEvent.id)
        return await self.all(stmt.limit(clamp_limit(limit, 1000)))
