"""Who is calling: the authenticated principal, the roles it may act as, and the Caller a door builds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from nexus.store.scope import TenantScope

Role = Literal["member", "admin", "global_admin"]
ROLES: tuple[Role, ...] = ("member", "admin", "global_admin")
DEFAULT_TENANT = "default"


@dataclass(frozen=True, slots=True)
class Principal:
    tenant_id: str
    role: Role
    subject: str  # key id, JWT subject, or "anonymous"
    via: Literal["key", "jwt", "anonymous", "job", "telegram"]
    key_id: str | None = None
    rpm: int | None = None
    tpm: int | None = None

    @property
    def is_admin(self) -> bool:
        return self.role in ("admin", "global_admin")

    @property
    def is_global_admin(self) -> bool:
        return self.role == "global_admin"


ANONYMOUS = Principal(tenant_id=DEFAULT_TENANT, role="global_admin", subject="anonymous", via="anonymous")


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking, through which door: built once by the door and passed explicitly to every use case."""

    principal: Principal
    door: str
    request_id: str = ""

    @property
    def tenant(self) -> str:
        return self.principal.tenant_id

    @property
    def scope(self) -> TenantScope:
        return TenantScope(self.principal.tenant_id, self.principal.is_global_admin)

    @property
    def tenant_scope(self) -> TenantScope:
        """The caller's own tenant, even for a global admin (what a chat turn reads and writes)."""
        return TenantScope(self.principal.tenant_id, False)


def has_role(principal: Principal, role: Role) -> bool:
    return ROLES.index(principal.role) >= ROLES.index(role)
