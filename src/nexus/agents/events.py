"""Every step of an agent run is a typed event: one envelope, one payload model per type.

The envelope has the pipeline event's wire shape (type, run_id, session_id, node, ts, seq, data) plus
the agent's name, so SSE, traces, the UI and the OpenAI renderer treat both alike; `data` is the typed
payload, discriminated by its `type`.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, Field, computed_field

from nexus.agents.tools.base import ToolCall, ToolResult

RunStatus = Literal["running", "paused", "completed", "limited", "failed", "cancelled"]


class Started(BaseModel):
    type: Literal["started"] = "started"
    agent: str
    task: str = ""
    resumed: bool = False


class Step(BaseModel):
    """One model call: what it cost and whether it asked for tools."""

    type: Literal["step"] = "step"
    step: int
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    tool_calls: int = 0
    text: str = ""


class ToolCallEvent(BaseModel):
    type: Literal["tool_call"] = "tool_call"
    step: int
    call: ToolCall
    requires_approval: bool = False


class ToolResultEvent(BaseModel):
    type: Literal["tool_result"] = "tool_result"
    step: int
    result: ToolResult


class ApprovalRequired(BaseModel):
    """The run is paused until a person approves or denies these calls (resume with a decision)."""

    type: Literal["approval"] = "approval"
    calls: list[ToolCall]


class Final(BaseModel):
    type: Literal["final"] = "final"
    answer: str
    model: str = ""
    steps: int = 0
    tool_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


class ErrorInfo(BaseModel):
    """code: step_limit | time_limit | cost_limit | model_error | tool_setup | internal."""

    type: Literal["error"] = "error"
    code: str
    message: str


class Done(BaseModel):
    type: Literal["done"] = "done"
    status: RunStatus


Payload = Annotated[
    Started | Step | ToolCallEvent | ToolResultEvent | ApprovalRequired | Final | ErrorInfo | Done,
    Field(discriminator="type"),
]


class AgentEvent(BaseModel):
    run_id: str
    session_id: str
    agent: str
    node: str = "agent"
    seq: int = 0
    ts: float = Field(default_factory=time.time)
    data: Payload

    @computed_field  # type: ignore[prop-decorator]
    @property
    def type(self) -> str:
        return self.data.type

    def json_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    def sse(self) -> bytes:
        """`event: <type>` + `data: <json>`, one SSE message."""
        return b"event: " + self.type.encode() + b"\ndata: " + self.json_bytes() + b"\n\n"

    def payload(self) -> dict[str, Any]:
        """The payload as stored (run_events.payload)."""
        return self.data.model_dump(mode="json")
