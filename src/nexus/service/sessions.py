"""Session ids are global and owned by one tenant: another tenant's session is "not found" on every door.

A door may pass any well-formed id; the first turn on it records the caller's tenant as its owner.
Ownership is cached per process (it never changes), so a session costs one database round trip per
process, and none when Nexus made the id itself.
"""

from __future__ import annotations

import re
import uuid
from collections import OrderedDict

from nexus.service.errors import invalid, not_found
from nexus.store import AccountingQueue, Store, TenantScope

# Ids reach headers and checkpoint thread ids: a documented shape, nothing else.
SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
SESSION_ID_RULE = "1–128 characters: letters, digits, '.', '_' or '-', starting with a letter or digit"


def check_session_id(value: str, param: str = "session_id") -> str:
    if not SESSION_ID.match(value):
        raise invalid(f"Invalid session id: {SESSION_ID_RULE}.", code="invalid_session_id", param=param)
    return value


def new_session_id() -> str:
    return uuid.uuid4().hex


class SessionRegistry:
    def __init__(self, store: Store, queue: AccountingQueue, cache_size: int = 100_000) -> None:
        self.store = store
        self.queue = queue
        self._owners: OrderedDict[str, str] = OrderedDict()
        self._max = cache_size

    def _remember(self, session_id: str, tenant: str) -> None:
        self._owners[session_id] = tenant
        self._owners.move_to_end(session_id)
        if len(self._owners) > self._max:
            self._owners.popitem(last=False)

    def create(self, tenant: str) -> str:
        """A new session id owned by `tenant` (recorded through the accounting queue, off the request path)."""
        session_id = new_session_id()
        self._remember(session_id, tenant)
        self.queue.session_created(session_id, tenant_id=tenant)
        return session_id

    async def claim(self, tenant: str, session_id: str) -> None:
        """Make sure `session_id` belongs to `tenant` (recording it when new); 404 when it is another's."""
        owner = self._owners.get(session_id)
        if owner is None:
            owner = await self.store.chat_sessions(TenantScope(tenant, False)).claim(session_id)
            self._remember(session_id, owner)
        if owner != tenant:
            raise not_found(f"Unknown session {session_id!r}.", code="session_not_found")

    async def owned(self, tenant: str, session_id: str) -> bool:
        """Whether the session exists and is the tenant's (no side effect)."""
        owner = self._owners.get(session_id)
        if owner is None:
            row = await self.store.chat_sessions(TenantScope.system()).find(session_id)
            if row is None:
                return False
            owner = row.tenant_id
            self._remember(session_id, owner)
        return owner == tenant
