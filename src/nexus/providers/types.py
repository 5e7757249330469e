"""Our own request/response models, in the OpenAI chat-completions shape.

Adapters translate to and from each provider's wire protocol at the edge. Unknown fields are kept
(`extra="allow"`) so OpenAI-compatible upstreams receive what the client sent, unchanged.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from nexus.jsontypes import JsonBool, JsonFloat, JsonIntOrNone


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ChatMessage(_Open):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    def text(self) -> str:
        """The message's text, with multi-part content joined."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(
            p.get("text", "") for p in self.content if isinstance(p, dict) and p.get("type") == "text"
        )


class StreamOptions(_Open):
    include_usage: JsonBool | None = None


class ChatRequest(_Open):
    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    temperature: JsonFloat | None = Field(default=None, ge=0, le=2)
    top_p: JsonFloat | None = Field(default=None, ge=0, le=1)
    max_tokens: JsonIntOrNone = Field(default=None, ge=1)
    max_completion_tokens: JsonIntOrNone = Field(default=None, ge=1)
    n: JsonIntOrNone = Field(default=None, ge=1, le=1)
    stream: JsonBool | None = False
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    seed: JsonIntOrNone = None
    user: str | None = None
    # Nexus's own: the request's total time in seconds, across retries and fallbacks (capped by
    # NEXUS_REQUEST_TIMEOUT_MAX_S); never sent upstream.
    timeout: JsonFloat | None = Field(default=None, gt=0)

    def wire(self, model: str | None = None) -> dict[str, Any]:
        """The request as an OpenAI JSON body, optionally with the upstream model name."""
        body = self.model_dump(exclude_none=True, exclude={"timeout"})
        if model is not None:
            body["model"] = model
        return body

    def last_user_text(self) -> str:
        for m in reversed(self.messages):
            if m.role == "user":
                return m.text()
        return ""

    @property
    def output_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class Usage(_Open):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    @classmethod
    def of(cls, prompt: int, completion: int) -> Usage:
        return cls(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


class ResponseMessage(_Open):
    role: Literal["assistant"] = "assistant"
    content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


class Choice(_Open):
    index: int = 0
    message: ResponseMessage
    finish_reason: str | None = "stop"
    logprobs: Any | None = None


def new_completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


class ChatResponse(_Open):
    id: str = Field(default_factory=new_completion_id)
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str
    choices: list[Choice]
    usage: Usage | None = None
    system_fingerprint: str | None = None

    @property
    def text(self) -> str:
        return (self.choices[0].message.content or "") if self.choices else ""


class Delta(_Open):
    role: str | None = None
    content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


class ChunkChoice(_Open):
    index: int = 0
    delta: Delta = Field(default_factory=Delta)
    finish_reason: str | None = None
    logprobs: Any | None = None


class ChatChunk(_Open):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str
    choices: list[ChunkChoice] = Field(default_factory=list)
    usage: Usage | None = None
    system_fingerprint: str | None = None

    @property
    def text(self) -> str:
        return "".join(c.delta.content or "" for c in self.choices)


class Health(BaseModel):
    ok: bool
    latency_ms: float | None = None
    detail: str = ""
