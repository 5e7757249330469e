"""Nexus as an MCP server at /mcp (streamable HTTP, stateless, JSON responses): tools `route`, `chat`
and `rag_search` for MCP clients, with the same API keys and tenancy as the REST API.

The MCP app (nexus.agents.mcp.server) authenticates every HTTP request with the gateway's
Authenticator (no valid key: 401 in the API's error shape, before the MCP layer); its tools call the
service layer with that principal: `chat` is a chat turn through `ChatService.turn` (door "mcp": rate
limits, budgets, the input guard, sessions, accounting), `route` explains a routing decision within
the tenant's model allow-list. A refusal is a tool error whose text ends with `(error STATUS CODE)`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from nexus.agents.mcp.server import McpBackend, McpToolError, NexusMcpApp
from nexus.pipeline.events import FinalData
from nexus.providers.types import ChatMessage, ChatRequest
from nexus.routing.base import RouteContext
from nexus.routing.policy import NoModelAvailableError
from nexus.runtime import Services
from nexus.service.chat import TurnRequest
from nexus.service.errors import ServiceError, as_service_error
from nexus.service.identity import Caller, Principal
from nexus.telemetry import get_request_id, tenant_var

DOOR = "mcp"
PATH = "/mcp"
# No GET: a stateless server has no server-initiated messages to stream, and an idle stream held open
# per client would only cost a connection (the MCP spec lets a server answer GET with 405).
METHODS = ["POST", "DELETE"]


def refusal(exc: BaseException) -> McpToolError | None:
    """A service refusal as the tool error an MCP client reads; None for an unexpected error."""
    mapped = as_service_error(exc)
    if mapped is None:
        return None
    return McpToolError(f"{mapped.message} (error {mapped.status} {mapped.code})")


def backend(services: Services) -> McpBackend:
    async def authenticate(token: str | None) -> Principal | None:
        try:
            principal = await services.auth.authenticate(token)
        except ServiceError:
            return None
        tenant_var.set(principal.tenant_id)
        return principal

    async def route(principal: Principal, text: str) -> dict[str, Any]:
        policy = await services.guard.policy(principal.tenant_id)
        allowed = policy.config.allowed_models.get(policy.tenant or "")
        ctx = RouteContext(allowed_models=None if allowed is None or "*" in allowed else list(allowed))
        try:
            decision = await asyncio.to_thread(services.router.decide, text, ctx)
        except NoModelAvailableError as exc:
            raise McpToolError(f"{exc} (error 503 no_model_available)") from None
        return decision.model_dump(mode="json")

    async def chat(principal: Principal, message: str, model: str, session_id: str | None) -> str:
        caller = Caller(principal=principal, door=DOOR, request_id=get_request_id())
        request = TurnRequest(
            chat=ChatRequest(model=model, messages=[ChatMessage(role="user", content=message)]),
            session_id=session_id,
            resume="auto",
            client_history=False,
        )
        try:
            turn = await services.chat.turn(caller, request)
            outcome = await turn.result()
        except Exception as exc:
            told = refusal(exc)
            if told is None:
                raise
            raise told from None
        if isinstance(outcome, FinalData):
            return outcome.answer
        # A clarifying question: the run is paused; calling `chat` again on the session answers it.
        return outcome.question

    async def rag_search(principal: Principal, collection: str, query: str, k: int) -> list[dict[str, Any]]:
        raise McpToolError("document search is not configured on this server (error 501 not_configured)")

    return McpBackend(authenticate=authenticate, route=route, chat=chat, rag_search=rag_search)


@asynccontextmanager
async def serving(app: FastAPI, services: Services) -> AsyncIterator[None]:
    """The MCP app for this lifespan (a mounted app gets no lifespan events of its own)."""
    mcp_app = NexusMcpApp(backend(services))
    async with mcp_app.lifespan():
        app.state.mcp = mcp_app
        try:
            yield
        finally:
            app.state.mcp = None


async def mcp_door(scope: Scope, receive: Receive, send: Send) -> None:
    """The /mcp route's ASGI endpoint: this lifespan's MCP app (a plain Route: no path redirect)."""
    mcp_app: NexusMcpApp | None = getattr(scope["app"].state, "mcp", None)
    if mcp_app is None:
        raise ServiceError(503, "The server is starting.", code="starting")
    await mcp_app(scope, receive, send)


class _AsgiEndpoint:
    """Starlette calls a non-function endpoint as an ASGI app."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await mcp_door(scope, receive, send)


router = APIRouter()
router.routes.append(Route(PATH, endpoint=_AsgiEndpoint(), methods=METHODS, include_in_schema=False))
