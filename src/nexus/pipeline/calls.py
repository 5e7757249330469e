"""One model call from a node: metering context, live token events, tool calls, usage and cost."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nexus.pipeline.events import TokenData
from nexus.pipeline.state import CallState
from nexus.providers.hub import ModelHub
from nexus.providers.metering import call_context
from nexus.providers.tokens import estimate_prompt_tokens, estimate_tokens
from nexus.providers.types import ChatMessage, ChatRequest, Usage

# Receives each streamed piece of text as a token event payload.
TokenSink = Callable[[TokenData], None]


@dataclass(slots=True)
class CallResult:
    text: str
    model: str
    usage: Usage
    cost_usd: float
    latency_ms: float
    tool_calls: list[dict[str, Any]] | None = None
    finish_reason: str = "stop"

    def record(self, role: str) -> CallState:
        """The call as it goes into the run's state (summed in the final event)."""
        return {
            "role": role,
            "model": self.model,
            "prompt_tokens": self.usage.prompt_tokens,
            "completion_tokens": self.usage.completion_tokens,
            "cost_usd": self.cost_usd,
            "latency_ms": round(self.latency_ms, 2),
        }


class ToolCallAccumulator:
    """Streamed `delta.tool_calls` fragments → whole tool calls, in the OpenAI shape."""

    def __init__(self) -> None:
        self._calls: dict[int, dict[str, Any]] = {}

    def add(self, fragments: list[dict[str, Any]]) -> None:
        for frag in fragments:
            index = int(frag.get("index", len(self._calls)))
            call = self._calls.setdefault(
                index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
            )
            if frag.get("id"):
                call["id"] = frag["id"]
            if frag.get("type"):
                call["type"] = frag["type"]
            fn = frag.get("function") or {}
            if fn.get("name"):
                call["function"]["name"] += fn["name"]
            if fn.get("arguments"):
                call["function"]["arguments"] += fn["arguments"]

    def result(self) -> list[dict[str, Any]] | None:
        return [self._calls[i] for i in sorted(self._calls)] or None


def _request(model: str, messages: list[dict[str, Any]], params: dict[str, Any] | None) -> ChatRequest:
    return ChatRequest(
        model=model, messages=[ChatMessage.model_validate(m) for m in messages], **(params or {})
    )


async def call_model(
    hub: ModelHub,
    model: str,
    messages: list[dict[str, Any]],
    *,
    role: str,
    run_id: str,
    params: dict[str, Any] | None = None,
    tokens: TokenSink | None = None,
    deliverable: bool = False,
    source: str = "",
) -> CallResult:
    """Complete (or, with a token sink, stream as token events) one chat request on `model`.

    The metering context keeps what the service set for the turn (tenant, request, work order, key)
    and adds this call's role and run, so every CallRecord says who called and for what.
    """
    req = _request(model, messages, params)
    token = call_context.set({**call_context.get(), "role": role, "run_id": run_id})
    started = time.perf_counter()
    tool_calls: list[dict[str, Any]] | None = None
    finish = "stop"
    try:
        if tokens is None:
            resp = await hub.complete(model, req)
            text, served, usage = resp.text, resp.model, resp.usage
            if resp.choices:
                tool_calls = resp.choices[0].message.tool_calls or None
                finish = resp.choices[0].finish_reason or finish
        else:
            parts: list[str] = []
            acc = ToolCallAccumulator()
            usage = None
            served = model
            async for chunk in hub.stream(model, req):
                if chunk.usage is not None:
                    usage = chunk.usage
                served = chunk.model or served
                for choice in chunk.choices:
                    piece = choice.delta.content
                    if piece:
                        parts.append(piece)
                        tokens(
                            TokenData(text=piece, model=model, source=source or role, deliverable=deliverable)
                        )
                    if choice.delta.tool_calls:
                        acc.add(choice.delta.tool_calls)
                    if choice.finish_reason:
                        finish = choice.finish_reason
            text = "".join(parts)
            tool_calls = acc.result()
    finally:
        call_context.reset(token)
    latency_ms = (time.perf_counter() - started) * 1000
    # Providers report their upstream name; keep our catalogue id unless a fallback served it.
    used = served if hub.catalogue.get(served) is not None else model
    if usage is None or usage.total_tokens == 0:
        prompt = estimate_prompt_tokens(ChatMessage.model_validate(m).text() for m in messages)
        usage = Usage.of(prompt, estimate_tokens(text))
    cost = hub.entry(used).cost(usage.prompt_tokens, usage.completion_tokens)
    if tool_calls:
        finish = "tool_calls"
    return CallResult(
        text=text,
        model=used,
        usage=usage,
        cost_usd=cost,
        latency_ms=latency_ms,
        tool_calls=tool_calls,
        finish_reason=finish,
    )
