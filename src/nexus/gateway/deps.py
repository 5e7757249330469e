"""What routes get from the app: the Services (one typed dependency), the caller and its role checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, cast

from fastapi import Depends, WebSocket
from starlette.requests import HTTPConnection

from nexus.runtime import Services
from nexus.service.errors import ServiceError, forbidden
from nexus.service.identity import ANONYMOUS, Caller, Principal, Role, has_role
from nexus.store import Store, TenantScope
from nexus.telemetry import get_request_id


def services_of(conn: HTTPConnection) -> Services:
    services = conn.app.state.services
    if services is None:  # only between create_app() and the lifespan's start
        raise ServiceError(503, "The server is starting.", code="starting")
    return cast(Services, services)


def principal_of(conn: HTTPConnection) -> Principal:
    principal: Principal = getattr(conn.state, "principal", ANONYMOUS)
    return principal


def caller_of(conn: HTTPConnection, door: str) -> Caller:
    return Caller(principal=principal_of(conn), door=door, request_id=get_request_id())


def scope_of(conn: HTTPConnection) -> TenantScope:
    """The caller's read scope: its tenant, or every tenant for a global admin."""
    p = principal_of(conn)
    return TenantScope(p.tenant_id, p.is_global_admin)


def require_role(role: Role) -> Callable[[HTTPConnection], Principal]:
    """A route dependency: 403 unless the caller has at least `role`."""

    def check(conn: HTTPConnection) -> Principal:
        principal = principal_of(conn)
        if not has_role(principal, role):
            what = "a global admin key" if role == "global_admin" else "an admin key"
            raise forbidden(f"This action needs {what}.")
        return principal

    check.required_role = role  # type: ignore[attr-defined]  # read by the route-enumerating role test
    return check


def store_of(conn: HTTPConnection) -> Store:
    return services_of(conn).store


ServicesDep = Annotated[Services, Depends(services_of)]
StoreDep = Annotated[Store, Depends(store_of)]
ScopeDep = Annotated[TenantScope, Depends(scope_of)]
AdminDep = Annotated[Principal, Depends(require_role("admin"))]
GlobalAdminDep = Annotated[Principal, Depends(require_role("global_admin"))]


async def accept_websocket(ws: WebSocket, door: str) -> Caller | None:
    """Accept a WebSocket door's connection: the caller, or None after sending the authentication error
    (in the door's error-message shape) and closing with 1008. Every WebSocket door starts with this."""
    await ws.accept()
    refused = getattr(ws.state, "auth_error", None)
    if refused is not None:
        await ws.send_json(
            {
                "type": "error",
                "data": {"message": refused.message, "code": refused.code, "status": refused.status},
            }
        )
        await ws.close(code=1008, reason=refused.message[:120])
        return None
    return caller_of(ws, door)
