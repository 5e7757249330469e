"""The JobQueue contract, run unchanged on the in-process broker (SQLite) and on Redis Streams (PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from nexus.jobs import InvalidPayload, JobConflict, UnknownJobKind
from nexus.store import NotFound, TenantScope
from nexus.store.models import utcnow

from .conftest import ACME, BACKENDS, GLOBEX, Env, make_env
from .helpers import wait_for


async def _status(
    env: Env, job_id: str, want: str, tenant: TenantScope = ACME, timeout: float = 15.0
) -> None:
    async def check() -> bool:
        return (await env.queue.status(job_id, tenant=tenant)).status == want

    await wait_for(check, timeout=timeout, what=f"job {job_id} → {want}")


async def test_a_job_runs_once_and_is_done(env: Env) -> None:
    job_id = await env.queue.enqueue("test.effect", {"tag": "a"}, tenant=ACME)
    await _status(env, job_id, "done")
    view = await env.queue.status(job_id, tenant=ACME)
    assert (view.attempts, view.result, view.error, view.tenant_id) == (1, {"attempt": 1}, None, "acme")
    assert view.started_at is not None and view.finished_at is not None
    assert await env.effects() == {job_id: 1}


async def test_idempotency_key_gives_the_same_job_and_one_effect(env: Env) -> None:
    first = await env.queue.enqueue("test.effect", {}, tenant=ACME, idempotency_key="order-7")
    again = await env.queue.enqueue("test.effect", {}, tenant=ACME, idempotency_key="order-7")
    other_tenant = await env.queue.enqueue("test.effect", {}, tenant=GLOBEX, idempotency_key="order-7")
    assert first == again != other_tenant
    await _status(env, first, "done")
    await _status(env, other_tenant, "done", tenant=GLOBEX)
    assert await env.effects() == {first: 1, other_tenant: 1}


async def test_a_redelivered_message_does_not_repeat_a_committed_effect(env: Env) -> None:
    job_id = await env.queue.enqueue("test.effect", {}, tenant=ACME)
    await _status(env, job_id, "done")
    for _ in range(3):  # what a reclaimed or duplicated broker message looks like to a worker
        await env.queue.send(job_id)
    # A later job proves the duplicates were consumed before we look.
    marker = await env.queue.enqueue("test.effect", {}, tenant=ACME)
    await _status(env, marker, "done")
    assert await env.effects() == {job_id: 1, marker: 1}
    assert (await env.queue.status(job_id, tenant=ACME)).attempts == 1


async def test_an_always_failing_job_is_dead_lettered_after_n_attempts_with_its_reason(env: Env) -> None:
    job_id = await env.queue.enqueue("test.fail", {}, tenant=ACME, max_attempts=3)
    await _status(env, job_id, "dead")
    view = await env.queue.status(job_id, tenant=ACME)
    assert view.attempts == 3
    assert view.error == "RuntimeError: boom on attempt 3 (after 3 attempts)"
    assert [d.id for d in await env.queue.dead_letters(tenant=ACME)] == [job_id]
    assert await env.queue.dead_letters(tenant=GLOBEX) == []
    # A dead job can be given a fresh set of attempts (it fails again here).
    assert (await env.queue.retry_dead(job_id, tenant=ACME)).status == "queued"
    await _status(env, job_id, "dead")


async def test_a_permanent_failure_is_dead_lettered_at_once_as_failed(env: Env) -> None:
    job_id = await env.queue.enqueue("test.permanent", {}, tenant=ACME)
    await _status(env, job_id, "failed")
    view = await env.queue.status(job_id, tenant=ACME)
    assert (view.attempts, view.error) == (1, "PermanentFailure: bad input: nothing to retry")
    assert [d.id for d in await env.queue.dead_letters(tenant=ACME)] == [job_id]


async def test_a_timed_out_handler_is_retried_then_dead(env: Env) -> None:
    job_id = await env.queue.enqueue("test.slow", {}, tenant=ACME, max_attempts=2)
    await _status(env, job_id, "dead")
    view = await env.queue.status(job_id, tenant=ACME)
    assert view.attempts == 2 and view.error == "timed out after 0.2s (after 2 attempts)"


async def test_a_flaky_job_retries_after_its_delay_then_commits_once(env: Env) -> None:
    job_id = await env.queue.enqueue("test.flaky", {"succeed_on": 3, "delay": 0.1}, tenant=ACME)
    await _status(env, job_id, "done")
    assert (await env.queue.status(job_id, tenant=ACME)).attempts == 3
    assert await env.effects() == {job_id: 1}


async def test_a_cancelled_queued_job_never_runs(env: Env) -> None:
    job_id = await env.queue.enqueue("test.effect", {}, tenant=ACME, delay_s=0.5)
    view = await env.queue.cancel(job_id, tenant=ACME)
    assert view.status == "cancelled" and view.error == "cancelled"
    marker = await env.queue.enqueue("test.effect", {}, tenant=ACME, delay_s=0.8)
    await _status(env, marker, "done")  # the dispatcher has long passed the cancelled job's run_at
    view = await env.queue.status(job_id, tenant=ACME)
    assert (view.status, view.attempts) == ("cancelled", 0)
    assert job_id not in await env.effects()


async def test_a_job_cancelled_between_retries_never_commits(env: Env) -> None:
    job_id = await env.queue.enqueue("test.flaky", {"succeed_on": 2, "delay": 0.6}, tenant=ACME)

    async def failed_once() -> bool:
        v = await env.queue.status(job_id, tenant=ACME)
        return v.status == "queued" and v.attempts == 1

    await wait_for(failed_once, what="first attempt failed")
    await env.queue.cancel(job_id, tenant=ACME)
    marker = await env.queue.enqueue("test.effect", {}, tenant=ACME, delay_s=1.0)
    await _status(env, marker, "done")
    view = await env.queue.status(job_id, tenant=ACME)
    assert (view.status, view.attempts) == ("cancelled", 1)
    assert job_id not in await env.effects()


async def test_a_job_cancelled_while_running_never_commits_its_effect(env: Env) -> None:
    job_id = await env.queue.enqueue("test.effect", {"sleep": 1.0}, tenant=ACME)
    await _status(env, job_id, "running")
    await env.queue.cancel(job_id, tenant=ACME)
    # The heartbeat stops the handler; had it reached its effect, the compare-and-set would refuse it.
    await wait_for(lambda: _idle(env), what="the handler stopped")
    view = await env.queue.status(job_id, tenant=ACME)
    assert (view.status, view.error) == ("cancelled", "cancelled")
    assert job_id not in await env.effects()


async def _idle(env: Env) -> bool:
    assert env.engine.runner is not None
    return not env.engine.runner.running


async def test_cancelling_a_finished_job_is_a_conflict(env: Env) -> None:
    job_id = await env.queue.enqueue("test.effect", {}, tenant=ACME)
    await _status(env, job_id, "done")
    with pytest.raises(JobConflict, match="is done; cannot cancel"):
        await env.queue.cancel(job_id, tenant=ACME)


async def test_a_dead_workers_running_job_is_reclaimed_and_retried(env: Env) -> None:
    """A job claimed by a process that then died (its lease ran out) is run again by a live worker."""
    job_id = await env.queue.enqueue("test.effect", {}, tenant=ACME, delay_s=0.3)
    jobs = env.store.jobs(TenantScope.system())
    await jobs.run(jobs.update().values(run_at=utcnow()))  # due now, before the dispatcher sends it
    ghost = await jobs.claim(job_id, "ghost-worker", utcnow() + timedelta(seconds=0.5))
    assert ghost is not None and ghost.attempts == 1
    await env.queue.send(job_id)  # its message reaches a live worker while the ghost's lease still holds
    await _status(env, job_id, "done")
    view = await env.queue.status(job_id, tenant=ACME)
    assert view.attempts == 2 and view.error is None
    assert await env.effects() == {job_id: 1}


async def test_a_delayed_job_waits_for_its_time(env: Env) -> None:
    job_id = await env.queue.enqueue("test.effect", {}, tenant=ACME, delay_s=0.6)
    assert (await env.queue.status(job_id, tenant=ACME)).status == "queued"
    await _status(env, job_id, "done")
    view = await env.queue.status(job_id, tenant=ACME)
    assert view.started_at is not None and view.started_at >= view.run_at >= view.created_at + timedelta(
        seconds=0.5
    )


async def test_an_effect_that_fails_inside_its_transaction_leaves_nothing(env: Env) -> None:
    job_id = await env.queue.enqueue("test.half_effect", {}, tenant=ACME)
    await _status(env, job_id, "failed")
    assert await env.effects() == {}
    # The follow-up job enqueued inside the failed effect was rolled back with it.
    assert [j.kind for j in await env.queue.list(tenant=ACME)] == ["test.half_effect"]


async def test_jobs_are_tenant_scoped(env: Env) -> None:
    job_id = await env.queue.enqueue("test.effect", {}, tenant=ACME, priority=5)
    with pytest.raises(NotFound):
        await env.queue.status(job_id, tenant=GLOBEX)
    with pytest.raises(NotFound):
        await env.queue.cancel(job_id, tenant=GLOBEX)
    assert await env.queue.list(tenant=GLOBEX) == []
    await _status(env, job_id, "done")
    assert [(j.id, j.priority) for j in await env.queue.list(tenant=ACME, status="done")] == [(job_id, 5)]
    admin = TenantScope("ops", is_global_admin=True)
    assert [j.id for j in await env.queue.list(tenant=admin)] == [job_id]
    assert await env.queue.counts(tenant=ACME) == {"done": 1}


async def test_bad_kinds_payloads_and_filters_are_clear_errors(env: Env) -> None:
    with pytest.raises(UnknownJobKind, match="unknown job kind 'nope'"):
        await env.queue.enqueue("nope", {}, tenant=ACME)
    with pytest.raises(InvalidPayload, match="invalid payload for job kind 'callback'"):
        await env.queue.enqueue("callback", {"url": "ftp://x"}, tenant=ACME)
    with pytest.raises(ValueError, match="status must be one of"):
        await env.queue.list(tenant=ACME, status="weird")
    assert await env.queue.list(tenant=ACME) == []


async def test_a_long_job_keeps_its_lease_while_its_worker_lives(env: Env) -> None:
    """The heartbeat renews a running job's lease: another live worker never takes it over."""
    await env.start_engine()  # a second worker competing for messages and running recovery
    job_id = await env.queue.enqueue("test.effect", {"sleep": 3 * env.settings.jobs_lease_s}, tenant=ACME)
    await _status(env, job_id, "done", timeout=30)
    view = await env.queue.status(job_id, tenant=ACME)
    assert (view.attempts, view.error) == (1, None)
    assert await env.effects() == {job_id: 1}


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_clean_shutdown_hands_running_and_unstarted_jobs_back_at_once(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, unique: str
) -> None:
    # Reclaim and redispatch far away: only the hand-off can bring the jobs back within the test.
    async with make_env(
        backend, request, tmp_path, unique, jobs_reclaim_idle_s=120, jobs_redispatch_s=120
    ) as env:
        await env.engine.close(grace_s=0)  # the fixture's worker leaves
        # One short job, then long ones: when the short one ends, `a` reads two messages for one free
        # slot, so it holds a message it has not started when it stops.
        ids = [await env.queue.enqueue("test.effect", {"sleep": 0.2}, tenant=ACME)]
        ids += [await env.queue.enqueue("test.effect", {"sleep": 3}, tenant=ACME) for _ in range(4)]
        a = await env.start_engine(concurrency=2)

        async def settled() -> bool:
            first = await env.queue.status(ids[0], tenant=ACME)
            return first.status == "done" and len(await env.queue.list(tenant=ACME, status="running")) == 2

        await wait_for(settled, what="the short job done, two long ones running")
        await a.close(grace_s=0.1)  # SIGTERM-like: the running ones cannot finish in time
        views = [await env.queue.status(i, tenant=ACME) for i in ids[1:]]
        assert {(v.status, v.attempts) for v in views} == {("queued", 0)}  # handed back, attempt uncounted
        await env.start_engine(concurrency=4)
        for job_id in ids:
            await _status(env, job_id, "done", timeout=20)
        assert await env.effects() == dict.fromkeys(ids, 1)
        assert {(await env.queue.status(i, tenant=ACME)).attempts for i in ids} == {1}
