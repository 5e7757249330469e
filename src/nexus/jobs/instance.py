"""The lease of this process: one `instances` row renewed by a heartbeat, plus its running jobs' leases.

Recovery is lease-aware: only work whose owner stopped renewing (a dead or frozen process) is taken back,
never a live instance's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

from nexus.store import Store
from nexus.store.models import utcnow

log = logging.getLogger("nexus.jobs")
Beat = Callable[[], Awaitable[None]]


def new_instance_id(role: str) -> str:
    return f"{role}-{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (a reused pid counts as alive: the safe side)."""
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


async def expire_dead_local_instances(store: Store) -> list[str]:
    """Instances of this host whose process is gone lose their lease now, so their work is recovered at
    start-up instead of after the lease runs out."""
    dead = await store.instances().expire_dead_on_host(socket.gethostname()[:200], pid_alive)
    if dead:
        log.warning("instances of this host whose process is gone: %s", ", ".join(dead))
    return dead


class InstanceLease:
    def __init__(self, store: Store, *, role: str, lease_s: float, instance_id: str | None = None) -> None:
        self.store = store
        self.role = role
        self.lease_s = lease_s
        self.id = instance_id or new_instance_id(role)
        self.on_beat: list[Beat] = []
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._last_ok = 0.0

    @property
    def interval_s(self) -> float:
        return self.lease_s / 3

    @property
    def healthy(self) -> bool:
        """The last renewal is recent enough that the lease has not lapsed (readiness)."""
        return time.monotonic() - self._last_ok < self.lease_s

    async def start(self) -> InstanceLease:
        await expire_dead_local_instances(self.store)
        await self.store.instances().register(
            self.id, role=self.role, host=socket.gethostname()[:200], pid=os.getpid(), lease_s=self.lease_s
        )
        self._last_ok = time.monotonic()
        self._task = asyncio.create_task(self._loop(), name=f"lease:{self.id}")
        log.info("instance %s (%s) registered, lease %.0fs", self.id, self.role, self.lease_s)
        return self

    async def beat(self) -> None:
        until = utcnow() + timedelta(seconds=self.lease_s)
        if await self.store.instances().renew(self.id, until):
            self._last_ok = time.monotonic()
        else:
            log.error(
                "instance %s: lease row gone (declared dead); its work may be recovered by others", self.id
            )
        for hook in self.on_beat:
            await hook()

    async def _loop(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.interval_s)
                return
            try:
                await self.beat()
            except Exception as exc:  # the database blipped: retry next beat; readiness reports it
                log.warning("instance %s heartbeat failed: %s", self.id, exc)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            done, _ = await asyncio.wait({self._task}, timeout=5.0)
            if not done:
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await self.store.instances().stop(self.id)
