"""Metering: every model call becomes a CallRecord handed to listeners (store, metrics, spans).

Providers know nothing of storage; the gateway subscribes the accounting queue and Prometheus here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field

from nexus.config.catalogue import ModelEntry
from nexus.providers.base import Provider
from nexus.providers.errors import ProviderError
from nexus.providers.types import ChatChunk, ChatRequest, ChatResponse, Health, Usage

log = logging.getLogger("nexus.providers")

# Who is calling: set by the service (tenant, request_id, work_order_id, key_id) and the pipeline
# (role, run_id) so every record says whose call it was and what it was for.
call_context: ContextVar[dict[str, str]] = ContextVar("nexus_call_context", default={})  # noqa: B039


@dataclass(slots=True)
class CallRecord:
    model: str  # catalogue id
    provider: str
    upstream_model: str
    role: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_ms: float
    success: bool
    error: str | None = None
    stream: bool = False
    simulated: bool = False
    request_id: str = ""
    tenant: str = ""
    run_id: str = ""
    work_order_id: str = ""
    key_id: str = ""
    # Tokens counted by us (the upstream reported none), not by the provider.
    estimated: bool = False
    attempt: int = 1
    ts: float = field(default_factory=time.time)


Listener = Callable[[CallRecord], None]


class Meter:
    """Fan-out of CallRecords to listeners; a failing listener never fails a call."""

    def __init__(self) -> None:
        self.listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self.listeners.append(listener)

    def emit(self, record: CallRecord) -> None:
        for fn in self.listeners:
            try:
                fn(record)
            except Exception:  # a broken listener must not break the request
                log.exception("metering listener failed")


class MeteredProvider:
    """Wraps one provider: times each call and emits a CallRecord with tokens and cost."""

    def __init__(self, inner: Provider, meter: Meter) -> None:
        self.inner = inner
        self.entry: ModelEntry = inner.entry
        self.meter = meter

    def _record(self, usage: Usage | None, started: float, error: BaseException | None, stream: bool) -> None:
        ctx = call_context.get()
        u = usage or Usage()
        self.meter.emit(
            CallRecord(
                model=self.entry.id,
                provider=self.entry.provider,
                upstream_model=self.entry.model,
                role=ctx.get("role", "worker"),
                prompt_tokens=u.prompt_tokens,
                completion_tokens=u.completion_tokens,
                cost_usd=self.inner.estimate_cost(u),
                latency_ms=(time.perf_counter() - started) * 1000,
                success=error is None,
                error=None if error is None else _error_text(error),
                stream=stream,
                simulated=self.entry.simulated,
                request_id=ctx.get("request_id", ""),
                tenant=ctx.get("tenant", ""),
                run_id=ctx.get("run_id", ""),
                work_order_id=ctx.get("work_order_id", ""),
                key_id=ctx.get("key_id", ""),
            )
        )

    async def complete(self, request: ChatRequest) -> ChatResponse:
        started = time.perf_counter()
        try:
            resp = await self.inner.complete(request)
        except BaseException as exc:
            self._record(None, started, exc, False)
            raise
        self._record(resp.usage, started, None, False)
        return resp

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        started = time.perf_counter()
        usage: Usage | None = None
        error: BaseException | None = None
        try:
            async for chunk in self.inner.stream(request):
                if chunk.usage is not None:
                    usage = chunk.usage
                yield chunk
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._record(usage, started, error, True)

    async def health_check(self) -> Health:
        return await self.inner.health_check()

    def estimate_cost(self, usage: Usage) -> float:
        return self.inner.estimate_cost(usage)


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, ProviderError):
        return f"{exc.kind}: {exc.message}"[:500]
    return type(exc).__name__
