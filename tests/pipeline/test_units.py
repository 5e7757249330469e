"""The small pure parts: the judge's verdict parser, compression, the QA spec, checkpointer choice."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from nexus.config.settings import Settings
from nexus.pipeline.checkpoint import open_checkpointer, postgres_dsn
from nexus.pipeline.compress import compress, estimate_tokens
from nexus.pipeline.qa import guard_checker, spec_from_request
from nexus.pipeline.verdict import VerdictParseError, parse_verdict


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ('{"score": 8, "critique": "good"}', 8),
        ('Sure! ```json\n{"score": "3", "critique": "thin"}\n```', 3),
        ("Score: 6. Missing the edge cases.", 6),
        ("I'd give it 9/10.", 9),
        ('{"score": 42}', 10),
    ],
)
def test_tolerant_verdict_parser(text: str, score: float) -> None:
    assert parse_verdict(text).score == score


def test_garbage_verdict_raises() -> None:
    with pytest.raises(VerdictParseError):
        parse_verdict("banana banana")


async def test_compression_summarises_old_turns_and_keeps_the_last_verbatim() -> None:
    turns = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i} " + "x" * 400}
        for i in range(20)
    ]
    seen: list[list[dict[str, Any]]] = []

    async def summarise(old: list[dict[str, Any]]) -> str:
        seen.append(old)
        return "they talked about x"

    out = await compress(turns, context_window=1000, keep_last=4, summarise=summarise)
    assert out.summarised == 16 and len(seen[0]) == 16
    assert out.messages[0]["content"].endswith("they talked about x")
    assert [m["content"][:7] for m in out.messages[1:]] == ["turn 16", "turn 17", "turn 18", "turn 19"]
    assert out.after_tokens < out.before_tokens


async def test_compression_without_a_summary_drops_and_trims() -> None:
    async def broken(old: list[dict[str, Any]]) -> str:
        raise RuntimeError("compressor down")

    turns = [{"role": "user", "content": "y" * 8000} for _ in range(5)]
    out = await compress(turns, context_window=1000, keep_last=2, summarise=broken)
    assert out.dropped == 3 and len(out.messages) == 2
    assert estimate_tokens(out.messages) <= 1000
    assert any("summary failed" in n for n in out.notes)


async def test_short_conversations_are_untouched() -> None:
    msgs = [{"role": "user", "content": "hi"}]
    out = await compress(msgs, context_window=1000, keep_last=2, summarise=None)
    assert out.messages == msgs and not out.changed


def test_qa_spec_from_request() -> None:
    schema = {
        "type": "json_schema",
        "json_schema": {"name": "x", "schema": {"type": "object", "required": ["a"]}},
    }
    spec = spec_from_request(schema, {"required": ["Paris"]})
    assert guard_checker('{"a": 1} Paris', spec)["passed"] is False  # not JSON
    assert guard_checker('{"a": "Paris"}', spec)["passed"] is True
    assert guard_checker('{"b": "Paris"}', spec)["passed"] is False
    assert guard_checker("call me at jane.doe@example.com", spec_from_request(None))["passed"] is False


def test_postgres_dsn() -> None:
    assert postgres_dsn("postgresql+asyncpg://u@h:5432/db") == "postgresql://u@h:5432/db"
    assert postgres_dsn("postgres://u@h/db") == "postgresql://u@h/db"
    assert postgres_dsn("sqlite+aiosqlite:///x.db") is None


class _S(TypedDict, total=False):
    q: str
    a: str


def _tiny_graph(saver: Any) -> Any:
    async def ask(state: _S) -> dict[str, str]:
        return {"a": str(interrupt({"question": state["q"]}))}

    g: Any = StateGraph(_S)
    g.add_node("ask", ask)
    g.add_edge(START, "ask")
    g.add_edge("ask", END)
    return g.compile(checkpointer=saver)


async def _pause_then_resume(settings: Settings, thread: str) -> None:
    saver, close = await open_checkpointer(settings)
    cfg = {"configurable": {"thread_id": thread}}
    await _tiny_graph(saver).ainvoke({"q": "which one?"}, cfg, durability="exit")
    await close()
    saver, close = await open_checkpointer(settings)  # a new process would open it the same way
    try:
        out = await _tiny_graph(saver).ainvoke(Command(resume="the blue one"), cfg)
        assert out["a"] == "the blue one"
    finally:
        await close()


async def test_sqlite_checkpointer_keeps_a_pause(tmp_path: Path) -> None:
    await _pause_then_resume(Settings(data_dir=tmp_path), "t1")
    assert (tmp_path / "checkpoints.sqlite").exists()


async def test_postgres_checkpointer_keeps_a_pause(tmp_path: Path, postgres_url: str, unique: str) -> None:
    await _pause_then_resume(Settings(data_dir=tmp_path, database_url=postgres_url), f"pg-{unique}")
