"""Fine-tunes with keys (auth on): another tenant's fine-tune is a 404 everywhere, its model is not
visible to the other tenant's compare or smart agents, the training text is guarded before it goes
upstream, and a request without a key is a 401."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.finetune.conftest import pairs, wait_for

from nexus.config.settings import Settings
from nexus.service.keys import create_api_key
from nexus.testing.fake_finetune import FakeFineTuning
from nexus.testing.gateway import GatewayServer

AWS_KEY = "AKIAQ3EGRPZTJ5KX7N2M"


@pytest.fixture(scope="module")
def gateway(settings: Settings) -> Iterator[GatewayServer]:
    """This module's own gateway (and database), with authentication on."""
    with GatewayServer(settings.model_copy(update={"auth": "on"})) as gw:
        yield gw


def client(gw: GatewayServer, tenant: str, role: str = "member") -> httpx.Client:
    token, _ = gw.call(create_api_key(gw.services.store, tenant=tenant, role=role))
    return httpx.Client(base_url=gw.base_url, timeout=30, headers={"Authorization": f"Bearer {token}"})


def test_another_tenants_fine_tune_and_model_are_not_found(
    gateway: GatewayServer, fake: FakeFineTuning
) -> None:
    with client(gateway, "ft-owner") as owner, client(gateway, "ft-intruder", role="admin") as intruder:
        training = pairs()
        training[0]["answer"] = f"Deploy with AWS_ACCESS_KEY_ID={AWS_KEY} as usual."
        r = owner.post("/api/fine-tunes", json={"base_model": "base", "pairs": training, "suffix": "own"})
        assert r.status_code == 202, r.text
        ft = r.json()
        done = wait_for(
            lambda: owner.get(f"/api/fine-tunes/{ft['id']}").json(), lambda v: v["status"] == "succeeded"
        )
        model = done["model"]
        assert AWS_KEY not in fake.file_contents[done["training_file_id"]].decode()  # masked before upload

        for method, path in [
            ("GET", f"/api/fine-tunes/{ft['id']}"),
            ("POST", f"/api/fine-tunes/{ft['id']}/cancel"),
        ]:
            assert intruder.request(method, path).status_code == 404, path
        assert intruder.get("/api/fine-tunes").json()["data"] == []
        assert intruder.get(f"/api/jobs/{ft['job_id']}").status_code == 404
        cmp = intruder.post("/api/compare", json={"prompt": "hi", "models": ["base", model]})
        assert cmp.status_code == 404, cmp.text
        agent = intruder.post("/api/smart-agents", json={"name": "x", "model": model})
        assert agent.status_code == 404, agent.text
        # The OpenAI door: not listed, not callable, not named in the error (as if it did not exist).
        assert model not in {m["id"] for m in intruder.get("/v1/models").json()["data"]}
        chat = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
        theirs = intruder.post("/v1/chat/completions", json=chat)
        assert theirs.status_code == 404 and theirs.json()["error"]["code"] == "model_not_found", theirs.text
        missing = intruder.post("/v1/chat/completions", json={**chat, "model": "no-such-model"})
        assert model not in missing.json()["error"]["message"]
        # The owner can use it.
        assert model in {m["id"] for m in owner.get("/v1/models").json()["data"]}
        assert owner.post("/v1/chat/completions", json=chat).status_code == 200
        mine = owner.post("/api/compare", json={"prompt": "hi", "models": ["base", model], "timeout_s": 10})
        assert mine.status_code == 200, mine.text
        assert [s["model"] for s in mine.json()["results"]] == ["base", model]
        assert httpx.get(gateway.base_url + "/api/fine-tunes").status_code == 401
