# ruff: noqa: F811  (pytest fixtures imported from tests.pipeline.conftest are redefined as arguments)
"""Defects a new user hit, each through HTTP against the real app (issue 18's list)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.pipeline.conftest import classifier_cache, fakes  # noqa: F401  (fixtures)
from tests.pipeline.harness import MODELS, TEST_KEY, make_app, parse_sse, write_test_catalogue

from nexus.config.settings import Settings
from nexus.providers.types import ChatMessage, ChatRequest
from nexus.service.chat import TurnRequest
from nexus.service.identity import ANONYMOUS, Caller
from nexus.testing import FakeOpenAI, Reply
from nexus.testing.gateway import GatewayServer

LEAKED = "AKIAQ3EGRPZTJ5KX7N2M"


@pytest.fixture(scope="module")
def gw(
    fakes: dict[str, FakeOpenAI],  # noqa: F811
    classifier_cache: Path,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayServer]:
    d = tmp_path_factory.mktemp("regress")
    mp = pytest.MonkeyPatch()
    mp.setenv("NEXUS_TEST_KEY", TEST_KEY)
    settings = Settings(data_dir=d, config=write_test_catalogue(d / "catalogue.yaml", fakes), auth="off")
    with GatewayServer(settings, app=make_app(settings, classifier_cache)) as server:
        yield server
    mp.undo()


@pytest.fixture(autouse=True)
def _clean(fakes: dict[str, FakeOpenAI]) -> Iterator[None]:  # noqa: F811
    for f in fakes.values():
        f.clear()
    yield
    for f in fakes.values():
        f.default = Reply()


def test_detailed_health_is_ok_when_everything_is(gw: GatewayServer) -> None:
    body = httpx.get(gw.base_url + "/api/health/detailed").json()
    assert body["status"] == "ok", body
    assert body["database"] == {"ok": True, "backend": "sqlite"}
    ready = httpx.get(gw.base_url + "/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_the_seed_style_api_chat_answers_with_its_work_order_and_session(gw: GatewayServer) -> None:
    r = httpx.post(gw.base_url + "/api/chat", json={"content": "Hello NEXUS"}, timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["answer"] and body["session_id"] and body["work_order_id"]
    again = httpx.post(
        gw.base_url + "/api/chat", json={"content": "and again", "session_id": body["session_id"]}, timeout=30
    ).json()
    assert again["session_id"] == body["session_id"] and again["work_order_id"] != body["work_order_id"]
    order = httpx.get(gw.base_url + f"/api/work-orders/{body['work_order_id']}").json()
    assert (
        order["door"] == "api_chat"
        and order["status"] == "done"
        and order["session_id"] == body["session_id"]
    )


def test_a_routed_work_order_links_its_model_calls(gw: GatewayServer) -> None:
    r = httpx.post(
        gw.base_url + "/v1/chat/completions",
        json={
            "model": "nexus-auto",
            "messages": [{"role": "user", "content": "Write a poem about autumn leaves"}],
        },
        headers={"x-request-id": "req-link-1"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    wo = r.json()["nexus"]["work_order_id"]
    gw.call(gw.services.accounting.flush())  # written off the request path: wait for this instance's queue
    order = httpx.get(gw.base_url + f"/api/work-orders/{wo}").json()
    assert order["request_id"] == "req-link-1" and order["route"] == "pipeline"
    assert order["calls"], "the pipeline's model calls are not linked to its work order"
    assert {c["work_order_id"] for c in order["calls"]} == {wo}
    assert order["tokens_in"] == sum(c["tokens_in"] for c in order["calls"])
    assert order["cost_usd"] == pytest.approx(sum(c["cost_usd"] for c in order["calls"]))


def test_qa_that_finds_a_secret_never_delivers_it(gw: GatewayServer, fakes: dict[str, FakeOpenAI]) -> None:
    for m in MODELS:
        fakes[m].default = Reply(text=f"Use the key {LEAKED} in your config file.")
    events = parse_sse(
        httpx.post(gw.base_url + "/chat", json={"message": "Write a poem about rivers"}, timeout=30).text
    )
    final = next(e for e in events if e["type"] == "final")["data"]
    assert LEAKED not in final["answer"] and "[SECRET" in final["answer"]
    assert all(LEAKED not in e["data"].get("text", "") for e in events if e["type"] == "token")
    auto = httpx.post(
        gw.base_url + "/v1/chat/completions",
        json={"model": "nexus-auto", "messages": [{"role": "user", "content": "Write a poem about rivers"}]},
        timeout=30,
    ).json()
    assert LEAKED not in auto["choices"][0]["message"]["content"]
    stream = httpx.post(
        gw.base_url + "/v1/chat/completions",
        json={
            "model": "nexus-auto",
            "stream": True,
            "messages": [{"role": "user", "content": "Poem about rivers"}],
        },
        timeout=30,
    ).text
    assert LEAKED not in stream and "[SECRET" in stream


def test_auth_off_lasts_until_the_first_key_exists(tmp_path: Path, fakes: dict[str, FakeOpenAI]) -> None:  # noqa: F811
    mp = pytest.MonkeyPatch()
    mp.setenv("NEXUS_TEST_KEY", TEST_KEY)
    settings = Settings(
        data_dir=tmp_path, config=write_test_catalogue(tmp_path / "c.yaml", fakes), auth="off"
    )
    try:
        with GatewayServer(settings) as server:
            body = {"model": "cheap", "messages": [{"role": "user", "content": "hi"}]}
            assert httpx.post(server.base_url + "/v1/chat/completions", json=body).status_code == 200
            created = httpx.post(server.base_url + "/admin/keys", json={"role": "admin"})
            assert created.status_code == 201, created.text
            key = created.json()["key"]
            refused = httpx.post(server.base_url + "/v1/chat/completions", json=body)
            assert refused.status_code == 401
            ok = httpx.post(
                server.base_url + "/v1/chat/completions",
                json=body,
                headers={"Authorization": f"Bearer {key}"},
            )
            assert ok.status_code == 200
    finally:
        mp.undo()


def test_cancelling_a_routed_turn_stops_its_run_upstream(
    gw: GatewayServer, fakes: dict[str, FakeOpenAI]
) -> None:  # noqa: F811
    """What a voice barge-in needs: `Turn.cancel()` stops a routed run now, not only its client."""
    for m in MODELS:
        fakes[m].default = Reply(text=" ".join(f"w{i}" for i in range(200)), chunk_delay=0.05)

    async def start_and_cancel() -> str:
        caller = Caller(ANONYMOUS, door="test", request_id="req-cancel-1")
        chat = ChatRequest(
            model="nexus-auto",
            stream=True,
            messages=[ChatMessage(role="user", content="Write a long poem about the sea")],
        )
        turn = await gw.services.chat.turn(caller, TurnRequest(chat=chat))
        async for event in turn:
            if event.type == "token":
                break
        await turn.cancel()
        return turn.work_order_id

    wo = gw.call(start_and_cancel())
    deadline = time.monotonic() + 10
    while not any(f.cancellations for f in fakes.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert any(f.cancellations for f in fakes.values()), "the upstream never saw the run stop"
    gw.call(gw.services.accounting.flush())
    order = httpx.get(gw.base_url + f"/api/work-orders/{wo}").json()
    assert order["status"] == "cancelled" and order["tokens_out"] > 0, order
