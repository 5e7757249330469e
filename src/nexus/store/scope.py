"""Who is asking: every repository query is filtered through one TenantScope."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_TENANT = "default"


@dataclass(frozen=True, slots=True)
class TenantScope:
    tenant_id: str = DEFAULT_TENANT
    # A global admin reads every tenant's rows; writes still carry tenant_id.
    is_global_admin: bool = False

    @classmethod
    def system(cls) -> TenantScope:
        """The process itself (accounting writer, retention, startup repair): sees all tenants."""
        return cls(DEFAULT_TENANT, True)
