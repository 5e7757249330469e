"""Pipeline orchestration overhead, fan-out parallelism and 200 concurrent /chat streams.

Zero-latency in-process fake models (a throwaway provider registered for this run), the real
classifier and router on the hashing embedder, the real SQLite checkpointer. Prints; asserts nothing.

Run: .venv/bin/python bench/bench_pipeline.py
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["NEXUS_BENCH_KEY"] = "bench"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.pipeline.harness

from nexus.config.catalogue import ModelEntry  # noqa: E402
from nexus.providers import registry  # noqa: E402
from nexus.providers.base import CostMixin, ProviderContext  # noqa: E402
from nexus.providers.types import (  # noqa: E402
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
from nexus.testing.gateway import write_catalogue  # noqa: E402

# Per-model simulated latency in seconds (0 = the zero-latency figures).
LATENCY: dict[str, float] = {}


class InstantModel(CostMixin):
    def __init__(self, entry: ModelEntry, ctx: ProviderContext) -> None:
        self.entry = entry

    async def complete(self, request: ChatRequest) -> ChatResponse:
        if LATENCY.get(self.entry.id):
            await asyncio.sleep(LATENCY[self.entry.id])
        return ChatResponse(
            model=self.entry.id,
            choices=[Choice(message=ResponseMessage(content="A complete answer."))],
            usage=Usage.of(20, 5),
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        if LATENCY.get(self.entry.id):
            await asyncio.sleep(LATENCY[self.entry.id])
        for word in ("A ", "complete ", "answer."):
            yield ChatChunk(id="c", model=self.entry.id, choices=[ChunkChoice(delta=Delta(content=word))])
        yield ChatChunk(id="c", model=self.entry.id, usage=Usage.of(20, 5))

    async def health_check(self) -> Health:
        return Health(ok=True)


registry.register("bench", InstantModel)
MODELS = ("cheap", "coder", "general", "agg", "judge", "senior")


def make(tmp: Path) -> Any:
    from tests.pipeline.harness import make_app, settings_for

    cat = write_catalogue(
        tmp / "catalogue.yaml",
        [{"id": m, "provider": "bench", "api_key_env": "NEXUS_BENCH_KEY", "tags": [m]} for m in MODELS],
        roles={
            "classifier": "cheap",
            "self_answer": "cheap",
            "compressor": "cheap",
            "default": "general",
            "aggregator": "agg",
            "judge": "judge",
            "escalation": "senior",
        },
        workers={"code": "coder", "math": "general", "writing": "general"},
        pipeline={"max_parallel_workers": 4, "subtask_timeout_s": 30},
    )
    return make_app(settings_for(tmp, cat))


async def drain(pipeline: Any, message: str) -> list[Any]:
    return [e async for e in pipeline.run(message)]


async def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="nexus-bench-pipeline-"))
    app = make(tmp)
    async with app.router.lifespan_context(app):
        pipeline = app.state.services.pipeline
        single = "Write a short poem about the sea at night"
        for _ in range(20):
            await drain(pipeline, single)
        timings = []
        for _ in range(300):
            t0 = time.perf_counter()
            events = await drain(pipeline, single)
            timings.append((time.perf_counter() - t0) * 1000)
        assert events[-2].type == "final", [e.type for e in events]
        timings.sort()
        print(
            "single-worker path, zero-latency models, 300 runs (classifier + router + graph + SQLite checkpoint):"
        )
        print(
            f"  p50 {statistics.median(timings):.2f} ms   p95 {timings[int(0.95 * len(timings))]:.2f} ms   "
            f"max {timings[-1]:.2f} ms"
        )

        LATENCY.update({"cheap": 0.10, "coder": 0.10, "general": 0.30, "agg": 0.05})
        fan = "Compute 17*23 and then write a haiku about autumn"
        walls = []
        for _ in range(5):
            t0 = time.perf_counter()
            events = await drain(pipeline, fan)
            walls.append((time.perf_counter() - t0) * 1000)
        routed = next(e for e in events if e.type == "routed").data
        models = routed.models
        slowest = max(LATENCY.get(m, 0) for m in models) * 1000
        bound = slowest + LATENCY["agg"] * 1000 + 20
        print(
            f"fan-out: subtasks on {models} (latencies {[LATENCY.get(m, 0) for m in models]} s), aggregator 0.05 s:"
        )
        print(
            f"  wall p50 {statistics.median(walls):.1f} ms  vs  slowest + aggregator + 20 ms = {bound:.0f} ms "
            f"(sequential would be ≥ {sum(LATENCY.get(m, 0) for m in models) * 1000 + 50:.0f} ms)"
        )
        LATENCY.clear()

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://nexus", timeout=120) as client:

            async def one(i: int) -> bool:
                r = await client.post(
                    "/chat", json={"message": f"Write a short poem about the sea, take {i}"}
                )
                return r.status_code == 200 and "event: final" in r.text and "event: error" not in r.text

            t0 = time.perf_counter()
            ok = await asyncio.gather(*(one(i) for i in range(200)), return_exceptions=True)
            wall = time.perf_counter() - t0
        errors = sum(1 for x in ok if x is not True)
        print(f"200 concurrent /chat streams (in-process ASGI): {errors} errors, {wall:.2f} s wall")


if __name__ == "__main__":
    asyncio.run(main())
