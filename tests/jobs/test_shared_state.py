"""What stateless gateways share through Redis, each piece on its own (the processes are tested in
tests/e2e/test_multi_gateway.py): the broadcast of changes, budget counters, and the run lock that
keeps one pipeline run per session thread across processes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from nexus.pipeline.locks import RedisRunLocks
from nexus.runtime.broadcast import Broadcast
from nexus.service.budget_counters import SharedCounters
from nexus.service.budgets import BudgetExceeded, BudgetManager
from nexus.store import Store, TenantScope

from .helpers import fast_settings, open_store_for, redis_prefix, wait_for

pytestmark = pytest.mark.redis


@pytest.fixture
async def prefix(redis_url: str, unique: str) -> AsyncIterator[str]:
    async with redis_prefix(redis_url, f"nexus-test-{unique}") as p:
        yield p


# ---- broadcast --------------------------------------------------------------------------------------


async def test_a_broadcast_reaches_every_other_process_once_and_not_its_sender(
    redis_url: str, prefix: str
) -> None:
    heard: dict[str, list[Any]] = {"a": [], "b": [], "c": []}
    nodes = {}
    for name in heard:
        node = Broadcast(redis_url, f"{prefix}:broadcast", origin=name)
        node.on("catalogue", heard[name].append)
        nodes[name] = await node.start()
    try:
        reached = await nodes["a"].publish("catalogue", {"models": ["x"]}, local=False)
        assert reached == 3  # every subscriber, the sender included (it ignores its own echo)
        await wait_for(lambda: _heard(heard, "b", "c"), timeout=2, what="b and c hear it")
        await asyncio.sleep(0.1)
        assert heard == {"a": [], "b": [{"models": ["x"]}], "c": [{"models": ["x"]}]}
        await nodes["b"].publish("catalogue", {"models": ["y"]})  # local=True: applied at the sender too
        await wait_for(lambda: _heard(heard, "a"), timeout=2, what="a hears b")
        await wait_for(lambda: _heard(heard, "c", n=2), timeout=2, what="c hears b")
        assert heard["b"] == [{"models": ["x"]}, {"models": ["y"]}] and heard["a"] == [{"models": ["y"]}]
        assert nodes["c"].received == 2
    finally:
        for node in nodes.values():
            await node.close()


async def _heard(heard: dict[str, list[Any]], *names: str, n: int = 1) -> bool:
    return all(len([x for x in heard[name] if x is not None]) >= n for name in names)


async def test_without_redis_a_broadcast_is_a_local_change_only() -> None:
    heard: list[Any] = []
    node = await Broadcast(None, "unused").start()
    node.on("budgets", heard.append)
    assert await node.publish("budgets", None) == 0 and heard == [None]
    assert await node.publish("budgets", None, local=False) == 0 and heard == [None]
    await node.close()


async def test_a_failing_handler_does_not_stop_the_others_or_the_listener(
    redis_url: str, prefix: str
) -> None:
    heard: list[Any] = []
    sender = await Broadcast(redis_url, f"{prefix}:broadcast").start()
    receiver = Broadcast(redis_url, f"{prefix}:broadcast")
    receiver.on("t", lambda data: 1 / 0)
    receiver.on("t", heard.append)
    await receiver.start()
    try:
        await sender.publish("t", 1, local=False)
        await sender.publish("t", 2, local=False)
        await wait_for(lambda: _len(heard, 2), timeout=2, what="both messages")
        assert heard == [1, 2]
    finally:
        await sender.close()
        await receiver.close()


async def _len(items: list[Any], n: int) -> bool:
    return len(items) >= n


# ---- budgets ----------------------------------------------------------------------------------------


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await open_store_for(fast_settings(tmp_path))
    yield s
    await s.close()


async def _gateway(store: Store, redis_url: str, prefix: str) -> BudgetManager:
    budgets = BudgetManager(store, reconcile_s=3600)
    budgets.shared = SharedCounters(redis_url, prefix)
    await budgets.start()
    return budgets


async def test_a_budget_spent_on_two_gateways_is_enforced_on_the_sum(
    store: Store, redis_url: str, prefix: str
) -> None:
    await store.budgets(TenantScope.system()).set(
        period="day", metric="tokens", limit=1000, tenant_id="acme", hard=True
    )
    a, b = await _gateway(store, redis_url, prefix), await _gateway(store, redis_url, prefix)
    try:
        for i in range(6):  # 6 × 165 = 990, alternating gateways: each alone saw only 495
            gw = (a, b)[i % 2]
            await gw.refresh("acme")
            gw.check("acme")
            gw.record("acme", None, 165, 0.001)
            assert gw.shared is not None
            await gw.shared.settle()
        for gw in (a, b):
            await gw.refresh("acme")
            gw.check("acme")  # 990 < 1000: still admitted
        a.record("acme", None, 165, 0.001)
        assert a.shared is not None
        await a.shared.settle()
        await b.refresh("acme")
        with pytest.raises(BudgetExceeded, match="1155 tokens of 1000"):
            b.check("acme")
        # Another tenant's spend is its own.
        await b.refresh("globex")
        b.check("globex")
    finally:
        await a.close()
        await b.close()


async def test_without_shared_counters_each_gateway_sees_only_its_own_spend(store: Store) -> None:
    """What the shared counters fix: per-process counting lets the sum run past the budget."""
    await store.budgets(TenantScope.system()).set(
        period="day", metric="tokens", limit=1000, tenant_id="acme", hard=True
    )
    a, b = BudgetManager(store, reconcile_s=3600), BudgetManager(store, reconcile_s=3600)
    await a.start()
    await b.start()
    try:
        a.record("acme", None, 990, 0.0)
        b.record("acme", None, 990, 0.0)
        await b.refresh("acme")
        b.check("acme")  # 1980 spent in all, yet B admits
    finally:
        await a.close()
        await b.close()


async def test_an_unreachable_redis_leaves_each_gateway_its_own_counters(store: Store) -> None:
    await store.budgets(TenantScope.system()).set(
        period="day", metric="tokens", limit=100, tenant_id="acme", hard=True
    )
    budgets = BudgetManager(store, reconcile_s=3600)
    budgets.shared = SharedCounters("redis://127.0.0.1:1/0", "nowhere")
    await budgets.start()
    try:
        budgets.record("acme", None, 150, 0.0)
        await budgets.shared.settle()
        assert budgets.shared.write_failures == 1
        await budgets.refresh("acme")  # logs, does not raise
        with pytest.raises(BudgetExceeded):
            budgets.check("acme")
    finally:
        await budgets.close()


# ---- the run lock -----------------------------------------------------------------------------------


async def test_one_run_per_thread_across_processes_and_a_dead_holder_is_forgotten(
    redis_url: str, prefix: str
) -> None:
    a, b = RedisRunLocks(redis_url, prefix, ttl_s=0.6), RedisRunLocks(redis_url, prefix, ttl_s=0.6)
    order: list[str] = []
    try:
        release = asyncio.Event()

        async def first() -> None:
            async with a.hold("acme:s1"):
                order.append("a in")
                await release.wait()  # held past the ttl: renewal keeps it
                order.append("a out")

        async def second() -> None:
            async with b.hold("acme:s1"):
                order.append("b in")

        ta = asyncio.create_task(first())
        await wait_for(lambda: _len(order, 1), timeout=2, what="a holds the lock")
        tb = asyncio.create_task(second())
        async with b.hold("acme:other"):  # another session's thread is not blocked
            pass
        await asyncio.sleep(1.5)  # > 2 × ttl: without renewal b would have got in
        assert order == ["a in"]
        release.set()
        await asyncio.gather(ta, tb)
        assert order == ["a in", "a out", "b in"] and b.waits == 1

        # A holder that died (no renewal, no release) blocks only until its ttl runs out.
        client = aioredis.from_url(redis_url)
        await client.set(a.name("acme:s2"), "dead-process", px=500)
        await client.aclose()
        started = time.monotonic()
        async with b.hold("acme:s2"):
            waited = time.monotonic() - started
        assert 0.3 < waited < 2.0
    finally:
        await a.aclose()
        await b.aclose()


async def test_an_unreachable_redis_lets_the_run_go_ahead_under_the_process_lock() -> None:
    locks = RedisRunLocks("redis://127.0.0.1:1/0", "nowhere")
    ran = False
    async with locks.hold("acme:s1"):
        ran = True
    assert ran
    await locks.aclose()
