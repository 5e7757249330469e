"""Instance leases, lease-aware recovery of work orders, and named leases."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from nexus.jobs.instance import InstanceLease, expire_dead_local_instances
from nexus.store import Store, TenantScope
from nexus.store.models import utcnow
from nexus.store.models_jobs import Instance

from .helpers import fast_settings, open_store_for, postgres_schema

SYSTEM = TenantScope.system()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Path, unique: str) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        s = await open_store_for(fast_settings(tmp_path))
        yield s
        await s.close()
        return
    url = request.getfixturevalue("postgres_url")
    async with postgres_schema(url, f"leases_{unique}") as schema:
        s = await open_store_for(fast_settings(tmp_path, database_url=url), schema)
        yield s
        await s.close()


async def test_recovery_flags_only_the_work_of_instances_whose_lease_expired(store: Store) -> None:
    await store.instances().register("live", role="gateway", host="h", pid=1, lease_s=60)
    await store.instances().register("dead", role="gateway", host="h", pid=2, lease_s=60)
    async with store.sessions() as s, s.begin():
        dead = await s.get(Instance, "dead")
        assert dead is not None
        dead.lease_expires_at = utcnow() - timedelta(seconds=1)
    repo = store.work_orders(SYSTEM)
    old = utcnow() - timedelta(seconds=5)
    await repo.add(id="live-run", status="running", instance_id="live", created_at=old)
    await repo.add(id="dead-run", status="running", instance_id="dead", created_at=old)
    await repo.add(id="dead-pending", status="pending", instance_id="dead", created_at=old)
    await repo.add(id="gone-run", status="running", instance_id="pruned-long-ago", created_at=old)
    await repo.add(id="dead-paused", status="paused", instance_id="dead", created_at=old)
    await repo.add(id="dead-queued", status="running", instance_id="dead", job_id="j1", created_at=old)
    await repo.add(id="unowned", status="running", created_at=old)

    # Periodic recovery while other processes run: only rows naming a dead (or vanished) instance.
    assert await repo.mark_interrupted(unowned=False) == 3
    flagged = {w.id for w in await repo.list(status="failed")}
    assert flagged == {"dead-run", "dead-pending", "gone-run"}
    for wid in flagged:
        row = await repo.get(wid)
        assert (row.incomplete, row.error) == (True, "interrupted")
    assert (await repo.get("live-run")).status == "running"  # a live instance's work is never touched
    assert (await repo.get("dead-paused")).status == "paused"  # waiting for a human
    assert (await repo.get("dead-queued")).status == "running"  # its job is retried by the queue
    # At start-up, rows that name no instance (older writers) count as a previous process's.
    assert await store.mark_interrupted() == 1
    assert (await repo.get("unowned")).status == "failed"
    assert (await repo.get("live-run")).status == "running"


async def test_a_restart_on_the_same_host_recovers_a_dead_process_work_at_once(store: Store) -> None:
    """A SIGKILLed process on this host need not wait out its lease: its pid is gone from the process table."""
    gone = subprocess.Popen(["true"])
    gone.wait()  # reaped: its pid names no process now
    here = socket.gethostname()[:200]
    await store.instances().register("killed", role="gateway", host=here, pid=gone.pid, lease_s=600)
    await store.instances().register("alive", role="gateway", host=here, pid=os.getpid(), lease_s=600)
    await store.instances().register(
        "elsewhere", role="gateway", host="other-host", pid=gone.pid, lease_s=600
    )
    repo = store.work_orders(SYSTEM)
    for owner in ("killed", "alive", "elsewhere"):
        await repo.add(id=f"{owner}-run", status="running", instance_id=owner)

    assert await expire_dead_local_instances(store) == ["killed"]
    assert {w.id for w in await repo.interrupt_dead(unowned=False)} == {"killed-run"}
    assert (await repo.get("alive-run")).status == "running"
    assert (await repo.get("elsewhere-run")).status == "running"  # another host's pid says nothing here


async def test_the_heartbeat_keeps_the_lease_and_a_clean_stop_ends_it(store: Store) -> None:
    lease = await InstanceLease(store, role="worker", lease_s=0.6).start()
    await asyncio.sleep(1.5)  # more than two leases: only the heartbeat keeps it alive
    assert lease.healthy and lease.id in {i.id for i in await store.instances().live()}
    await lease.stop()
    assert lease.id not in {i.id for i in await store.instances().live()}
    row = await store.instances().get(lease.id)
    assert row is not None and row.stopped_at is not None and row.role == "worker" and row.pid > 0


async def test_a_named_lease_has_one_holder_until_it_expires(store: Store) -> None:
    leases = store.leases()
    assert await leases.acquire("x", "a", 0.5)
    assert not await leases.acquire("x", "b", 0.5)
    assert await leases.acquire("x", "a", 0.5)  # renewal
    first = await leases.holder("x")
    await asyncio.sleep(0.7)
    assert await leases.acquire("x", "b", 0.5)
    taken = await leases.holder("x")
    assert first is not None and taken is not None
    assert taken.holder == "b" and taken.acquired_at > first.acquired_at
    await leases.release("x", "a")  # not the holder: no effect
    assert (await leases.holder("x")).holder == "b"  # type: ignore[union-attr]
    await leases.release("x", "b")
    assert await leases.holder("x") is None
