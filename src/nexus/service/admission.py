"""Admission of model work: requests and tokens per minute (per key and per tenant; tenant rows override
the defaults) and hard budgets. Every use case that spends model capacity (chat turns on every door,
embeddings, audio, retrieval answers) admits through here, once per unit of work."""

from __future__ import annotations

from collections.abc import Callable

from nexus.config.settings import Settings
from nexus.service.budgets import BudgetManager
from nexus.service.errors import ServiceError, forbidden
from nexus.service.identity import Principal
from nexus.service.ratelimit import RateLimiter, RateLimitExceeded, enforce_limits
from nexus.service.tenants import TenantDirectory


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
        tenants: TenantDirectory,
        budgets: BudgetManager,
        on_reject: Callable[[str], None] | None = None,
    ) -> None:
        self.limiter = limiter
        self.settings = settings
        self.tenants = tenants
        self.budgets = budgets
        self.on_reject = on_reject

    async def _tenant(self, tenant: str) -> tuple[int, int]:
        own = await self.tenants.get(tenant)
        if own.disabled:
            raise forbidden(f"Tenant {tenant!r} is disabled.")
        return own.rpm or self.settings.tenant_rpm, own.tpm or self.settings.tenant_tpm

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
        await self.budgets.refresh(principal.tenant_id, principal.key_id)  # shared counters (Redis)
        self.budgets.enforce(principal)
