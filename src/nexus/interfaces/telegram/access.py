"""Who may talk to the bot: an allow-list of Telegram user ids, each mapped to a tenant and a role.

`NEXUS_TELEGRAM_USERS="111=acme:admin,222=acme:member"`. Each user is its own rate-limit and budget
subject (`tg:<user id>`, like an API key id: an admin may set a budget for it), under its tenant's
limits. Everyone else is refused by the bot, politely, and the refusal is audited.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from nexus.service.identity import ROLES, Principal, Role

_TENANT = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class AllowListError(ValueError):
    """NEXUS_TELEGRAM_USERS is malformed; the message names the entry."""


def subject_of(user_id: int) -> str:
    return f"tg:{user_id}"


def principal_for(user_id: int, tenant: str, role: Role, rpm: int | None) -> Principal:
    return Principal(
        tenant_id=tenant,
        role=role,
        subject=subject_of(user_id),
        via="key",  # an authenticated subject with its own limits, as an API key is
        key_id=subject_of(user_id),
        rpm=rpm or None,
    )


def parse_allow_list(spec: str, rpm: int | None = None) -> dict[int, Principal]:
    """`"111=acme:admin, 222=beta:member"` → {111: Principal(acme, admin), …}; AllowListError if malformed."""
    out: dict[int, Principal] = {}
    for raw in spec.split(","):
        entry = raw.strip()
        if not entry:
            continue
        user, sep, target = entry.partition("=")
        tenant, colon, role = target.partition(":")
        user, tenant, role = user.strip(), tenant.strip(), role.strip() or "member"
        if not sep or not user.lstrip("-").isdigit():
            raise AllowListError(f"NEXUS_TELEGRAM_USERS: {entry!r} is not 'user_id=tenant:role'")
        if not _TENANT.match(tenant):
            raise AllowListError(f"NEXUS_TELEGRAM_USERS: {entry!r}: tenant must match {_TENANT.pattern}")
        if role not in ROLES:
            raise AllowListError(f"NEXUS_TELEGRAM_USERS: {entry!r}: role must be one of {', '.join(ROLES)}")
        out[int(user)] = principal_for(int(user), tenant, role, rpm)  # type: ignore[arg-type]
    return out


@dataclass
class AccessList:
    """The running allow-list. `grant` adds a user at run time (an admin tool, or a test's driver)."""

    users: dict[int, Principal] = field(default_factory=dict)

    def principal(self, user_id: int | None) -> Principal | None:
        return self.users.get(user_id) if user_id is not None else None

    def grant(self, user_id: int, principal: Principal) -> None:
        self.users[user_id] = principal

    def revoke(self, user_id: int) -> None:
        self.users.pop(user_id, None)
