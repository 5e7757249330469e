"""Work orders for the explicit-model fast path, written through the accounting queue.

A request gets its work order when it starts (so a crash leaves a row to mark incomplete) and its
totals when it ends. Both are queue operations, never a database round trip on the request path;
a full queue makes them wait (back-pressure), it never drops them.
"""

from __future__ import annotations

import time
import uuid

from fastapi import Request

from nexus.gateway.errors import provider_error
from nexus.gateway.principal import ANONYMOUS, Principal
from nexus.providers.errors import ProviderError
from nexus.providers.metering import call_context
from nexus.providers.types import Usage
from nexus.store.queue import AccountingQueue

ROUTE = "/v1/chat/completions"


class QueueAccounting:
    def __init__(self, queue: AccountingQueue, budgets: object | None = None) -> None:
        self.queue = queue
        self.budgets = budgets

    async def started(self, request: Request, requested: str) -> str:
        principal: Principal = getattr(request.state, "principal", ANONYMOUS)
        wo_id = uuid.uuid4().hex
        request.state.work_order_id = wo_id
        request_id = getattr(request.state, "request_id", "") or request.headers.get("x-request-id", "")
        # The model calls of this request (set in the request's own task context) then carry its tenant
        # and request id: they are stored under the caller's tenant and link to this work order.
        call_context.set({"role": "worker", "tenant": principal.tenant_id, "request_id": request_id})
        await self.queue.work_order_started(
            id=wo_id,
            tenant_id=principal.tenant_id,
            request_id=request_id,
            api_key_id=principal.key_id,
            route=ROUTE,
            model_requested=requested,
        )
        return wo_id

    async def finished(
        self,
        request: Request,
        requested: str,
        served: str | None,
        usage: Usage | None,
        started: float,
        error: ProviderError | None,
    ) -> None:
        principal: Principal = getattr(request.state, "principal", ANONYMOUS)
        wo_id = getattr(request.state, "work_order_id", None)
        if wo_id is None:
            return
        u = usage or Usage()
        hub = request.app.state.hub
        entry = hub.catalogue.get(served or requested)
        cost = entry.cost(u.prompt_tokens, u.completion_tokens) if entry else 0.0
        await self.queue.work_order_finished(
            wo_id,
            tenant_id=principal.tenant_id,
            status="failed" if error else "done",
            error=f"{error.kind}: {provider_error(error).message}"[:500] if error else None,
            owner_model=served,
            provider=entry.provider if entry else None,
            tokens_in=u.prompt_tokens,
            tokens_out=u.completion_tokens,
            cost_usd=cost,
            latency_ms=(time.perf_counter() - started) * 1000,
        )
        record = getattr(self.budgets, "record", None)
        if record is not None and not error:
            record(principal.tenant_id, principal.key_id, u.total_tokens, cost)
