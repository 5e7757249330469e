"""Typed access to what the app keeps on `app.state` (built once in app.py's lifespan)."""

from __future__ import annotations

import time
from typing import Protocol

from fastapi import Request

from nexus.providers.errors import ProviderError
from nexus.providers.hub import ModelHub
from nexus.providers.types import Usage


def hub_of(request: Request) -> ModelHub:
    hub: ModelHub = request.app.state.hub
    return hub


class RequestAccounting(Protocol):
    """Records one finished explicit-model request (a work order); must not block."""

    def finished(
        self,
        request: Request,
        requested: str,
        served: str | None,
        usage: Usage | None,
        started: float,
        error: ProviderError | None,
    ) -> None: ...


class NoAccounting:
    def finished(
        self,
        request: Request,
        requested: str,
        served: str | None,
        usage: Usage | None,
        started: float,
        error: ProviderError | None,
    ) -> None:
        _ = (request, requested, served, usage, started, error, time)


def accounting_hooks(request: Request) -> RequestAccounting:
    hooks: RequestAccounting = getattr(request.app.state, "request_accounting", None) or NoAccounting()
    return hooks
