"""Idempotency keys recorded in the database: the same key within the window returns the recorded
response without calling again; two callers racing on one key are serialised by a unique row."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus.execution.errors import IdempotencyInProgress, IdempotencyMismatch
from nexus.execution.types import ExternalResponse
from nexus.store.models import utcnow
from nexus.store.repos.agents import ExecutionRecords
from nexus.store.scope import TenantScope


class IdempotencyStore(Protocol):
    async def begin(
        self, tenant: str, key: str, fingerprint: str, *, window_s: float, wait_s: float
    ) -> ExternalResponse | None:
        """The recorded response (replay), or None when the caller now owns the key and must call.

        Raises IdempotencyMismatch for a key used with another request, IdempotencyInProgress when the
        first call did not finish within `wait_s`."""
        ...

    async def finish(self, tenant: str, key: str, response: ExternalResponse) -> None: ...

    async def abandon(self, tenant: str, key: str) -> None: ...


class SqlIdempotency:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, poll_s: float = 0.05) -> None:
        self._sessions = sessions
        self.poll_s = poll_s

    def _repo(self, tenant: str) -> ExecutionRecords:
        # Always the tenant's own scope, never a global one: keys of two tenants never meet.
        return ExecutionRecords(self._sessions, TenantScope(tenant))

    async def begin(
        self, tenant: str, key: str, fingerprint: str, *, window_s: float, wait_s: float
    ) -> ExternalResponse | None:
        repo = self._repo(tenant)
        deadline = time.monotonic() + wait_s
        while True:
            now = utcnow()
            if await repo.claim(key, fingerprint, now + timedelta(seconds=window_s)):
                return None
            rec = await repo.by_key(key)
            if rec is None:
                continue  # released between our insert and read: try again
            if rec.expires_at <= now:
                await repo.release(key, expired_before=now)
                continue
            if rec.fingerprint != fingerprint:
                raise IdempotencyMismatch(f"idempotency key {key!r} was used for a different request")
            if rec.status == "done" and rec.response is not None:
                return ExternalResponse.model_validate({**rec.response, "replayed": True})
            if time.monotonic() >= deadline:
                # The owner is presumed dead once it has outlived any call it could be making.
                if (now - rec.created_at).total_seconds() > wait_s:
                    await repo.release(key)
                    continue
                raise IdempotencyInProgress(f"a call with idempotency key {key!r} is still in progress")
            await asyncio.sleep(self.poll_s)

    async def finish(self, tenant: str, key: str, response: ExternalResponse) -> None:
        await self._repo(tenant).complete(key, response.model_dump(mode="json", exclude={"replayed"}))

    async def abandon(self, tenant: str, key: str) -> None:
        await self._repo(tenant).release(key)
