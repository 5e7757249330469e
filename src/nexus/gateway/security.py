"""The one request gate every route but /health passes: authenticate, scope to a tenant, then
enforce rate limits and budgets. Tenancy is decided here once; repositories filter by the scope."""

from __future__ import annotations

from fastapi import WebSocketException
from starlette.requests import HTTPConnection

from nexus.gateway.auth import PUBLIC_PATHS, Authenticator
from nexus.gateway.errors import APIError
from nexus.store import TenantScope
from nexus.telemetry import tenant_var


async def gate(conn: HTTPConnection) -> None:
    if conn.url.path in PUBLIC_PATHS:
        return
    try:
        await _gate(conn)
    except APIError as exc:
        if conn.scope["type"] == "websocket":
            raise WebSocketException(code=1008, reason=exc.message[:120]) from None
        raise


async def _gate(conn: HTTPConnection) -> None:
    state = conn.app.state
    authenticator: Authenticator = state.authenticator
    principal = await authenticator.authenticate(conn)
    conn.state.principal = principal
    conn.state.scope = TenantScope(principal.tenant_id, principal.is_global_admin)
    tenant_var.set(principal.tenant_id)
    limits = getattr(state, "limits", None)
    if limits is not None:
        await limits.enforce(conn, principal)
    budgets = getattr(state, "budgets", None)
    if budgets is not None and conn.scope["type"] == "http":
        budgets.enforce(principal)
