"""CallRecords tell how a call ended and what it cost, also for cut and cancelled streams."""

from __future__ import annotations

import asyncio

import pytest

from nexus.providers.errors import UpstreamConnectionError
from nexus.providers.metering import CallRecord, Meter, MeteredProvider, call_context, usage_of
from nexus.providers.tokens import estimate_tokens
from nexus.providers.types import ChatMessage, ChatRequest, Usage
from nexus.providers.wrappers import FallbackProvider, RetryingProvider, RetryPolicy
from nexus.testing.function import HANG, FunctionProvider, Step, chunk, entry

REQ = ChatRequest(model="m1", messages=[ChatMessage(role="user", content="Tell me a long story please")])
WORDS = ["Once ", "upon ", "a ", "time ", "there ", "lived ", "a ", "dragon."]


def metered(*scripts: list[Step]) -> tuple[MeteredProvider, list[CallRecord]]:
    meter = Meter()
    records: list[CallRecord] = []
    meter.subscribe(records.append)
    return MeteredProvider(FunctionProvider(entry("m1"), list(scripts)), meter), records


def story(*, usage: bool) -> list[Step]:
    steps: list[Step] = [chunk(role="assistant", content="")]
    steps += [chunk(w) for w in WORDS]
    steps.append(chunk(finish="stop"))
    if usage:
        steps.append(chunk(usage=(11, 22)))
    return steps


async def test_complete_stream_with_upstream_usage_is_exact() -> None:
    p, records = metered(story(usage=True))
    token = call_context.set(
        {"role": "worker", "tenant": "t1", "request_id": "r1", "work_order_id": "wo1", "key_id": "k1"}
    )
    try:
        [c async for c in p.stream(REQ)]
    finally:
        call_context.reset(token)
    (r,) = records
    assert (r.outcome, r.success, r.estimated) == ("ok", True, False)
    assert (r.prompt_tokens, r.completion_tokens) == (11, 22)
    assert r.cost_usd == pytest.approx((11 * 1 + 22 * 2) / 1e6)
    assert (r.tenant, r.request_id, r.work_order_id, r.key_id) == ("t1", "r1", "wo1", "k1")


async def test_missing_usage_is_estimated_and_marked() -> None:
    p, records = metered(story(usage=False))
    [c async for c in p.stream(REQ)]
    (r,) = records
    assert r.outcome == "ok" and r.estimated
    assert r.completion_tokens == estimate_tokens("".join(WORDS)) > 0
    assert r.prompt_tokens > 0 and r.cost_usd > 0


async def test_client_disconnect_is_cancelled_with_the_tokens_produced() -> None:
    p, records = metered(story(usage=True))
    stream = p.stream(REQ)
    seen = ""
    async for c in stream:
        seen += c.text
        if len(seen) > 10:
            break
    await stream.aclose()  # type: ignore[attr-defined]  # what a door does when the client goes away
    (r,) = records
    assert (r.outcome, r.success, r.estimated) == ("cancelled", False, True)
    assert r.completion_tokens == estimate_tokens(seen) > 0
    assert r.prompt_tokens > 0 and r.cost_usd > 0
    assert r.error and "cancelled" in r.error


async def test_task_cancelled_while_waiting_is_cancelled_with_tokens() -> None:
    p, records = metered([chunk(role="assistant"), chunk("Partial answer"), HANG])

    async def consume() -> None:
        async for _ in p.stream(REQ):
            pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (r,) = records
    assert r.outcome == "cancelled" and r.completion_tokens == estimate_tokens("Partial answer")


async def test_error_after_content_is_an_error_with_tokens() -> None:
    p, records = metered([chunk(role="assistant"), chunk("Half of it"), UpstreamConnectionError("reset")])
    with pytest.raises(UpstreamConnectionError):
        [c async for c in p.stream(REQ)]
    (r,) = records
    assert r.outcome == "error" and r.estimated and r.completion_tokens > 0
    assert r.error and r.error.startswith("upstream_connection_error")


async def test_closing_after_the_finish_chunk_is_a_complete_call() -> None:
    p, records = metered(story(usage=True))
    stream = p.stream(REQ)
    async for c in stream:
        if c.choices and c.choices[0].finish_reason:
            break
    await stream.aclose()  # type: ignore[attr-defined]
    (r,) = records
    assert r.outcome == "ok" and r.estimated and r.completion_tokens > 0


async def test_tool_call_arguments_count_as_produced_tokens() -> None:
    call = {"index": 0, "id": "c", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    p, records = metered([chunk(role="assistant"), chunk(tool_calls=[call]), chunk(finish="tool_calls")])
    [c async for c in p.stream(REQ)]
    assert records[0].completion_tokens > 0 and records[0].estimated


async def test_failed_call_before_anything_costs_nothing() -> None:
    p, records = metered([UpstreamConnectionError("refused")])
    with pytest.raises(UpstreamConnectionError):
        await p.complete(REQ)
    (r,) = records
    assert (r.outcome, r.prompt_tokens, r.completion_tokens, r.cost_usd) == ("error", 0, 0, 0.0)


async def test_complete_without_usage_is_estimated() -> None:
    p, records = metered([chunk("Some answer text")])
    await p.complete(REQ)
    assert records[0].estimated and records[0].completion_tokens == estimate_tokens("Some answer text")


async def test_retried_stream_is_one_record_counting_only_delivered_text() -> None:
    meter = Meter()
    records: list[CallRecord] = []
    meter.subscribe(records.append)
    inner = FunctionProvider(
        entry("m1"), [[chunk(role="assistant"), UpstreamConnectionError("rst")], story(usage=True)]
    )
    policy = RetryPolicy(base_delay_s=0.001, max_delay_s=0.001)
    p = FallbackProvider([MeteredProvider(RetryingProvider(inner, policy), meter)])
    [c async for c in p.stream(REQ)]
    assert len(records) == 1 and records[0].outcome == "ok" and records[0].completion_tokens == 22


def test_usage_of_keeps_a_larger_upstream_count() -> None:
    u, est = usage_of(Usage.of(40, 30), "two words", REQ, complete=False)
    assert (u.prompt_tokens, u.completion_tokens, est) == (40, 30, False)
    u, est = usage_of(None, "", REQ, complete=False)
    assert (u.total_tokens, est) == (0, False)


async def test_a_stream_cut_by_the_deadline_is_an_error_not_a_cancel() -> None:
    from nexus.providers.deadline import DeadlineExceeded

    meter = Meter()
    records: list[CallRecord] = []
    meter.subscribe(records.append)
    inner = FunctionProvider(entry("m1"), [[chunk(role="assistant"), chunk("Some text"), HANG]])
    p = FallbackProvider(
        [MeteredProvider(RetryingProvider(inner, RetryPolicy()), meter)], total_timeout_s=0.3
    )
    with pytest.raises(DeadlineExceeded):
        [c async for c in p.stream(REQ)]
    (r,) = records
    assert r.outcome == "error" and r.error and r.error.startswith("upstream_timeout")
    assert r.completion_tokens == estimate_tokens("Some text")
