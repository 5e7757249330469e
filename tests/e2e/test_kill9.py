"""SIGKILL the gateway in the middle of a burst, restart it on the same data directory, and check what
the accounting queue promised: an answered request's work order is durable once the flush bound
(one second, or the writer's lag when a saturating burst makes one batch's commit take longer; the
test measures it) has passed; younger ones may be lost or flagged; nothing is left "running".

Not "0 acknowledged answers without a done record": the accounting is written in batches off the
request path, so the answers of the last flush interval before a SIGKILL can lose their done row
(measured and explained in docs/reliability.md, "What a SIGKILL loses").
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus.config.settings import Settings
from nexus.testing import FakeOpenAI, Reply

from .harness import (
    COMPLETION_TOKENS,
    PROMPT_TOKENS,
    Outcome,
    ServeProcess,
    ask,
    burst,
    by_request_id,
    catalogue,
    client,
    outcomes,
    read_rows,
    unit_cost,
)

FLUSH_BOUND_S = (
    1.0  # Settings.accounting_flush_s: the most a killed process may lose on an unsaturated writer
)
CONCURRENCY = 16
SLOW = 4  # requests stuck upstream when the kill lands: their work orders must be flagged


@pytest.fixture(scope="module")
def stuck_upstream() -> Iterator[FakeOpenAI]:
    """Holds every call far longer than the test runs, so its requests are in flight at the kill."""
    fake = FakeOpenAI(default=Reply(delay=60.0, usage=(PROMPT_TOKENS, COMPLETION_TOKENS)))
    with fake:
        yield fake


async def test_kill_9_mid_burst_keeps_answered_work_orders_and_flags_the_rest(
    upstream: FakeOpenAI, stuck_upstream: FakeOpenAI, tmp_path: Path, unique: str
) -> None:
    cat = catalogue(
        tmp_path / "catalogue.yaml", {"fast": upstream.base_url, "stuck": stuck_upstream.base_url}
    )
    first = ServeProcess(cat, tmp_path).start()
    fast = outcomes(f"fast-{unique}", 100_000)  # far more than can be sent: the kill ends the burst
    stuck = outcomes(f"stuck-{unique}", SLOW)
    probe = Outcome(f"probe-{unique}")
    try:
        async with client(CONCURRENCY + SLOW) as c:
            flood = asyncio.create_task(burst(c, first.base_url, "fast", fast, CONCURRENCY))
            await asyncio.sleep(2.0)
            held = [asyncio.create_task(ask(c, first.base_url, "stuck", o)) for o in stuck]
            # Once the stuck calls are upstream (their work orders opened; on a loaded machine that can
            # take a while after the client sent them), their "started" rows must reach the disk.
            deadline = time.monotonic() + 30
            while len(stuck_upstream.requests) < SLOW and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert len(stuck_upstream.requests) >= SLOW, "the stuck requests never reached the upstream"
            # Their "started" rows are written by the accounting writer, batch after batch; under this
            # flood on a loaded CI machine one batch can take longer than the flush bound, so wait until
            # the rows are readable (the writer's lag, printed) rather than assume it.
            lag = await wait_for_rows(first.base_url, stuck, deadline_s=30.0)
            await asyncio.sleep(max(FLUSH_BOUND_S, lag) + 0.5)
            # The writer is one FIFO: once a probe's done row is readable, every answer given before
            # the probe was sent is on disk. That is the durable point the kill is judged against (a
            # fixed bound is not: under this flood on a loaded machine the writer's lag keeps growing).
            async with client(1) as pc:
                await ask(pc, first.base_url, "fast", probe)
            assert probe.status == 200
            await wait_for_rows(first.base_url, [probe], deadline_s=60.0, done=True)
            killed_at = time.monotonic()
            first.kill9()
            for task in (flood, *held):
                task.cancel()
            await asyncio.gather(flood, *held, return_exceptions=True)
    finally:
        first.kill()
    answered = [o for o in fast if o.answered_at is not None]
    assert answered and Counter(o.status for o in answered) == {200: len(answered)}, first.log_tail()
    assert all(o.answered_at is None for o in stuck)
    assert probe.sent_at is not None
    bound = killed_at - probe.sent_at  # the window the kill may lose, as measured
    early = [o for o in answered if o.answered_at is not None and o.answered_at < probe.sent_at]
    late = [o for o in answered if o not in early]
    in_flight = [o for o in fast if o.sent_at is not None and o.answered_at is None]

    second = ServeProcess(cat, tmp_path).start()  # its start-up marks the dead process's work orders
    try:
        async with client(1) as c:
            after = await ask(c, second.base_url, "fast", Outcome(f"after-{unique}"))
            assert after.status == 200
            for o in stuck:
                r = await c.get(second.base_url + "/api/work-orders", params={"request_id": o.request_id})
                [row] = r.json()["data"]
                assert (row["status"], row["incomplete"], row["error"]) == ("failed", True, "interrupted")
    finally:
        second.stop()

    orders, _ = await read_rows(Settings(data_dir=tmp_path))
    rows = by_request_id(orders)
    missing = [o for o in answered if o.request_id not in rows or rows[o.request_id].status != "done"]
    flagged = [o for o in orders if o.incomplete]
    window = max((killed_at - (o.answered_at or killed_at) for o in missing), default=0.0)
    print(
        f"\nkill -9 after {len(answered)} answered requests: {len(early)} answered > {bound:.3f}s "
        f"before the kill, {len(late)} in the last {bound:.3f}s, {len(in_flight)} fast + {SLOW} stuck "
        f"in flight; answered but without a done work order: {len(missing)}; flagged incomplete: "
        f"{len(flagged)}; the oldest of those was answered {window:.3f}s before the kill; the stuck "
        f"requests' started rows were readable {lag:.3f}s after they reached the upstream"
    )

    # Durable: every request answered more than the flush bound before the kill has its done row.
    for o in early:
        row = rows.get(o.request_id)
        assert row is not None, f"{o.request_id} was answered past the flush bound yet has no work order"
        assert (row.status, row.incomplete, row.tokens_in, row.tokens_out) == (
            "done",
            False,
            PROMPT_TOKENS,
            COMPLETION_TOKENS,
        )
        assert row.cost_usd == pytest.approx(unit_cost())
    # Bounded loss: only requests answered inside the last second may lack their done row.
    assert {o.request_id for o in missing} <= {o.request_id for o in late}
    assert len(missing) <= len(late)
    # Nothing stays running; every interrupted row is failed + incomplete, and none of them is a
    # request that was answered before the flush bound.
    assert not [o for o in orders if o.status in ("pending", "running")]
    assert {(o.status, o.error) for o in flagged} <= {("failed", "interrupted")}
    assert {o.request_id for o in stuck} <= {o.request_id for o in flagged}
    assert not {o.request_id for o in flagged} & {o.request_id for o in early}
    # Every row belongs to a request this test sent.
    sent = {o.request_id for o in (*fast, *stuck, probe) if o.sent_at is not None} | {after.request_id}
    assert set(rows) <= sent


async def wait_for_rows(
    base_url: str, sent: list[Outcome], *, deadline_s: float, done: bool = False
) -> float:
    """Seconds until every request in `sent` has its work order readable through /api/work-orders
    (on a connection of its own: the burst holds all of the test client's)."""
    start = time.monotonic()
    pending = {o.request_id for o in sent}
    async with client(1) as c:
        while pending:
            waited = time.monotonic() - start
            assert waited < deadline_s, f"no work order after {deadline_s}s for {sorted(pending)}"
            for request_id in list(pending):
                r = await c.get(base_url + "/api/work-orders", params={"request_id": request_id})
                rows = r.json()["data"] if r.status_code == 200 else []
                if rows and (not done or rows[0]["status"] == "done"):
                    pending.discard(request_id)
            if pending:
                await asyncio.sleep(0.05)
    return time.monotonic() - start
