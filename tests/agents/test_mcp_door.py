"""Nexus's own MCP server, mounted in the real gateway at /mcp: an MCP client (the `mcp` package) lists
and calls its tools over real HTTP, with the gateway's API keys; the `chat` tool is a chat turn of the
key's tenant (the policy matrix walks its rules as the door "mcp-chat")."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import httpx2
import orjson
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from nexus.config.settings import Settings
from nexus.service.keys import create_api_key
from nexus.store import TenantScope
from nexus.testing import FakeOpenAI, Reply
from nexus.testing.gateway import GatewayServer, write_catalogue

MODEL = "mcp-model"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(models=(MODEL,)) as f:
        yield f  # type: ignore[misc]


@pytest.fixture(scope="module")
def gw(fake: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    d: Path = tmp_path_factory.mktemp("mcp-door")
    cat = write_catalogue(d / "catalogue.yaml", [{"id": MODEL, "base_url": fake.base_url}])
    mp = pytest.MonkeyPatch()
    mp.setenv("NEXUS_TEST_KEY", "sk-test-mcp-door-0123456789")
    settings = Settings(data_dir=d, config=cat, auth="on", max_retries=0, attempt_timeout_s=10)
    with GatewayServer(settings) as server:
        yield server
    mp.undo()


def new_key(gw: GatewayServer, tenant: str, **kw: object) -> str:
    token, _ = gw.call(create_api_key(gw.services.store, tenant=tenant, role="member", **kw))
    return str(token)


@asynccontextmanager
async def client(gw: GatewayServer, key: str) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60) as http,
        Client(streamable_http_client(gw.base_url + "/mcp", http_client=http)) as c,
    ):
        yield c


async def test_an_mcp_client_lists_and_calls_nexus_tools_over_http(
    gw: GatewayServer, fake: FakeOpenAI
) -> None:
    tenant = "t" + uuid.uuid4().hex[:8]
    key = new_key(gw, tenant)
    fake.clear()
    fake.push(Reply(text="Hello from the model.", usage=(12, 5)))
    async with client(gw, key) as c:
        tools = {t.name: t for t in (await c.list_tools()).tools}
        assert set(tools) == {"route", "chat", "rag_search"}
        answer = await c.call_tool("chat", {"message": "Say hello", "model": MODEL})
        assert not answer.is_error, answer.content
        assert answer.content[0].text == "Hello from the model."
        routed = await c.call_tool("route", {"text": "Write a haiku about the sea"})
        assert not routed.is_error, routed.content
        assert orjson.loads(routed.content[0].text)["model"] == MODEL
        unknown = await c.call_tool("chat", {"message": "hi", "model": "no-such-model"})
        assert unknown.is_error and "(error 404 model_not_found)" in unknown.content[0].text
        search = await c.call_tool("rag_search", {"query": "refunds"})
        assert search.is_error and "not configured" in search.content[0].text
    # The model saw the message; the turn is the tenant's, through the door "mcp", accounted.
    assert fake.requests[-1].json["messages"][-1]["content"] == "Say hello"
    gw.call(gw.services.accounting.flush())
    orders = gw.call(gw.services.store.work_orders(TenantScope(tenant)).list())
    assert [(o.door, o.status, o.tokens_in, o.tokens_out) for o in orders] == [("mcp", "done", 12, 5)]


async def test_the_chat_tool_keeps_tenants_apart(gw: GatewayServer, fake: FakeOpenAI) -> None:
    owner, intruder = new_key(gw, "t" + uuid.uuid4().hex[:8]), new_key(gw, "t" + uuid.uuid4().hex[:8])
    session = "s-" + uuid.uuid4().hex[:12]
    fake.clear()
    fake.push(Reply(text="yours"))
    async with client(gw, owner) as c:
        mine = await c.call_tool("chat", {"message": "hi", "model": MODEL, "session_id": session})
        assert not mine.is_error, mine.content
    async with client(gw, intruder) as c:
        theirs = await c.call_tool("chat", {"message": "hi", "model": MODEL, "session_id": session})
        assert theirs.is_error and "(error 404 session_not_found)" in theirs.content[0].text
    assert len(fake.requests) == 1


def test_no_or_a_wrong_key_is_401_before_mcp(gw: GatewayServer) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    accept = {"accept": "application/json, text/event-stream"}
    for headers in ({}, {"Authorization": "Bearer nx-wrong"}):
        r = httpx.post(gw.base_url + "/mcp", json=body, headers={**headers, **accept}, timeout=30)
        assert r.status_code == 401, r.text
        assert r.json()["error"]["code"] == "invalid_api_key"


def test_the_stream_and_session_methods_answer_without_a_server_error(gw: GatewayServer) -> None:
    auth = {"Authorization": f"Bearer {new_key(gw, 't' + uuid.uuid4().hex[:8])}"}
    for method in ("GET", "DELETE"):
        r = httpx.request(
            method, gw.base_url + "/mcp", headers={**auth, "accept": "text/event-stream"}, timeout=10
        )
        assert 400 <= r.status_code < 500, (method, r.status_code, r.text)
    assert httpx.get(gw.base_url + "/mcp", timeout=10).status_code == 405
