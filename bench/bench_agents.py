"""The agent loop's own cost and the execution engine's, with no model latency. Prints; asserts nothing.

- loop: runs of 3 model turns (two parallel tool calls, one more call, a final answer) with an
  in-process model (no HTTP), the calculator tool, the SQLite checkpointer and the run log in SQLite.
- engine: GET requests to a loopback FakeHTTP through the execution engine (SSRF guard, audit,
  retries armed) against the same requests through a plain httpx client.

Run: .venv/bin/python bench/bench_agents.py
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import httpx  # noqa: E402

from nexus.agents import AgentCaller, ModelReply, ModelTurn, Persistence, RunRequest, open_agents  # noqa: E402
from nexus.agents.tools import ToolCall  # noqa: E402
from nexus.config.settings import Settings  # noqa: E402
from nexus.execution import EgressPolicy, ExecContext, ExecutionEngine, ExternalRequest, SqlIdempotency  # noqa: E402
from nexus.providers.hub import ModelHub  # noqa: E402
from nexus.store import open_store  # noqa: E402
from nexus.store.repos.agents import AgentRunStore, AgentStore  # noqa: E402
from nexus.testing.fake_http import FakeHTTP  # noqa: E402

RUNS = 60
REQUESTS = 500


async def scripted(turn: ModelTurn) -> ModelReply:
    """Turn 1: two calculator calls; turn 2: one more; turn 3: the answer."""
    done = sum(1 for m in turn.messages if m.get("role") == "assistant" and m.get("tool_calls"))
    calls = {
        0: [
            ToolCall(id="a", name="calculator", arguments={"expression": "6*7"}),
            ToolCall(id="b", name="calculator", arguments={"expression": "2^10"}),
        ],
        1: [ToolCall(id="c", name="calculator", arguments={"expression": "42+1024"})],
    }.get(done, [])
    return ModelReply(text="" if calls else "1066", tool_calls=calls, model="default")


async def bench_loop(tmp: Path) -> None:
    settings = Settings(data_dir=tmp, demo=True)
    hub = ModelHub(settings)
    hub.load()
    store = await open_store(settings)
    persistence = Persistence(
        AgentStore(store.sessions), AgentRunStore(store.sessions), SqlIdempotency(store.sessions)
    )
    agents = await open_agents(settings, hub, persistence, model=scripted)
    caller = AgentCaller(tenant="bench")
    timings = []
    try:
        for i in range(RUNS + 5):
            t0 = time.perf_counter()
            view = await agents.service.complete(
                caller, "assistant", RunRequest(task=f"sum {i}", session_id=f"s{i % 5}")
            )
            if i >= 5:  # warm-up runs excluded
                timings.append((time.perf_counter() - t0) * 1000)
            assert view.status == "completed", view
    finally:
        await agents.aclose()
        await hub.aclose()
        await store.close()
    p50 = statistics.median(timings)
    print(
        f"agent loop: {RUNS} runs x 3 steps (3 tool calls, 12 events stored): "
        f"p50 {p50:.1f} ms/run = {p50 / 3:.1f} ms/step, max {max(timings):.1f} ms"
    )


async def bench_engine() -> None:
    with FakeHTTP() as fake:
        engine = ExecutionEngine(EgressPolicy(trusted=[f"127.0.0.1:{fake.port}"]), audit=lambda r: None)
        ctx = ExecContext("bench")
        async with httpx.AsyncClient() as plain:
            for label, call in (
                ("plain httpx", lambda: plain.get(fake.url + "/x")),
                ("execution engine", lambda: engine.request(ctx, ExternalRequest(url=fake.url + "/x"))),
            ):
                for _ in range(20):
                    await call()
                timings = []
                for _ in range(REQUESTS):
                    t0 = time.perf_counter()
                    await call()
                    timings.append((time.perf_counter() - t0) * 1000)
                print(
                    f"{label:17s}: p50 {statistics.median(timings):.3f} ms/request over {REQUESTS} loopback GETs"
                )
        await engine.aclose()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="nexus-bench-agents-") as tmp:
        asyncio.run(bench_loop(Path(tmp)))
    asyncio.run(bench_engine())


if __name__ == "__main__":
    main()
