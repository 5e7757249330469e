"""Nexus as an MCP server: streamable HTTP, tools `route`, `chat` and `rag_search`, as an ASGI app the
gateway mounts at /mcp.

Tenancy is the API's: every HTTP request's bearer token goes to the `authenticate` callable the lead
passes (the same keys as the REST API); no principal → 401 before the MCP layer sees the request. The
tools call the lead's callables with that principal, so each client sees only its own tenant.
Stateless mode with JSON responses: any gateway replica can answer any request (no session affinity).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import orjson
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError as McpToolError
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import Receive, Scope, Send

PRINCIPAL_KEY = "nexus_principal"

Authenticate = Callable[[str | None], Awaitable[Any | None]]


@dataclass(frozen=True, slots=True)
class McpBackend:
    """The lead's services, as callables taking the authenticated principal first.

    Raise `McpToolError` (re-exported here) for failures the client should read (unknown model,
    budget exhausted, guard block); anything else is reported as a generic tool error.
    """

    authenticate: Authenticate
    route: Callable[[Any, str], Awaitable[dict[str, Any]]]
    chat: Callable[[Any, str, str, str | None], Awaitable[str]]
    rag_search: Callable[[Any, str, str, int], Awaitable[list[dict[str, Any]]]]


def _principal(ctx: Context) -> Any:
    request = ctx.request_context.request
    state = getattr(request, "scope", {}).get("state") or {}
    principal = state.get(PRINCIPAL_KEY)
    if principal is None:  # the ASGI wrapper always sets it; this guards a mis-mounted app
        raise McpToolError("not authenticated")
    return principal


def build_mcp_server(backend: McpBackend) -> MCPServer:
    # MCPServer() calls logging.basicConfig with a Rich handler; a placeholder handler on the root
    # logger makes that a no-op, so the gateway's own logging setup stays in charge.
    root = logging.getLogger()
    placeholder = logging.NullHandler()
    root.addHandler(placeholder)
    try:
        server: MCPServer = MCPServer(
            "nexus",
            instructions=(
                "Nexus is a multi-model LLM gateway. `route` explains which model it would choose for a "
                "request, `chat` answers through Nexus (model `nexus-auto` routes automatically), and "
                "`rag_search` searches your document collections."
            ),
        )
    finally:
        root.removeHandler(placeholder)

    @server.tool(name="route", description="Which model Nexus would route a request to, and why.")
    async def route(text: str, ctx: Context) -> str:
        return orjson.dumps(await backend.route(_principal(ctx), text)).decode()

    @server.tool(name="chat", description="Send a message through Nexus and get the answer.")
    async def chat(
        message: str, ctx: Context, model: str = "nexus-auto", session_id: str | None = None
    ) -> str:
        return await backend.chat(_principal(ctx), message, model, session_id)

    @server.tool(
        name="rag_search", description="Search a document collection; returns passages with sources."
    )
    async def rag_search(query: str, ctx: Context, collection: str = "default", k: int = 5) -> str:
        k = max(1, min(int(k), 20))
        return orjson.dumps(await backend.rag_search(_principal(ctx), collection, query, k)).decode()

    return server


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers") or []:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return (token.strip() or None) if scheme.lower() == "bearer" else None
    return None


async def _unauthorized(send: Send) -> None:
    body = orjson.dumps(
        {
            "error": {
                "message": "a valid API key is required (Authorization: Bearer <key>)",
                "type": "authentication_error",
                "code": "invalid_api_key",
                "param": None,
            }
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b"Bearer"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class NexusMcpApp:
    """The ASGI app. Mount it anywhere (`app.mount("/mcp", mcp_app)`): it answers every path it is
    given, so no inner routing depends on the mount point.

    A mounted app gets no lifespan events from Starlette/FastAPI: enter `lifespan()` in the
    gateway's own lifespan. Served alone (uvicorn), it handles its lifespan itself.
    """

    def __init__(self, backend: McpBackend, *, allowed_hosts: list[str] | None = None) -> None:
        self.backend = backend
        self.server = build_mcp_server(backend)
        security = (
            TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=allowed_hosts)
            if allowed_hosts
            else TransportSecuritySettings(enable_dns_rebinding_protection=False)
        )
        # Builds the session manager (stateless, JSON responses); the Starlette app itself is not used.
        self.server.streamable_http_app(stateless_http=True, json_response=True, transport_security=security)
        self._manager = self.server.session_manager

    def lifespan(self) -> AbstractAsyncContextManager[None]:
        return self._manager.run()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        principal = await self.backend.authenticate(_bearer(scope))
        if principal is None:
            await _unauthorized(send)
            return
        scope = {**scope, "state": {**(scope.get("state") or {}), PRINCIPAL_KEY: principal}}
        await self._manager.handle_request(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        assert message["type"] == "lifespan.startup"
        async with self.lifespan():
            await send({"type": "lifespan.startup.complete"})
            while (await receive())["type"] != "lifespan.shutdown":
                pass
        await send({"type": "lifespan.shutdown.complete"})


__all__ = ["McpBackend", "McpToolError", "NexusMcpApp", "build_mcp_server"]
