"""Work orders on the queue (POST /api/work-orders): submit → 202 + id; a worker runs the chat turn;
status queued → running → done | failed | interrupted; the answer is stored on the work order; a signed
callback goes out when the order gave a callback_url.

The worker needs "run one chat turn and give me the answer": the `TurnRunner` protocol below. The
service layer's ChatService satisfies it through a small adapter (see docs/jobs.md); this module does not
import the service layer, which sits above jobs.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, NamedTuple, Protocol, runtime_checkable

from pydantic import BaseModel, field_validator
from sqlalchemy import select, update

from nexus.jobs.callbacks import CallbackJob, validate_callback_url
from nexus.jobs.context import JobContext, Outbox
from nexus.jobs.errors import InvalidPayload, PermanentFailure
from nexus.jobs.queue import JobQueue
from nexus.jobs.registry import job
from nexus.store import TenantScope
from nexus.store.models import WorkOrder, utcnow
from nexus.store.models_jobs import Job

KIND = "work_order"
# A chat turn that failed three times will not be saved by a fourth; callbacks retry longer.
MAX_ATTEMPTS = 3


class TurnRequest(BaseModel):
    """One chat turn to run for a queued work order (the caller is rebuilt from these fields)."""

    tenant_id: str
    work_order_id: str
    request_id: str
    content: str
    session_id: str | None = None
    api_key_id: str | None = None
    priority: int = 0
    attempt: int = 1


class TurnAnswer(BaseModel):
    text: str
    session_id: str | None = None
    model: str | None = None


@runtime_checkable
class TurnRunner(Protocol):
    async def run_turn(self, request: TurnRequest) -> TurnAnswer: ...


def turn_runner_of(services: Any) -> TurnRunner:
    """The services object itself, or its `turns` attribute, must run turns."""
    for candidate in (services, getattr(services, "turns", None)):
        if isinstance(candidate, TurnRunner):
            return candidate
    raise PermanentFailure("this worker has no chat service (TurnRunner): start it with the runtime")


class WorkOrderJob(BaseModel):
    work_order_id: str
    request_id: str
    content: str
    session_id: str | None = None
    callback_url: str | None = None
    api_key_id: str | None = None
    priority: int = 0

    @field_validator("callback_url")
    @classmethod
    def _callback(cls, value: str | None) -> str | None:
        return None if value is None else CallbackJob._url(value)


class SubmittedWorkOrder(NamedTuple):
    work_order_id: str
    job_id: str
    created: bool  # False: the idempotency key named an earlier order (same ids returned)


async def submit_work_order(
    queue: JobQueue,
    *,
    tenant: TenantScope,
    content: str,
    priority: int = 0,
    session_id: str | None = None,
    callback_url: str | None = None,
    api_key_id: str | None = None,
    request_id: str | None = None,
    idempotency_key: str | None = None,
) -> SubmittedWorkOrder:
    """The work order row and its job in one transaction; the worker picks it up after the commit."""
    if not content or not content.strip():
        raise InvalidPayload("content must not be empty")
    if callback_url is not None:
        validate_callback_url(callback_url)
    wo_id = uuid.uuid4().hex
    key = f"{KIND}:{idempotency_key or wo_id}"
    payload = WorkOrderJob(
        work_order_id=wo_id,
        request_id=request_id or wo_id,
        content=content,
        session_id=session_id,
        callback_url=callback_url,
        api_key_id=api_key_id,
        priority=priority,
    )
    async with queue.outbox(tenant) as tx:
        enq = await tx.enqueue(KIND, payload, idempotency_key=key, priority=priority)
        if not enq.created:
            earlier = (await tx.session.execute(select(Job.payload).where(Job.id == enq.id))).scalar_one()
            return SubmittedWorkOrder(str(earlier["work_order_id"]), enq.id, False)
        tx.session.add(
            WorkOrder(
                id=wo_id,
                tenant_id=tenant.tenant_id,
                request_id=payload.request_id,
                session_id=session_id,
                api_key_id=api_key_id,
                status="queued",
                job_id=enq.id,
                model_requested="nexus-auto",
            )
        )
    return SubmittedWorkOrder(wo_id, enq.id, True)


def _callback_body(work_order_id: str, status: str, **fields: Any) -> dict[str, Any]:
    return {"work_order_id": work_order_id, "status": status, "finished_at": utcnow().isoformat(), **fields}


async def _callback(tx: Outbox, url: str | None, work_order_id: str, status: str, **fields: Any) -> None:
    if url:
        await tx.enqueue(
            "callback",
            CallbackJob(
                url=url, event=f"work_order.{status}", payload=_callback_body(work_order_id, status, **fields)
            ),
            idempotency_key=f"callback:{KIND}:{work_order_id}",
        )


async def _on_final(tx: Outbox, row: Job, status: str, reason: str) -> None:
    """The job is dead or cancelled: so is its work order, in the same transaction."""
    p = WorkOrderJob.model_validate(row.payload)
    interrupted = status == "cancelled" or "lease expired" in reason
    wo_status = "interrupted" if interrupted else "failed"
    now = utcnow()
    await tx.session.execute(
        update(WorkOrder)
        .where(
            WorkOrder.id == p.work_order_id, WorkOrder.tenant_id == row.tenant_id, WorkOrder.status != "done"
        )
        .values(status=wo_status, error=reason, incomplete=True, updated_at=now, finished_at=now)
    )
    await _callback(tx, p.callback_url, p.work_order_id, wo_status, error=reason)


@job(KIND, payload=WorkOrderJob, max_attempts=MAX_ATTEMPTS, on_final=_on_final)
async def run_work_order(ctx: JobContext[Any], p: WorkOrderJob) -> None:
    turns = turn_runner_of(ctx.services)
    scoped = (WorkOrder.id == p.work_order_id, WorkOrder.tenant_id == ctx.tenant.tenant_id)
    async with ctx.store.sessions() as s, s.begin():
        await s.execute(
            update(WorkOrder)
            .where(*scoped, WorkOrder.status.in_(("queued", "running")))
            .values(status="running", instance_id=ctx.instance_id, updated_at=utcnow())
        )
    started = time.perf_counter()
    answer = await turns.run_turn(
        TurnRequest(
            tenant_id=ctx.tenant.tenant_id,
            work_order_id=p.work_order_id,
            request_id=p.request_id,
            content=p.content,
            session_id=p.session_id,
            api_key_id=p.api_key_id,
            priority=p.priority,
            attempt=ctx.attempt,
        )
    )
    latency_ms = (time.perf_counter() - started) * 1000
    async with ctx.effect() as tx:
        now = utcnow()
        await tx.session.execute(
            update(WorkOrder)
            .where(*scoped)
            .values(
                status="done",
                answer=answer.text,
                error=None,
                incomplete=False,
                session_id=answer.session_id or p.session_id,
                owner_model=answer.model,
                latency_ms=latency_ms,
                updated_at=now,
                finished_at=now,
            )
        )
        await _callback(
            tx, p.callback_url, p.work_order_id, "done", answer=answer.text, session_id=answer.session_id
        )
        tx.result = {"work_order_id": p.work_order_id}
