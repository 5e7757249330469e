"""The accounting queue: off the hot path, flushed promptly and on close, back-pressure when full."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from types import SimpleNamespace

import numpy as np
from sqlalchemy import func, select

from nexus.providers.metering import CallRecord
from nexus.store import Store, TenantScope
from nexus.store.models import ModelCall, WorkOrder, utcnow
from nexus.store.queue import _audit_op as make_audit_op
from nexus.store.queue import _Insert

SYSTEM = TenantScope.system()


async def _count(store: Store, model: type) -> int:
    async with store.sessions() as s:
        return int((await s.execute(select(func.count()).select_from(model))).scalar_one())


async def test_writer_commits_without_flush_or_close(store: Store) -> None:
    queue = store.accounting_queue(flush_s=1.0)
    try:
        assert queue._linger <= 1.0
        wid = await queue.work_order_started(request_id="req-1", model_requested="m")
        # No flush() and no close(): the background writer alone must commit the row.
        for _ in range(100):
            if await store.work_orders(SYSTEM).find(wid):
                break
            await asyncio.sleep(0.05)
        row = await store.work_orders(SYSTEM).get(wid)
        assert (row.status, row.request_id) == ("running", "req-1")
    finally:
        await queue.close()


async def test_close_drains_everything(store: Store) -> None:
    queue = store.accounting_queue()
    for i in range(300):
        await queue.audit(action="test", target=str(i))
    await queue.close()
    assert len(await store.audit(SYSTEM).list(limit=1000)) == 300
    assert queue.depth == 0


async def test_full_queue_pushes_back_instead_of_dropping(store: Store) -> None:
    queue = store.accounting_queue(maxsize=3, flush_s=1.0)
    await asyncio.sleep(0)  # the writer waits on the empty queue
    assert queue.offer(_audit_op(0))
    await asyncio.sleep(0)  # the writer takes it and lingers, gathering a batch
    assert all(queue.offer(_audit_op(i)) for i in (1, 2, 3))
    assert queue.depth == 3
    assert queue.offer(_audit_op(4)) is False  # refused and counted, not silently lost
    assert queue.stats.rejected == 1
    waiting = asyncio.create_task(queue.put(_audit_op(5)))
    await asyncio.sleep(0)
    assert not waiting.done()  # put() waits for room
    await queue.close()
    assert waiting.done()
    assert sorted(a.target for a in await store.audit(SYSTEM).list()) == ["0", "1", "2", "3", "5"]


def _audit_op(i: int) -> _Insert:
    return make_audit_op("test", "default", "", str(i), "ok", None)


async def test_sync_listener_defers_when_full_and_close_drains(store: Store) -> None:
    queue = store.accounting_queue(maxsize=2)
    for i in range(10):
        queue.on_call(
            CallRecord(
                model="m",
                provider="p",
                upstream_model="u",
                role="worker",
                prompt_tokens=i,
                completion_tokens=1,
                cost_usd=0.0,
                latency_ms=1.0,
                success=True,
                tenant="acme",
            )
        )
    assert queue.stats.deferred > 0
    await queue.close()
    assert await _count(store, ModelCall) == 10
    assert queue.stats.rejected == 0


async def test_500_work_orders_totals_and_metrics_agree_with_the_rows(store: Store) -> None:
    rng = random.Random(7)
    queue = store.accounting_queue()
    expected = {"in": 0, "out": 0, "cost": 0.0}
    latencies = []
    for i in range(500):
        tenant = ("acme", "globex")[i % 2]
        wid = await queue.work_order_started(
            tenant_id=tenant,
            request_id=f"r{i}",
            model_requested="nexus-auto",
            route_rule=("simple", "code")[i % 2],
            run_id=f"run{i}",
        )
        t_in, t_out, cost, lat = (
            rng.randint(1, 900),
            rng.randint(1, 400),
            rng.random() / 100,
            rng.uniform(5, 900),
        )
        model = ("small", "large")[i % 3 == 0]
        ok = i % 25 != 0
        await queue.call_recorded(
            CallRecord(
                model=model,
                provider=("openai", "anthropic")[i % 3 == 0],
                upstream_model=model,
                role="worker",
                prompt_tokens=t_in,
                completion_tokens=t_out,
                cost_usd=cost,
                latency_ms=lat,
                success=ok,
                request_id=f"r{i}",
                tenant=tenant,
            ),
            work_order_id=wid,
        )
        await queue.event(
            SimpleNamespace(
                type="done", run_id=f"run{i}", session_id=None, node="deliver", seq=1, ts=None, data={"i": i}
            ),
            tenant_id=tenant,
        )
        await queue.work_order_finished(
            wid,
            tenant_id=tenant,
            status="done" if ok else "failed",
            tokens_in=t_in,
            tokens_out=t_out,
            cost_usd=cost,
            latency_ms=lat,
            owner_model=model,
            error=None if ok else "upstream_error: boom",
        )
        expected["in"] += t_in
        expected["out"] += t_out
        expected["cost"] += cost
        latencies.append(lat)
    await queue.flush()
    assert queue.stats.failed == 0

    async with store.sessions() as s:
        n, s_in, s_out, s_cost = (
            await s.execute(
                select(
                    func.count(),
                    func.sum(WorkOrder.tokens_in),
                    func.sum(WorkOrder.tokens_out),
                    func.sum(WorkOrder.cost_usd),
                )
            )
        ).one()
    assert (n, s_in, s_out) == (500, expected["in"], expected["out"])
    assert abs(s_cost - expected["cost"]) < 1e-9

    m = await store.metrics(SYSTEM, "24h")
    assert m["totals"]["requests"] == 500 and m["totals"]["errors"] == 20
    assert (m["totals"]["tokens_in"], m["totals"]["tokens_out"]) == (expected["in"], expected["out"])
    assert abs(m["totals"]["cost_usd"] - expected["cost"]) < 1e-6
    for q in (50, 95, 99):
        assert abs(m["totals"]["latency_ms"][f"p{q}"] - float(np.percentile(latencies, q))) < 1e-6
    assert m["by_tenant"]["acme"]["requests"] == m["by_tenant"]["globex"]["requests"] == 250
    assert sum(g["requests"] for g in m["by_provider"].values()) == 500
    assert sum(p["requests"] for p in m["timeseries"]) == 500
    assert m["routing"]["by_rule"] == {"simple": 250, "code": 250}
    assert sum(m["routing"]["by_model"].values()) == 500

    # A tenant sees only its own half.
    acme = await store.metrics(TenantScope("acme"), "24h")
    assert acme["totals"]["requests"] == 250 and set(acme["by_tenant"]) == {"acme"}
    await queue.close()


async def test_mark_interrupted_flags_what_a_dead_process_left_running(store: Store) -> None:
    queue = store.accounting_queue()
    old = utcnow() - timedelta(seconds=5)
    running = await queue.work_order_started(status="running", created_at=old)
    pending = await queue.work_order_started(status="pending", created_at=old)
    paused = await queue.work_order_started(status="paused", created_at=old)
    done = await queue.work_order_started(created_at=old)
    await queue.work_order_finished(done, tokens_in=1)
    await queue.close()

    assert await store.mark_interrupted() == 2
    repo = store.work_orders(SYSTEM)
    for wid in (running, pending):
        row = await repo.get(wid)
        assert (row.status, row.incomplete, row.error) == ("failed", True, "interrupted")
        assert row.finished_at is not None
    assert (await repo.get(paused)).status == "paused"  # waiting for a human survives restarts
    assert (await repo.get(done)).incomplete is False
    assert await store.mark_interrupted() == 0


async def test_finish_without_a_started_row_still_records_the_order(store: Store) -> None:
    queue = store.accounting_queue()
    await queue.work_order_finished("orphan", tenant_id="acme", tokens_in=3, tokens_out=4, cost_usd=0.5)
    await queue.close()
    row = await store.work_orders(TenantScope("acme")).get("orphan")
    assert (row.status, row.tokens_in, row.tokens_out, row.cost_usd) == ("done", 3, 4, 0.5)


async def test_one_bad_row_does_not_sink_its_batch(store: Store) -> None:
    queue = store.accounting_queue()
    await queue.work_order_started(id="dup")
    await queue.flush()
    await queue.work_order_started(id="dup")  # primary key clash
    await queue.audit(action="after")
    await queue.close()
    assert queue.stats.failed == 1
    assert [a.action for a in await store.audit(SYSTEM).list()] == ["after"]
