"""Real processes on the real PostgreSQL (a fresh database) and Redis: `nexus worker` ×2 with one SIGKILLed,
and `nexus scheduler` ×2 with the leader SIGKILLed."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, select

from nexus.config.settings import Settings
from nexus.jobs import JobEngine, JobRequest
from nexus.jobs.scheduler import LEASE_NAME
from nexus.store import Store, TenantScope, open_store
from nexus.store.models import utcnow
from nexus.store.models_jobs import Instance, Job

from . import kinds
from .helpers import fast_settings, postgres_database, process_env, redis_prefix, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow, pytest.mark.timeout(240)]
ACME = TenantScope("acme")
SYSTEM = TenantScope.system()
N_JOBS = 500


@asynccontextmanager
async def deployment(
    postgres_url: str, redis_url: str, unique: str, tmp_path: Path, **overrides: object
) -> AsyncIterator[tuple[Settings, Store]]:
    """A fresh database (CREATE DATABASE, dropped after) and a Redis key prefix of its own."""
    async with (
        postgres_database(postgres_url, f"nexus_jobs_{unique}") as db_url,
        redis_prefix(redis_url, f"nexus-test-{unique}") as prefix,
    ):
        settings = fast_settings(
            tmp_path, database_url=db_url, redis_url=redis_url, jobs_stream_prefix=prefix, **overrides
        )
        store = await open_store(settings)  # migrates the new database
        try:
            await kinds.create_effects_table(store.engine)
            yield settings, store
        finally:
            await store.close()


@contextmanager
def processes(settings: Settings, *commands: list[str]) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Children log to files (a pipe nobody reads fills up and blocks the child's logging)."""
    procs = []
    for i, cmd in enumerate(commands):
        log = open(settings.data_dir / f"proc-{i}.log", "wb")  # noqa: SIM115 (closed with the process)
        procs.append(
            subprocess.Popen([sys.executable, "-m", *cmd], env=process_env(settings), stdout=log, stderr=log)
        )
        log.close()
    try:
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait(10)


def output(settings: Settings, index: int) -> str:
    return (settings.data_dir / f"proc-{index}.log").read_text(errors="replace")[-4000:]


async def _live(store: Store, role: str) -> list[str]:
    return [i.id for i in await store.instances().live() if i.role == role]


async def _count(store: Store, *where: object) -> int:
    async with store.sessions() as s:
        return int((await s.execute(select(func.count()).select_from(Job).where(*where))).scalar_one())


async def test_two_workers_one_sigkilled_every_job_done_exactly_once(
    postgres_url: str, redis_url: str, unique: str, tmp_path: Path
) -> None:
    async with deployment(postgres_url, redis_url, unique, tmp_path, jobs_lease_s=2.0) as (settings, store):
        worker = ["nexus.cli.worker", "--import", "jobs.kinds", "--concurrency", "8"]
        with processes(settings, worker, worker) as procs:
            try:  # a worker builds the whole runtime before it registers: generous on a busy machine
                await wait_for(lambda: _two(store), timeout=150, what="two workers registered")
            except AssertionError as exc:
                raise AssertionError(
                    f"{exc}\n--- worker 0:\n{output(settings, 0)}\n--- worker 1:\n{output(settings, 1)}"
                ) from None
            client = await JobEngine.start(settings, store, role="gateway", execute=False)
            try:
                # 50 ms per job: each worker has ~8 jobs in flight at any moment, so the kill hits some.
                requests = [
                    JobRequest(kind="test.effect", payload={"sleep": 0.05, "tag": str(i)})
                    for i in range(N_JOBS)
                ]
                await client.queue.enqueue_many(requests, tenant=ACME)
                await wait_for(lambda: _at_least(store, 150), timeout=60, what="150 jobs done")
                victim = procs[0]
                victim_id = await _instance_of(store, victim.pid)
                victim.send_signal(signal.SIGKILL)
                victim.wait(10)
                await asyncio.sleep(0.1)
                orphaned = await _ids(store, Job.status == "running", Job.lease_owner == victim_id)
                assert orphaned, "the SIGKILL should have caught jobs in flight"

                try:
                    await wait_for(lambda: _all_done(store), timeout=40, every=0.25, what="all 500 jobs done")
                except AssertionError:
                    print("COUNTS", await store.jobs(SYSTEM).count_by_status())
                    print(output(settings, 1))
                    raise
            finally:
                await client.close(grace_s=0)

            effects = await kinds.effect_counts(store.engine)
            assert len(effects) == N_JOBS and set(effects.values()) == {1}  # every effect exactly once
            assert await _count(store, Job.status == "dead") == 0  # dead-letter store empty
            assert await _count(store) == N_JOBS  # none lost, none duplicated
            retried = await _ids(store, Job.attempts == 2)
            assert set(orphaned) <= set(retried)  # the dead worker's running jobs were reclaimed and rerun
            assert procs[0].returncode == -signal.SIGKILL

            survivor = procs[1]
            survivor.send_signal(signal.SIGTERM)  # a clean stop after all that
            assert survivor.wait(30) == 0, output(settings, 1)


async def _two(store: Store) -> list[str] | None:
    ids = await _live(store, "worker")
    return ids if len(ids) == 2 else None


async def _instance_of(store: Store, pid: int) -> str:
    async with store.sessions() as s:
        return (await s.execute(select(Instance.id).where(Instance.pid == pid))).scalar_one()


async def _at_least(store: Store, n: int) -> bool:
    return await _count(store, Job.status == "done") >= n


async def _all_done(store: Store) -> bool:
    return await _count(store, Job.status == "done") == N_JOBS


async def _ids(store: Store, *where: object) -> list[str]:
    async with store.sessions() as s:
        return [r[0] for r in await s.execute(select(Job.id).where(*where))]


async def _holder(store: Store) -> str | None:
    lease = await store.leases().holder(LEASE_NAME)
    return lease.holder if lease is not None and lease.expires_at > utcnow() else None


async def test_two_schedulers_one_leads_the_standby_takes_over_each_tick_runs_once(
    postgres_url: str, redis_url: str, unique: str, tmp_path: Path
) -> None:
    async with deployment(postgres_url, redis_url, unique, tmp_path) as (settings, store):
        worker = await JobEngine.start(settings, store, role="worker", execute=True)
        sched = ["nexus.cli.scheduler", "--import", "jobs.sched_kinds"]
        try:
            with processes(settings, sched, sched) as procs:
                leader = await wait_for(lambda: _holder(store), timeout=60, what="a scheduler leads")
                await wait_for(
                    lambda: _live_count(store, "scheduler", 2), timeout=60, what="both schedulers up"
                )
                await asyncio.sleep(3.5)  # a few one-second ticks under the first leader
                by_pid = {p.pid: p for p in procs}
                first = by_pid[await _pid_of(store, leader)]
                first.send_signal(signal.SIGKILL)
                first.wait(10)
                successor = await wait_for(
                    lambda: _other_holder(store, leader), timeout=30, what="the standby takes over"
                )
                await asyncio.sleep(3.5)
                second = by_pid[await _pid_of(store, successor)]
                second.send_signal(signal.SIGTERM)
                assert second.wait(30) == 0, output(settings, procs.index(second))
            ticks = await _ticks(store)
            await wait_for(lambda: _all_ticks_done(store, len(ticks)), timeout=30, what="scheduled jobs done")
        finally:
            await worker.close(grace_s=0)

        by_leader = {who: sorted(t for t, w in ticks if w == who) for who in (leader, successor)}
        assert {w for _, w in ticks} == {leader, successor}  # only the lease holder ever enqueued
        assert max(by_leader[leader]) < min(by_leader[successor])  # never both at once
        for seq in by_leader.values():
            assert seq == list(range(seq[0], seq[-1] + 1))  # every tick of a leader's reign, once
        # The takeover costs at most the lease time (plus a pass) in missed ticks.
        assert min(by_leader[successor]) - max(by_leader[leader]) <= settings.scheduler_lease_s + 2
        effects = await kinds.effect_counts(store.engine)
        assert len(effects) == len(ticks) and set(effects.values()) == {1}  # each tick's job ran once


async def _live_count(store: Store, role: str, n: int) -> bool:
    return len(await _live(store, role)) >= n


async def _pid_of(store: Store, instance_id: str) -> int:
    async with store.sessions() as s:
        return int((await s.execute(select(Instance.pid).where(Instance.id == instance_id))).scalar_one())


async def _other_holder(store: Store, old: str) -> str | None:
    holder = await _holder(store)
    return holder if holder not in (None, old) else None


async def _ticks(store: Store) -> list[tuple[int, str]]:
    async with store.sessions() as s:
        rows = (await s.execute(select(Job.payload).where(Job.kind == "test.effect"))).scalars().all()
    return [(int(p["_schedule"]["tick"]), str(p["_schedule"]["by"])) for p in rows]


async def _all_ticks_done(store: Store, n: int) -> bool:
    return await _count(store, Job.kind == "test.effect", Job.status == "done") == n
