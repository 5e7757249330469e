"""The agents API over real HTTP: a real gateway (auth on, SQLite), a scripted OpenAI-compatible fake
that proposes tool calls, the built-in calculator. The rules every door obeys (secrets, injection,
budgets, rate limits, keys, sessions) are walked by the policy matrix (tests/gateway/doors.py); here:
the API's shape, approvals, cancel, accounting per step, and tenancy."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from nexus.agents import AgentCaller, AgentEntry
from nexus.config.settings import Settings
from nexus.service.keys import create_api_key
from nexus.store import TenantScope
from nexus.testing import FakeOpenAI, Reply, ToolCall
from nexus.testing.gateway import GatewayServer, write_catalogue

MODEL = "agent-model"
AGENTS = [
    {
        "name": "mathy",
        "description": "Does arithmetic with a calculator.",
        "model": MODEL,
        "instructions": "Use the calculator.",
        "tools": ["calculator"],
    },
    {
        "name": "careful",
        "description": "Asks before every calculation.",
        "model": MODEL,
        "instructions": "Use the calculator.",
        "tools": ["calculator"],
        "require_approval": ["calculator"],
    },
]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(models=(MODEL,)) as f:
        yield f  # type: ignore[misc]


@pytest.fixture(scope="module")
def gw(fake: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    d: Path = tmp_path_factory.mktemp("agents-api")
    cat = write_catalogue(
        d / "catalogue.yaml",
        [{"id": MODEL, "base_url": fake.base_url, "capabilities": ["tools"]}],
        agents=AGENTS,
    )
    mp = pytest.MonkeyPatch()
    mp.setenv("NEXUS_TEST_KEY", "sk-test-agents-api-0123456789")
    settings = Settings(data_dir=d, config=cat, auth="on", max_retries=0, attempt_timeout_s=10)
    with GatewayServer(settings) as server:
        yield server
    mp.undo()


@pytest.fixture(autouse=True)
def _fresh(fake: FakeOpenAI) -> None:
    fake.clear()


def key(gw: GatewayServer, tenant: str, role: str = "member", **kw: Any) -> dict[str, str]:
    token, _ = gw.call(create_api_key(gw.services.store, tenant=tenant, role=role, **kw))
    return {"Authorization": f"Bearer {token}"}


def tenant() -> str:
    return "t" + uuid.uuid4().hex[:10]


def post(gw: GatewayServer, path: str, auth: dict[str, str], body: dict[str, Any]) -> httpx.Response:
    return httpx.post(gw.base_url + path, json=body, headers=auth, timeout=60)


def get(gw: GatewayServer, path: str, auth: dict[str, str]) -> httpx.Response:
    return httpx.get(gw.base_url + path, headers=auth, timeout=60)


def sse_events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


def calc(expression: str, call_id: str = "c1") -> Reply:
    return Reply(tool_calls=[ToolCall("calculator", {"expression": expression}, id=call_id)])


def test_agents_are_listed_with_tools_and_health(gw: GatewayServer) -> None:
    auth = key(gw, tenant())
    r = get(gw, "/api/agents", auth)
    assert r.status_code == 200, r.text
    agents = {a["name"]: a for a in r.json()["data"]}
    assert {"mathy", "careful"} <= set(agents)
    assert agents["mathy"]["tools"] == ["calculator"]
    assert agents["mathy"]["description"] == "Does arithmetic with a calculator."
    assert agents["careful"]["require_approval"] == ["calculator"]
    assert agents["mathy"]["health"]["model"] == MODEL and agents["mathy"]["health"]["available"] is True
    one = get(gw, "/api/agents/mathy", auth)
    assert one.status_code == 200 and one.json()["name"] == "mathy"
    missing = get(gw, "/api/agents/nobody", auth)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "agent_not_found")
    assert get(gw, "/api/agents", {}).status_code == 401


def test_a_streamed_run_shows_every_step_and_is_accounted_to_one_work_order(
    gw: GatewayServer, fake: FakeOpenAI
) -> None:
    owner = tenant()
    auth = key(gw, owner)
    fake.push(calc("17 * 23"), Reply(text="17 * 23 = 391", usage=(40, 6)))
    r = post(gw, "/api/agents/mathy/runs", auth, {"input": "What is 17 * 23?", "stream": True})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    assert [e["type"] for e in events] == [
        "started",
        "step",
        "tool_call",
        "tool_result",
        "step",
        "final",
        "done",
    ]
    assert json.loads(events[3]["data"]["result"]["content"])["result"] == 391
    assert events[5]["data"]["answer"] == "17 * 23 = 391"
    run_id = r.headers["x-nexus-run"]
    run = get(gw, f"/api/agents/runs/{run_id}", auth).json()
    assert (run["status"], run["steps"], run["tool_calls"], run["answer"]) == (
        "completed",
        2,
        1,
        "17 * 23 = 391",
    )
    assert [e["type"] for e in run["events"]] == [e["type"] for e in events]
    assert get(gw, f"/api/agents/mathy/runs/{run_id}", auth).json()["id"] == run_id
    assert get(gw, f"/api/agents/careful/runs/{run_id}", auth).status_code == 404  # another agent's
    # The run's model calls are one work order (route "agent"), both calls charged to the tenant.
    gw.call(gw.services.accounting.flush())
    order = gw.call(gw.services.store.work_orders(TenantScope(owner)).find(run_id))
    assert order is not None
    assert (order.route, order.door, order.status, order.owner_model) == ("agent", "agents", "done", MODEL)
    assert order.tokens_in >= 40 and order.tokens_out >= 6
    assert order.cost_usd > 0


def test_a_non_streamed_run_returns_the_run(gw: GatewayServer, fake: FakeOpenAI) -> None:
    auth = key(gw, tenant())
    fake.push(Reply(text="Hello!"))
    r = post(gw, "/api/agents/mathy/runs", auth, {"task": "Say hello", "session_id": "s-" + uuid.uuid4().hex})
    assert r.status_code == 200, r.text
    run = r.json()
    assert (run["status"], run["answer"], run["agent"]) == ("completed", "Hello!", "mathy")
    assert run["id"] == r.headers["x-nexus-run"]


def test_every_model_step_is_admitted(gw: GatewayServer, fake: FakeOpenAI) -> None:
    """rpm=1: the run's first model call is the request itself; its second step is refused, so the
    run ends with the limit's code and never calls the model again."""
    auth = key(gw, tenant(), rpm=1)
    fake.push(calc("2 + 2"), Reply(text="4"))
    r = post(gw, "/api/agents/mathy/runs", auth, {"input": "2 + 2?"})
    assert r.status_code == 200, r.text
    run = r.json()
    assert run["status"] == "failed"
    assert run["error"].startswith("rate_limit_exceeded")
    assert len(fake.requests) == 1


def test_an_approval_pause_is_resumed_over_http(gw: GatewayServer, fake: FakeOpenAI) -> None:
    auth = key(gw, tenant())
    fake.push(calc("6 * 7", "c9"))
    paused = post(gw, "/api/agents/careful/runs", auth, {"input": "6 * 7?"}).json()
    assert paused["status"] == "paused"
    assert [c["id"] for c in paused["pending"]] == ["c9"]
    fake.push(Reply(text="42"))
    r = post(gw, f"/api/agents/runs/{paused['id']}/resume", auth, {"approve": True, "stream": True})
    assert r.status_code == 200, r.text
    events = sse_events(r.text)
    assert [e["type"] for e in events][0] == "started" and events[0]["data"]["resumed"] is True
    result = next(e for e in events if e["type"] == "tool_result")
    assert json.loads(result["data"]["result"]["content"])["result"] == 42
    assert events[-1]["data"]["status"] == "completed"
    again = post(gw, f"/api/agents/runs/{paused['id']}/resume", auth, {"approve": True})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "not_awaiting_approval")


def test_a_paused_run_can_be_cancelled_and_its_session_goes_on(gw: GatewayServer, fake: FakeOpenAI) -> None:
    auth = key(gw, tenant())
    session = "s-" + uuid.uuid4().hex[:12]
    fake.push(calc("1 + 1", "c1"))
    paused = post(gw, "/api/agents/careful/runs", auth, {"input": "1 + 1?", "session_id": session}).json()
    assert paused["status"] == "paused"
    busy = post(gw, "/api/agents/careful/runs", auth, {"input": "other", "session_id": session})
    assert (busy.status_code, busy.json()["error"]["code"]) == (409, "session_awaiting_approval")
    cancelled = post(gw, f"/api/agents/runs/{paused['id']}/cancel", auth, {})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["finished_at"] is not None
    twice = post(gw, f"/api/agents/runs/{paused['id']}/cancel", auth, {})
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "run_not_cancellable")
    fake.push(Reply(text="fine"))
    after = post(gw, "/api/agents/careful/runs", auth, {"input": "hello", "session_id": session}).json()
    assert after["status"] == "completed"
    # The model saw the cancelled call answered (a tool message for every tool call it made).
    sent = fake.requests[-1].json["messages"]
    assert any(m["role"] == "tool" and m["tool_call_id"] == "c1" for m in sent)


def test_a_running_run_can_be_cancelled(gw: GatewayServer, fake: FakeOpenAI) -> None:
    owner = tenant()
    auth = key(gw, owner)
    fake.push(Reply(text="too late", delay=5))
    with (
        httpx.Client(timeout=60) as client,
        client.stream(
            "POST",
            gw.base_url + "/api/agents/mathy/runs",
            json={"input": "slow", "stream": True},
            headers=auth,
        ) as r,
    ):
        run_id = r.headers["x-nexus-run"]
        lines = r.iter_lines()
        assert next(lines).startswith("event: started")
        cancelled = post(gw, f"/api/agents/runs/{run_id}/cancel", auth, {})
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        rest = "\n".join(lines)
    assert '"status":"cancelled"' in rest
    gw.call(gw.services.accounting.flush())
    order = gw.call(gw.services.store.work_orders(TenantScope(owner)).find(run_id))
    assert order is not None and order.status == "cancelled"


def test_tenants_cannot_run_read_resume_or_cancel_each_others_agents_and_runs(
    gw: GatewayServer, fake: FakeOpenAI
) -> None:
    a, b = tenant(), tenant()
    auth_a, auth_b = key(gw, a), key(gw, b)
    gw.call(
        gw.services.agents.library.create_agent(
            AgentCaller(tenant=a), AgentEntry(name="private", model=MODEL, tools=["calculator"])
        )
    )
    assert "private" in {x["name"] for x in get(gw, "/api/agents", auth_a).json()["data"]}
    assert "private" not in {x["name"] for x in get(gw, "/api/agents", auth_b).json()["data"]}
    assert get(gw, "/api/agents/private", auth_b).status_code == 404
    refused = post(gw, "/api/agents/private/runs", auth_b, {"input": "hi"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (404, "agent_not_found")
    fake.push(calc("3 * 3", "c3"))
    paused = post(gw, "/api/agents/careful/runs", auth_a, {"input": "3 * 3?"}).json()
    assert paused["status"] == "paused"
    run_id = paused["id"]
    for r in (
        get(gw, f"/api/agents/runs/{run_id}", auth_b),
        post(gw, f"/api/agents/runs/{run_id}/resume", auth_b, {"approve": True}),
        post(gw, f"/api/agents/runs/{run_id}/cancel", auth_b, {}),
    ):
        assert (r.status_code, r.json()["error"]["code"]) == (404, "run_not_found"), r.text
    assert len(fake.requests) == 1  # B's attempts reached no model
    assert get(gw, f"/api/agents/runs/{run_id}", auth_a).json()["status"] == "paused"  # untouched


def test_resuming_is_model_work_admitted_like_a_run(gw: GatewayServer, fake: FakeOpenAI) -> None:
    """The resume door's rules (it takes no new text: no secret or injection to check): a used-up rate
    limit is a 429 before the run goes on, and without a key it is a 401."""
    auth = key(gw, tenant(), rpm=1)
    fake.push(calc("5 * 5", "c5"))
    paused = post(gw, "/api/agents/careful/runs", auth, {"input": "5 * 5?"}).json()
    assert paused["status"] == "paused"
    r = post(gw, f"/api/agents/runs/{paused['id']}/resume", auth, {"approve": True})
    assert (r.status_code, r.json()["error"]["code"]) == (429, "rate_limit_exceeded")
    assert post(gw, f"/api/agents/runs/{paused['id']}/resume", {}, {"approve": True}).status_code == 401
    assert len(fake.requests) == 1
    assert get(gw, f"/api/agents/runs/{paused['id']}", auth).json()["status"] == "paused"


def test_the_openai_door_runs_an_agent_by_model_name(gw: GatewayServer, fake: FakeOpenAI) -> None:
    from openai import NotFoundError, OpenAI

    token = key(gw, tenant())["Authorization"].removeprefix("Bearer ")
    client = OpenAI(base_url=gw.base_url + "/v1", api_key=token, max_retries=0)
    fake.push(calc("17 * 23"), Reply(text="It is 391."))
    done = client.chat.completions.create(
        model="agent:mathy",
        messages=[
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello! Ask me some arithmetic."},
            {"role": "user", "content": "What is 17 * 23?"},
        ],
    )
    assert done.choices[0].message.content == "It is 391."
    assert done.model == "agent:mathy"
    extra = done.model_extra or {}
    assert extra["nexus"]["status"] == "completed" and extra["nexus"]["tool_calls"] == 1
    # The client's earlier turns were the run's history, before the task.
    sent = [m["content"] for m in fake.requests[0].json["messages"] if m["role"] != "system"]
    assert sent == ["Hi", "Hello! Ask me some arithmetic.", "What is 17 * 23?"]
    fake.clear()
    fake.push(calc("2 ^ 10"), Reply(text="1024"))
    stream = client.chat.completions.create(
        model="agent:mathy",
        messages=[{"role": "user", "content": "2 ^ 10?"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "1024"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    fake.push(calc("6 * 7", "c6"))
    paused = client.chat.completions.create(
        model="agent:careful", messages=[{"role": "user", "content": "6*7"}]
    )
    assert (paused.model_extra or {})["nexus"]["status"] == "paused"
    assert "Waiting for approval of: calculator" in (paused.choices[0].message.content or "")
    with pytest.raises(NotFoundError):
        client.chat.completions.create(model="agent:nobody", messages=[{"role": "user", "content": "hi"}])


def test_a_tenant_admin_creates_and_deletes_its_own_agents(gw: GatewayServer, fake: FakeOpenAI) -> None:
    a, b = tenant(), tenant()
    member, admin_a, admin_b = key(gw, a), key(gw, a, role="admin"), key(gw, b, role="admin")
    spec = {"name": "pricer", "model": MODEL, "instructions": "Price things.", "tools": ["calculator"]}
    refused = post(gw, "/api/agents", member, spec)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
    created = post(gw, "/api/agents", admin_a, spec)
    assert created.status_code == 201, created.text
    assert (created.json()["origin"], created.json()["tools"]) == ("tenant", ["calculator"])
    assert post(gw, "/api/agents", admin_a, spec).status_code == 409
    stdio = {"name": "shell", "model": MODEL, "mcp": [{"name": "sh", "command": ["sh"]}]}
    assert post(gw, "/api/agents", admin_a, stdio).status_code == 400  # stdio is the catalogue's only
    fake.push(Reply(text="ten"))
    assert post(gw, "/api/agents/pricer/runs", member, {"input": "price?"}).json()["answer"] == "ten"
    gone = httpx.delete(gw.base_url + "/api/agents/pricer", headers=admin_b)
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "agent_not_found")
    assert httpx.delete(gw.base_url + "/api/agents/pricer", headers=member).status_code == 403
    assert httpx.delete(gw.base_url + "/api/agents/pricer", headers=admin_a).status_code == 204
    assert get(gw, "/api/agents/pricer", member).status_code == 404
    assert httpx.delete(gw.base_url + "/api/agents/mathy", headers=admin_a).status_code == 409  # catalogue


def test_memory_and_a_paused_run_survive_a_gateway_restart(fake: FakeOpenAI, tmp_path: Path) -> None:
    """Two gateway processes' lifetimes on one data dir: the session's memory and a run paused for
    approval outlive the first; the second remembers the first turn and resumes the pause."""
    cat = write_catalogue(
        tmp_path / "catalogue.yaml",
        [{"id": MODEL, "base_url": fake.base_url, "capabilities": ["tools"]}],
        agents=AGENTS,
    )
    mp = pytest.MonkeyPatch()
    mp.setenv("NEXUS_TEST_KEY", "sk-test-agents-api-0123456789")
    settings = Settings(data_dir=tmp_path, config=cat, auth="on", max_retries=0, attempt_timeout_s=10)
    session = "s-" + uuid.uuid4().hex[:12]
    try:
        with GatewayServer(settings) as first:
            auth = key(first, tenant())
            fake.push(Reply(text="Noted: your name is Ada."))
            told = post(
                first, "/api/agents/careful/runs", auth, {"input": "My name is Ada.", "session_id": session}
            )
            assert told.json()["status"] == "completed"
            fake.push(calc("40 + 2", "c42"))
            paused = post(
                first, "/api/agents/careful/runs", auth, {"input": "40 + 2?", "session_id": session}
            )
            assert paused.json()["status"] == "paused"
        with GatewayServer(settings) as second:
            fake.clear()
            fake.push(Reply(text="42, Ada."))
            resumed = post(second, f"/api/agents/runs/{paused.json()['id']}/resume", auth, {"approve": True})
            assert resumed.status_code == 200, resumed.text
            assert (resumed.json()["status"], resumed.json()["answer"]) == ("completed", "42, Ada.")
            sent = fake.requests[0].json["messages"]
            assert any(m["role"] == "user" and m["content"] == "My name is Ada." for m in sent)
            assert any(m["role"] == "tool" and m["tool_call_id"] == "c42" for m in sent)
    finally:
        mp.undo()


def test_a_tenants_model_allow_list_holds_for_agents(gw: GatewayServer, fake: FakeOpenAI) -> None:
    t = tenant()
    admin = key(gw, t, role="admin")
    r = httpx.put(
        gw.base_url + f"/admin/tenants/{t}/guard", json={"allowed_models": ["elsewhere"]}, headers=admin
    )
    assert r.status_code == 200, r.text
    refused = post(gw, "/api/agents/mathy/runs", admin, {"input": "1 + 1?"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "guard_blocked"), refused.text
    assert not fake.requests
