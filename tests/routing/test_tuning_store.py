"""RouterTuning and the SemanticCache on the real store (SQLite and PostgreSQL): tenant-scoped feedback,
retrain into a candidate, explicit promotion, start-up reload; cache namespaces, TTL and bound."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from tests.routing.test_policy import KeywordStub, make_router
from tests.store.helpers import BACKENDS, open_test_store

from nexus.embeddings import HashingEmbedder
from nexus.providers.types import ChatMessage, ChatRequest
from nexus.routing.base import RouteContext
from nexus.routing.router import Router
from nexus.service.cache import Lookup, SemanticCache
from nexus.service.errors import ServiceError
from nexus.service.feedback import FeedbackIn, RouterSettingsIn, RouterTuning
from nexus.service.identity import Caller, Principal
from nexus.store import Store, TenantScope
from nexus.store.models import utcnow
from nexus.store.repos.router import CacheEntries, RoutedTurns

PROMPT = "write a python function to sort a list"
ADMIN = TenantScope("acme", False)


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with open_test_store(request.param, tmp_path, request) as s:
        yield s


def caller(tenant: str) -> Caller:
    return Caller(Principal(tenant, "member", f"user-{tenant}", "key", key_id=f"k-{tenant}"), "test", "req")


async def _routed_order(store: Store, tuning: RouterTuning, tenant: str, wo: str, model: str) -> None:
    await store.work_orders(TenantScope(tenant, False)).add(id=wo, route="pipeline", owner_model=model)
    await tuning.begin(caller(tenant), wo, f"s-{wo}", PROMPT)
    await tuning.drain()


async def test_feedback_is_tenant_scoped_and_promotion_is_explicit(store: Store, tmp_path: Path) -> None:
    router = make_router(tmp_path, classifier=KeywordStub())
    tuning = RouterTuning(store, lambda: router)
    for i in range(4):
        await _routed_order(store, tuning, "acme", f"wo-a{i}", "coder")
        await tuning.submit(caller("acme"), FeedbackIn(work_order_id=f"wo-a{i}", rating="down"))
    await _routed_order(store, tuning, "globex", "wo-g", "coder")
    # Another tenant's work order is not found: globex cannot rate acme's answers.
    with pytest.raises(ServiceError) as exc:
        await tuning.submit(caller("globex"), FeedbackIn(work_order_id="wo-a0", rating="up"))
    assert exc.value.status == 404
    # globex has nothing to learn from; a tenant admin cannot retrain another tenant.
    with pytest.raises(ServiceError):
        await tuning.retrain(TenantScope("globex", False), "globex")
    with pytest.raises(ServiceError) as exc:
        await tuning.retrain(TenantScope("globex", False), "acme")
    assert exc.value.status == 404

    report = await tuning.retrain(ADMIN, "acme")
    assert report["ratings"] == 4 and report["changed"][0]["served"] == "coder"
    assert router.decide(PROMPT, RouteContext(tenant="acme")).model == "coder"  # a candidate serves nothing
    assert router.decide(PROMPT, RouteContext(tenant="acme", candidate=True)).model != "coder"
    await tuning.promote(ADMIN, "acme")
    moved = router.decide(PROMPT, RouteContext(tenant="acme")).model
    assert moved != "coder"
    assert router.decide(PROMPT, RouteContext(tenant="globex")).model == "coder"

    # A fresh process (a new router) serves the promoted version again after load_promoted.
    fresh = make_router(tmp_path / "fresh", classifier=KeywordStub())
    assert await RouterTuning(store, lambda: fresh).load_promoted() == 1
    assert fresh.decide(PROMPT, RouteContext(tenant="acme")).model == moved
    assert fresh.decide(PROMPT, RouteContext(tenant="globex")).model == "coder"


def _chat(text: str, system: str | None = None, **kw: object) -> ChatRequest:
    msgs = ([ChatMessage(role="system", content=system)] if system else []) + [
        ChatMessage(role="user", content=text)
    ]
    return ChatRequest(model="nexus-auto", messages=msgs, **kw)  # type: ignore[arg-type]


async def test_cache_namespaces_ttl_and_bound(store: Store, tmp_path: Path) -> None:
    router: Router = make_router(tmp_path, classifier=KeywordStub())
    tuning = RouterTuning(store, lambda: router)
    embedder = HashingEmbedder()
    cache = SemanticCache(store, tuning, lambda: embedder, max_entries=3)
    q = "How do I reset my password on the staff portal?"
    assert await cache.lookup("acme", _chat(q)) is None  # not opted in
    for t in ("acme", "globex"):
        await tuning.save_settings(TenantScope(t, False), t, RouterSettingsIn(cache_enabled=True))

    miss = await cache.lookup("acme", _chat(q))
    assert miss is not None and miss.status == "miss"
    await cache.put("acme", miss, "acme's answer", "general")
    hit = await cache.lookup("acme", _chat(q))
    assert hit is not None and hit.entry is not None and hit.entry.answer == "acme's answer"
    # A paraphrase close enough in embedding space hits too (the hashing embedder: same words, other case).
    near = await cache.lookup("acme", _chat(q.upper()))
    assert near is not None and near.status == "hit" and near.similarity >= cache.threshold
    # Same prompt, another tenant: a miss; its rows are not even visible to acme's scope.
    other = await cache.lookup("globex", _chat(q))
    assert other is not None and other.status == "miss"
    await cache.put("globex", other, "globex's answer", "general")
    got = await cache.lookup("globex", _chat(q))
    assert got is not None and got.entry is not None and got.entry.answer == "globex's answer"
    acme = CacheEntries(store.sessions, TenantScope("acme", False))
    assert {e.answer for e in await acme.all(acme.select())} == {"acme's answer"}
    # A changed system prompt, history or parameter is another key: a miss.
    for changed in (_chat(q, system="Answer in French."), _chat(q, max_tokens=5), _chat(q, seed=7)):
        found = await cache.lookup("acme", changed)
        assert found is not None and found.status == "miss"
    # Tools and sampled answers are never read nor written.
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    assert (await cache.lookup("acme", _chat(q, tools=tools))).status == "bypass"  # type: ignore[union-attr]
    assert (await cache.lookup("acme", _chat(q, temperature=0.7))).status == "bypass"  # type: ignore[union-attr]
    assert (await cache.lookup("acme", _chat(q), critical=True)).status == "bypass"  # type: ignore[union-attr]
    await cache.put("acme", Lookup("bypass", "tools"), "never", "general")  # a bypassed turn is never stored

    # Bounded: at most max_entries per tenant, oldest dropped.
    for i in range(5):
        m = await cache.lookup("acme", _chat(f"unrelated question number {i} about invoices"))
        assert m is not None and m.status == "miss"
        await cache.put("acme", m, f"answer {i}", "general")
    repo = CacheEntries(store.sessions, TenantScope("acme", False))
    assert await repo.count() == 3
    # Expired entries are not served.
    await repo.run(repo.update().values(expires_at=utcnow() - timedelta(seconds=1)))
    gone = await cache.lookup("acme", _chat("unrelated question number 4 about invoices"))
    assert gone is not None and gone.status == "miss"


async def test_routed_turn_records_arm(store: Store, tmp_path: Path) -> None:
    router = make_router(tmp_path, classifier=KeywordStub())
    tuning = RouterTuning(store, lambda: router)
    arms = [{"name": "a", "weight": 1.0}, {"name": "b", "weight": 3.0, "cost_lambda": 2.0}]
    await tuning.save_settings(ADMIN, "acme", RouterSettingsIn.model_validate({"arms": arms}))
    got = await tuning.begin(caller("acme"), "wo-1", "session-1", PROMPT)
    await tuning.drain()
    assert got is not None and got.arm in ("a", "b")
    row = await RoutedTurns(store.sessions, ADMIN).get("wo-1")
    assert (row.arm, row.propensity) == (got.arm, got.propensity)
    assert await tuning.begin(caller("globex"), "wo-2", "session-1", PROMPT) is None  # no test for globex


async def test_ab_report_per_arm(store: Store, tmp_path: Path) -> None:
    router = make_router(tmp_path, classifier=KeywordStub())
    tuning = RouterTuning(store, lambda: router)
    arms = [{"name": "a", "weight": 1.0}, {"name": "b", "weight": 1.0}]
    await tuning.save_settings(ADMIN, "acme", RouterSettingsIn.model_validate({"arms": arms}))
    orders = store.work_orders(ADMIN)
    by_arm: dict[str, list[str]] = {"a": [], "b": []}
    for i in range(40):
        wo = f"wo-{i}"
        await orders.add(id=wo, route="pipeline", owner_model="coder", cost_usd=0.01, latency_ms=100.0)
        got = await tuning.begin(caller("acme"), wo, f"session-{i}", PROMPT)
        assert got is not None and got.arm is not None
        by_arm[got.arm].append(wo)
    await tuning.drain()
    for wo in by_arm["a"][:4]:
        await tuning.submit(caller("acme"), FeedbackIn(work_order_id=wo, rating="up"))
    for wo in by_arm["b"][:4]:
        await tuning.submit(caller("acme"), FeedbackIn(work_order_id=wo, score=0.25))
    report = {r["arm"]: r for r in await tuning.ab_report(ADMIN, "acme")}
    assert {a: r["turns"] for a, r in report.items()} == {a: len(w) for a, w in by_arm.items()}
    assert report["a"]["score"] == 1.0 and report["a"]["ratings"] == 4
    assert report["b"]["score"] == 0.25
    assert report["a"]["mean_cost_usd"] == pytest.approx(0.01)
    assert await tuning.ab_report(TenantScope("globex", False), "globex") == []


async def test_a_work_order_run_again_overwrites_its_routing_record(store: Store, tmp_path: Path) -> None:
    router = make_router(tmp_path, classifier=KeywordStub())
    tuning = RouterTuning(store, lambda: router)
    await tuning.begin(caller("acme"), "wo-r", "s-1", "first attempt")
    await tuning.drain()
    await tuning.begin(caller("acme"), "wo-r", "s-1", "second attempt")  # a queued order's retry
    await tuning.drain()
    assert (await RoutedTurns(store.sessions, ADMIN).get("wo-r")).prompt == "second attempt"
