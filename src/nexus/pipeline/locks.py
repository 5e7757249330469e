"""One run at a time per LangGraph thread (a tenant's session), across every process of a deployment.

A session's checkpoint (its history and any paused run) lives in the shared database, so two gateways
running turns on one session at once would both read the same checkpoint and the later write would
drop the other's turn. The per-process asyncio lock only
serialises turns inside one process; with Redis, `RedisRunLocks` adds a lease lock on
`<prefix>:lock:thread:<thread id>` that every gateway and worker honours:

- acquire: `SET key token NX PX ttl`, polled with a short backoff while another process holds it;
- renew: every ttl/3 while the run lasts (a run may be long), so a live holder never loses it;
- release: delete only if the token is still ours (a Lua compare-and-delete);
- a holder that dies without releasing is forgotten when its ttl runs out.

If Redis cannot be reached the run goes ahead under the process lock only (availability first; the
warning says so), as the rate limiter falls back to process-local counting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

from redis.exceptions import RedisError

log = logging.getLogger("nexus.pipeline")

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""


class RunLocks(Protocol):
    def hold(self, key: str) -> AbstractAsyncContextManager[None]: ...


class RedisRunLocks:
    def __init__(self, redis_url: str, prefix: str, *, ttl_s: float = 30.0, poll_s: float = 0.01) -> None:
        import redis.asyncio as aioredis

        self.client: Any = aioredis.from_url(redis_url)
        self.prefix = prefix
        self.ttl_ms = int(ttl_s * 1000)
        self.poll_s = poll_s
        self.waits = 0  # acquisitions that had to wait for another holder (observability, tests)

    def name(self, key: str) -> str:
        return f"{self.prefix}:lock:thread:{key}"

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        name, token = self.name(key), uuid.uuid4().hex
        try:
            await self._acquire(name, token)
        except (RedisError, OSError) as exc:
            log.warning("run lock unavailable (%s): the run holds this process's lock only", exc)
            yield
            return
        renew = asyncio.create_task(self._renew(name, token), name="nexus:run-lock-renew")
        try:
            yield
        finally:
            renew.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renew
            with contextlib.suppress(Exception):
                await asyncio.shield(self.client.eval(_RELEASE, 1, name, token))

    async def _acquire(self, name: str, token: str) -> None:
        delay = self.poll_s
        waited = False
        while not await self.client.set(name, token, nx=True, px=self.ttl_ms):
            waited = True
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.2)
        if waited:
            self.waits += 1

    async def _renew(self, name: str, token: str) -> None:
        while True:
            await asyncio.sleep(self.ttl_ms / 3000)
            try:
                if not await self.client.eval(_RENEW, 1, name, token, self.ttl_ms):
                    log.warning("run lock %s was lost (expired while Redis was unreachable?)", name)
                    return
            except Exception as exc:
                log.warning("run lock %s not renewed (%s)", name, exc)

    async def aclose(self) -> None:
        await self.client.aclose()
