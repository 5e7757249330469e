"""Rate limiter: exact in-process sliding log, shared Redis limits across processes, Redis fallback."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys

import pytest

from nexus.service.ratelimit import (
    FallbackLimiter,
    InProcessLimiter,
    LimitResult,
    RateLimitExceeded,
    RedisLimiter,
    enforce_limits,
    ratelimit_headers,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_in_process_exact_sliding_window() -> None:
    clock = FakeClock()
    lim = InProcessLimiter(clock)
    results = [await lim.hit("k", 5, 60.0) for _ in range(8)]
    assert [r.allowed for r in results] == [True] * 5 + [False] * 3
    assert [r.remaining for r in results[:5]] == [4, 3, 2, 1, 0]
    assert results[5].retry_after_s == pytest.approx(60.0)
    clock.now += 30
    assert not (await lim.hit("k", 5, 60.0)).allowed
    clock.now += 30.001  # the first five hits have just left the window
    again = [await lim.hit("k", 5, 60.0) for _ in range(6)]
    assert [r.allowed for r in again] == [True] * 5 + [False]


async def test_in_process_token_costs_and_keys_independent() -> None:
    clock = FakeClock()
    lim = InProcessLimiter(clock)
    assert (await lim.hit("t", 100, 60, cost=60)).remaining == 40
    clock.now += 10
    assert (await lim.hit("t", 100, 60, cost=30)).remaining == 10
    denied = await lim.hit("t", 100, 60, cost=50)
    assert not denied.allowed and denied.retry_after_s == pytest.approx(50.0)
    assert (await lim.hit("other", 100, 60, cost=100)).allowed
    never = await lim.hit("t", 100, 60, cost=101)
    assert not never.allowed and never.retry_after_s == 60


def test_headers_openai_shape() -> None:
    ok = LimitResult(True, 60, 59, 1.0, 0.0)
    denied = LimitResult(False, 1000, 0, 30.5, 12.2)
    headers = ratelimit_headers(ok, denied)
    assert headers["x-ratelimit-limit-requests"] == "60"
    assert headers["x-ratelimit-remaining-requests"] == "59"
    assert headers["x-ratelimit-reset-requests"] == "1s"
    assert headers["x-ratelimit-reset-tokens"] == "30.5s"
    assert headers["Retry-After"] == "13"
    assert "Retry-After" not in ratelimit_headers(ok)


async def test_enforce_limits_raises_with_headers() -> None:
    lim = InProcessLimiter(FakeClock())
    headers = await enforce_limits(lim, "tenant:a", rpm=2, tpm=100, tokens=10)
    assert headers["x-ratelimit-remaining-requests"] == "1"
    assert headers["x-ratelimit-remaining-tokens"] == "90"
    with pytest.raises(RateLimitExceeded) as info:
        await enforce_limits(lim, "tenant:a", rpm=2, tpm=100, tokens=95)
    assert info.value.kind == "tokens" and "Retry-After" in info.value.headers
    await enforce_limits(lim, "tenant:a", rpm=0, tpm=0)  # 0 = unlimited


@pytest.mark.redis
async def test_redis_exact_and_window(redis_url: str, unique: str) -> None:
    lim = RedisLimiter(redis_url, prefix=f"test:{unique}:")
    try:
        results = [await lim.hit("k", 5, 0.5) for _ in range(7)]
        assert [r.allowed for r in results] == [True] * 5 + [False] * 2
        assert results[4].remaining == 0 and 0 < results[5].retry_after_s <= 0.5
        tok = await lim.hit("tok", 100, 60, cost=70)
        assert tok.remaining == 30 and not (await lim.hit("tok", 100, 60, cost=31)).allowed
        await asyncio.sleep(0.6)
        assert (await lim.hit("k", 5, 0.5)).allowed
    finally:
        await lim.aclose()


_WORKER = """
import asyncio, json, sys
from nexus.service.ratelimit import RedisLimiter
async def main():
    lim = RedisLimiter(sys.argv[1], prefix=sys.argv[2])
    results = await asyncio.gather(*(lim.hit("shared", 25, 60.0) for _ in range(40)))
    await lim.aclose()
    print(json.dumps(sum(r.allowed for r in results)))
asyncio.run(main())
"""


@pytest.mark.redis
async def test_redis_limit_holds_across_two_processes(redis_url: str, unique: str) -> None:
    prefix = f"test:{unique}:"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, redis_url, prefix], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=60)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    allowed = [json.loads(o) for o in outs]
    assert sum(allowed) == 25  # 80 concurrent hits from two processes, exactly the limit admitted
    lim = RedisLimiter(redis_url, prefix=prefix)
    try:
        assert not (await lim.hit("shared", 25, 60.0)).allowed
    finally:
        await lim.aclose()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_fallback_when_redis_unreachable(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []
    lim = FallbackLimiter(
        RedisLimiter(f"redis://127.0.0.1:{_closed_port()}/0"), on_fallback=lambda: calls.append(1)
    )
    results = [await lim.hit("k", 3, 60.0) for _ in range(5)]
    assert [r.allowed for r in results] == [True] * 3 + [False] * 2
    assert lim.fallbacks_total == 5 and len(calls) == 5
    assert "Redis unavailable" in caplog.text
