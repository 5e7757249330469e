"""Streams are retried and fall back until the first content chunk, never after it."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from nexus.providers.errors import AllProvidersFailed, UpstreamConnectionError, UpstreamHTTPError
from nexus.providers.types import ChatChunk, ChatMessage, ChatRequest
from nexus.providers.wrappers import FallbackProvider, RetryingProvider, RetryPolicy, has_content
from nexus.testing.function import FunctionProvider, Step, chunk, entry

POLICY = RetryPolicy(max_retries=2, base_delay_s=0.001, max_delay_s=0.01, attempt_timeout_s=5)
REQ = ChatRequest(model="m1", messages=[ChatMessage(role="user", content="hello there")])
GOOD: list[Step] = [
    chunk(role="assistant", content=""),
    chunk("Hello "),
    chunk("world"),
    chunk(finish="stop"),
]


def reset() -> UpstreamConnectionError:
    return UpstreamConnectionError("connection reset", provider="p", model="m")


def retrying(model_id: str, scripts: Sequence[Sequence[Step]]) -> tuple[RetryingProvider, FunctionProvider]:
    inner = FunctionProvider(entry(model_id), scripts)
    return RetryingProvider(inner, POLICY), inner


async def collect(p: RetryingProvider | FallbackProvider) -> list[ChatChunk]:
    return [c async for c in p.stream(REQ)]


def text(chunks: list[ChatChunk]) -> str:
    return "".join(c.text for c in chunks)


def roles(chunks: list[ChatChunk]) -> int:
    return sum(1 for c in chunks for ch in c.choices if ch.delta.role)


def test_what_counts_as_content() -> None:
    assert not has_content(chunk(role="assistant", content=""))
    assert not has_content(chunk(content=""))
    assert not has_content(chunk(usage=(3, 4)))
    assert not has_content(chunk(finish="stop"))
    assert has_content(chunk("x"))
    assert has_content(chunk(tool_calls=[{"index": 0, "function": {"name": "f", "arguments": ""}}]))
    refusal = chunk()
    refusal.choices[0].delta.refusal = "no"  # type: ignore[attr-defined]  # an upstream's extra field
    assert has_content(refusal)


async def test_reset_after_role_chunk_is_retried_without_duplicates() -> None:
    p, inner = retrying("m1", [[chunk(role="assistant", content=""), reset()], GOOD])
    chunks = await collect(p)
    assert inner.calls == 2
    assert text(chunks) == "Hello world" and roles(chunks) == 1


async def test_empty_deltas_and_usage_chunks_do_not_count() -> None:
    first: list[Step] = [chunk(role="assistant"), chunk(content=""), chunk(usage=(5, 0)), reset()]
    p, inner = retrying("m1", [first, GOOD])
    chunks = await collect(p)
    assert inner.calls == 2 and text(chunks) == "Hello world"
    assert all(c.usage is None for c in chunks)  # the failed attempt's held chunks were dropped


async def test_failure_after_content_propagates_without_retry() -> None:
    p, inner = retrying("m1", [[chunk(role="assistant"), chunk("Hel"), reset()], GOOD])
    got: list[ChatChunk] = []
    with pytest.raises(UpstreamConnectionError):
        async for c in p.stream(REQ):
            got.append(c)
    assert inner.calls == 1 and text(got) == "Hel"


async def test_a_tool_call_delta_is_content() -> None:
    call = chunk(tool_calls=[{"index": 0, "id": "c1", "function": {"name": "lookup", "arguments": ""}}])
    p, inner = retrying("m1", [[chunk(role="assistant"), call, reset()], GOOD])
    with pytest.raises(UpstreamConnectionError):
        await collect(p)
    assert inner.calls == 1


async def test_held_chunks_are_released_when_a_stream_ends_without_content() -> None:
    p, inner = retrying("m1", [[chunk(role="assistant"), chunk(finish="stop"), chunk(usage=(4, 0))]])
    chunks = await collect(p)
    assert len(chunks) == 3 and inner.calls == 1


async def test_retries_are_bounded() -> None:
    p, inner = retrying("m1", [[chunk(role="assistant"), reset()]])
    with pytest.raises(UpstreamConnectionError):
        await collect(p)
    assert inner.calls == POLICY.max_retries + 1


async def test_fallback_after_reset_past_the_role_chunk() -> None:
    m1, i1 = retrying("m1", [[chunk(role="assistant", content=""), reset()]])
    m2, i2 = retrying("m2", [GOOD])
    hops: list[tuple[str, str]] = []
    chain = FallbackProvider([m1, m2], on_fallback=lambda a, b, e: hops.append((a, b)))
    chunks = await collect(chain)
    assert text(chunks) == "Hello world" and roles(chunks) == 1
    assert {c.model for c in chunks} == {"m2"} and hops == [("m1", "m2")]
    assert i1.calls == POLICY.max_retries + 1 and i2.calls == 1


async def test_fallback_buffers_for_providers_that_do_not_retry() -> None:
    # No RetryingProvider in between: the chain itself must hold the role chunk back.
    m1 = FunctionProvider(entry("m1"), [[chunk(role="assistant"), chunk(usage=(3, 0)), reset()]])
    m2 = FunctionProvider(entry("m2"), [GOOD])
    chunks = await collect(FallbackProvider([m1, m2]))
    assert text(chunks) == "Hello world" and roles(chunks) == 1 and {c.model for c in chunks} == {"m2"}


async def test_fallback_does_not_switch_after_content() -> None:
    m1 = FunctionProvider(entry("m1"), [[chunk(role="assistant"), chunk("Hi"), reset()]])
    m2 = FunctionProvider(entry("m2"), [GOOD])
    with pytest.raises(UpstreamConnectionError):
        await collect(FallbackProvider([m1, m2]))
    assert m2.calls == 0


async def test_every_model_failing_before_content_is_all_failed() -> None:
    m1 = FunctionProvider(entry("m1"), [[chunk(role="assistant"), reset()]])
    m2 = FunctionProvider(entry("m2"), [[UpstreamHTTPError("boom", status=500)]])
    with pytest.raises(AllProvidersFailed) as exc:
        await collect(FallbackProvider([m1, m2]))
    assert len(exc.value.errors) == 2


async def test_closing_the_stream_closes_the_upstream() -> None:
    closed: list[bool] = []

    class Tracked(FunctionProvider):
        async def stream(self, request: ChatRequest):  # type: ignore[no-untyped-def,override]
            try:
                async for c in super().stream(request):
                    yield c
            finally:
                closed.append(True)

    inner = Tracked(entry("m1"), [GOOD])
    stream = FallbackProvider([RetryingProvider(inner, POLICY)]).stream(REQ)
    first = await anext(stream)
    assert first.choices[0].delta.role == "assistant"
    await stream.aclose()  # type: ignore[attr-defined]
    assert closed == [True]
