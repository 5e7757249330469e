"""/metrics (Prometheus text) moves with the traffic, and /api/metrics agrees with the work-order rows,
both read from the real gateway after real requests (two priced models and one failing model).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from nexus.config.settings import Settings
from nexus.testing import FakeOpenAI, Reply
from nexus.testing.gateway import GatewayServer

from .harness import (
    COMPLETION_TOKENS,
    PROMPT_TOKENS,
    Outcome,
    ask,
    burst,
    catalogue,
    client,
    outcomes,
    read_rows,
    unit_cost,
)

PRICES = {"cheap": (0.5, 1.5), "pricey": (10.0, 30.0)}
COUNTS = {"cheap": 30, "pricey": 12}
BROKEN = 3  # requests to a model whose upstream refuses every call
CONCURRENCY = 8

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def broken_upstream() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI(default=Reply.error(400, "this upstream refuses everything"))
    with fake:
        yield fake


def scrape(text: str) -> Samples:
    """Every sample of the exposition, keyed by sample name and labels (the parse must succeed)."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def metrics_after(c: httpx.AsyncClient, base_url: str, want_requests: float) -> Samples:
    """/metrics once the HTTP counter has seen `want_requests` answered chat requests: the middleware
    counts a request just after its last byte is sent, so the client can be a moment ahead of it."""
    for _ in range(200):
        samples = scrape((await c.get(base_url + "/metrics")).text)
        if sum(_chat_requests(samples).values()) >= want_requests:
            return samples
        await asyncio.sleep(0.02)
    raise AssertionError(f"the HTTP counter never reached {want_requests}: {_chat_requests(samples)}")


def _chat_requests(samples: Samples) -> dict[str, float]:
    out: dict[str, float] = {}
    for (name, labels), v in samples.items():
        lab = dict(labels)
        if name == "nexus_http_requests_total" and lab.get("route") == "/v1/chat/completions":
            out[lab["status"]] = out.get(lab["status"], 0.0) + v
    return out


async def test_prometheus_counters_move_and_api_metrics_agree_with_the_rows(
    upstream: FakeOpenAI, broken_upstream: FakeOpenAI, upstream_key: str, tmp_path: Path, unique: str
) -> None:
    cat = catalogue(
        tmp_path / "catalogue.yaml",
        {"cheap": upstream.base_url, "pricey": upstream.base_url, "broken": broken_upstream.base_url},
        prices=PRICES,
    )
    settings = Settings(data_dir=tmp_path, config=cat, auth="off", max_retries=0)
    with GatewayServer(settings) as gw:
        base = gw.base_url
        async with client(CONCURRENCY) as c:
            before = scrape((await c.get(base + "/metrics")).text)
            assert _chat_requests(before) == {}
            sent: dict[str, list[Outcome]] = {}
            for model, n in (*COUNTS.items(), ("broken", BROKEN)):
                sent[model] = await burst(c, base, model, outcomes(f"{model}-{unique}", n), CONCURRENCY)
            after = await metrics_after(c, base, sum(COUNTS.values()) + BROKEN)
            await asyncio.to_thread(gw.call, gw.services.accounting.flush())
            api = (await c.get(base + "/api/metrics", params={"period": "24h"})).json()
            listed = (await c.get(base + "/api/work-orders", params={"limit": 1000})).json()["data"]
            one = sent["pricey"][0].request_id
            [order] = (await c.get(base + "/api/work-orders", params={"request_id": one})).json()["data"]
            detail = (await c.get(f"{base}/api/work-orders/{order['id']}")).json()
            second = await ask(c, base, "cheap", Outcome(f"again-{unique}"))
            moved = await metrics_after(c, base, sum(COUNTS.values()) + BROKEN + 1)

    assert {m: {o.status for o in outs} for m, outs in sent.items() if m != "broken"} == {
        "cheap": {200},
        "pricey": {200},
    }
    [refused] = {o.status for o in sent["broken"]}
    assert refused is not None and refused >= 400

    # Prometheus: every counter moved by exactly what was sent, per model.
    assert _chat_requests(after).get("200") == sum(COUNTS.values())
    assert sum(_chat_requests(after).values()) == sum(COUNTS.values()) + BROKEN
    for model, n in COUNTS.items():
        labels = {"model": model, "provider": "openai"}
        assert value(after, "nexus_upstream_requests_total", **labels, outcome="success") == n
        assert value(after, "nexus_tokens_total", **labels, direction="input") == n * PROMPT_TOKENS
        assert value(after, "nexus_tokens_total", **labels, direction="output") == n * COMPLETION_TOKENS
        assert value(after, "nexus_cost_usd_total", **labels) == pytest.approx(n * unit_cost(*PRICES[model]))
        assert value(after, "nexus_upstream_request_duration_seconds_count", **labels) == n
    assert (
        value(after, "nexus_upstream_requests_total", model="broken", provider="openai", outcome="error")
        == BROKEN
    )
    assert value(after, "nexus_cost_usd_total", model="broken", provider="openai") == 0
    cheap = {"model": "cheap", "provider": "openai"}
    assert value(moved, "nexus_tokens_total", **cheap, direction="input") == (
        value(after, "nexus_tokens_total", **cheap, direction="input") + PROMPT_TOKENS
    )
    assert second.status == 200

    # /api/metrics against the rows it summarises (the API's list and the tables themselves).
    orders, _ = await read_rows(settings)
    assert len(listed) == sum(COUNTS.values()) + BROKEN
    assert {o.request_id for o in orders} == {r["request_id"] for r in listed} | {second.request_id}
    assert {r["request_id"] for r in listed} == {o.request_id for outs in sent.values() for o in outs}
    totals = api["totals"]
    assert totals["requests"] == len(listed)
    assert totals["errors"] == sum(r["status"] == "failed" for r in listed) == BROKEN
    assert totals["tokens_in"] == sum(r["tokens_in"] for r in listed) == sum(COUNTS.values()) * PROMPT_TOKENS
    assert totals["tokens_out"] == sum(r["tokens_out"] for r in listed)
    assert totals["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in listed))
    assert totals["cost_usd"] == pytest.approx(sum(n * unit_cost(*PRICES[m]) for m, n in COUNTS.items()))
    latencies = [r["latency_ms"] for r in listed]
    for q in (50, 95, 99):
        assert totals["latency_ms"][f"p{q}"] == pytest.approx(float(np.percentile(latencies, q)))
    for model, n in COUNTS.items():
        by_model = api["by_model"][model]
        mine = [r for r in listed if r["owner_model"] == model]
        assert by_model["requests"] == len(mine) == n
        assert by_model["cost_usd"] == pytest.approx(n * unit_cost(*PRICES[model]))
        assert by_model["latency_ms"]["p95"] == pytest.approx(
            float(np.percentile([r["latency_ms"] for r in mine], 95))
        )
    assert api["by_provider"]["openai"]["requests"] == sum(COUNTS.values()) + BROKEN
    assert api["by_provider"]["openai"]["errors"] == BROKEN

    # The work order's detail lists the model call the request made.
    assert detail["request_id"] == one and detail["status"] == "done"
    assert [(c["model"], c["tokens_in"], c["tokens_out"]) for c in detail["calls"]] == [
        ("pricey", PROMPT_TOKENS, COMPLETION_TOKENS)
    ]
