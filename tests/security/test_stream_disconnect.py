"""A streaming client that hangs up mid-answer leaves no task on the server loop and no upstream
connection open behind it."""

from __future__ import annotations

import asyncio
import time

import httpx

from conftest import Env
from nexus.testing import Reply


async def _task_count() -> int:
    return len(asyncio.all_tasks())


def _settle(probe, target: int, wait_s: float = 10.0) -> int:  # type: ignore[no-untyped-def]
    """Poll until the count falls to `target` (cleanup is asynchronous), then return it."""
    end = time.monotonic() + wait_s
    value = probe()
    while value > target and time.monotonic() < end:
        time.sleep(0.05)
        value = probe()
    return int(value)


def test_client_disconnect_mid_stream_leaks_nothing(env: Env) -> None:
    gw, up = env.gw, env.upstream
    words = " ".join(f"w{i}" for i in range(200))
    for _ in range(3):
        tasks_before = gw.call(_task_count())
        conns_before = len(up._conns)
        up.push(Reply(text=words, chunk_delay=0.05))
        with httpx.stream(
            "POST",
            gw.base_url + "/v1/chat/completions",
            headers=env.h("acme"),
            json={"model": "m1", "stream": True, "messages": [{"role": "user", "content": "long"}]},
            timeout=20,
        ) as r:
            assert r.status_code == 200
            lines = r.iter_lines()
            got = [next(lines) for _ in range(3)]
            assert any(line.startswith("data: ") for line in got)
        # the client has hung up with ~190 chunks still to come
        assert _settle(lambda: len(up._conns), conns_before) <= conns_before
        assert _settle(lambda: gw.call(_task_count()), tasks_before) <= tasks_before
    assert len(up.requests) >= 3
