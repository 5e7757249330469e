"""The `demo` adapter: simulated models for offline use, clearly labelled as such.

Every response has `system_fingerprint: "nexus-demo-simulated"` and `nexus_simulated: true` (on each
streamed chunk too), and each provider logs that it is simulating. Answers are deterministic for a
given request and model id; token counts come from `tokens.estimate_tokens`; latency follows the
catalogue entry (`latency_ms` to the first token, then `tokens_per_s`) with deterministic jitter,
scaled by `speed` (constructor) or the NEXUS_DEMO_SPEED environment variable (default 1.0; 0 = instant).

Triggers, so the pipeline can exercise every branch offline:
- Judge: any message containing "Score the answer" or "JSON with score" (case-insensitive) gets a
  verdict `{"score": 8, "critique": "..."}`; the score is 4 when a non-system message contains
  "escalate" or "critical-demo".
- JSON: `response_format` json_schema → a value valid against the (simple) schema; enums prefer a
  value named in the request, else the detected domain; json_object → `{"answer", "model", "simulated"}`.
- Tools: when `tools` are offered (tool_choice not "none") and the last message is the user's, the
  answer is a tool call with schema-valid arguments to the chosen tool, else one that fits the
  question (an arithmetic expression → a tool taking `expression`, a URL → one taking `url`, else a
  search tool taking `query`), else the first; after the tool results it answers in prose that
  reports what each tool returned (so an agent's whole loop runs offline).
- QA retry: a request containing "qa-retry-demo" is answered with a "TODO" line until a message
  contains "QA feedback" or "failed" (the retry), which gets a clean answer.
- Code questions get a short code block; arithmetic gets a worked answer with the computed value.
- `max_tokens` truncates the answer with finish_reason "length".
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import AsyncIterator
from typing import Any

from nexus.config.catalogue import ModelEntry
from nexus.providers import registry
from nexus.providers.base import CostMixin, ProviderContext
from nexus.providers.demo_text import DemoAnswer, compose, seed_of
from nexus.providers.tokens import estimate_prompt_tokens, estimate_tokens
from nexus.providers.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Choice,
    ChunkChoice,
    Delta,
    Health,
    ResponseMessage,
    Usage,
    new_completion_id,
)

log = logging.getLogger("nexus.providers.demo")

FINGERPRINT = "nexus-demo-simulated"
SPEED_ENV = "NEXUS_DEMO_SPEED"
# Extra field on every response and chunk (the models allow extras), so clients can tell.
LABEL: dict[str, Any] = {"system_fingerprint": FINGERPRINT, "nexus_simulated": True}
_PIECE = re.compile(r"\S+\s*|\s+")


def _speed_from_env() -> float:
    try:
        return max(0.0, float(os.environ.get(SPEED_ENV, "1.0")))
    except ValueError:
        return 1.0


def _truncate(answer: DemoAnswer, limit: int | None) -> DemoAnswer:
    if not limit or answer.tool_calls or estimate_tokens(answer.text) <= limit:
        return answer
    kept: list[str] = []
    for piece in _PIECE.findall(answer.text):
        if estimate_tokens("".join(kept) + piece) > limit:
            break
        kept.append(piece)
    return DemoAnswer("".join(kept).rstrip(), [], "length")


class DemoProvider(CostMixin):
    def __init__(
        self, entry: ModelEntry, ctx: ProviderContext | None = None, *, speed: float | None = None
    ) -> None:
        self.entry = entry
        self.speed = _speed_from_env() if speed is None else max(0.0, speed)
        self._announced = False

    def _answer(self, request: ChatRequest) -> tuple[DemoAnswer, Usage, float, float]:
        """The answer, its usage, and (time to first token, time per completion token) in seconds."""
        if not self._announced:
            self._announced = True
            log.info("demo provider %s is answering with SIMULATED responses", self.entry.id)
        answer = _truncate(compose(request, self.entry.id), request.output_limit)
        completion = estimate_tokens(answer.text) + sum(
            estimate_tokens(c["function"]["arguments"]) + 3 for c in answer.tool_calls
        )
        prompt = estimate_prompt_tokens(m.text() for m in request.messages)
        jitter = 0.8 + 0.4 * ((seed_of(request, self.entry.id) >> 24) % 1000) / 1000
        ttft = self.speed * jitter * self.entry.latency_ms / 1000
        per_token = self.speed * jitter / self.entry.tokens_per_s
        log.debug("simulated %s call: %d prompt / %d completion tokens", self.entry.id, prompt, completion)
        return answer, Usage.of(prompt, completion), ttft, per_token

    async def complete(self, request: ChatRequest) -> ChatResponse:
        answer, usage, ttft, per_token = self._answer(request)
        if self.speed:
            await asyncio.sleep(ttft + per_token * usage.completion_tokens)
        message = ResponseMessage(content=answer.text or None, tool_calls=answer.tool_calls or None)
        return ChatResponse(
            model=self.entry.id,
            choices=[Choice(message=message, finish_reason=answer.finish_reason)],
            usage=usage,
            **LABEL,
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        answer, usage, ttft, per_token = self._answer(request)
        cid = new_completion_id()

        def chunk(delta: Delta | None = None, finish: str | None = None) -> ChatChunk:
            choices = [ChunkChoice(delta=delta or Delta(), finish_reason=finish)]
            return ChatChunk(
                id=cid,
                model=self.entry.id,
                choices=choices,
                **LABEL,
            )

        if self.speed:
            await asyncio.sleep(ttft)
        yield chunk(Delta(role="assistant", content=""))
        for piece in _PIECE.findall(answer.text):
            if self.speed:
                await asyncio.sleep(per_token * estimate_tokens(piece))
            yield chunk(Delta(content=piece))
        for i, call in enumerate(answer.tool_calls):
            yield chunk(Delta(tool_calls=[{"index": i, **call}]))
        yield chunk(finish=answer.finish_reason)
        yield ChatChunk(id=cid, model=self.entry.id, usage=usage, **LABEL)

    async def health_check(self) -> Health:
        return Health(ok=True, latency_ms=0.0, detail="simulated (demo) model")


def create(entry: ModelEntry, ctx: ProviderContext) -> DemoProvider:
    return DemoProvider(entry, ctx)


registry.register("demo", create)
