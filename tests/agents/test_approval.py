"""A tool marked `requires_approval` pauses the run (a LangGraph interrupt, checkpointed) until a
person approves or denies; the pause survives a restart."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.agents.conftest import ACME, Shop, Stack, open_stack, run, sent_messages, settings_for, types

from nexus.agents import ApprovalRequest, NotAwaitingApproval, RunRequest, SessionBusy
from nexus.testing import FakeOpenAI, Reply, ToolCall


async def _resume(stack: Stack, run_id: str, decision: ApprovalRequest) -> list:  # type: ignore[type-arg]
    handle = await stack.agents.service.resume_run(ACME, run_id, decision)
    return [e async for e in handle.events]


async def test_an_approval_pause_is_resumed(stack: Stack, fake: FakeOpenAI, shop: Shop) -> None:
    fake.push(
        Reply(
            tool_calls=[
                ToolCall("price", {"item": "kettle"}, id="p1"),
                ToolCall("refund", {"item": "kettle"}, id="r1"),
            ]
        ),
        Reply(text="Refunded the kettle."),
    )
    paused = await run(stack, "clerk", "Refund my kettle", session="hitl")
    assert types(paused) == ["started", "step", "tool_call", "tool_call", "approval", "done"]
    assert [e.data.requires_approval for e in paused if e.data.type == "tool_call"] == [False, True]  # type: ignore[union-attr]
    assert [c.id for c in paused[-2].data.calls] == ["r1"]  # type: ignore[union-attr]
    assert paused[-1].data.status == "paused"  # type: ignore[union-attr]
    assert shop.calls == []  # nothing ran yet, not even the call that needs no approval
    run_id = paused[0].run_id
    view = await stack.agents.service.get_run(ACME, run_id, events=False)
    assert view.status == "paused" and [c.name for c in view.pending or []] == ["refund"]

    with pytest.raises(SessionBusy):
        await stack.agents.service.start_run(
            ACME, "clerk", RunRequest(task="another thing", session_id="hitl")
        )

    resumed = await _resume(stack, run_id, ApprovalRequest(approve=True))
    assert types(resumed) == ["started", "tool_result", "tool_result", "step", "final", "done"]
    assert resumed[0].data.resumed  # type: ignore[union-attr]
    assert sorted(c[0] for c in shop.calls) == ["price", "refund"]
    assert [e.seq for e in resumed] == list(range(len(paused) + 1, len(paused) + len(resumed) + 1))
    view = await stack.agents.service.get_run(ACME, run_id)
    assert (view.status, view.answer, view.pending) == ("completed", "Refunded the kettle.", None)
    assert len(view.events or []) == len(paused) + len(resumed)
    with pytest.raises(NotAwaitingApproval):
        await _resume(stack, run_id, ApprovalRequest())


async def test_a_denied_call_is_not_run_and_the_model_is_told(
    stack: Stack, fake: FakeOpenAI, shop: Shop
) -> None:
    fake.push(
        Reply(
            tool_calls=[
                ToolCall("refund", {"item": "kettle"}, id="r1"),
                ToolCall("refund", {"item": "mug"}, id="r2"),
            ]
        ),
        Reply(text="I refunded the mug only."),
    )
    paused = await run(stack, "clerk", "Refund both", session="deny")
    resumed = await _resume(stack, paused[0].run_id, ApprovalRequest(calls={"r2": True}))
    results = {e.data.result.call_id: e.data.result for e in resumed if e.data.type == "tool_result"}  # type: ignore[union-attr]
    assert results["r1"].is_error and "did not approve" in results["r1"].content
    assert not results["r2"].is_error
    assert shop.calls == [("refund", {"item": "mug"}, "acme")]
    assert any("did not approve" in str(m.get("content")) for m in sent_messages(fake))


async def test_a_pause_survives_a_restart(
    tmp_path: Path, fake: FakeOpenAI, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEXUS_TEST_KEY", "k")
    settings = settings_for(tmp_path, fake)
    first = await open_stack(settings, shop)
    try:
        fake.push(Reply(tool_calls=[ToolCall("refund", {"item": "kettle"}, id="r1")]))
        paused = await run(first, "clerk", "Refund my kettle", session="durable")
        assert paused[-1].data.status == "paused"  # type: ignore[union-attr]
    finally:
        await first.aclose()
    second = await open_stack(settings, shop)
    try:
        fake.push(Reply(text="Done: refunded."))
        resumed = await _resume(second, paused[0].run_id, ApprovalRequest())
        assert types(resumed)[-2:] == ["final", "done"]
        assert shop.calls == [("refund", {"item": "kettle"}, "acme")]
    finally:
        await second.aclose()
