"""The seam ingestion runs behind. `nexus.jobs` (taskiq on Redis Streams, or in-process) will implement
`JobRunner`; until it is wired, `LocalJobs` runs each job as an asyncio task with bounded concurrency.

The durable state of an ingestion is the file row (`in_progress → completed | failed` + reason +
progress), not the job: any runner that calls `RagService.run_ingest(payload)` once per job is enough, and
running it twice is harmless (ingestion is idempotent).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

log = logging.getLogger("nexus.rag")

Handler = Callable[[dict[str, Any]], Awaitable[None]]


class JobRunner(Protocol):
    def register(self, kind: str, handler: Handler) -> None: ...

    async def enqueue(self, kind: str, payload: dict[str, Any], idempotency_key: str) -> str: ...


class LocalJobs:
    """In-process runner: asyncio tasks, at most `concurrency` at once, one live job per idempotency key."""

    def __init__(self, concurrency: int = 1) -> None:
        self._handlers: dict[str, Handler] = {}
        self._slots = asyncio.Semaphore(concurrency)
        self._live: dict[str, asyncio.Task[None]] = {}

    def register(self, kind: str, handler: Handler) -> None:
        self._handlers[kind] = handler

    async def enqueue(self, kind: str, payload: dict[str, Any], idempotency_key: str) -> str:
        handler = self._handlers[kind]
        running = self._live.get(idempotency_key)
        if running is not None and not running.done():
            return idempotency_key

        async def run() -> None:
            async with self._slots:
                try:
                    await handler(payload)
                except Exception:  # the handler records failures itself; this is the last resort
                    log.exception("job %s (%s) failed", idempotency_key, kind)

        task = asyncio.create_task(run(), name=f"{kind}:{idempotency_key}")
        self._live[idempotency_key] = task
        task.add_done_callback(lambda _t: self._live.pop(idempotency_key, None) if _t is task else None)
        return idempotency_key

    async def drain(self) -> None:
        """Wait for every queued job (tests, the CLI)."""
        while self._live:
            await asyncio.gather(*list(self._live.values()), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._live.values()):
            task.cancel()
        await asyncio.gather(*list(self._live.values()), return_exceptions=True)
        self._live.clear()
