"""A burst of concurrent requests through the real gateway leaves exactly one work order per request,
with token and cost totals equal to the upstream's usage at the catalogue's prices (SQLite and PostgreSQL).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from nexus.config.settings import Settings
from nexus.testing import FakeOpenAI
from nexus.testing.gateway import GatewayServer

from .harness import (
    COMPLETION_TOKENS,
    PROMPT_TOKENS,
    burst,
    by_request_id,
    catalogue,
    client,
    outcomes,
    read_rows,
    unit_cost,
)

N, CONCURRENCY = 500, 32
MODEL = "burst-model"


async def test_a_burst_of_500_leaves_500_work_orders_with_exact_totals(
    upstream: FakeOpenAI, upstream_key: str, database_url: str | None, tmp_path: Path, unique: str
) -> None:
    cat = catalogue(tmp_path / "catalogue.yaml", {MODEL: upstream.base_url})
    settings = Settings(data_dir=tmp_path, config=cat, auth="off", database_url=database_url)
    sent = outcomes(f"burst-{unique}", N)
    with GatewayServer(settings) as gw:
        async with client(CONCURRENCY) as c:
            await burst(c, gw.base_url, MODEL, sent, CONCURRENCY)
        # Every write queued before this point is committed (or counted as failed) when it returns.
        await asyncio.to_thread(gw.call, gw.services.accounting.flush())
        stats = gw.services.accounting.stats

    assert Counter(o.status for o in sent) == {200: N}
    assert stats.failed == 0 and stats.rejected == 0
    orders, calls = await read_rows(settings)

    rows = by_request_id(orders)  # also asserts one work order per request id
    assert len(orders) == N and set(rows) == {o.request_id for o in sent}
    assert Counter(o.status for o in orders) == {"done": N}
    assert not any(o.incomplete for o in orders)
    assert {(o.model_requested, o.owner_model, o.provider) for o in orders} == {(MODEL, MODEL, "openai")}
    assert sum(o.tokens_in for o in orders) == N * PROMPT_TOKENS
    assert sum(o.tokens_out for o in orders) == N * COMPLETION_TOKENS
    assert sum(o.cost_usd for o in orders) == pytest.approx(N * unit_cost(), rel=1e-9)
    assert all(o.latency_ms is not None and o.latency_ms > 0 for o in orders)

    # The metering path (one model call per request) agrees with the work orders.
    assert len(calls) == N and all(c.success and c.model == MODEL for c in calls)
    assert {c.request_id for c in calls} == set(rows)
    assert sum(c.tokens_in for c in calls) == N * PROMPT_TOKENS
    assert sum(c.tokens_out for c in calls) == N * COMPLETION_TOKENS
    assert sum(c.cost_usd for c in calls) == pytest.approx(N * unit_cost(), rel=1e-9)
