"""One model call from a node: metering context, optional live token events, usage and cost."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nexus.providers.hub import ModelHub
from nexus.providers.metering import call_context
from nexus.providers.types import ChatMessage, ChatRequest, Usage

Writer = Callable[[dict[str, Any]], None]


@dataclass(slots=True)
class CallResult:
    text: str
    model: str
    usage: Usage
    cost_usd: float
    latency_ms: float

    def record(self, role: str) -> dict[str, Any]:
        """The call as it goes into the run's state (summed in the final event)."""
        return {
            "role": role,
            "model": self.model,
            "prompt_tokens": self.usage.prompt_tokens,
            "completion_tokens": self.usage.completion_tokens,
            "cost_usd": self.cost_usd,
            "latency_ms": round(self.latency_ms, 2),
        }


def _estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


async def call_model(
    hub: ModelHub,
    model: str,
    messages: list[dict[str, Any]],
    *,
    role: str,
    run: dict[str, str],
    params: dict[str, Any] | None = None,
    writer: Writer | None = None,
    source: str = "",
) -> CallResult:
    """Complete (or, with a writer, stream as `token` events) one chat request on `model`.

    The metering context names the role, run and tenant so every CallRecord says who called.
    """
    req = ChatRequest(
        model=model,
        messages=[ChatMessage.model_validate(m) for m in messages],
        **(params or {}),
    )
    token = call_context.set(
        {
            "role": role,
            "run_id": run.get("run_id", ""),
            "tenant": run.get("tenant", ""),
            "request_id": run.get("run_id", ""),
        }
    )
    started = time.perf_counter()
    try:
        if writer is None:
            resp = await hub.complete(model, req)
            text, served, usage = resp.text, resp.model, resp.usage
        else:
            parts: list[str] = []
            usage = None
            served = model
            async for chunk in hub.stream(model, req):
                if chunk.usage is not None:
                    usage = chunk.usage
                piece = chunk.text
                if piece:
                    parts.append(piece)
                    writer(
                        {
                            "type": "token",
                            "node": source or role,
                            "data": {"text": piece, "model": model, "source": source or role},
                        }
                    )
                served = chunk.model or served
            text = "".join(parts)
    finally:
        call_context.reset(token)
    latency_ms = (time.perf_counter() - started) * 1000
    # Providers report their upstream name; keep our catalogue id unless a fallback served it.
    used = served if hub.catalogue.get(served) is not None else model
    if usage is None or usage.total_tokens == 0:
        prompt = sum(_estimate_tokens(str(m.get("content") or "")) for m in messages)
        usage = Usage.of(prompt, _estimate_tokens(text))
    cost = hub.entry(used).cost(usage.prompt_tokens, usage.completion_tokens)
    return CallResult(text=text, model=used, usage=usage, cost_usd=cost, latency_ms=latency_ms)
