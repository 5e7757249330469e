"""A tenant's own settings as every turn needs them — limits, guard overrides, disabled — read from the
tenants table at most once per TTL per process (a change made through the admin API is seen at once in
the process that made it, and within the TTL elsewhere)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from nexus.store import Store, TenantScope

TTL_S = 30.0


@dataclass(frozen=True, slots=True)
class TenantSettings:
    rpm: int | None = None
    tpm: int | None = None
    disabled: bool = False
    guard_overrides: dict[str, Any] | None = None


class TenantDirectory:
    def __init__(self, store: Store, ttl_s: float = TTL_S) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[float, TenantSettings]] = {}

    async def get(self, tenant: str) -> TenantSettings:
        now = time.monotonic()
        hit = self._cache.get(tenant)
        if hit is not None and hit[0] > now:
            return hit[1]
        row = await self.store.tenants(TenantScope.system()).find(tenant)
        found = (
            TenantSettings(row.rpm or None, row.tpm or None, bool(row.disabled), row.guard_policy or None)
            if row is not None
            else TenantSettings()
        )
        self._cache[tenant] = (now + self.ttl_s, found)
        return found

    def forget(self, tenant: str) -> None:
        self._cache.pop(tenant, None)
