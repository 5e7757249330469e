"""Who is calling: the authenticated principal and the roles it may act as."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["member", "admin", "global_admin"]
ROLES: tuple[Role, ...] = ("member", "admin", "global_admin")
DEFAULT_TENANT = "default"


@dataclass(frozen=True, slots=True)
class Principal:
    tenant_id: str
    role: Role
    subject: str  # key id, JWT subject, or "anonymous"
    via: Literal["key", "jwt", "anonymous"]
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
