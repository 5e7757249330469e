"""The one accounting subscriber: work orders, model calls and budget spend, for every door and path.

- A turn opens its work order (a queue write, never a database round trip on the request path).
- Every model call reaches `on_call` through the hub's Meter, with the turn's tenant, key, request and
  work order in its record: the call is stored, added to its work order's totals and charged to the
  tenant's and key's budgets. Cost is the record's, computed once in the metering wrapper.
- The pipeline's events reach `sink` (an EventSink), so a routed run's work order follows the run —
  running → paused → running → done | failed — even when the client has gone away.
- The explicit path closes its work order itself: done, failed or cancelled (a client disconnect),
  with the tokens the upstream actually produced.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from nexus.pipeline.events import (
    ClassifiedData,
    DoneData,
    ErrorData,
    Event,
    FinalData,
    InterruptData,
    RoutedData,
    StartedData,
)
from nexus.providers.metering import CallRecord
from nexus.service.budgets import BudgetManager
from nexus.service.identity import Caller
from nexus.store import AccountingQueue, Store, TenantScope

log = logging.getLogger("nexus.service.accounting")


@dataclass(slots=True)
class _Totals:
    tenant: str
    started: float
    prompt: int = 0
    completion: int = 0
    cost: float = 0.0
    calls: int = 0
    estimated: bool = False


class Ledger:
    def __init__(
        self, queue: AccountingQueue, budgets: BudgetManager, store: Store, *, enabled: bool = True
    ) -> None:
        self.queue = queue
        self.budgets = budgets
        self.store = store
        # Off only to measure what accounting costs (bench/bench_passthrough.py): nothing is written.
        self.enabled = enabled
        # This process's instance (its lease): a work order it leaves running when it dies is recovered.
        self.instance_id: str | None = None
        self._open: dict[str, _Totals] = {}

    # -- work orders --------------------------------------------------------------------------------
    async def open(
        self,
        caller: Caller,
        *,
        route: str,
        model_requested: str,
        id: str | None = None,
        **fields: Any,
    ) -> str:
        wo_id = id or uuid.uuid4().hex
        if not self.enabled:
            return wo_id
        self._open[wo_id] = _Totals(caller.tenant, time.perf_counter())
        await self.queue.work_order_started(
            id=wo_id,
            tenant_id=caller.tenant,
            request_id=caller.request_id,
            api_key_id=caller.principal.key_id,
            route=route,
            door=caller.door,
            model_requested=model_requested,
            instance_id=self.instance_id,
            **fields,
        )
        return wo_id

    def adopt(self, caller: Caller, wo_id: str, **fields: Any) -> None:
        """A work order that already exists (a queued one, created when the door accepted it) is run now:
        its totals start from zero for this attempt's calls."""
        if not self.enabled:
            return
        self._open[wo_id] = _Totals(caller.tenant, time.perf_counter())
        self.queue.work_order_soon(
            wo_id,
            tenant_id=caller.tenant,
            status="running",
            door=caller.door,
            request_id=caller.request_id,
            **fields,
        )

    async def reopen(self, caller: Caller, wo_id: str) -> None:
        """A paused run resumes: go on counting from what the work order holds."""
        if not self.enabled:
            return
        await self.queue.flush()
        row = await self.store.work_orders(TenantScope(caller.tenant, False)).find(wo_id)
        totals = _Totals(caller.tenant, time.perf_counter())
        if row is not None:
            totals.prompt, totals.completion, totals.cost = row.tokens_in, row.tokens_out, row.cost_usd
        self._open[wo_id] = totals
        self.queue.work_order_soon(
            wo_id, tenant_id=caller.tenant, status="running", request_id=caller.request_id
        )

    def update(self, wo_id: str, tenant: str, **fields: Any) -> None:
        if not self.enabled:
            return
        self.queue.work_order_soon(wo_id, tenant_id=tenant, **fields)

    def close(self, wo_id: str, status: str, *, keep_open: bool = False, **fields: Any) -> None:
        """Write the work order's state with its totals so far; `keep_open` for a pause."""
        totals = self._open.get(wo_id) if keep_open else self._open.pop(wo_id, None)
        if totals is None:
            return  # already closed (a run's `done` after its `final`)
        self.queue.work_order_soon(
            wo_id,
            tenant_id=totals.tenant,
            status=status,
            tokens_in=totals.prompt,
            tokens_out=totals.completion,
            cost_usd=round(totals.cost, 10),
            latency_ms=round((time.perf_counter() - totals.started) * 1000, 3),
            **fields,
        )

    def totals(self, wo_id: str) -> tuple[int, int, float] | None:
        t = self._open.get(wo_id)
        return (t.prompt, t.completion, t.cost) if t is not None else None

    # -- the Meter listener -------------------------------------------------------------------------
    def on_call(self, record: CallRecord) -> None:
        self.queue.on_call(record)
        totals = self._open.get(record.work_order_id) if record.work_order_id else None
        if totals is not None:
            totals.prompt += record.prompt_tokens
            totals.completion += record.completion_tokens
            totals.cost += record.cost_usd
            totals.calls += 1
            totals.estimated = totals.estimated or record.estimated
        tokens = record.prompt_tokens + record.completion_tokens
        if record.tenant and (tokens or record.cost_usd):
            self.budgets.record(record.tenant, record.key_id or None, tokens, record.cost_usd)

    # -- the pipeline's EventSink -------------------------------------------------------------------
    def sink(self, tenant: str, event: Event) -> None:
        wo, d = event.run_id, event.data
        if isinstance(d, StartedData):
            self.update(wo, tenant, status="running", run_id=event.run_id, session_id=event.session_id)
        elif isinstance(d, ClassifiedData):
            self.update(wo, tenant, domain=d.domain, difficulty=d.complexity)
        elif isinstance(d, RoutedData):
            if d.fanout:
                self.update(wo, tenant, route_rule="fanout", owner_model=",".join(d.models)[:128])
            else:
                self.update(wo, tenant, owner_model=d.model, route_rule=d.rule)
        elif isinstance(d, InterruptData):
            self.close(wo, "paused", keep_open=False)
        elif isinstance(d, FinalData):
            self.close(wo, "done", owner_model=d.model)
        elif isinstance(d, ErrorData):
            self.close(wo, "failed", error=d.message[:500])
        elif isinstance(d, DoneData) and d.status in ("failed", "cancelled", "interrupted"):
            self.close(wo, d.status)
