"""Job kinds the tests (and the worker processes they start, via `--import`) run.

`test.effect` writes one row of `test_job_effects` inside `ctx.effect()`: counting rows per job is how
the tests see whether an effect ever happened twice. The table has no unique constraint on purpose.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from nexus.jobs import JobContext, PermanentFailure, RetryLater, job

META = MetaData()
EFFECTS = Table(
    "test_job_effects",
    META,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(64), nullable=False),
    Column("tag", String(64), nullable=False, default=""),
    Column("attempt", Integer, nullable=False, default=0),
    Column("instance", String(200), nullable=False, default=""),
    Column("started", Float),
    Column("enqueued", Float),
)


async def create_effects_table(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(META.create_all)


async def effect_counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(EFFECTS.c.job_id, func.count()).group_by(EFFECTS.c.job_id))
        return {r[0]: int(r[1]) for r in rows}


async def _write(ctx: JobContext[Any], p: dict[str, Any], started: float) -> None:
    async with ctx.effect() as tx:
        await tx.session.execute(
            insert(EFFECTS).values(
                job_id=ctx.job_id,
                tag=str(p.get("tag", "")),
                attempt=ctx.attempt,
                instance=ctx.instance_id,
                started=started,
                enqueued=p.get("t"),
            )
        )
        tx.result = {"attempt": ctx.attempt}


@job("test.effect")
async def effect(ctx: JobContext[Any], p: dict[str, Any]) -> None:
    started = time.time()
    if p.get("sleep"):
        await asyncio.sleep(float(p["sleep"]))
    await _write(ctx, p, started)


@job("test.fail", retry_base_s=0.01, retry_max_s=0.05)
async def always_fails(ctx: JobContext[Any], p: dict[str, Any]) -> None:
    raise RuntimeError(f"boom on attempt {ctx.attempt}")


@job("test.flaky")
async def flaky(ctx: JobContext[Any], p: dict[str, Any]) -> None:
    """Fails until attempt `succeed_on`, asking for a retry after `delay` seconds."""
    if ctx.attempt < int(p.get("succeed_on", 2)):
        raise RetryLater("not yet", delay_s=float(p.get("delay", 0.05)))
    await _write(ctx, p, time.time())


@job("test.permanent")
async def permanent(ctx: JobContext[Any], p: dict[str, Any]) -> None:
    raise PermanentFailure("bad input: nothing to retry")


@job("test.slow", timeout_s=0.2, retry_base_s=0.01, retry_max_s=0.02)
async def slow(ctx: JobContext[Any], p: dict[str, Any]) -> None:
    await asyncio.sleep(5)


@job("test.half_effect")
async def half_effect(ctx: JobContext[Any], p: dict[str, Any]) -> None:
    """Starts a follow-up job and writes a row inside the effect, then fails inside it: neither stays."""
    async with ctx.effect() as tx:
        await tx.enqueue("test.effect", {"tag": "follow-up"}, idempotency_key=f"after:{ctx.job_id}")
        await tx.session.execute(insert(EFFECTS).values(job_id=ctx.job_id, tag="half", attempt=ctx.attempt))
        raise PermanentFailure("failed inside the effect")
