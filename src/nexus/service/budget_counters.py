"""Budget counters in Redis, shared by every gateway and worker of a deployment.

One hash per (tenant, API key or "*", period, period start) with the fields `tokens` and `cost`,
expiring a day after its period ends. Writes are batched: `add` is synchronous (the metering path
cannot await) and the next turn of the event loop sends everything added since in one pipeline, so a
spend reaches Redis before the answer that caused it reaches the client.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

log = logging.getLogger("nexus.service.budgets")

Key = tuple[str, str | None, str, datetime]


class SharedCounters:
    def __init__(self, redis_url: str, prefix: str) -> None:
        import redis.asyncio as aioredis

        self.client: Any = aioredis.from_url(redis_url)
        self.prefix = prefix
        self._pending: dict[str, tuple[float, float, datetime]] = {}
        self._flush: asyncio.Task[None] | None = None
        self.write_failures = 0

    def name(self, key: Key) -> str:
        tenant, key_id, period, start = key
        return f"{self.prefix}:budget:{{{tenant}}}:{key_id or '*'}:{period}:{start:%Y%m%d}"

    def add(self, key: Key, tokens: float, cost: float, *, reset: datetime) -> None:
        name = self.name(key)
        t, c, _ = self._pending.get(name, (0.0, 0.0, reset))
        self._pending[name] = (t + tokens, c + cost, reset)
        if self._flush is None or self._flush.done():
            self._flush = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, {}
            try:
                async with self.client.pipeline(transaction=False) as pipe:
                    for name, (t, c, reset) in batch.items():
                        if t:
                            pipe.hincrbyfloat(name, "tokens", t)
                        if c:
                            pipe.hincrbyfloat(name, "cost", c)
                        pipe.expireat(name, reset + timedelta(days=1))
                    await pipe.execute()
            except Exception as exc:  # Redis down: each process still enforces from its own counters
                self.write_failures += 1
                log.warning("shared budget counters not written (%s)", exc)

    async def read(self, keys: list[Key]) -> list[tuple[float, float]]:
        async with self.client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hmget(self.name(key), "tokens", "cost")
            rows = await pipe.execute()
        return [(float(t or 0), float(c or 0)) for t, c in rows]

    async def settle(self) -> None:
        """Wait until everything added so far is written."""
        if self._flush is not None:
            await asyncio.gather(self._flush, return_exceptions=True)

    async def close(self) -> None:
        await self.settle()
        await self.client.aclose()
