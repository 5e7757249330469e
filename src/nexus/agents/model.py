"""The model-call seam. The runtime asks a `ModelCaller` for one turn; `HubModelCaller` calls the
ModelHub today, and the lead can swap in one that goes through ChatService (guard, budget,
accounting) without touching the loop."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from nexus.agents.tools.base import ToolCall
from nexus.config.agents import AUTO_MODEL
from nexus.providers.hub import ModelHub
from nexus.providers.metering import call_context
from nexus.providers.tokens import estimate_tokens
from nexus.providers.types import ChatMessage, ChatRequest


@dataclass(frozen=True, slots=True)
class ModelTurn:
    model: str
    messages: list[dict[str, Any]]
    # OpenAI `tools` entries.
    tools: list[dict[str, Any]]
    tenant: str
    run_id: str
    agent: str
    request_id: str = ""
    key_id: str | None = None
    temperature: float | None = None


@dataclass(frozen=True, slots=True)
class ModelReply:
    text: str
    tool_calls: list[ToolCall]
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    raw_tool_calls: list[dict[str, Any]] = field(default_factory=list)


class ModelCallFailed(Exception):
    """A model turn refused for a reason the client may read (budget, policy): ends the run with
    `code`. A ModelCaller wrapping the service layer raises it for its typed refusals."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ModelCaller(Protocol):
    async def __call__(self, turn: ModelTurn) -> ModelReply: ...


class HubModelCaller:
    """One chat completion on the hub per turn, with the metering context set (role "agent").

    `nexus-auto` becomes `auto_model(turn)` when given (e.g. the router's choice), else the catalogue's
    `agent` role, else its default role, else the first available model that takes tools.
    """

    def __init__(self, hub: ModelHub, *, auto_model: Callable[[ModelTurn], str] | None = None) -> None:
        self.hub = hub
        self.auto_model = auto_model

    def resolve(self, turn: ModelTurn) -> str:
        if turn.model != AUTO_MODEL:
            return turn.model
        if self.auto_model is not None:
            return self.auto_model(turn)
        cat = self.hub.catalogue
        capable = cat.with_capability("tools")
        for choice in (cat.roles.get("agent"), cat.role("default")):
            if choice in capable and self.hub.is_available(choice):
                return choice
        usable = [m for m in capable if self.hub.is_available(m)]
        return usable[0] if usable else cat.role("default")

    async def __call__(self, turn: ModelTurn) -> ModelReply:
        context = {
            "role": "agent",
            "tenant": turn.tenant,
            "run_id": turn.run_id,
            "request_id": turn.request_id,
        }
        if turn.key_id:
            context["key_id"] = turn.key_id
        return await self.call(turn, self.resolve(turn), context)

    async def call(self, turn: ModelTurn, model: str, context: dict[str, str]) -> ModelReply:
        """One completion of `model` on the turn's messages, metered with `context` (the Meter's
        call context: tenant, key, request, work order, role)."""
        request = ChatRequest(
            model=model,
            messages=[ChatMessage.model_validate(m) for m in turn.messages],
            tools=turn.tools or None,
            tool_choice="auto" if turn.tools else None,
            temperature=turn.temperature,
        )
        token = call_context.set(context)
        started = time.perf_counter()
        try:
            response = await self.hub.complete(model, request)
        finally:
            call_context.reset(token)
        latency = (time.perf_counter() - started) * 1000
        message = response.choices[0].message if response.choices else None
        raw_calls = list((message.tool_calls if message else None) or [])
        text = (message.content if message else None) or ""
        usage = response.usage
        prompt = (
            usage.prompt_tokens
            if usage
            else sum(estimate_tokens(str(m.get("content") or "")) for m in turn.messages)
        )
        completion = usage.completion_tokens if usage else estimate_tokens(text)
        # The catalogue id, unless a fallback model served the call.
        served = response.model if self.hub.catalogue.get(response.model) is not None else model
        return ModelReply(
            text=text,
            tool_calls=[ToolCall.from_openai(c, i) for i, c in enumerate(raw_calls)],
            model=served,
            prompt_tokens=prompt,
            completion_tokens=completion,
            cost_usd=self.hub.entry(served).cost(prompt, completion),
            latency_ms=round(latency, 2),
            raw_tool_calls=raw_calls,
        )
