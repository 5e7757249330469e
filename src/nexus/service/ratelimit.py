"""Sliding-window rate limits (requests and tokens per window) in-process or shared through Redis.

Exact sliding logs, not fixed windows: a burst at a window edge cannot pass twice the limit. The Redis
variant runs one Lua script per hit, using the server's clock so every process agrees on time.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from nexus.config.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LimitResult:
    allowed: bool
    limit: int
    remaining: int
    reset_s: float  # until the window is fully clear of current hits
    retry_after_s: float  # 0 when allowed; else until this cost would fit


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: int, window_s: float, cost: int = 1) -> LimitResult: ...


class RateLimitExceeded(Exception):
    """A limit refused the request; the gateway answers 429 with `headers`."""

    def __init__(self, result: LimitResult, kind: str, headers: dict[str, str]) -> None:
        self.result = result
        self.kind = kind  # "requests" | "tokens"
        self.headers = headers
        super().__init__(f"rate limit exceeded ({kind}); retry after {result.retry_after_s:.1f}s")


class InProcessLimiter:
    """An exact sliding log per key: (timestamp, cost) entries plus a running sum."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._logs: dict[str, deque[tuple[float, int]]] = {}
        self._sums: dict[str, int] = {}

    async def hit(self, key: str, limit: int, window_s: float, cost: int = 1) -> LimitResult:
        return self.hit_sync(key, limit, window_s, cost)

    def hit_sync(self, key: str, limit: int, window_s: float, cost: int = 1) -> LimitResult:
        # No await inside: the event loop cannot interleave two hits, so no lock is needed.
        now = self._clock()
        entries = self._logs.setdefault(key, deque())
        used = self._sums.get(key, 0)
        while entries and entries[0][0] <= now - window_s:
            used -= entries.popleft()[1]
        allowed = used + cost <= limit
        if allowed:
            entries.append((now, cost))
            used += cost
            retry = 0.0
        else:
            retry = _retry_after([(t, c) for t, c in entries], used, cost, limit, now, window_s)
        self._sums[key] = used
        if not entries:
            del self._logs[key]
            self._sums.pop(key, None)
        reset = (entries[-1][0] + window_s - now) if entries else 0.0
        return LimitResult(allowed, limit, max(0, limit - used), max(0.0, reset), retry)


def _retry_after(
    entries: list[tuple[float, int]], used: int, cost: int, limit: int, now: float, window_s: float
) -> float:
    if cost > limit:
        return window_s  # can never fit; tell the client to back off a full window
    for t, c in entries:
        used -= c
        if used + cost <= limit:
            return max(0.0, t + window_s - now)
    return window_s


# KEYS: [log zset, running sum]. ARGV: limit, window (µs), cost, unique member id.
# Members are "<id>:<cost>" so expired costs can be subtracted from the sum without a second structure.
_LUA = """
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
if #expired > 0 then
  for _, m in ipairs(expired) do used = used - tonumber(string.match(m, ':(%d+)$')) end
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
end
if redis.call('ZCARD', KEYS[1]) == 0 or used < 0 then used = 0 end
local allowed = 0
local retry = 0
if used + cost <= limit then
  allowed = 1
  redis.call('ZADD', KEYS[1], now, ARGV[4] .. ':' .. cost)
  used = used + cost
else
  retry = window
  if cost <= limit then
    local free = used
    local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
    for i = 1, #entries, 2 do
      free = free - tonumber(string.match(entries[i], ':(%d+)$'))
      if free + cost <= limit then retry = tonumber(entries[i + 1]) + window - now break end
    end
  end
end
redis.call('SET', KEYS[2], used)
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local reset = 0
if #newest > 0 then reset = tonumber(newest[2]) + window - now end
local ttl = math.ceil(window / 1000)
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return {allowed, used, reset, retry}
"""


class RedisLimiter:
    """Sliding log in a Redis sorted set; all processes sharing the Redis share the limit."""

    def __init__(
        self,
        url: str | None = None,
        *,
        client: aioredis.Redis | None = None,
        prefix: str = "nexus:rl:",
        connect_timeout_s: float = 0.5,
    ) -> None:
        if client is None:
            if url is None:
                raise ValueError("RedisLimiter needs a url or a client")
            client = aioredis.Redis.from_url(
                url, socket_connect_timeout=connect_timeout_s, socket_timeout=2.0
            )
        self.client = client
        self.prefix = prefix
        self._script = client.register_script(_LUA)

    async def hit(self, key: str, limit: int, window_s: float, cost: int = 1) -> LimitResult:
        # The hash tag keeps both keys in one cluster slot, as a Lua script requires.
        base = f"{self.prefix}{{{key}}}"
        window_us = max(1, int(window_s * 1_000_000))
        res = await self._script(keys=[base, base + ":sum"], args=[limit, window_us, cost, uuid.uuid4().hex])
        allowed, used, reset_us, retry_us = (int(x) for x in res)
        return LimitResult(bool(allowed), limit, max(0, limit - used), reset_us / 1e6, retry_us / 1e6)

    async def aclose(self) -> None:
        await self.client.aclose()


class FallbackLimiter:
    """Redis first; on connection trouble, the in-process limiter (limits then hold per process only)."""

    def __init__(
        self,
        primary: RateLimiter,
        fallback: RateLimiter | None = None,
        on_fallback: Callable[[], None] | None = None,
    ) -> None:
        self.primary = primary
        self.fallback = fallback or InProcessLimiter()
        self.on_fallback = on_fallback  # e.g. a Prometheus counter's .inc
        self.fallbacks_total = 0

    async def hit(self, key: str, limit: int, window_s: float, cost: int = 1) -> LimitResult:
        try:
            return await self.primary.hit(key, limit, window_s, cost)
        except (TimeoutError, RedisConnectionError, RedisTimeoutError, OSError) as exc:
            self.fallbacks_total += 1
            if self.on_fallback is not None:
                self.on_fallback()
            log.warning("rate limiter: Redis unavailable (%s); using in-process limits", type(exc).__name__)
            return await self.fallback.hit(key, limit, window_s, cost)


def build_limiter(settings: Settings, on_fallback: Callable[[], None] | None = None) -> RateLimiter:
    """Redis (with in-process fallback) when NEXUS_REDIS_URL is set, else in-process only."""
    if settings.redis_url:
        return FallbackLimiter(RedisLimiter(settings.redis_url), on_fallback=on_fallback)
    return InProcessLimiter()


def _duration(seconds: float) -> str:
    """OpenAI's reset format: "20ms", "1.5s", "6m0s"."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    if seconds < 60:
        return f"{round(seconds, 3):g}s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{round(rest):d}s"


def ratelimit_headers(
    requests: LimitResult | None = None, tokens: LimitResult | None = None
) -> dict[str, str]:
    headers: dict[str, str] = {}
    retry = 0.0
    for kind, result in (("requests", requests), ("tokens", tokens)):
        if result is None:
            continue
        headers[f"x-ratelimit-limit-{kind}"] = str(result.limit)
        headers[f"x-ratelimit-remaining-{kind}"] = str(result.remaining)
        headers[f"x-ratelimit-reset-{kind}"] = _duration(result.reset_s)
        if not result.allowed:
            retry = max(retry, result.retry_after_s)
    if retry > 0:
        headers["Retry-After"] = str(max(1, math.ceil(retry)))
    return headers


async def enforce_limits(
    limiter: RateLimiter,
    subject: str,
    *,
    rpm: int = 0,
    tpm: int = 0,
    tokens: int = 0,
    window_s: float = 60.0,
) -> dict[str, str]:
    """Count one request (and its estimated tokens) for `subject` (an API key id or "tenant:<id>").

    A limit of 0 means unlimited. Returns the headers to send; raises RateLimitExceeded."""
    req = await limiter.hit(f"req:{subject}", rpm, window_s, 1) if rpm > 0 else None
    if req is not None and not req.allowed:
        raise RateLimitExceeded(req, "requests", ratelimit_headers(req, None))
    tok = await limiter.hit(f"tok:{subject}", tpm, window_s, max(1, tokens)) if tpm > 0 else None
    headers = ratelimit_headers(req, tok)
    if tok is not None and not tok.allowed:
        raise RateLimitExceeded(tok, "tokens", headers)
    return headers
