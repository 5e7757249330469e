"""Upstream faults over real loopback HTTP: resets after the role chunk, hangs, 5xx, 429 with Retry-After."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from nexus.providers.deadline import DeadlineExceeded, deadline
from nexus.providers.errors import ProviderError
from nexus.providers.hub import ModelHub
from nexus.providers.metering import CallRecord
from nexus.providers.types import ChatMessage, ChatRequest
from nexus.testing import FakeOpenAI, Reply, share

from .conftest import KEY, make_hub

PROMPT = "Explain the fault tests in a few words"
EXPECTED = "Echo: " + PROMPT


def request(stream: bool = True) -> ChatRequest:
    return ChatRequest(model="m1", messages=[ChatMessage(role="user", content=PROMPT)], stream=stream)


async def read_stream(hub: ModelHub) -> tuple[str, int, str | None]:
    """(text, role chunks, finish reason) of one streamed answer; raises what the stream raises."""
    text, roles, finish = "", 0, None
    async for chunk in hub.stream("m1", request()):
        for choice in chunk.choices:
            text += choice.delta.content or ""
            roles += 1 if choice.delta.role else 0
            finish = choice.finish_reason or finish
    return text, roles, finish


async def test_no_broken_stream_while_a_healthy_fallback_exists(
    hub: ModelHub, m1: FakeOpenAI, m2: FakeOpenAI
) -> None:
    # m1 resets a fifth of its streams right after the (empty) role chunk; m2 is healthy.
    m1.policy = share(Reply(reset_after=1), 0.2, seed=11)
    total, concurrency = 320, 16
    sem = asyncio.Semaphore(concurrency)
    broken: list[str] = []

    async def one() -> None:
        async with sem:
            try:
                text, roles, finish = await read_stream(hub)
            except ProviderError as exc:
                broken.append(f"error: {exc}")
                return
            if (text, roles, finish) != (EXPECTED, 1, "stop"):
                broken.append(f"bad stream: {text!r} roles={roles} finish={finish}")

    await asyncio.gather(*(one() for _ in range(total)))
    assert broken == []
    resets = len(m1.requests) - total + len(m2.requests)
    assert resets > 30, "the fault was not exercised"  # ~20 % of ~330 attempts
    assert len(m2.requests) > 0, "no stream needed the fallback"


async def test_hung_chain_ends_at_the_total_deadline(
    m1: FakeOpenAI, m2: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # attempt 2 s, total 3 s: before the deadline existed this took 13.4 s through the gateway.
    monkeypatch.setenv("NEXUS_TEST_KEY", KEY)
    hub = make_hub(m1, m2, tmp_path, attempt_timeout_s=2.0, total_timeout_s=3.0, max_retries=2)
    m1.policy = m2.policy = lambda req: Reply(hang_after=1)  # the role chunk, then silence
    try:
        t0 = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            await read_stream(hub)
        took = time.monotonic() - t0
        m1.policy = m2.policy = lambda req: Reply(delay=60)  # nothing at all, not even headers
        t1 = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            await hub.complete("m1", request(stream=False))
        took_complete = time.monotonic() - t1
    finally:
        await hub.aclose()
    print(
        f"\nhung chain, attempt 2 s / total 3 s: stream ended after {took:.2f} s, call after {took_complete:.2f} s"
    )
    assert abs(took - 3.0) <= 1.0, took
    assert abs(took_complete - 3.0) <= 1.0, took_complete


async def test_a_request_timeout_shortens_the_configured_total(
    hub: ModelHub, m1: FakeOpenAI, m2: FakeOpenAI
) -> None:
    m1.policy = m2.policy = lambda req: Reply(delay=60)
    t0 = time.monotonic()
    with deadline(1.0), pytest.raises(DeadlineExceeded):
        await hub.complete("m1", request(stream=False))
    assert abs(time.monotonic() - t0 - 1.0) <= 0.5


async def test_5xx_and_429_with_retry_after_are_retried(
    hub: ModelHub, m1: FakeOpenAI, m2: FakeOpenAI
) -> None:
    m1.push(Reply.error(503), Reply.error(429, retry_after=0.3))
    # max_retries=1 in this hub: 503 then 429 exhausts m1, so the answer comes from m2 ...
    t0 = time.monotonic()
    text, _, _ = await read_stream(hub)
    assert text == EXPECTED and len(m1.requests) == 2 and len(m2.requests) == 1
    # ... and a single 429 is waited out as the upstream asked, then m1 answers.
    m1.clear()
    m2.clear()
    m1.push(Reply.error(429, retry_after=0.3))
    t0 = time.monotonic()
    text, _, _ = await read_stream(hub)
    assert text == EXPECTED and len(m1.requests) == 2 and not m2.requests
    assert time.monotonic() - t0 >= 0.3


async def test_cut_stream_after_content_ends_in_an_error_not_a_duplicate(
    hub: ModelHub, m1: FakeOpenAI, m2: FakeOpenAI
) -> None:
    m1.push(Reply(text="one two three four", reset_after=3))
    seen = ""
    with pytest.raises(ProviderError):
        async for chunk in hub.stream("m1", request()):
            seen += chunk.text
    assert seen == "one two " and not m2.requests


async def test_client_disconnect_is_metered_as_cancelled_with_tokens(hub: ModelHub, m1: FakeOpenAI) -> None:
    records: list[CallRecord] = []
    hub.meter.subscribe(records.append)
    m1.push(Reply(text=" ".join(f"word{i}" for i in range(200)), chunk_delay=0.01))
    stream = hub.stream("m1", request())
    seen = ""
    async for chunk in stream:
        seen += chunk.text
        if seen.count(" ") >= 20:
            break
    await stream.aclose()  # type: ignore[attr-defined]
    (r,) = records
    assert r.outcome == "cancelled" and r.estimated and not r.success
    assert r.completion_tokens > 0 and r.prompt_tokens > 0 and r.cost_usd > 0


async def test_upstream_without_usage_is_estimated(hub: ModelHub, m1: FakeOpenAI) -> None:
    records: list[CallRecord] = []
    hub.meter.subscribe(records.append)
    head = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "fake-model"}
    events = [
        {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
        {**head, "choices": [{"index": 0, "delta": {"content": "no usage reported here"}}]},
        {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        "[DONE]",
    ]
    m1.push(Reply(events=events))
    text, _, _ = await read_stream(hub)
    (r,) = records
    assert text == "no usage reported here"
    assert r.outcome == "ok" and r.estimated and r.completion_tokens > 0 and r.prompt_tokens > 0
