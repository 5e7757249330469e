"""One deadline per request bounds attempts, retries, backoff sleeps and fallbacks together."""

from __future__ import annotations

import asyncio
import time

import pytest

from nexus.providers.deadline import (
    Deadline,
    DeadlineExceeded,
    current,
    deadline,
    remaining,
    request_timeout,
)
from nexus.providers.errors import UpstreamHTTPError, UpstreamTimeout
from nexus.providers.types import ChatChunk, ChatMessage, ChatRequest
from nexus.providers.wrappers import FallbackProvider, RetryingProvider, RetryPolicy
from nexus.testing.function import HANG, FunctionProvider, Step, chunk, entry

REQ = ChatRequest(model="m1", messages=[ChatMessage(role="user", content="hello")])
GOOD: list[Step] = [chunk(role="assistant"), chunk("fine"), chunk(finish="stop")]


def chain(
    *scripts: list[Step], attempt_s: float, total_s: float | None, retries: int = 5
) -> FallbackProvider:
    policy = RetryPolicy(
        max_retries=retries, base_delay_s=0.01, max_delay_s=0.05, attempt_timeout_s=attempt_s
    )
    providers = [
        RetryingProvider(FunctionProvider(entry(f"m{i + 1}"), [s]), policy) for i, s in enumerate(scripts)
    ]
    return FallbackProvider(providers, total_timeout_s=total_s)


async def test_hung_chain_ends_at_the_total_deadline() -> None:
    # Without the deadline: 2 models x 6 attempts x 0.4 s = 4.8 s.
    p = chain([HANG], [HANG], attempt_s=0.4, total_s=1.0)
    t0 = time.monotonic()
    with pytest.raises(DeadlineExceeded) as exc:
        await p.complete(REQ)
    took = time.monotonic() - t0
    assert 0.9 <= took < 1.5, took
    assert isinstance(exc.value, UpstreamTimeout) and exc.value.kind == "upstream_timeout"


async def test_hung_stream_chain_ends_at_the_total_deadline() -> None:
    p = chain([chunk(role="assistant"), HANG], [HANG], attempt_s=0.4, total_s=1.0)
    t0 = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        [c async for c in p.stream(REQ)]
    assert 0.9 <= time.monotonic() - t0 < 1.5


async def test_attempt_timeout_is_retried_within_the_deadline() -> None:
    policy = RetryPolicy(max_retries=3, base_delay_s=0.01, max_delay_s=0.01, attempt_timeout_s=0.2)
    inner = FunctionProvider(entry("m1"), [[HANG], GOOD])
    p = FallbackProvider([RetryingProvider(inner, policy)], total_timeout_s=5)
    chunks = [c async for c in p.stream(REQ)]
    assert "".join(c.text for c in chunks) == "fine" and inner.calls == 2


async def test_request_deadline_overrides_the_configured_total() -> None:
    p = chain([HANG], attempt_s=10, total_s=60)
    t0 = time.monotonic()
    with deadline(0.3), pytest.raises(DeadlineExceeded):
        await p.complete(REQ)
    assert time.monotonic() - t0 < 1.0


async def test_stream_keeps_its_deadline_after_the_scope_is_left() -> None:
    # A door returns its streaming response (leaving `with deadline`) while the stream still runs.
    p = chain([chunk(role="assistant"), chunk("a"), HANG], attempt_s=10, total_s=None)
    with deadline(0.5):
        stream = p.stream(REQ)
        first = await anext(stream)
    assert current() is None and first.choices[0].delta.role == "assistant"
    t0 = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        async for _ in stream:
            pass
    assert time.monotonic() - t0 < 1.0


async def test_backoff_longer_than_the_time_left_moves_to_the_fallback() -> None:
    busy = UpstreamHTTPError("rate limited", status=429, retry_after=30)
    policy = RetryPolicy(max_retries=2, base_delay_s=0.01, max_delay_s=60, attempt_timeout_s=5)
    m1 = RetryingProvider(FunctionProvider(entry("m1"), [[busy]]), policy)
    m2 = RetryingProvider(FunctionProvider(entry("m2"), [GOOD]), policy)
    t0 = time.monotonic()
    resp = await FallbackProvider([m1, m2], total_timeout_s=2).complete(REQ)
    assert resp.model == "m2" and time.monotonic() - t0 < 1.0


async def test_no_fallback_is_tried_after_the_deadline() -> None:
    m2 = FunctionProvider(entry("m2"), [GOOD])
    policy = RetryPolicy(max_retries=0, attempt_timeout_s=10)
    m1 = RetryingProvider(FunctionProvider(entry("m1"), [[HANG]]), policy)
    with pytest.raises(DeadlineExceeded):
        await FallbackProvider([m1, m2], total_timeout_s=0.3).complete(REQ)
    assert m2.calls == 0


async def test_nested_deadlines_never_lengthen() -> None:
    with deadline(0.5) as outer:
        with deadline(100) as inner:
            assert inner is outer
            r = remaining()
            assert r is not None and r <= 0.5
        with deadline(None) as same:
            assert same is outer
    assert remaining() is None


async def test_deadline_is_per_task() -> None:
    async def probe() -> float | None:
        return remaining()

    with deadline(5):
        inside = await asyncio.create_task(probe())
    outside = await asyncio.create_task(probe())
    assert inside is not None and outside is None


def test_request_timeout_is_capped() -> None:
    assert request_timeout(None, 180, 600) == 180
    assert request_timeout(30, 180, 600) == 30
    assert request_timeout(3600, 180, 600) == 600


def test_deadline_bound() -> None:
    d = Deadline.after(1.0)
    assert 0.9 < d.bound(5) <= 1.0 and d.bound(0.1) == 0.1
    assert Deadline.after(-1).expired and Deadline.after(-1).bound(5) == 0.0


async def test_a_slow_but_steady_stream_is_cut_at_the_deadline() -> None:
    drip: list[Step] = [chunk(role="assistant")] + [s for _ in range(50) for s in (chunk("x"), 0.05)]
    p = chain(drip, attempt_s=10, total_s=0.6)
    got: list[ChatChunk] = []
    with pytest.raises(DeadlineExceeded):
        async for c in p.stream(REQ):
            got.append(c)
    assert 5 <= len(got) < 20
