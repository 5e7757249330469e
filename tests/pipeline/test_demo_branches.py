"""Demo mode through the real app: the documented prompts exercise every branch offline."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from tests.pipeline.harness import final, post_events, types

from nexus.config.settings import Settings
from nexus.gateway.app import create_app


@pytest.fixture
async def demo(
    tmp_path: Path, classifier_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("NEXUS_DEMO_SPEED", "0")
    monkeypatch.setenv("NEXUS_EMBEDDINGS_BACKEND", "hashing")
    import shutil

    if classifier_cache.exists():
        shutil.copytree(classifier_cache, tmp_path / "router", dirs_exist_ok=True)
    from nexus.embeddings import shared as embedder

    embedder.set_embedder(None)
    app = create_app(Settings(data_dir=tmp_path, demo=True, auth="off"))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://nexus") as c:
            yield c
    embedder.set_embedder(None)


async def test_demo_prompts_exercise_every_branch(demo: httpx.AsyncClient) -> None:
    hello = await post_events(demo, "/chat", {"message": "hello there!"})
    assert next(e for e in hello if e["type"] == "routed")["data"]["rule"] == "self-answer"

    paused = await post_events(demo, "/chat", {"message": "fix it", "session_id": "demo-hitl"})
    assert types(paused)[-2:] == ["interrupt", "done"]
    resumed = await post_events(
        demo, "/resume", {"session_id": "demo-hitl", "reply": "the failing login test"}
    )
    assert final(resumed)["clarified"] is True

    fan = await post_events(demo, "/chat", {"message": "Compute 17*23 and then write a haiku about autumn"})
    assert types(fan).count("worker_started") == 2
    assert next(e for e in fan if e["type"] == "aggregated")["data"]["mode"] == "synthesis"

    crit = await post_events(
        demo, "/chat", {"message": "critical-demo: should we approve the production database migration?"}
    )
    assert next(e for e in crit if e["type"] == "judged")["data"]["score"] == 4
    assert "escalated" in types(crit)

    qa = await post_events(demo, "/chat", {"message": "Write a haiku about autumn qa-retry-demo"})
    assert [e["data"]["passed"] for e in qa if e["type"] == "qa"] == [False, True]

    r = await demo.get("/trace/demo-hitl")
    assert r.status_code == 200 and r.json()["summary"]["run_count"] == 1
