"""Typed access to what the app keeps on `app.state` (built once in app.py's lifespan)."""

from __future__ import annotations

from typing import Protocol

from fastapi import Request

from nexus.providers.errors import ProviderError
from nexus.providers.hub import ModelHub
from nexus.providers.types import Usage


def hub_of(request: Request) -> ModelHub:
    hub: ModelHub = request.app.state.hub
    return hub


class RequestAccounting(Protocol):
    """Records one explicit-model request (a work order) through a queue, never a DB round trip."""

    async def started(self, request: Request, requested: str) -> str | None: ...

    async def finished(
        self,
        request: Request,
        requested: str,
        served: str | None,
        usage: Usage | None,
        started: float,
        error: ProviderError | None,
    ) -> None: ...


class NoAccounting:
    async def started(self, request: Request, requested: str) -> str | None:
        return None

    async def finished(
        self,
        request: Request,
        requested: str,
        served: str | None,
        usage: Usage | None,
        started: float,
        error: ProviderError | None,
    ) -> None:
        return None


def accounting_hooks(request: Request) -> RequestAccounting:
    hooks: RequestAccounting = getattr(request.app.state, "request_accounting", None) or NoAccounting()
    return hooks


def tenant_of(request: Request) -> str:
    principal = getattr(request.state, "principal", None)
    return principal.tenant_id if principal is not None else "default"
