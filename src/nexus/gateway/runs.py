"""Pipeline runs into the store: every event is kept (for /trace after a restart) and each run keeps
one work order whose status follows the run: running → paused → running → done | failed.

The pipeline knows nothing of the store; this is the EventSink and TraceReader the app gives it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from nexus.pipeline.events import Event
from nexus.store import AccountingQueue, Store, TenantScope
from nexus.store.models import RunEvent
from nexus.telemetry import get_request_id

log = logging.getLogger("nexus.gateway")


class StoreRuns:
    def __init__(self, store: Store, queue: AccountingQueue, on_event: Any = None) -> None:
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
        task = asyncio.get_running_loop().create_task(self._write(tenant, event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, tenant: str, ev: Event) -> None:
        if ev.type != "token":  # tokens are re-derivable from `final`; keeping them would flood the table
            await self.queue.event(ev, tenant_id=tenant)
        fields = _work_order_fields(ev)
        if fields is not None:
            await self.queue.work_order_updated(ev.run_id, tenant_id=tenant, **fields)

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- TraceReader ----------------------------------------------------------------------------------
    async def session_events(self, tenant: str, session_id: str) -> list[Event] | None:
        await self.drain()
        await self.queue.flush()
        repo = self.store.run_events(TenantScope(tenant, False))
        rows = await repo.all(
            repo.select()
            .where(RunEvent.session_id == session_id)
            .order_by(RunEvent.ts, RunEvent.seq, RunEvent.id)
        )
        if not rows:
            return None
        return [
            Event(
                type=r.type,  # type: ignore[arg-type]  # stored from a valid Event
                run_id=r.run_id,
                session_id=r.session_id or session_id,
                node=r.node,
                ts=_epoch(r.ts),
                seq=r.seq,
                data=r.payload or {},
            )  # type: ignore[arg-type]
            for r in rows
        ]


def _epoch(ts: datetime) -> float:
    return ts.timestamp()


def _work_order_fields(ev: Event) -> dict[str, Any] | None:
    d = ev.data
    if ev.type == "started":
        return {
            "status": "running",
            "route": "pipeline",
            "model_requested": "nexus-auto",
            "session_id": ev.session_id,
            "run_id": ev.run_id,
            "request_id": d.get("request_id") or get_request_id(),
        }
    if ev.type == "classified":
        return {"domain": d.get("domain"), "difficulty": d.get("complexity")}
    if ev.type == "routed":
        if d.get("fanout"):
            return {"route_rule": "fanout"}
        return {"owner_model": d.get("model"), "route_rule": d.get("rule")}
    if ev.type == "interrupt":
        return {"status": "paused"}
    if ev.type == "final":
        tokens = d.get("tokens") or {}
        return {
            "status": "done",
            "owner_model": d.get("model"),
            "tokens_in": int(tokens.get("prompt") or 0),
            "tokens_out": int(tokens.get("completion") or 0),
            "cost_usd": float(d.get("cost_usd") or 0.0),
            "latency_ms": d.get("latency_ms"),
            "finished_at": datetime.fromtimestamp(ev.ts).astimezone(),
        }
    if ev.type == "error":
        return {"status": "failed", "error": str(d.get("message") or "pipeline error")[:500]}
    return None
