"""/api/work-orders, /api/metrics and /api/audit over the real store (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import pytest
from fastapi import FastAPI, Request, Response

from nexus.gateway.deps import store_of
from nexus.gateway.errors import install_error_handlers
from nexus.gateway.routes import observability
from nexus.providers.metering import CallRecord
from nexus.service.identity import Principal
from nexus.store import Store
from store.helpers import BACKENDS, open_test_store


def _app(store: Store) -> FastAPI:
    """The observability routes on a real store; the principal comes from a header (what the auth gate
    does with a key is tested in tests/security), no header = auth off."""
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(observability.router)
    app.dependency_overrides[store_of] = lambda: store

    @app.middleware("http")
    async def principal_from_header(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        tenant = request.headers.get("x-tenant")
        if tenant:
            role = "global_admin" if tenant == "root" else "member"
            request.state.principal = Principal(tenant_id=tenant, role=role, subject=tenant, via="key")
        return await call_next(request)

    return app


@pytest.fixture(params=BACKENDS)
async def env(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Store, httpx.AsyncClient]]:
    async with open_test_store(request.param, tmp_path, request) as store:
        transport = httpx.ASGITransport(app=_app(store))
        async with httpx.AsyncClient(transport=transport, base_url="http://nexus") as client:
            yield store, client


LATENCIES = {"acme": [100.0, 200.0, 300.0, 400.0, 1000.0], "globex": [50.0, 70.0]}


async def _seed(store: Store) -> dict[str, list[str]]:
    queue = store.accounting_queue()
    ids: dict[str, list[str]] = {}
    for tenant, lats in LATENCIES.items():
        for i, lat in enumerate(lats):
            wid = await queue.work_order_started(
                tenant_id=tenant,
                request_id=f"{tenant}-{i}",
                run_id=f"{tenant}-run{i}",
                model_requested="nexus-auto",
                route_rule="general",
            )
            await queue.call_recorded(
                CallRecord(
                    model="small",
                    provider="openai",
                    upstream_model="s",
                    role="worker",
                    prompt_tokens=10,
                    completion_tokens=5,
                    cost_usd=0.01,
                    latency_ms=lat,
                    success=i != 1,
                    request_id=f"{tenant}-{i}",
                    tenant=tenant,
                )
            )
            await queue.event(
                SimpleNamespace(
                    type="final", run_id=f"{tenant}-run{i}", node="deliver", seq=3, data={"ok": True}
                ),
                tenant_id=tenant,
            )
            await queue.work_order_finished(
                wid,
                tenant_id=tenant,
                status="failed" if i == 1 else "done",
                tokens_in=10,
                tokens_out=5,
                cost_usd=0.01,
                latency_ms=lat,
                owner_model="small",
                error="boom" if i == 1 else None,
            )
            ids.setdefault(tenant, []).append(wid)
    await queue.audit(tenant_id="acme", actor="alice", action="key.create", target="k1")
    await queue.audit(tenant_id="globex", actor="bob", action="key.revoke", target="k2")
    await queue.close()
    return ids


async def test_work_orders_are_listed_filtered_and_scoped(env: tuple[Store, httpx.AsyncClient]) -> None:
    store, client = env
    ids = await _seed(store)
    r = await client.get("/api/work-orders", headers={"x-tenant": "acme"})
    assert r.status_code == 200
    assert {w["id"] for w in r.json()["data"]} == set(ids["acme"])
    failed = (
        await client.get("/api/work-orders?status=failed&limit=10", headers={"x-tenant": "acme"})
    ).json()
    assert [w["id"] for w in failed["data"]] == [ids["acme"][1]]
    assert len((await client.get("/api/work-orders?limit=2")).json()["data"]) == 2
    by_request = (await client.get("/api/work-orders?request_id=globex-1")).json()["data"]
    assert [w["id"] for w in by_request] == [ids["globex"][1]]
    everyone = (await client.get("/api/work-orders?since=2000-01-01&model=small")).json()["data"]
    assert len(everyone) == 7  # no scope = auth off = default tenant with global visibility


async def test_work_order_detail_has_calls_and_events_and_hides_other_tenants(
    env: tuple[Store, httpx.AsyncClient],
) -> None:
    store, client = env
    ids = await _seed(store)
    r = await client.get(f"/api/work-orders/{ids['acme'][0]}", headers={"x-tenant": "acme"})
    body = r.json()
    assert r.status_code == 200 and body["request_id"] == "acme-0"
    assert [c["latency_ms"] for c in body["calls"]] == [100.0]
    assert [e["type"] for e in body["events"]] == ["final"]
    for wid in (ids["globex"][0], "no-such-id"):
        r = await client.get(f"/api/work-orders/{wid}", headers={"x-tenant": "acme"})
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "work_order_not_found"
        assert set(r.json()["error"]) >= {"message", "type", "code"}


@pytest.mark.parametrize(
    "query", ["status=bogus", "since=yesterday", "limit=0", "limit=abc", "until=2025-13-01"]
)
async def test_bad_query_parameters_are_400s_with_a_message(
    env: tuple[Store, httpx.AsyncClient], query: str
) -> None:
    _, client = env
    r = await client.get(f"/api/work-orders?{query}")
    assert r.status_code == 400
    assert r.json()["error"]["message"]


async def test_metrics_agree_with_the_rows(env: tuple[Store, httpx.AsyncClient]) -> None:
    store, client = env
    await _seed(store)
    m = (await client.get("/api/metrics?period=today", headers={"x-tenant": "acme"})).json()
    lat = LATENCIES["acme"]
    assert m["totals"]["requests"] == 5 and m["totals"]["errors"] == 1
    assert (m["totals"]["tokens_in"], m["totals"]["tokens_out"]) == (50, 25)
    assert m["totals"]["cost_usd"] == pytest.approx(0.05)
    for q in (50, 95, 99):
        assert m["totals"]["latency_ms"][f"p{q}"] == pytest.approx(float(np.percentile(lat, q)))
    assert set(m["by_tenant"]) == {"acme"}
    assert m["by_provider"]["openai"]["requests"] == 5
    assert m["routing"] == {"by_model": {"small": 5}, "by_rule": {"general": 5}}
    everyone = (await client.get("/api/metrics")).json()
    assert everyone["period"] == "24h" and everyone["totals"]["requests"] == 7
    assert everyone["by_tenant"]["globex"]["latency_ms"]["p50"] == pytest.approx(60.0)
    bad = await client.get("/api/metrics?period=forever")
    assert bad.status_code == 400 and "today, 24h, 7d, 30d" in bad.json()["error"]["message"]


async def test_audit_filters_and_scoping(env: tuple[Store, httpx.AsyncClient]) -> None:
    store, client = env
    await _seed(store)
    mine = (await client.get("/api/audit", headers={"x-tenant": "acme"})).json()["data"]
    assert [(a["actor"], a["action"]) for a in mine] == [("alice", "key.create")]
    root = (await client.get("/api/audit?action=key.revoke", headers={"x-tenant": "root"})).json()["data"]
    assert [a["actor"] for a in root] == ["bob"]
    assert (await client.get("/api/audit?actor=bob&since=2000-01-01T00:00:00Z&until=2999-01-01")).json()[
        "data"
    ]
    assert (await client.get("/api/audit?until=2000-01-01")).json()["data"] == []
