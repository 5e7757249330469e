"""Schedules and the single active scheduler (a database lease), in one process."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from nexus.jobs.scheduler import LEASE_NAME, Schedule, Scheduler, schedule, schedules, unschedule
from nexus.store import TenantScope

from .conftest import Env

T0 = datetime(2026, 1, 5, 10, 10, 0, tzinfo=UTC)  # a Monday, minute 10


def test_ticks_of_intervals_and_cron() -> None:
    every = Schedule("e", "k", every_s=60)
    assert every.tick(T0) == every.tick(T0 + timedelta(seconds=59)) != every.tick(T0 + timedelta(seconds=60))
    cron = Schedule("c", "k", cron="*/5 * * * *")
    assert cron.tick(T0) == "20260105T1010" and cron.tick(T0 + timedelta(seconds=30)) == "20260105T1010"
    assert cron.tick(T0 + timedelta(minutes=1)) is None


def test_registering_a_schedule_is_one_line_and_checked() -> None:
    try:
        entry = schedule("nightly-report", "store.prune", cron="0 3 * * *", payload={"older_than_days": 90})
        assert entry in schedules() and {s.name for s in schedules()} >= {"retention", "nightly-report"}
    finally:
        unschedule("nightly-report")
    with pytest.raises(ValueError, match="exactly one of every= or cron="):
        schedule("x", "k")
    with pytest.raises(ValueError, match="exactly one of"):
        schedule("x", "k", every=1, cron="* * * * *")
    with pytest.raises(ValueError, match="every must be positive"):
        schedule("x", "k", every=timedelta(0))
    with pytest.raises(ValueError, match="invalid cron expression"):
        schedule("x", "k", cron="every tuesday")


def _scheduler(env: Env, holder: str) -> Scheduler:
    entries = [Schedule("beat", "test.effect", every_s=60, payload={"tag": "beat"}, tenant="acme")]
    return Scheduler(env.store, env.queue, env.settings, holder_id=holder, entries=entries)


async def _beats(env: Env) -> list[tuple[str, str]]:
    jobs = await env.queue.list(tenant=TenantScope("acme"), kind="test.effect")
    return sorted((j.payload["_schedule"]["tick"], j.payload["_schedule"]["by"]) for j in jobs)


async def test_one_scheduler_leads_and_a_tick_is_enqueued_once(env: Env) -> None:
    a, b = _scheduler(env, "sched-a"), _scheduler(env, "sched-b")
    assert await a.step(T0) == 1 and a.is_leader
    assert await b.step(T0) == 0 and not b.is_leader  # standby while a holds the lease
    assert await a.step(T0 + timedelta(seconds=30)) == 0  # same tick: nothing new
    assert await a.step(T0 + timedelta(seconds=60)) == 1
    tick0, tick1 = str(int(T0.timestamp() // 60)), str(int(T0.timestamp() // 60) + 1)
    assert await _beats(env) == [(tick0, "sched-a"), (tick1, "sched-a")]

    await a.release()  # a clean exit hands over at once
    assert await b.step(T0 + timedelta(seconds=61)) == 0 and b.is_leader  # tick1 already enqueued: not again
    assert await b.step(T0 + timedelta(seconds=120)) == 1
    assert [by for _, by in await _beats(env)] == ["sched-a", "sched-a", "sched-b"]
    assert (await env.store.leases().holder(LEASE_NAME)).holder == "sched-b"  # type: ignore[union-attr]


async def test_a_dead_leaders_lease_expires_and_a_standby_takes_over(env: Env) -> None:
    a, b = _scheduler(env, "sched-a"), _scheduler(env, "sched-b")
    await a.step(T0)
    first = await env.store.leases().holder(LEASE_NAME)
    assert first is not None and first.holder == "sched-a"
    await asyncio.sleep(env.settings.scheduler_lease_s / 2)
    assert await b.step(T0) == 0 and not b.is_leader
    await asyncio.sleep(env.settings.scheduler_lease_s / 2 + 0.3)  # a stopped renewing (it "died")
    assert await b.step(T0 + timedelta(seconds=60)) == 1 and b.is_leader
    taken = await env.store.leases().holder(LEASE_NAME)
    assert taken is not None and taken.holder == "sched-b" and taken.acquired_at > first.acquired_at
    assert await a.step(T0 + timedelta(seconds=60)) == 0 and not a.is_leader  # the old leader stands by


async def test_the_embedded_engine_runs_the_retention_schedule(env: Env, tmp_path: Path) -> None:
    scheduler = Scheduler(env.store, env.queue, env.settings, holder_id="solo")
    assert await scheduler.step() >= 1
    [prune] = await env.queue.list(tenant=TenantScope("default"), kind="store.prune")

    async def done() -> bool:
        return (await env.queue.status(prune.id, tenant=TenantScope("default"))).status == "done"

    from .helpers import wait_for

    await wait_for(done, what="retention job done")
    result = (await env.queue.status(prune.id, tenant=TenantScope("default"))).result
    assert (
        result is not None and result["older_than_days"] == env.settings.retention_days and "jobs" in result
    )
