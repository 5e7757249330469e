"""MCP both ways, for real: an MCP server subprocess (stdio and streamable HTTP) whose tools an agent
calls, and an MCP client listing and calling Nexus's own MCP tools over loopback."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import orjson
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from tests.agents.conftest import (
    ACME,
    MODEL,
    Shop,
    agent,
    open_stack,
    run,
    sent_messages,
    settings_for,
)

from nexus.agents import AgentEntry, RunRequest, ToolSetupError
from nexus.agents.mcp.server import McpBackend, McpToolError, NexusMcpApp
from nexus.testing import FakeOpenAI, Reply, ToolCall
from nexus.testing.gateway import free_port

SERVER = str(Path(__file__).with_name("mcp_server.py"))


async def test_an_agent_calls_tools_of_an_mcp_server_over_stdio(
    tmp_path: Path, fake: FakeOpenAI, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEXUS_TEST_KEY", "k")
    notes = agent("notetaker", [], mcp=[{"name": "notes", "command": [sys.executable, SERVER]}])
    stack = await open_stack(settings_for(tmp_path, fake, [notes]), shop)
    try:
        fake.push(
            Reply(
                tool_calls=[
                    ToolCall("notes__add", {"a": 20, "b": 22}, id="c1"),
                    ToolCall("notes__shout", {"text": "boom"}, id="c2"),
                ]
            ),
            Reply(tool_calls=[ToolCall("notes__remember", {"note": "milk"}, id="c3")]),
            Reply(text="20 + 22 = 42; noted milk."),
        )
        events = await run(stack, "notetaker", "add 20 and 22, shout boom, remember milk")
        offered = {t["function"]["name"] for t in fake.requests[0].json["tools"]}
        assert offered == {"notes__add", "notes__remember", "notes__shout", "notes__whoami"}
        results = {e.data.result.call_id: e.data.result for e in events if e.data.type == "tool_result"}  # type: ignore[union-attr]
        assert (results["c1"].is_error, results["c1"].content) == (False, "42")
        assert results["c2"].is_error and "refusing to shout boom" in results["c2"].content
        assert results["c3"].content == "milk"
        # The same server process serves the next run (its in-memory notes persist).
        fake.push(
            Reply(tool_calls=[ToolCall("notes__remember", {"note": "eggs"}, id="c4")]), Reply(text="ok")
        )
        await run(stack, "notetaker", "remember eggs")
        assert sent_messages(fake)[-1]["content"] == "milk; eggs"
    finally:
        await stack.aclose()


@pytest.fixture(scope="module")
def http_mcp() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, SERVER, "http", str(port)])
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert proc.poll() is None, "the MCP server exited"
            try:
                httpx.get(url, timeout=0.5)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


async def test_an_mcp_server_over_http_is_reached_only_when_trusted(
    tmp_path: Path, fake: FakeOpenAI, shop: Shop, monkeypatch: pytest.MonkeyPatch, http_mcp: str
) -> None:
    monkeypatch.setenv("NEXUS_TEST_KEY", "k")
    monkeypatch.setenv("NOTES_TOKEN", "Bearer notes-secret")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    entry = {"name": "remote", "url": http_mcp, "headers_env": {"Authorization": "NOTES_TOKEN"}}
    spec = AgentEntry.model_validate({"name": "remote-user", "model": MODEL, "mcp": [entry]})

    # Untrusted: a tenant's agent pointing at a loopback address is an SSRF attempt.
    stack = await open_stack(settings_for(tmp_path / "a", fake, []), shop)
    try:
        await stack.agents.service.create_agent(ACME, spec)
        with pytest.raises(ToolSetupError) as info:
            await stack.agents.service.start_run(ACME, "remote-user", RunRequest(task="hi"))
        assert "loopback address" in info.value.message
    finally:
        await stack.aclose()

    port = http_mcp.split(":")[2].split("/")[0]
    trusted = settings_for(tmp_path / "b", fake, []).model_copy(
        update={"execution_trusted": [f"127.0.0.1:{port}"]}
    )
    stack = await open_stack(trusted, shop)
    try:
        await stack.agents.service.create_agent(ACME, spec)
        fake.push(
            Reply(
                tool_calls=[
                    ToolCall("remote__add", {"a": 1, "b": 2}, id="c1"),
                    ToolCall("remote__whoami", {}, id="c2"),
                ]
            ),
            Reply(text="3"),
        )
        events = await run(stack, "remote-user", "1+2 and who am I")
        results = {
            e.data.result.call_id: e.data.result.content for e in events if e.data.type == "tool_result"
        }  # type: ignore[union-attr]
        assert results == {"c1": "3", "c2": "Bearer notes-secret"}
    finally:
        await stack.aclose()


# -- Nexus as an MCP server -----------------------------------------------------------------------
class Services:
    """Stand-ins for the lead's services: keys → tenants, and answers that show the tenant."""

    keys = {"key-acme": "acme", "key-globex": "globex"}

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    async def authenticate(self, token: str | None) -> str | None:
        return self.keys.get(token or "")

    async def route(self, tenant: str, text: str) -> dict[str, Any]:
        self.calls.append((tenant, text))
        return {"model": "fast-model", "reason": f"short request from {tenant}"}

    async def chat(self, tenant: str, message: str, model: str, session_id: str | None) -> str:
        if model == "unknown":
            raise McpToolError("unknown model 'unknown'")
        if model == "crash":
            raise RuntimeError("database password is hunter2")
        return f"[{tenant}/{model}/{session_id}] {message}"

    async def rag_search(self, tenant: str, collection: str, query: str, k: int) -> list[dict[str, Any]]:
        return [{"text": f"{tenant}'s {collection} on {query}", "k": k}]


@pytest.fixture
def nexus_mcp() -> Iterator[tuple[str, Services]]:
    services = Services()
    app = NexusMcpApp(McpBackend(services.authenticate, services.route, services.chat, services.rag_search))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive()
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}/mcp", services
    server.should_exit = True
    thread.join(10)


async def _client(url: str, key: str) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client


async def test_an_mcp_client_lists_and_calls_nexus_tools(nexus_mcp: tuple[str, Services]) -> None:
    url, services = nexus_mcp
    async for client in _client(url, "key-acme"):
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) == {"route", "chat", "rag_search"}
        assert tools["chat"].input_schema["required"] == ["message"]
        routed = await client.call_tool("route", {"text": "hello"})
        assert orjson.loads(routed.content[0].text) == {
            "model": "fast-model",
            "reason": "short request from acme",
        }
        chat = await client.call_tool("chat", {"message": "hi", "session_id": "s1"})
        assert chat.content[0].text == "[acme/nexus-auto/s1] hi"
        found = await client.call_tool("rag_search", {"query": "refunds", "collection": "policies", "k": 50})
        assert orjson.loads(found.content[0].text) == [{"text": "acme's policies on refunds", "k": 20}]
        told = await client.call_tool("chat", {"message": "x", "model": "unknown"})
        assert told.is_error and "unknown model 'unknown'" in told.content[0].text
        hidden = await client.call_tool("chat", {"message": "x", "model": "crash"})
        assert hidden.is_error and "hunter2" not in hidden.content[0].text
    async for client in _client(url, "key-globex"):
        chat = await client.call_tool("chat", {"message": "hi"})
        assert chat.content[0].text == "[globex/nexus-auto/None] hi"
    assert services.calls == [("acme", "hello")]


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic a2V5LWFjbWU="}]
)
def test_nexus_mcp_needs_a_valid_key(nexus_mcp: tuple[str, Services], headers: dict[str, str]) -> None:
    url, _ = nexus_mcp
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    r = httpx.post(url, json=body, headers={**headers, "accept": "application/json, text/event-stream"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert r.json()["error"]["type"] == "authentication_error"


async def test_a_tenant_mcp_server_outside_the_allow_list_is_refused_before_connecting() -> None:
    from nexus.agents.toolbox import Toolbox
    from nexus.agents.tools import ToolRegistry
    from nexus.execution import EgressPolicy

    box = Toolbox(ToolRegistry(), policy=EgressPolicy(allowed_hosts={"acme": ["mcp.partner.test"], "*": []}))
    spec = AgentEntry.model_validate(
        {"name": "x", "mcp": [{"name": "elsewhere", "url": "https://mcp.other.test/mcp"}]}
    )
    with pytest.raises(ToolSetupError) as info:
        await box.toolset(spec, tenant="acme", trusted=False)
    assert "not in the allow-list of tenant 'acme'" in info.value.message
    await box.aclose()


async def test_the_mcp_app_serves_at_slash_mcp_inside_a_fastapi_app() -> None:
    """The wiring the gateway uses: a Route at /mcp (no slash redirect), the lifespan entered by the host."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI
    from starlette.routing import Route

    services = Services()
    mcp_app = NexusMcpApp(
        McpBackend(services.authenticate, services.route, services.chat, services.rag_search)
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with mcp_app.lifespan():
            yield

    host = FastAPI(lifespan=lifespan)
    host.router.routes.append(Route("/mcp", endpoint=mcp_app, methods=["GET", "POST", "DELETE"]))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(host, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive()
            time.sleep(0.02)
        async for client in _client(f"http://127.0.0.1:{port}/mcp", "key-globex"):
            result = await client.call_tool("rag_search", {"query": "q"})
            assert orjson.loads(result.content[0].text) == [{"text": "globex's default on q", "k": 5}]
    finally:
        server.should_exit = True
        thread.join(10)
