"""Compare two models on one prompt: both turns run through ChatService at once, each bounded by the
timeout; a side that overruns is cancelled (its work order closes) and flagged, the other side returns.

Refusals (limits, budget, guard, an unknown or another tenant's model) refuse the whole comparison: it is
admitted once (one request against the limits; the guard audits and masks the prompt once), then each
turn is started (the model checks done) before either runs."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from nexus.finetune.registry import TenantCatalogue
from nexus.pipeline.events import FinalData
from nexus.providers.errors import ProviderError
from nexus.providers.hub import UnknownModel
from nexus.providers.types import ChatMessage, ChatRequest
from nexus.service.chat import ChatService, Turn, TurnRequest
from nexus.service.errors import ServiceError, as_service_error
from nexus.service.identity import Caller


@dataclass
class Side:
    model: str
    answer: str | None = None
    timed_out: bool = False
    error: str | None = None
    latency_ms: float = 0.0
    cost_usd: float = 0.0
    tokens: dict[str, int] = field(default_factory=dict)
    work_order_id: str | None = None


class CompareService:
    def __init__(self, chat: ChatService, models: TenantCatalogue) -> None:
        self.chat = chat
        self.models = models

    async def compare(self, caller: Caller, prompt: str, models: list[str], timeout_s: float) -> list[Side]:
        for m in models:
            if not self.models.visible(caller.tenant, m):
                raise UnknownModel(m, [])
        asked = ChatRequest(model=models[0], messages=[ChatMessage(role="user", content=prompt)])
        masked = (await self.chat.admit(caller, asked, None)).messages
        turns: list[Turn] = []
        try:
            for m in models:
                req = ChatRequest(model=m, messages=masked)
                turns.append(await self.chat.turn(caller, TurnRequest(chat=req, prechecked=True)))
        except BaseException:
            for t in turns:
                await t.cancel()
            raise
        return list(await asyncio.gather(*(self._run(t, timeout_s) for t in turns)))

    async def _run(self, turn: Turn, timeout_s: float) -> Side:
        side = Side(model=turn.model, work_order_id=turn.work_order_id)
        t0 = time.perf_counter()
        task = asyncio.ensure_future(turn.result())
        try:
            done = await asyncio.wait_for(asyncio.shield(task), timeout_s)
        except TimeoutError:
            side.timed_out = True
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await turn.cancel()
        except (ProviderError, ServiceError) as exc:
            err = as_service_error(exc)
            side.error = err.message if err is not None else str(exc)
        else:
            if isinstance(done, FinalData):
                side.answer = done.answer
                side.cost_usd = done.cost_usd
                side.tokens = done.tokens.model_dump()
            else:
                side.error = "the model asked a clarifying question"
        side.latency_ms = round((time.perf_counter() - t0) * 1000, 1)
        return side
