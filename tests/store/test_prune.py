"""Retention: old rows go, recent ones stay, and the dead threads' checkpoints go with them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from sqlalchemy import text

from nexus.store import Store, TenantScope
from nexus.store.engine import make_engine
from nexus.store.models import AuditEntry, ChatSession, Message, ModelCall, RunEvent, WorkOrder, utcnow
from nexus.store.prune import checkpoint_pruner_for, prune_checkpoint_tables

SYSTEM = TenantScope.system()


async def _seed(store: Store) -> None:
    old, new = utcnow() - timedelta(days=40), utcnow() - timedelta(days=1)
    async with store.sessions() as s, s.begin():
        s.add_all(
            [
                WorkOrder(id="wo-old", status="done", created_at=old, run_id="run-old"),
                WorkOrder(id="wo-old-live", status="paused", created_at=old, session_id="s-new"),
                WorkOrder(id="wo-new", status="done", created_at=new),
                ModelCall(model="m", ts=old),
                ModelCall(model="m", ts=new),
                RunEvent(run_id="run-old", type="done", ts=old),
                RunEvent(run_id="r", type="done", ts=new),
                AuditEntry(action="a", ts=old),
                AuditEntry(action="b", ts=new),
                ChatSession(id="s-old", updated_at=old),
                ChatSession(id="s-new", updated_at=new),
            ]
        )
    async with store.sessions() as s, s.begin():
        s.add_all(
            [
                Message(session_id="s-old", role="user", content="x", created_at=old),
                Message(session_id="s-new", role="user", content="y", created_at=old),
            ]
        )


async def test_prune_deletes_old_rows_and_keeps_recent_ones(store: Store) -> None:
    await _seed(store)
    seen: list[str] = []

    async def pruner(thread_ids: Sequence[str]) -> int:
        seen.extend(thread_ids)
        return len(thread_ids)

    result = await store.prune(30, checkpoint_pruner=pruner)
    assert result.deleted == {
        "work_orders": 1,
        "model_calls": 1,
        "run_events": 1,
        "audit_log": 1,
        "messages": 1,
        "sessions": 1,
        "jobs": 0,
        "instances": 0,
    }
    assert seen == ["run-old", "s-old"] and result.checkpoints == 2
    assert {w.id for w in await store.work_orders(SYSTEM).list()} == {"wo-old-live", "wo-new"}
    assert [a.action for a in await store.audit(SYSTEM).list()] == ["b"]
    assert [m.content for m in await store.messages(SYSTEM).history("s-new")] == ["y"]


async def test_checkpoint_tables_lose_only_the_dead_threads(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'checkpoints.sqlite'}")
    try:
        async with engine.begin() as conn:
            for table in ("checkpoints", "checkpoint_writes"):  # checkpoint_blobs absent: skipped
                await conn.execute(text(f"CREATE TABLE {table} (thread_id TEXT, checkpoint_id TEXT)"))
                await conn.execute(
                    text(f"INSERT INTO {table} VALUES ('dead', '1'), ('dead', '2'), ('live', '3')")
                )
        assert await prune_checkpoint_tables(engine, []) == 0
        assert await checkpoint_pruner_for(engine)(["dead"]) == 4
        async with engine.connect() as conn:
            left = (await conn.execute(text("SELECT thread_id FROM checkpoints"))).scalars().all()
        assert left == ["live"]
    finally:
        await engine.dispose()
