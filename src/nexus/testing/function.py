"""FunctionProvider: an in-process Provider scripted per call, for unit tests that need no HTTP.

    attempts = [
        [chunk(role="assistant"), UpstreamConnectionError("reset")],  # call 1: role chunk, then a reset
        [chunk("Hello"), chunk(finish="stop")],                        # call 2: a clean answer
    ]
    p = FunctionProvider(entry("m1"), attempts)

Each call consumes the next script (the last one repeats). A script is a list of steps: a ChatChunk
is yielded, an exception is raised, a float sleeps that many seconds (`HANG` sleeps forever).
`complete` answers the script's text, or raises its first exception.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from nexus.config.catalogue import ModelEntry
from nexus.providers.base import CostMixin
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
)

Step = ChatChunk | BaseException | float
HANG = float("inf")


def entry(model_id: str, **kw: Any) -> ModelEntry:
    """A catalogue entry for an in-process provider ($1 / $2 per million tokens)."""
    fields: dict[str, Any] = {
        "id": model_id,
        "provider": "function",
        "model": f"up-{model_id}",
        "input_price_per_mtok": 1.0,
        "output_price_per_mtok": 2.0,
        "context_window": 8192,
        **kw,
    }
    return ModelEntry(**fields)


def chunk(
    content: str | None = None,
    *,
    role: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    finish: str | None = None,
    usage: tuple[int, int] | None = None,
    model: str = "up",
) -> ChatChunk:
    """One OpenAI-shaped chunk; `usage` alone gives a usage-only chunk (no choices)."""
    if usage is not None and content is None and role is None and tool_calls is None and finish is None:
        return ChatChunk(id="fn", model=model, choices=[], usage=Usage.of(*usage))
    delta = Delta(role=role, content=content, tool_calls=tool_calls)
    return ChatChunk(
        id="fn",
        model=model,
        choices=[ChunkChoice(delta=delta, finish_reason=finish)],
        usage=Usage.of(*usage) if usage is not None else None,
    )


class FunctionProvider(CostMixin):
    def __init__(self, model_entry: ModelEntry, scripts: Sequence[Sequence[Step]]) -> None:
        if not scripts:
            raise ValueError("at least one script")
        self.entry = model_entry
        self.scripts = [list(s) for s in scripts]
        self.calls = 0

    def _script(self) -> list[Step]:
        script = self.scripts[min(self.calls, len(self.scripts) - 1)]
        self.calls += 1
        return script

    async def _play(self) -> AsyncIterator[ChatChunk]:
        for step in self._script():
            if isinstance(step, BaseException):
                raise step
            if isinstance(step, float | int):
                await _sleep(float(step))
                continue
            yield step.model_copy(deep=True)

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        return self._play()

    async def complete(self, request: ChatRequest) -> ChatResponse:
        chunks = [c async for c in self._play()]
        usage = next((c.usage for c in reversed(chunks) if c.usage is not None), None)
        message = ResponseMessage(content="".join(c.text for c in chunks))
        return ChatResponse(model=self.entry.model, choices=[Choice(message=message)], usage=usage)

    async def health_check(self) -> Health:
        return Health(ok=True)


async def _sleep(seconds: float) -> None:
    if seconds == HANG:
        await asyncio.Event().wait()
    await asyncio.sleep(seconds)
