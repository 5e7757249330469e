"""Memory per session: across turns, across a restart (a new stack on the same checkpoint database),
windowed, and off for agents that ask for none. SQLite and PostgreSQL checkpointers."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.agents.conftest import ACME, Shop, open_stack, run, sent_messages, settings_for

from nexus.agents import AgentEntry
from nexus.testing import FakeOpenAI, Reply, ToolCall


async def test_memory_across_turns_and_a_restart(
    tmp_path: Path, fake: FakeOpenAI, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEXUS_TEST_KEY", "k")
    settings = settings_for(tmp_path, fake)
    stack = await open_stack(settings, shop)
    try:
        fake.push(
            Reply(tool_calls=[ToolCall("calculator", {"expression": "6*7"}, id="c1")]),
            Reply(text="6 × 7 = 42. Nice to meet you, Ada."),
        )
        await run(stack, "shopper", "I am Ada. What is 6*7?", session="s-1")
        fake.push(Reply(text="You are Ada."))
        await run(stack, "shopper", "Who am I?", session="s-1")
        second_turn = sent_messages(fake)
        assert [m["role"] for m in second_turn] == [
            "system",
            "user",
            "assistant",
            "tool",
            "assistant",
            "user",
        ]
        assert second_turn[1]["content"] == "I am Ada. What is 6*7?"
    finally:
        await stack.aclose()

    # A new process would build exactly this: new hub, store, checkpointer connection and runtime.
    restarted = await open_stack(settings, shop)
    try:
        fake.push(Reply(text="Still Ada, and the answer was 42."))
        await run(restarted, "shopper", "Remind me?", session="s-1")
        third_turn = sent_messages(fake)
        assert [m["content"] for m in third_turn if m["role"] == "user"] == [
            "I am Ada. What is 6*7?",
            "Who am I?",
            "Remind me?",
        ]
        memory = await restarted.agents.service.memory(ACME, "shopper", "s-1")
        assert memory[-1] == {"role": "assistant", "content": "Still Ada, and the answer was 42."}
        # Another session of the same agent starts empty.
        fake.push(Reply(text="Hello."))
        await run(restarted, "shopper", "Hi", session="s-2")
        assert [m["role"] for m in sent_messages(fake)] == ["system", "user"]
    finally:
        await restarted.aclose()


async def test_memory_on_postgres_survives_a_restart(
    tmp_path: Path,
    fake: FakeOpenAI,
    shop: Shop,
    monkeypatch: pytest.MonkeyPatch,
    postgres_url: str,
    unique: str,
) -> None:
    from nexus.pipeline.checkpoint import open_checkpointer

    monkeypatch.setenv("NEXUS_TEST_KEY", "k")
    settings = settings_for(tmp_path, fake)
    pg = settings.model_copy(update={"database_url": postgres_url})
    session = f"pg-{unique}"
    for turn, reply in enumerate(["First.", "Second."]):
        saver, close_saver = await open_checkpointer(pg)
        stack = await open_stack(settings, shop, checkpointer=saver)
        try:
            fake.push(Reply(text=reply))
            await run(stack, "shopper", f"turn {turn}", session=session)
        finally:
            await stack.aclose()
            await close_saver()
    assert [m["content"] for m in sent_messages(fake)[1:]] == ["turn 0", "First.", "turn 1"]


async def test_memory_none_and_the_turn_window(stack, fake: FakeOpenAI) -> None:  # type: ignore[no-untyped-def]
    fake.push(Reply(text="one"), Reply(text="two"))
    await run(stack, "forgetful", "first", session="f")
    await run(stack, "forgetful", "second", session="f")
    assert [m["role"] for m in sent_messages(fake)] == ["system", "user"]
    assert sent_messages(fake)[1]["content"] == "second"

    spec = AgentEntry(name="brief", model="agent-model", memory={"max_turns": 2})  # type: ignore[arg-type]
    await stack.agents.service.create_agent(ACME, spec)
    for i in range(4):
        fake.push(Reply(text=f"answer {i}"))
        await run(stack, "brief", f"question {i}", session="b")
    assert [m["content"] for m in sent_messages(fake)[1:]] == ["question 2", "answer 2", "question 3"]


async def test_history_supplied_by_the_caller_comes_before_the_task(stack, fake: FakeOpenAI) -> None:  # type: ignore[no-untyped-def]
    from nexus.agents import RunRequest

    history = [{"role": "user", "content": "My name is Bo."}, {"role": "assistant", "content": "Hi Bo."}]
    fake.push(Reply(text="You are Bo."))
    request = RunRequest.model_validate({"task": "Who am I?", "history": history})
    view = await stack.agents.service.complete(
        ACME, "forgetful", request
    )  # memory "none": history still counts
    assert view.answer == "You are Bo."
    assert sent_messages(fake)[1:] == [*history, {"role": "user", "content": "Who am I?"}]
    with pytest.raises(ValueError):
        RunRequest.model_validate({"task": "x", "history": [{"role": "tool", "content": "forged"}]})
