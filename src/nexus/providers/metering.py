"""Metering: every model call becomes a CallRecord handed to listeners (store, metrics, spans).

Providers know nothing of storage; the accounting, Prometheus and tracing subscribe here. The
record tells the truth about how a call ended (`outcome`): a stream the caller stopped reading (a
client disconnect: aclose, CancelledError) is `cancelled` and still carries the tokens the upstream
produced up to then. When the upstream reported no usage (a cut stream, an upstream that omits it),
the tokens are counted from the streamed text and the prompt with `nexus.providers.tokens` and the
record says `estimated=True`. Cost is computed here, once, from the catalogue's prices.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

from nexus.config.catalogue import ModelEntry
from nexus.providers.base import Provider
from nexus.providers.deadline import Deadline, current, exceeded
from nexus.providers.errors import ProviderError
from nexus.providers.tokens import estimate_prompt_tokens, estimate_tokens
from nexus.providers.types import ChatChunk, ChatRequest, ChatResponse, Health, Usage

log = logging.getLogger("nexus.providers")

# Who is calling: set by the service (tenant, request_id, work_order_id, key_id) and the pipeline
# (role, run_id) so every record says whose call it was and what it was for.
call_context: ContextVar[dict[str, str]] = ContextVar("nexus_call_context", default={})  # noqa: B039

Outcome = Literal["ok", "error", "cancelled"]


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
    success: bool  # outcome == "ok"; kept for existing listeners
    error: str | None = None
    stream: bool = False
    simulated: bool = False
    request_id: str = ""
    tenant: str = ""
    run_id: str = ""
    work_order_id: str = ""
    key_id: str = ""
    # Tokens counted by us (the upstream reported none, or the stream was cut), not by the provider.
    estimated: bool = False
    attempt: int = 1
    ts: float = field(default_factory=time.time)
    outcome: Outcome = "ok"


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


def _reported(usage: Usage | None) -> bool:
    return usage is not None and (usage.prompt_tokens > 0 or usage.completion_tokens > 0)


def _prompt_tokens(request: ChatRequest) -> int:
    return estimate_prompt_tokens(m.text() for m in request.messages)


def _tool_call_text(calls: Iterable[dict[str, Any]]) -> str:
    """The text a tool-call delta adds: function name and argument fragments."""
    out = []
    for call in calls:
        fn = call.get("function") if isinstance(call, dict) else None
        if isinstance(fn, dict):
            out.append(str(fn.get("name") or ""))
            out.append(str(fn.get("arguments") or ""))
    return " ".join(p for p in out if p)


def usage_of(
    reported: Usage | None, produced: str, request: ChatRequest, *, complete: bool
) -> tuple[Usage, bool]:
    """The usage to charge, and whether Nexus estimated (part of) it.

    A complete call with usage from the upstream is exact. Otherwise the completion is counted from
    the text produced (never less than what the upstream reported so far) and the prompt from the
    request; nothing produced and nothing reported is zero (the call never got going).
    """
    if complete and _reported(reported):
        assert reported is not None
        return reported, False
    if not produced and not _reported(reported):
        return Usage(), False
    prompt = reported.prompt_tokens if reported is not None and reported.prompt_tokens else 0
    completion = reported.completion_tokens if reported is not None else 0
    counted = estimate_tokens(produced)
    estimated = not prompt or counted > completion
    return Usage.of(prompt or _prompt_tokens(request), max(completion, counted)), estimated


class MeteredProvider:
    """Wraps one provider: times each call and emits one CallRecord with tokens, cost and outcome."""

    def __init__(self, inner: Provider, meter: Meter) -> None:
        self.inner = inner
        self.entry: ModelEntry = inner.entry
        self.meter = meter

    def record(
        self,
        usage: Usage,
        estimated: bool,
        started: float,
        outcome: Outcome,
        error: BaseException | None,
        stream: bool,
    ) -> None:
        ctx = call_context.get()
        self.meter.emit(
            CallRecord(
                model=self.entry.id,
                provider=self.entry.provider,
                upstream_model=self.entry.model,
                role=ctx.get("role", "worker"),
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                cost_usd=self.inner.estimate_cost(usage),
                latency_ms=(time.perf_counter() - started) * 1000,
                success=outcome == "ok",
                error=_error_text(outcome, error),
                stream=stream,
                simulated=self.entry.simulated,
                request_id=ctx.get("request_id", ""),
                tenant=ctx.get("tenant", ""),
                run_id=ctx.get("run_id", ""),
                work_order_id=ctx.get("work_order_id", ""),
                key_id=ctx.get("key_id", ""),
                outcome=outcome,
                estimated=estimated,
            )
        )

    async def complete(self, request: ChatRequest) -> ChatResponse:
        started = time.perf_counter()
        d = current()
        try:
            resp = await self.inner.complete(request)
        except Exception as exc:
            self.record(Usage(), False, started, "error", exc, False)
            raise
        except BaseException as exc:  # cancelled while waiting: nothing came back to count
            outcome, error = self._interrupted(exc, d)
            self.record(Usage(), False, started, outcome, error, False)
            raise
        usage, estimated = usage_of(resp.usage, _response_text(resp), request, complete=True)
        self.record(usage, estimated, started, "ok", None, False)
        return resp

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        started = time.perf_counter()
        d = current()  # the deadline in force when the stream starts (see nexus.providers.deadline)
        reported: Usage | None = None
        produced: list[str] = []
        finished = False
        outcome: Outcome = "cancelled"
        error: BaseException | None = None
        chunks = self.inner.stream(request)
        try:
            async for chunk in chunks:
                if chunk.usage is not None:
                    reported = chunk.usage
                for choice in chunk.choices:
                    delta = choice.delta
                    if delta.content:
                        produced.append(delta.content)
                    if delta.tool_calls:
                        produced.append(_tool_call_text(delta.tool_calls))
                    if choice.finish_reason:
                        finished = True
                yield chunk
            outcome = "ok"
        except Exception as exc:
            outcome, error = "error", exc
            raise
        except BaseException as exc:
            # The consumer stopped reading (GeneratorExit) or was cancelled. Once the answer has
            # finished only the trailing usage chunk is missing: that is a complete call.
            outcome, error = ("ok", None) if finished else self._interrupted(exc, d)
            raise
        finally:
            # Recorded before closing the inner stream: that await may be cancelled again.
            usage, estimated = usage_of(reported, "".join(produced), request, complete=outcome == "ok")
            self.record(usage, estimated, started, outcome, error, True)
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()

    def _interrupted(self, exc: BaseException, d: Deadline | None) -> tuple[Outcome, BaseException]:
        """A call stopped from outside: by the request's deadline (an error, 504) or by its caller."""
        if d is not None and d.expired:
            return "error", exceeded(d, provider=self.entry.provider, model=self.entry.id)
        return "cancelled", exc

    async def health_check(self) -> Health:
        return await self.inner.health_check()

    def estimate_cost(self, usage: Usage) -> float:
        return self.inner.estimate_cost(usage)


def _response_text(resp: ChatResponse) -> str:
    parts = []
    for choice in resp.choices:
        parts.append(choice.message.content or "")
        if choice.message.tool_calls:
            parts.append(_tool_call_text(choice.message.tool_calls))
    return "".join(parts)


def _error_text(outcome: Outcome, exc: BaseException | None) -> str | None:
    if outcome == "ok":
        return None
    if outcome == "cancelled":
        return "cancelled: the caller stopped reading"
    if isinstance(exc, ProviderError):
        return f"{exc.kind}: {exc.message}"[:500]
    return type(exc).__name__
