"""The loop with scripted models (FakeOpenAI over loopback): parallel calls, dependent calls, tool
errors observed and recovered from, limits."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from tests.agents.conftest import (
    ACME,
    MODEL,
    Shop,
    Stack,
    open_stack,
    run,
    sent_messages,
    settings_for,
    types,
)

from nexus.agents import ModelCallFailed, ModelReply, ModelTurn
from nexus.guard.types import GuardBlocked
from nexus.testing import FakeOpenAI, Reply, ToolCall


async def test_two_parallel_calls_then_a_dependent_third(stack: Stack, fake: FakeOpenAI, shop: Shop) -> None:
    shop.barrier = asyncio.Barrier(2)  # price and stock each wait for the other: sequential would time out
    fake.push(
        Reply(
            tool_calls=[
                ToolCall("price", {"item": "lamp"}, id="c1"),
                ToolCall("stock", {"item": "lamp"}, id="c2"),
            ]
        ),
        Reply(tool_calls=[ToolCall("order", {"item": "lamp", "quantity": 2}, id="c3")]),
        Reply(text="Ordered 2 lamps for 25.0."),
    )
    events = await run(stack, "shopper", "Buy two lamps if they are in stock")
    assert types(events) == [
        "started",
        "step",
        "tool_call",
        "tool_call",
        "tool_result",
        "tool_result",
        "step",
        "tool_call",
        "tool_result",
        "step",
        "final",
        "done",
    ]
    results = [e.data.result for e in events if e.data.type == "tool_result"]
    assert [r.is_error for r in results] == [False, False, False]
    assert [c[0] for c in shop.calls] == ["price", "stock", "order"] or [c[0] for c in shop.calls] == [
        "stock",
        "price",
        "order",
    ]
    # The second model call saw both results, each answering its own call id.
    second = sent_messages(fake, 1)
    assert second[0]["role"] == "system" and second[1] == {
        "role": "user",
        "content": "Buy two lamps if they are in stock",
    }
    assert [c["id"] for c in second[2]["tool_calls"]] == ["c1", "c2"]
    tool_msgs = {m["tool_call_id"]: orjson.loads(m["content"]) for m in second[3:]}
    assert tool_msgs == {"c1": {"item": "lamp", "price": 12.5}, "c2": {"item": "lamp", "in_stock": 4}}
    # The third call depended on them and ran after.
    assert sent_messages(fake, 2)[-1] == {
        "role": "tool",
        "tool_call_id": "c3",
        "content": "ordered 2 x lamp for 25.0",
    }
    assert fake.requests[0].json["tools"][0]["function"]["name"] == "price"
    final = events[-2].data
    assert final.type == "final" and final.answer == "Ordered 2 lamps for 25.0." and final.steps == 3
    assert final.tool_calls == 3 and final.prompt_tokens > 0 and final.cost_usd > 0
    assert events[-1].data.type == "done" and events[-1].data.status == "completed"
    assert [e.seq for e in events] == list(range(1, len(events) + 1))

    view = await stack.agents.service.get_run(ACME, events[0].run_id)
    assert (view.status, view.steps, view.tool_calls, view.answer) == (
        "completed",
        3,
        3,
        "Ordered 2 lamps for 25.0.",
    )
    assert view.prompt_tokens == final.prompt_tokens and abs(view.cost_usd - final.cost_usd) < 1e-12
    assert [e["type"] for e in view.events or []] == types(events)


async def test_a_tool_error_is_observed_and_recovered_from(
    stack: Stack, fake: FakeOpenAI, shop: Shop
) -> None:
    fake.push(
        Reply(tool_calls=[ToolCall("order", {"item": "lamp", "quantity": 9}, id="c1")]),
        Reply(tool_calls=[ToolCall("order", {"item": "lamp", "quantity": 4}, id="c2")]),
        Reply(text="Only 4 were available, so I ordered 4."),
    )
    events = await run(stack, "shopper", "Order 9 lamps")
    results = [e.data.result for e in events if e.data.type == "tool_result"]
    assert [(r.is_error, r.content) for r in results] == [
        (True, "error: only 4 in stock"),
        (False, "ordered 4 x lamp for 50.0"),
    ]
    # The model read the error before it tried again.
    assert sent_messages(fake, 1)[-1] == {
        "role": "tool",
        "tool_call_id": "c1",
        "content": "error: only 4 in stock",
    }
    assert events[-1].data.status == "completed"  # type: ignore[union-attr]


async def test_unknown_tools_and_bad_arguments_come_back_as_errors(stack: Stack, fake: FakeOpenAI) -> None:
    fake.push(
        Reply(
            tool_calls=[
                ToolCall("teleport", {"to": "mars"}, id="c1"),
                ToolCall("order", {"item": "lamp", "quantity": "many"}, id="c2"),
                ToolCall("calculator", {"expression": "__import__('os').system('id')"}, id="c3"),
            ]
        ),
        Reply(text="Sorry."),
    )
    events = await run(stack, "shopper", "do odd things")
    results = {e.data.result.call_id: e.data.result for e in events if e.data.type == "tool_result"}
    assert results["c1"].is_error and "no tool named 'teleport'" in results["c1"].content
    assert results["c2"].is_error and "quantity: 'many' is not of type 'integer'" in results["c2"].content
    assert results["c3"].is_error and "unsupported syntax" in results["c3"].content


async def test_the_step_limit_stops_a_loop(stack: Stack, fake: FakeOpenAI) -> None:
    fake.default = Reply(tool_calls=[ToolCall("calculator", {"expression": "1+1"}, id="again")])
    events = await run(stack, "looper", "loop forever")
    assert len(fake.requests) == 3  # max_steps model calls, then stop
    assert types(events)[-2:] == ["error", "done"]
    assert events[-2].data.code == "step_limit"  # type: ignore[union-attr]
    assert events[-1].data.status == "limited"  # type: ignore[union-attr]
    # The calls of the last step were not run: nothing would read their results.
    assert sum(e.type == "tool_result" for e in events) == 2
    view = await stack.agents.service.get_run(ACME, events[0].run_id, events=False)
    assert (view.status, view.steps) == ("limited", 3) and view.error and view.error.startswith("step_limit")


async def test_a_cost_limit_stops_the_run(stack: Stack, fake: FakeOpenAI) -> None:
    from nexus.agents import AgentEntry

    spec = AgentEntry(name="thrifty", model=MODEL, tools=["calculator"], limits={"max_cost_usd": 0.00001})  # type: ignore[arg-type]
    await stack.agents.service.create_agent(ACME, spec)
    fake.default = Reply(tool_calls=[ToolCall("calculator", {"expression": "2*3"}, id="c")], usage=(500, 10))
    events = await run(stack, "thrifty", "spend")
    assert len(fake.requests) == 1
    assert events[-2].data.code == "cost_limit" and events[-1].data.status == "limited"  # type: ignore[union-attr]


async def test_a_model_failure_fails_the_run_with_a_clear_error(stack: Stack, fake: FakeOpenAI) -> None:
    fake.push(Reply.error(400, "context too long"))
    events = await run(stack, "shopper", "hello")
    assert types(events) == ["started", "error", "done"]
    assert events[1].data.code == "model_error" and events[-1].data.status == "failed"  # type: ignore[union-attr]
    assert MODEL in fake.requests[0].json["model"]


@pytest.mark.parametrize(
    ("raised", "code", "shown"),
    [
        (
            ModelCallFailed("budget_exceeded", "the monthly budget is spent"),
            "budget_exceeded",
            "budget is spent",
        ),
        (GuardBlocked(["prompt_injection"]), "guard_blocked", "prompt_injection"),
        (RuntimeError("db password hunter2"), "internal", "failed unexpectedly"),
    ],
)
async def test_a_swapped_model_caller_s_refusals_end_the_run_clearly(
    tmp_path: Path, fake: FakeOpenAI, shop: Shop, raised: Exception, code: str, shown: str
) -> None:
    async def refusing(turn: ModelTurn) -> ModelReply:
        raise raised

    stack = await open_stack(settings_for(tmp_path, fake), shop, model=refusing)
    try:
        events = await run(stack, "shopper", "hello")
        error = events[-2].data
        assert error.type == "error" and error.code == code and shown in error.message
        assert "hunter2" not in error.message and events[-1].data.status == "failed"  # type: ignore[union-attr]
    finally:
        await stack.aclose()
