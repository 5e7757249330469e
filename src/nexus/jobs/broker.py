"""The taskiq brokers behind the JobQueue: Redis Streams when NEXUS_REDIS_URL is set, else in-process.

`JobStreamBroker` is taskiq-redis's `RedisStreamBroker` (consumer group, XADD, XREADGROUP, XACK) with
three changes, each for a failure we hit:
- reclaim (XAUTOCLAIM) runs on a timer, also while the stream is idle; upstream reclaims only after a read
  that returned new messages, so a dead worker's pending messages waited for unrelated new traffic;
- an acknowledged message is also deleted (XACK + XDEL in one round trip), so the stream holds only
  unfinished work instead of growing until MAXLEN trims entries that may still be pending;
- the group reads from the start of the stream ("0", not "$"), so messages sent before the first worker
  created the group are delivered rather than skipped.
Priority is a second stream read first (the "high" lane).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from taskiq import AckableMessage, AsyncBroker, InMemoryBroker
from taskiq_redis import RedisStreamBroker

from nexus.config.settings import Settings

log = logging.getLogger("nexus.jobs")
# Longest a worker sleeps in XREADGROUP; bounds how late a timed reclaim can run.
BLOCK_MS = 1000
# Safety cap on each stream (acked entries are deleted, so only a huge backlog gets near it).
STREAM_MAXLEN = 1_000_000


class JobStreamBroker(RedisStreamBroker):
    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        consumer_name: str,
        batch: int,
        reclaim_idle_s: float,
        block_ms: int = BLOCK_MS,
    ) -> None:
        self.lanes = (f"{prefix}:jobs:high", f"{prefix}:jobs")
        super().__init__(
            url,
            queue_name=self.lanes[1],
            consumer_group_name=f"{prefix}:workers",
            consumer_name=consumer_name,
            consumer_id="0",
            xread_block=block_ms,
            xread_count=batch,
            maxlen=STREAM_MAXLEN,
            idle_timeout=int(reclaim_idle_s * 1000),
            unacknowledged_batch_size=batch,
            additional_streams={self.lanes[0]: ">"},
        )
        self.reclaim_every_s = max(0.05, reclaim_idle_s / 2)

    def lane(self, priority: int) -> str:
        return self.lanes[0] if priority > 0 else self.lanes[1]

    def _ack_generator(self, id: str, queue_name: str) -> Callable[[], Awaitable[None]]:
        async def _ack() -> None:
            async with Redis(connection_pool=self.connection_pool) as redis:
                pipe = redis.pipeline(transaction=False)
                pipe.xack(queue_name, self.consumer_group_name, id)
                pipe.xdel(queue_name, id)
                await pipe.execute()

        return _ack

    def _message(
        self, stream: bytes | str, msg_id: bytes | str, fields: dict[bytes, bytes]
    ) -> AckableMessage:
        name = stream.decode() if isinstance(stream, bytes) else stream
        ident = msg_id.decode() if isinstance(msg_id, bytes) else msg_id
        return AckableMessage(data=fields[b"data"], ack=self._ack_generator(id=ident, queue_name=name))

    async def hand_off(self) -> int:
        """At a clean exit: re-send the messages this consumer still holds (read but not finished) and
        leave the group, so other workers get them now rather than after the reclaim idle time."""
        moved = 0
        async with Redis(connection_pool=self.connection_pool) as redis:
            for lane in self.lanes:
                pending = await redis.xpending_range(
                    lane,
                    self.consumer_group_name,
                    min="-",
                    max="+",
                    count=10_000,
                    consumername=self.consumer_name,
                )
                for entry in pending:
                    msg_id = entry["message_id"]
                    found: Any = await redis.xrange(lane, min=msg_id, max=msg_id)
                    pipe = redis.pipeline(transaction=True)
                    if found:
                        pipe.xadd(lane, {b"data": found[0][1][b"data"]}, maxlen=self.maxlen, approximate=True)
                    pipe.xack(lane, self.consumer_group_name, msg_id)
                    pipe.xdel(lane, msg_id)
                    await pipe.execute()
                    moved += 1 if found else 0
                await redis.xgroup_delconsumer(lane, self.consumer_group_name, self.consumer_name)
        return moved

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        last_reclaim = 0.0
        async with Redis(connection_pool=self.connection_pool) as redis:
            while True:
                if time.monotonic() - last_reclaim >= self.reclaim_every_s:
                    last_reclaim = time.monotonic()
                    for lane in self.lanes:
                        _, claimed, *_ = await redis.xautoclaim(
                            lane,
                            self.consumer_group_name,
                            self.consumer_name,
                            min_idle_time=self.idle_timeout,
                            count=self.unacknowledged_batch_size,
                        )
                        for msg_id, fields in claimed:
                            if fields:  # None: trimmed meanwhile (Redis 6.2 shape)
                                log.info("reclaimed job message %s from %s", msg_id, lane)
                                yield self._message(lane, msg_id, fields)
                fetched: Any = await redis.xreadgroup(
                    self.consumer_group_name,
                    self.consumer_name,
                    dict.fromkeys(self.lanes, ">"),
                    block=self.block,
                    count=self.count,
                )
                # Redis answers the streams in the order asked: the high lane's messages come first.
                for stream, messages in fetched or []:
                    for msg_id, fields in messages:
                        yield self._message(stream, msg_id, fields)


def make_broker(settings: Settings, *, consumer_name: str, concurrency: int) -> AsyncBroker:
    """Redis Streams when a Redis URL is configured, else the in-process broker (embedded default)."""
    if settings.redis_url:
        return JobStreamBroker(
            settings.redis_url,
            prefix=settings.jobs_stream_prefix,
            consumer_name=consumer_name,
            batch=concurrency,
            reclaim_idle_s=settings.jobs_reclaim_idle_s,
        )
    # Not awaited in place: enqueue returns at once and the job runs as a task of this process.
    return InMemoryBroker(await_inplace=False)
