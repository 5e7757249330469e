"""Scheduling behind the Scheduler seam (in-process now; the job layer later): at a time, and on cron."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from tests.execution.conftest import FAST

from nexus.execution import (
    At,
    Cron,
    EgressPolicy,
    EgressRefused,
    ExecContext,
    ExecutionEngine,
    ExternalRequest,
    InProcessScheduler,
    ScheduleError,
    SqlIdempotency,
)
from nexus.store import Store
from nexus.testing.fake_http import FakeHTTP


@pytest.fixture
async def scheduler() -> AsyncIterator[InProcessScheduler]:
    s = InProcessScheduler()
    yield s
    await s.aclose()


async def test_a_scheduled_call_runs_once_at_its_time(fake: FakeHTTP, scheduler: InProcessScheduler) -> None:
    engine = ExecutionEngine(
        EgressPolicy(trusted=[f"127.0.0.1:{fake.port}"]), settings=FAST, scheduler=scheduler
    )
    try:
        when = datetime.now(UTC) + timedelta(seconds=0.5)
        sid = await engine.schedule(ExecContext("acme"), ExternalRequest(url=fake.url + "/tick"), At(when))
        await asyncio.sleep(0.25)
        assert fake.requests == []  # not before its time
        await asyncio.sleep(0.6)
        assert [r.path for r in fake.requests] == ["/tick"]
        [job] = scheduler.jobs("acme")
        assert job.id == sid and job.runs == 1 and job.next_run is None and job.history[0] >= when
        await asyncio.sleep(0.5)
        assert len(fake.requests) == 1  # once
    finally:
        await engine.aclose()


async def test_cron_runs_every_occurrence_with_its_own_idempotency_key(
    fake: FakeHTTP, scheduler: InProcessScheduler, store: Store
) -> None:
    engine = ExecutionEngine(
        EgressPolicy(trusted=[f"127.0.0.1:{fake.port}"]),
        idempotency=SqlIdempotency(store.sessions),
        settings=FAST,
        scheduler=scheduler,
    )
    try:
        req = ExternalRequest(method="POST", url=fake.url + "/sync", json={}, idempotency_key="nightly")
        await engine.schedule(ExecContext("acme"), req, Cron("* * * * * *"))  # every second
        await asyncio.sleep(2.3)
        assert len(fake.requests) >= 2
        [job] = scheduler.jobs("acme")
        # Every occurrence counted so far makes its call (its own key, so none is taken for a repeat);
        # the latest may have started and not reached the upstream yet.
        runs = job.runs
        deadline = asyncio.get_running_loop().time() + 3.0
        while len(fake.requests) < runs and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        assert job.last_error is None
        assert runs <= len(fake.requests) <= job.runs
    finally:
        await engine.aclose()


async def test_cancel_is_tenant_scoped(fake: FakeHTTP, scheduler: InProcessScheduler) -> None:
    engine = ExecutionEngine(
        EgressPolicy(trusted=[f"127.0.0.1:{fake.port}"]), settings=FAST, scheduler=scheduler
    )
    try:
        sid = await engine.schedule(
            ExecContext("acme"), ExternalRequest(url=fake.url), At(datetime.now(UTC) + timedelta(seconds=0.3))
        )
        assert not await scheduler.cancel(sid, tenant="globex")
        assert scheduler.jobs("globex") == []
        assert await scheduler.cancel(sid, tenant="acme")
        await asyncio.sleep(0.5)
        assert fake.requests == []
    finally:
        await engine.aclose()


async def test_bad_schedules_are_refused_up_front(scheduler: InProcessScheduler) -> None:
    engine = ExecutionEngine(
        EgressPolicy(allowed_hosts={"*": ["api.ok.test"]}), settings=FAST, scheduler=scheduler
    )
    try:
        with pytest.raises(ScheduleError):
            Cron("every tuesday")
        with pytest.raises(ScheduleError):
            Cron("0 9 * * *", timezone="Mars/Olympus")
        with pytest.raises(ScheduleError):  # a naive time is ambiguous
            await engine.schedule(
                ExecContext("a"), ExternalRequest(url="http://api.ok.test/"), At(datetime(2030, 1, 1))
            )
        with pytest.raises(EgressRefused):  # refused when scheduled, not at 3 a.m.
            await engine.schedule(
                ExecContext("a"), ExternalRequest(url="http://evil.test/"), At(datetime.now(UTC))
            )
        assert scheduler.jobs("a") == []
    finally:
        await engine.aclose()


def test_cron_next_times_follow_the_time_zone() -> None:
    cron = Cron("0 9 * * *", timezone="Europe/Paris")
    nxt = cron.next_after(datetime(2025, 1, 15, 12, 0, tzinfo=UTC))
    assert nxt == datetime(2025, 1, 16, 8, 0, tzinfo=UTC)  # 09:00 in Paris is 08:00 UTC in winter
