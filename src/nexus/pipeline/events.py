"""One typed event model for the pipeline. SSE, WebSocket, traces, the UI and the OpenAI adapter all
render these same events."""

from __future__ import annotations

import time
from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field

EventType = Literal[
    "started",
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
    "final",
    "error",
    "done",
]


class Event(BaseModel):
    type: EventType
    run_id: str
    session_id: str
    node: str
    ts: float = Field(default_factory=time.time)
    seq: int = 0
    data: dict[str, Any] = Field(default_factory=dict)

    def json_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    def sse(self) -> bytes:
        """`event: <type>` + `data: <json>`, one SSE message."""
        return b"event: " + self.type.encode() + b"\ndata: " + self.json_bytes() + b"\n\n"
