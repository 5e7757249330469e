"""Retention: delete rows older than N days, and the LangGraph checkpoints of the threads that went."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import MetaData, Table, delete, inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from nexus.config.settings import Settings
from nexus.store.engine import make_engine
from nexus.store.models import (
    AuditEntry,
    ChatSession,
    Instance,
    Job,
    Message,
    ModelCall,
    RunEvent,
    WorkOrder,
    utcnow,
)
from nexus.store.models_jobs import JOB_FINISHED

if TYPE_CHECKING:
    from nexus.store.store import Store

log = logging.getLogger("nexus.store")

# Tables the LangGraph SQLite/PostgreSQL checkpointers create, all keyed by thread_id.
CHECKPOINT_TABLES = ("checkpoints", "checkpoint_writes", "checkpoint_blobs")
CheckpointPruner = Callable[[Sequence[str]], Awaitable[int]]


@dataclass
class PruneResult:
    cutoff: datetime
    deleted: dict[str, int] = field(default_factory=dict)
    thread_ids: list[str] = field(default_factory=list)
    checkpoints: int = 0


async def prune(
    engine: AsyncEngine,
    older_than_days: int,
    *,
    checkpoint_pruner: CheckpointPruner | None = None,
    now: datetime | None = None,
) -> PruneResult:
    """Delete what is older than the cutoff (all tenants); `checkpoint_pruner` gets the dead thread ids."""
    result = PruneResult(cutoff=(now or utcnow()) - timedelta(days=older_than_days))
    cutoff = result.cutoff
    dead = select(ChatSession.id).where(ChatSession.updated_at < cutoff)
    async with engine.begin() as conn:
        dead_sessions = [r[0] for r in await conn.execute(dead)]
        # Runs without a session are their own LangGraph thread.
        lone_runs = [
            r[0]
            for r in await conn.execute(
                select(WorkOrder.run_id).where(
                    WorkOrder.created_at < cutoff,
                    WorkOrder.session_id.is_(None),
                    WorkOrder.run_id.is_not(None),
                )
            )
        ]
        steps = {
            "work_orders": delete(WorkOrder).where(
                WorkOrder.created_at < cutoff, WorkOrder.status.not_in(("pending", "running", "paused"))
            ),
            "model_calls": delete(ModelCall).where(ModelCall.ts < cutoff),
            "run_events": delete(RunEvent).where(RunEvent.ts < cutoff),
            "audit_log": delete(AuditEntry).where(AuditEntry.ts < cutoff),
            "messages": delete(Message).where(Message.session_id.in_(dead)),
            "sessions": delete(ChatSession).where(ChatSession.updated_at < cutoff),
            "jobs": delete(Job).where(Job.finished_at < cutoff, Job.status.in_(JOB_FINISHED)),
            "instances": delete(Instance).where(Instance.lease_expires_at < cutoff),
        }
        for name, stmt in steps.items():
            result.deleted[name] = int((await conn.execute(stmt)).rowcount or 0)
    result.thread_ids = sorted({*dead_sessions, *(r for r in lone_runs if r)})
    if checkpoint_pruner and result.thread_ids:
        result.checkpoints = await checkpoint_pruner(result.thread_ids)
    log.info(
        "pruned rows older than %s: %s; checkpoints: %d",
        cutoff.isoformat(),
        result.deleted,
        result.checkpoints,
    )
    return result


def _delete_threads(conn: Connection, thread_ids: Sequence[str]) -> int:
    names = set(inspect(conn).get_table_names())
    total = 0
    for name in CHECKPOINT_TABLES:
        if name not in names:
            continue
        table = Table(name, MetaData(), autoload_with=conn)
        for start in range(0, len(thread_ids), 500):  # stay under bound-parameter limits
            chunk = list(thread_ids[start : start + 500])
            total += int(conn.execute(delete(table).where(table.c.thread_id.in_(chunk))).rowcount or 0)
    return total


async def prune_checkpoint_tables(engine: AsyncEngine, thread_ids: Sequence[str]) -> int:
    """Delete those threads from the LangGraph checkpoint tables that exist in `engine`'s database."""
    if not thread_ids:
        return 0
    async with engine.begin() as conn:
        return await conn.run_sync(_delete_threads, thread_ids)


def checkpoint_pruner_for(engine: AsyncEngine) -> CheckpointPruner:
    async def _prune(thread_ids: Sequence[str]) -> int:
        return await prune_checkpoint_tables(engine, thread_ids)

    return _prune


async def prune_all(settings: Settings, store: Store, days: int) -> dict[str, int]:
    """Rows older than `days`, and the LangGraph checkpoints of the threads they ended (`nexus db prune`
    and the scheduled retention job)."""
    checkpoint_engine = None
    pruner: CheckpointPruner | None
    if store.backend == "sqlite":
        # The embedded checkpointer keeps its own file next to the database.
        path = settings.data_dir / "checkpoints.sqlite"
        if path.exists():
            checkpoint_engine = make_engine(f"sqlite+aiosqlite:///{path.resolve()}")
        pruner = checkpoint_pruner_for(checkpoint_engine) if checkpoint_engine else None
    else:
        pruner = checkpoint_pruner_for(store.engine)
    try:
        result = await store.prune(days, checkpoint_pruner=pruner)
    finally:
        if checkpoint_engine is not None:
            await checkpoint_engine.dispose()
    return {**result.deleted, "checkpoints": result.checkpoints}
