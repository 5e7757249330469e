"""The fine-tuning lifecycle against FakeFineTuning over real HTTP: success registers a routable model for
the tenant; failure keeps the provider's reason; a transient 5xx is retried; cancel stops it here and
upstream; a gateway restart mid-poll resumes the durable poll."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from tests.conftest import POSTGRES_URL
from tests.finetune.conftest import pairs, wait_for
from tests.jobs.helpers import postgres_database

from nexus.config.settings import Settings
from nexus.finetune import FineTuneService
from nexus.store import TenantScope
from nexus.store.repos.faq import TenantModels
from nexus.testing.fake_finetune import FakeFineTuning, JobPlan
from nexus.testing.gateway import GatewayServer

FINISHED = ("succeeded", "failed", "cancelled")


@contextmanager
def own_database() -> Iterator[str]:
    cm = postgres_database(POSTGRES_URL, "ftr_" + uuid.uuid4().hex[:10])
    loop = asyncio.new_event_loop()  # one loop throughout: asyncio.run would finalise the generator
    try:
        url = loop.run_until_complete(cm.__aenter__())
        try:
            yield url
        finally:
            loop.run_until_complete(cm.__aexit__(None, None, None))
    finally:
        loop.close()


def create(api: httpx.Client, **body: Any) -> dict[str, Any]:
    r = api.post("/api/fine-tunes", json={"base_model": "base", "pairs": pairs(), **body})
    assert r.status_code == 202, r.text
    return dict(r.json())


def finished(api: httpx.Client, ft_id: str, timeout: float = 30.0) -> dict[str, Any]:
    return dict(
        wait_for(
            lambda: api.get(f"/api/fine-tunes/{ft_id}").json(), lambda v: v["status"] in FINISHED, timeout
        )
    )


def test_success_registers_a_routable_model_for_the_tenant(
    api: httpx.Client, fake: FakeFineTuning, gateway: GatewayServer
) -> None:
    ft = create(api, suffix="faq")
    assert ft["status"] == "pending" and ft["examples"] == 12
    done = finished(api, ft["id"])
    assert done["status"] == "succeeded", done
    assert done["fine_tuned_model"].startswith("ft:gpt-4o-mini-2024-07-18:fake-org:faq:")
    model = done["model"]
    assert model == f"ft:default:faq:{ft['id'][-6:]}"
    # The provider got the JSONL (chat format) through its Files API, and every state was seen.
    upload = fake.file_contents[done["training_file_id"]].decode()
    assert upload.count("\n") == 12 and '"role":"assistant"' in upload
    assert done["polls"] >= 3
    # Registered: in the live catalogue (priced like its base, tagged for its tenant, with prototypes)…
    entry = gateway.services.hub.entry(model)
    assert "tenant:default" in entry.tags and "fine-tuned" in entry.tags
    assert entry.prototypes[0] == "How do I change billing item 0?"
    assert entry.input_price_per_mtok == gateway.services.hub.entry("base").input_price_per_mtok
    # The shared router leaves it out (nexus-auto is every tenant's): only the explicit name reaches it.
    assert model not in gateway.services.router._available and "base" in gateway.services.router._available
    rows = gateway.call(TenantModels(gateway.services.store.sessions, TenantScope.system()).list())
    assert [r.id for r in rows if r.id == model] == [model]
    # …and routable: a chat turn naming it reaches the provider with the fine-tuned model's name.
    r = api.post(
        "/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": "hi"}]}
    )
    assert r.status_code == 200, r.text
    assert fake.requests[-1].json["model"] == done["fine_tuned_model"]
    listed = api.get("/api/fine-tunes").json()["data"]
    assert ft["id"] in [x["id"] for x in listed]


def test_failure_records_the_providers_reason(api: httpx.Client, fake: FakeFineTuning) -> None:
    reason = "Training file has 12 examples with invalid roles on line 3."
    fake.plan(JobPlan(outcome="failed", error=reason))
    done = finished(api, create(api)["id"])
    assert done["status"] == "failed"
    assert done["error"] == reason
    assert done["model"] is None


def test_a_transient_5xx_is_retried(api: httpx.Client, fake: FakeFineTuning) -> None:
    before = fake.job_reads
    fake.fail_reads(503, times=2)
    done = finished(api, create(api)["id"])
    assert done["status"] == "succeeded", done
    # Three states to step through plus the two refused reads.
    assert fake.job_reads - before >= 5


def test_an_unfixable_dataset_is_refused_before_anything_is_sent(
    api: httpx.Client, fake: FakeFineTuning
) -> None:
    n = len(fake.files)
    r = api.post("/api/fine-tunes", json={"base_model": "base", "pairs": pairs(3)})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_dataset"
    r = api.post("/api/fine-tunes", json={"base_model": "other", "pairs": pairs()})
    assert r.status_code == 400 and r.json()["error"]["code"] == "not_fine_tunable"
    r = api.post("/api/fine-tunes", json={"base_model": "nope", "pairs": pairs()})
    assert r.status_code == 404
    assert len(fake.files) == n


def test_cancel_stops_it_here_and_upstream(
    api: httpx.Client, fake: FakeFineTuning, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(FineTuneService, "poll_s", 0.5)  # slow enough to cancel between polls
    monkeypatch.setattr(FineTuneService, "poll_max_s", 0.5)
    ft = create(api)
    wait_for(
        lambda: api.get(f"/api/fine-tunes/{ft['id']}").json(), lambda v: v["provider_job_id"] is not None
    )
    r = api.post(f"/api/fine-tunes/{ft['id']}/cancel")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    provider_id = r.json()["provider_job_id"]
    assert fake.jobs[provider_id].status == "cancelled"
    reads = fake.job_reads
    import time

    time.sleep(1.2)
    assert api.get(f"/api/fine-tunes/{ft['id']}").json()["status"] == "cancelled"
    assert fake.job_reads == reads  # no poll after the cancel
    again = api.post(f"/api/fine-tunes/{ft['id']}/cancel")
    assert again.status_code == 409


def test_a_restart_mid_poll_resumes(
    settings: Settings, fake: FakeFineTuning, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a database of its own: no other gateway's job engine is there to pick the poll up."""
    monkeypatch.setattr(FineTuneService, "poll_s", 0.4)
    monkeypatch.setattr(FineTuneService, "poll_max_s", 0.4)
    with own_database() as url:
        restarted(settings.model_copy(update={"database_url": url}), fake)


def restarted(settings: Settings, fake: FakeFineTuning) -> None:
    first = GatewayServer(settings).start()
    try:
        with httpx.Client(base_url=first.base_url, timeout=30) as c:
            ft = create(c)
            wait_for(lambda: c.get(f"/api/fine-tunes/{ft['id']}").json(), lambda v: v["polls"] >= 1)
    finally:
        first.stop()  # between polls: the next poll is a queued job row
    mid = fake.jobs[max(fake.jobs)].status
    assert mid in ("queued", "running"), mid
    second = GatewayServer(settings).start()
    try:
        with httpx.Client(base_url=second.base_url, timeout=30) as c:
            done = finished(c, ft["id"])
            assert done["status"] == "succeeded", done
            assert second.services.hub.entry(done["model"]).model == done["fine_tuned_model"]
    finally:
        second.stop()
    # A later process loads the tenant's model from the database at start.
    with GatewayServer(settings) as third:
        assert third.services.hub.entry(done["model"]).model == done["fine_tuned_model"]


def test_a_fine_tune_from_stored_faqs(api: httpx.Client, fake: FakeFineTuning) -> None:
    agent = api.post("/api/smart-agents", json={"name": "ft-src", "model": "base", "faqs": pairs(10, "plan")})
    assert agent.status_code == 201, agent.text
    ids = [f["id"] for f in agent.json()["faqs"]]
    r = api.post("/api/fine-tunes", json={"base_model": "base", "faq_ids": ids})
    assert r.status_code == 202, r.text
    done = finished(api, r.json()["id"])
    assert (done["status"], done["examples"]) == ("succeeded", 10)
    assert "How do I change plan item 9?" in fake.file_contents[done["training_file_id"]].decode()
    missing = api.post("/api/fine-tunes", json={"base_model": "base", "faq_ids": [*ids, "faq_nope"]})
    assert missing.status_code == 404
