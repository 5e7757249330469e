"""The one request gate every route but /health passes: authenticate, scope to a tenant, then
enforce rate limits and budgets. Tenancy is decided here once; repositories filter by the scope."""

from __future__ import annotations

import time
from typing import Any

from fastapi import WebSocketException
from starlette.requests import HTTPConnection

from nexus.config.settings import Settings
from nexus.gateway.auth import PUBLIC_PATHS, Authenticator
from nexus.gateway.errors import APIError
from nexus.gateway.principal import Principal
from nexus.gateway.ratelimit import RateLimiter, RateLimitExceeded, enforce_limits
from nexus.store import TenantScope
from nexus.telemetry import tenant_var

TENANT_LIMITS_TTL_S = 30.0


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
    limits: RequestLimits | None = getattr(state, "limits", None)
    if limits is not None:
        await limits.enforce(conn, principal)
    budgets = getattr(state, "budgets", None)
    if budgets is not None and conn.scope["type"] == "http":
        budgets.enforce(principal)


class RequestLimits:
    """Requests and tokens per minute, per key and per tenant (tenant rows override the defaults)."""

    def __init__(self, limiter: RateLimiter, settings: Settings, store: Any, on_reject: Any = None) -> None:
        self.limiter = limiter
        self.settings = settings
        self.store = store
        self.on_reject = on_reject
        self._tenant_limits: dict[str, tuple[float, int, int]] = {}

    async def _tenant(self, tenant: str) -> tuple[int, int]:
        now = time.monotonic()
        cached = self._tenant_limits.get(tenant)
        if cached and cached[0] > now:
            return cached[1], cached[2]
        row = await self.store.tenants(TenantScope.system()).find(tenant)
        rpm = (row.rpm if row is not None and row.rpm else None) or self.settings.tenant_rpm
        tpm = (row.tpm if row is not None and row.tpm else None) or self.settings.tenant_tpm
        self._tenant_limits[tenant] = (now + TENANT_LIMITS_TTL_S, rpm, tpm)
        return rpm, tpm

    async def enforce(self, conn: HTTPConnection, principal: Principal) -> None:
        # Tokens are estimated from the body size before it is read (~4 bytes a token).
        tokens = int(conn.headers.get("content-length") or 0) // 4
        key_rpm = principal.rpm or self.settings.default_rpm
        key_tpm = principal.tpm or self.settings.default_tpm
        tenant_rpm, tenant_tpm = await self._tenant(principal.tenant_id)
        try:
            if key_rpm or key_tpm:
                await enforce_limits(
                    self.limiter,
                    f"key:{principal.key_id or principal.subject}",
                    rpm=key_rpm,
                    tpm=key_tpm,
                    tokens=tokens,
                )
            if tenant_rpm or tenant_tpm:
                await enforce_limits(
                    self.limiter,
                    f"tenant:{principal.tenant_id}",
                    rpm=tenant_rpm,
                    tpm=tenant_tpm,
                    tokens=tokens,
                )
        except RateLimitExceeded as exc:
            if self.on_reject is not None:
                self.on_reject(exc.kind)
            raise APIError(
                429,
                f"Rate limit reached for {exc.kind} per minute; retry after {exc.result.retry_after_s:.0f}s.",
                code="rate_limit_exceeded",
                headers=exc.headers,
            ) from None
