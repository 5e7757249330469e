"""Pipeline runs into the store: every event but tokens is kept, so `/trace` works after a restart.

The pipeline knows nothing of the store; this is the EventSink and TraceReader the runtime gives it.
(Work orders follow runs through the Ledger, the one accounting subscriber.)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import get_args

from sqlalchemy import select

from nexus.pipeline.events import DoneData, ErrorData, Event, EventType
from nexus.store import AccountingQueue, Store, TenantScope
from nexus.store.models import RunEvent, WorkOrder
from nexus.store.models_agents import AgentRun

PIPELINE_EVENT_TYPES = frozenset(get_args(EventType))

log = logging.getLogger("nexus.service.runs")

EventObserver = Callable[[Event], None]


class StoreRuns:
    def __init__(self, store: Store, queue: AccountingQueue, on_event: EventObserver | None = None) -> None:
        self.store = store
        self.queue = queue
        self.on_event = on_event  # e.g. metrics for routing decisions, judge scores, escalations
        self._tasks: set[asyncio.Task[None]] = set()

    # -- EventSink ------------------------------------------------------------------------------------
    def __call__(self, tenant: str, event: Event) -> None:
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                log.exception("run event observer failed")
        if event.type == "token":  # re-derivable from `final`; keeping them would flood the table
            return
        task = asyncio.get_running_loop().create_task(self.queue.event(event, tenant_id=tenant))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- start-up repair ------------------------------------------------------------------------------
    async def close_interrupted(self, orders: Sequence[WorkOrder]) -> int:
        """Runs a dead process left running end their trace with `error` + `done: interrupted`."""
        n = 0
        for wo in orders:
            if not wo.run_id:
                continue
            message = "The run was interrupted: the server stopped before it finished."
            error = Event.of(
                ErrorData(message=message, code="interrupted"),
                run_id=wo.run_id,
                session_id=wo.session_id or "",
                node="pipeline",
                seq=10_000,
            )
            done = Event.of(
                DoneData(status="interrupted"),
                run_id=wo.run_id,
                session_id=wo.session_id or "",
                node="pipeline",
                seq=10_001,
            )
            await self.queue.event(error, tenant_id=wo.tenant_id)
            await self.queue.event(done, tenant_id=wo.tenant_id)
            n += 1
        return n

    # -- TraceReader ----------------------------------------------------------------------------------
    async def session_events(self, tenant: str, session_id: str) -> list[Event] | None:
        await self.drain()
        await self.queue.flush()
        repo = self.store.run_events(TenantScope(tenant, False))
        rows = await repo.all(
            repo.select()
            .where(RunEvent.session_id == session_id)
            .where(RunEvent.run_id.not_in(select(AgentRun.id).where(AgentRun.tenant_id == tenant)))
            .order_by(RunEvent.ts, RunEvent.seq, RunEvent.id)
        )
        # A session may also hold other kinds of runs (an agent's `step` events, read through
        # /api/agents/runs): the trace is the pipeline's events only.
        rows = [r for r in rows if r.type in PIPELINE_EVENT_TYPES]
        if not rows:
            return None
        return [
            Event.model_validate(
                {
                    "type": r.type,
                    "run_id": r.run_id,
                    "session_id": r.session_id or session_id,
                    "node": r.node,
                    "ts": _epoch(r.ts),
                    "seq": r.seq,
                    "data": r.payload or {},
                }
            )
            for r in rows
        ]


def _epoch(ts: datetime) -> float:
    return ts.timestamp()
