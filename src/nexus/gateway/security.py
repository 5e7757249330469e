"""The one request gate every route but the public ones passes: authenticate and set the principal.

Rate limits and budgets are not here: they apply to model work, once per turn, in the service layer
(`nexus.service.admission`), whatever door the turn came through.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

from nexus.gateway.deps import services_of
from nexus.service.errors import ServiceError
from nexus.telemetry import tenant_var

PUBLIC_PATHS = frozenset({"/health", "/ready"})
# Doors whose own protocol authenticates the sender (Telegram's secret token); their route checks it.
SELF_AUTHENTICATED = ("/telegram/",)


def bearer_token(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if header and scheme.lower() == "bearer":
        return token.strip()
    if not header and conn.scope["type"] == "websocket":
        # Browsers cannot set headers on a WebSocket; the key may come as a query parameter there.
        return conn.query_params.get("api_key") or None
    return "" if header else None


async def gate(conn: HTTPConnection) -> None:
    if conn.url.path in PUBLIC_PATHS or conn.url.path.startswith(SELF_AUTHENTICATED):
        return
    try:
        principal = await services_of(conn).auth.authenticate(bearer_token(conn))
    except ServiceError as exc:
        if conn.scope["type"] == "websocket":
            # A browser cannot read the status of a refused handshake: the WebSocket door accepts,
            # sends this error in its own shape, and closes with 1008 (policy violation).
            conn.state.auth_error = exc
            return
        raise
    conn.state.principal = principal
    tenant_var.set(principal.tenant_id)
