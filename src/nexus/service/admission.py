"""Admission of model work: requests and tokens per minute (per key and per tenant; tenant rows override
the defaults) and hard budgets. Every use case that spends model capacity (chat turns on every door,
embeddings, audio, retrieval answers) admits through here, once per unit of work."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from nexus.config.settings import Settings
from nexus.service.budgets import BudgetManager
from nexus.service.errors import ServiceError
from nexus.service.identity import Principal
from nexus.service.ratelimit import RateLimiter, RateLimitExceeded, enforce_limits
from nexus.store import TenantScope

TENANT_LIMITS_TTL_S = 30.0


class RateLimited(ServiceError):
    def __init__(self, exc: RateLimitExceeded) -> None:
        self.kind = exc.kind
        super().__init__(
            429,
            f"Rate limit reached for {exc.kind} per minute; retry after {exc.result.retry_after_s:.0f}s.",
            code="rate_limit_exceeded",
            headers=exc.headers,
        )


class Admission:
    def __init__(
        self,
        limiter: RateLimiter,
        settings: Settings,
        store: Any,
        budgets: BudgetManager,
        on_reject: Callable[[str], None] | None = None,
    ) -> None:
        self.limiter = limiter
        self.settings = settings
        self.store = store
        self.budgets = budgets
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

    def forget_tenant(self, tenant: str) -> None:
        """A tenant's limits changed: read them again on its next request."""
        self._tenant_limits.pop(tenant, None)

    async def admit(self, principal: Principal, tokens: Callable[[], int]) -> None:
        """Count one unit of work; raise RateLimited or BudgetExceeded (both 429).

        `tokens` estimates the work's prompt tokens; it is only called when a token limit applies.
        """
        key_rpm = principal.rpm or self.settings.default_rpm
        key_tpm = principal.tpm or self.settings.default_tpm
        tenant_rpm, tenant_tpm = await self._tenant(principal.tenant_id)
        estimate = tokens() if (key_tpm or tenant_tpm) else 0
        try:
            if key_rpm or key_tpm:
                await enforce_limits(
                    self.limiter,
                    f"key:{principal.key_id or principal.subject}",
                    rpm=key_rpm,
                    tpm=key_tpm,
                    tokens=estimate,
                )
            if tenant_rpm or tenant_tpm:
                await enforce_limits(
                    self.limiter,
                    f"tenant:{principal.tenant_id}",
                    rpm=tenant_rpm,
                    tpm=tenant_tpm,
                    tokens=estimate,
                )
        except RateLimitExceeded as exc:
            if self.on_reject is not None:
                self.on_reject(exc.kind)
            raise RateLimited(exc) from None
        self.budgets.enforce(principal)
