"""One typed event model. SSE, WebSocket, traces, the UI and the OpenAI renderer all render these.

An `Event` is an envelope (type, run, session, node, time, sequence) around one payload model per
type. The wire form is unchanged JSON: `{"type", "run_id", "session_id", "node", "ts", "seq",
"data": {...}}`. Payloads tolerate unknown keys (`extra="allow"`) so events stored by an older
version still read back; every field has a default for the same reason.

Read a payload with `isinstance(event.data, FinalData)` (mypy narrows it); build one with `Event.of`.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, model_validator

from nexus.providers.types import ChatChunk, ChatResponse
from nexus.routing.base import Classification, Explanation

EventType = Literal[
    "started",
    "guarded",
    "compressed",
    "classified",
    "routed",
    "interrupt",
    "worker_started",
    "token",
    "worker_done",
    "aggregated",
    "judged",
    "escalated",
    "qa",
    "degraded",
    "chunk",
    "final",
    "error",
    "done",
]


class Payload(BaseModel):
    """Base of every payload; `TYPE` names the event type it belongs to."""

    model_config = ConfigDict(extra="allow")
    TYPE: ClassVar[EventType]


class StartedData(Payload):
    TYPE = "started"
    message: str = ""
    reply: str | None = None
    resumed: bool = False
    request_id: str = ""
    work_order_id: str = ""


class GuardedData(Payload):
    """The input guard changed or flagged the request (categories and spans, never the text)."""

    TYPE = "guarded"
    action: str = "flag"
    categories: list[str] = Field(default_factory=list)
    findings: list[dict[str, Any]] = Field(default_factory=list)


class CompressedData(Payload):
    TYPE = "compressed"
    before_tokens: int = 0
    after_tokens: int = 0
    summarised: int = 0
    dropped: int = 0
    notes: list[str] = Field(default_factory=list)


class ClassifiedData(Classification, Payload):  # type: ignore[misc]  # both are pydantic models
    TYPE = "classified"


class RoutedSubtask(BaseModel):
    model_config = ConfigDict(extra="allow")
    index: int = 0
    text: str = ""
    model: str = ""
    domain: str = ""
    explanation: Explanation | None = None


class RoutedData(Payload):
    TYPE = "routed"
    fanout: bool = False
    model: str | None = None
    alternatives: list[str] = Field(default_factory=list)
    rule: str | None = None
    reason: str | None = None
    explanation: Explanation | None = None
    subtasks: list[RoutedSubtask] = Field(default_factory=list)
    # Whether the answer's tokens go to a streaming client as they come (see docs/architecture.md).
    live: bool = False

    @property
    def models(self) -> list[str]:
        if self.subtasks:
            return [s.model for s in self.subtasks]
        return [self.model] if self.model else []


class InterruptData(Payload):
    TYPE = "interrupt"
    question: str = ""


class WorkerStartedData(Payload):
    TYPE = "worker_started"
    index: int = 0
    model: str = ""
    domain: str | None = None
    text: str | None = None
    role: str = "worker"


class TokenData(Payload):
    TYPE = "token"
    text: str = ""
    model: str = ""
    source: str = ""
    # True when this text is the answer a streaming client receives live.
    deliverable: bool = False


class WorkerDoneData(Payload):
    TYPE = "worker_done"
    index: int = 0
    model: str = ""
    ok: bool = True
    latency_ms: float = 0.0
    tokens: int | None = None
    cost_usd: float | None = None
    error: str | None = None


class AggregatedData(Payload):
    TYPE = "aggregated"
    mode: str = ""
    model: str = ""
    parts: int = 0
    missing: list[dict[str, Any]] = Field(default_factory=list)


class JudgedData(Payload):
    TYPE = "judged"
    parsed: bool = True
    model: str = ""
    score: float | None = None
    critique: str | None = None
    threshold: float | None = None
    passed: bool | None = None
    raw: str | None = None


class EscalatedData(Payload):
    TYPE = "escalated"
    model: str = ""
    from_model: str | None = None
    score: float | None = None
    critique: str | None = None


class QAData(Payload):
    TYPE = "qa"
    attempt: int = 0
    will_retry: bool = False
    passed: bool = True
    failures: list[str] = Field(default_factory=list)
    checks: list[str] = Field(default_factory=list)
    error: bool = False
    masked: bool = False


class DegradedData(Payload):
    TYPE = "degraded"
    node: str | None = None
    error: str | None = None
    fallback_model: str | None = None


class ChunkData(Payload):
    """One upstream chunk of an explicit-model stream, passed through as the upstream sent it."""

    TYPE = "chunk"
    chunk: ChatChunk


class TokenTotals(BaseModel):
    prompt: int = 0
    completion: int = 0
    total: int = 0


class CallData(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str = ""
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0


class FinalData(Payload):
    TYPE = "final"
    answer: str = ""
    model: str | None = None
    models: list[str] = Field(default_factory=list)
    tokens: TokenTotals = Field(default_factory=TokenTotals)
    cost_usd: float = 0.0
    latency_ms: float | None = None
    calls: list[CallData] = Field(default_factory=list)
    qa: dict[str, Any] | None = None
    judge: dict[str, Any] | None = None
    degraded: list[dict[str, Any]] = Field(default_factory=list)
    clarified: bool = False
    tool_calls: list[dict[str, Any]] | None = None
    finish_reason: str = "stop"
    # The explicit-model path's whole upstream response (kept verbatim for OpenAI clients).
    response: ChatResponse | None = None


class ErrorData(Payload):
    TYPE = "error"
    message: str = ""
    code: str | None = None
    status: int | None = None


class DoneData(Payload):
    TYPE = "done"
    status: str = "completed"


PAYLOADS: dict[str, type[Payload]] = {
    p.TYPE: p
    for p in (
        StartedData,
        GuardedData,
        CompressedData,
        ClassifiedData,
        RoutedData,
        InterruptData,
        WorkerStartedData,
        TokenData,
        WorkerDoneData,
        AggregatedData,
        JudgedData,
        EscalatedData,
        QAData,
        DegradedData,
        ChunkData,
        FinalData,
        ErrorData,
        DoneData,
    )
}


class Event(BaseModel):
    type: EventType
    run_id: str = ""
    session_id: str = ""
    node: str = ""
    ts: float = Field(default_factory=time.time)
    seq: int = 0
    data: SerializeAsAny[Payload] = Field(default_factory=Payload)

    @model_validator(mode="before")
    @classmethod
    def _typed_payload(cls, value: Any) -> Any:
        if isinstance(value, dict):
            kind, data = value.get("type"), value.get("data")
            payload = PAYLOADS.get(kind) if isinstance(kind, str) else None
            if payload is not None and (data is None or isinstance(data, dict)):
                return {**value, "data": payload.model_validate(data or {})}
        return value

    @classmethod
    def of(
        cls, payload: Payload, *, run_id: str = "", session_id: str = "", node: str = "", seq: int = 0
    ) -> Event:
        return cls(type=payload.TYPE, run_id=run_id, session_id=session_id, node=node, seq=seq, data=payload)

    def json_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    def sse(self) -> bytes:
        """`event: <type>` + `data: <json>`, one SSE message."""
        return b"event: " + self.type.encode() + b"\ndata: " + self.json_bytes() + b"\n\n"
