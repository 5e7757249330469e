"""What one gateway changes, every process of the deployment hears: Redis pub/sub, or local only.

    broadcast.on("catalogue", apply)           # every process: how to apply a change
    await broadcast.publish("catalogue", data)  # the process that made it: applied here, then sent

Without Redis (the embedded default) `publish` applies the change locally and that is all. With Redis,
every process subscribes to one channel (`<jobs_stream_prefix>:broadcast`); a message names its topic
and the instance that sent it, and the sender ignores its own echo (it applied the change already).

Pub/sub is fire-and-forget: a process that is not subscribed at the moment (starting, reconnecting)
misses the message. That is why each topic carries the state itself (the whole catalogue, say) or
makes the receiver re-read it from the database, and why a reconnecting subscriber calls every
topic's handler with `None` ("you may have missed something: re-read").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from typing import Any

import orjson

log = logging.getLogger("nexus.runtime.broadcast")

# data is None after a (re)subscription: the handler re-reads its state from its source.
# (A handler may return an awaitable, which is awaited; any other return value is ignored.)
Handler = Callable[[Any], Any]


class Broadcast:
    def __init__(self, redis_url: str | None, channel: str, *, origin: str | None = None) -> None:
        self.redis_url = redis_url
        self.channel = channel
        self.origin = origin or uuid.uuid4().hex
        self.handlers: dict[str, list[Handler]] = {}
        self.received = 0  # messages from other processes applied here
        self.subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: Any = None

    @classmethod
    def for_settings(cls, settings: Any, *, origin: str | None = None) -> Broadcast:
        return cls(settings.redis_url, f"{settings.jobs_stream_prefix}:broadcast", origin=origin)

    @property
    def shared(self) -> bool:
        return bool(self.redis_url)

    def on(self, topic: str, handler: Handler) -> None:
        self.handlers.setdefault(topic, []).append(handler)

    async def start(self) -> Broadcast:
        if self.redis_url:
            import redis.asyncio as aioredis

            self._client = aioredis.from_url(self.redis_url)
            self._task = asyncio.create_task(self._listen(), name="nexus:broadcast")
            # Start-up waits (briefly) for the subscription, so a change made right after is not missed.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.subscribed.wait(), 5.0)
        return self

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client is not None:
            await self._client.aclose()

    async def publish(self, topic: str, data: Any = None, *, local: bool = True) -> int:
        """Apply here (unless `local=False`: the caller did already), then tell the other processes;
        returns how many subscribers Redis reached (this process included), 0 without Redis."""
        if local:
            await self._apply(topic, data)
        if self._client is None:
            return 0
        message = orjson.dumps({"topic": topic, "origin": self.origin, "data": data})
        return int(await self._client.publish(self.channel, message))

    async def _apply(self, topic: str, data: Any) -> None:
        for handler in self.handlers.get(topic, []):
            try:
                result = handler(data)
                if asyncio.iscoroutine(result):
                    await result
            except Exception:  # one bad handler must not stop the others (nor the listener)
                log.exception("broadcast handler failed", extra={"topic": topic})

    async def _listen(self) -> None:
        delay = 0.1
        first = True
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self.subscribed.set()
                delay = 0.1
                if not first:  # messages may have been missed while away: every topic re-reads
                    for topic in list(self.handlers):
                        await self._apply(topic, None)
                first = False
                async for message in pubsub.listen():
                    await self._receive(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis went away: retry with backoff, re-read on return
                self.subscribed.clear()
                log.warning("broadcast subscription lost (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _receive(self, message: dict[str, Any]) -> None:
        if message.get("type") != "message":
            return
        try:
            body = orjson.loads(message["data"])
            topic, origin = str(body["topic"]), body.get("origin")
        except (orjson.JSONDecodeError, KeyError, TypeError):
            log.warning("ignored a malformed broadcast message")
            return
        if origin == self.origin:
            return  # our own: applied when published
        self.received += 1
        await self._apply(topic, body.get("data"))


# ---- the topics a Nexus process applies ------------------------------------------------------------

CATALOGUE = "catalogue"  # data: the catalogue as loaded (JSON), or None: re-read the file
BUDGETS = "budgets"  # data: None; budget rules changed, re-read them from the database


def catalogue_handler(hub: Any) -> Handler:
    """Swap in the catalogue another process loaded (validated here too; a bad one keeps ours)."""

    def apply(data: Any) -> None:
        from nexus.config.catalogue import Catalogue

        cat = hub.reload() if data is None else hub.load(Catalogue.model_validate(data))
        log.info("catalogue reloaded by broadcast", extra={"models": len(cat.models)})

    return apply


async def publish_catalogue(broadcast: Broadcast | None, hub: Any) -> int:
    """After a reload here: every other process loads the same catalogue."""
    if broadcast is None or hub.source is None:
        return 0
    return await broadcast.publish(CATALOGUE, hub.source.model_dump(mode="json"), local=False)
