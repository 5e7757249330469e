"""Behaviour as composition: retry and fallback wrap providers; adapters stay protocol-only."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import cast

from nexus.config.catalogue import ModelEntry
from nexus.providers.base import Provider
from nexus.providers.errors import AllProvidersFailed, ProviderError, UpstreamTimeout
from nexus.providers.types import ChatChunk, ChatRequest, ChatResponse, Health, Usage

log = logging.getLogger("nexus.providers")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 2
    base_delay_s: float = 0.25
    max_delay_s: float = 8.0
    attempt_timeout_s: float = 60.0

    def delay(self, attempt: int, error: ProviderError) -> float:
        """Exponential backoff with full jitter; an upstream's Retry-After wins when given."""
        if error.retry_after is not None:
            return min(max(error.retry_after, 0.0), self.max_delay_s)
        cap = min(self.max_delay_s, self.base_delay_s * (2**attempt))
        return random.uniform(cap / 2, cap)


class RetryingProvider:
    """Retries retryable errors (5xx, 429, connect, timeout) with backoff; each attempt is time-boxed.

    A stream is retried only until its first chunk reaches the caller: after that a retry would
    duplicate text the client already has.
    """

    def __init__(self, inner: Provider, policy: RetryPolicy) -> None:
        self.inner = inner
        self.entry: ModelEntry = inner.entry
        self.policy = policy

    async def complete(self, request: ChatRequest) -> ChatResponse:
        attempt = 0
        while True:
            try:
                return await asyncio.wait_for(self.inner.complete(request), self.policy.attempt_timeout_s)
            except TimeoutError:
                err: ProviderError = UpstreamTimeout(
                    f"no answer within {self.policy.attempt_timeout_s:g}s",
                    provider=self.entry.provider,
                    model=self.entry.id,
                )
            except ProviderError as exc:
                err = exc
            if not err.retryable or attempt >= self.policy.max_retries:
                raise err
            await asyncio.sleep(self.policy.delay(attempt, err))
            attempt += 1

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        attempt = 0
        while True:
            started = False
            agen = cast(AsyncGenerator[ChatChunk, None], self.inner.stream(request))
            try:
                first = await asyncio.wait_for(agen.__anext__(), self.policy.attempt_timeout_s)
                started = True
                yield first
                async for chunk in agen:
                    yield chunk
                return
            except StopAsyncIteration:
                return
            except TimeoutError:
                err: ProviderError = UpstreamTimeout(
                    f"no first token within {self.policy.attempt_timeout_s:g}s",
                    provider=self.entry.provider,
                    model=self.entry.id,
                )
            except ProviderError as exc:
                err = exc
            finally:
                await agen.aclose()
            if started or not err.retryable or attempt >= self.policy.max_retries:
                raise err
            await asyncio.sleep(self.policy.delay(attempt, err))
            attempt += 1

    async def health_check(self) -> Health:
        return await self.inner.health_check()

    def estimate_cost(self, usage: Usage) -> float:
        return self.inner.estimate_cost(usage)


FallbackHook = Callable[[str, str, ProviderError], None]


class FallbackProvider:
    """Tries an ordered chain of providers; moves on when one fails (after its own retries)."""

    def __init__(self, chain: Sequence[Provider], on_fallback: FallbackHook | None = None) -> None:
        if not chain:
            raise ValueError("a fallback chain needs at least one provider")
        self.chain = list(chain)
        self.entry: ModelEntry = self.chain[0].entry
        self.on_fallback = on_fallback

    def _failed(self, i: int, exc: ProviderError, errors: list[ProviderError]) -> None:
        errors.append(exc)
        nxt = self.chain[i + 1].entry.id if i + 1 < len(self.chain) else None
        log.warning(
            "model call failed",
            extra={"model": self.chain[i].entry.id, "error": exc.kind, "status": exc.status, "next": nxt},
        )
        if nxt and self.on_fallback:
            self.on_fallback(self.chain[i].entry.id, nxt, exc)

    def _exhausted(self, errors: list[ProviderError]) -> AllProvidersFailed:
        tried = ", ".join(p.entry.id for p in self.chain)
        last = errors[-1]
        return AllProvidersFailed(f"all models failed ({tried}); last error: {last.message}", errors=errors)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        errors: list[ProviderError] = []
        for i, p in enumerate(self.chain):
            try:
                resp = await p.complete(request)
                # Clients see the catalogue id of the model that actually answered.
                resp.model = p.entry.id
                return resp
            except ProviderError as exc:
                self._failed(i, exc, errors)
        raise self._exhausted(errors)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        errors: list[ProviderError] = []
        for i, p in enumerate(self.chain):
            started = False
            try:
                async for chunk in p.stream(request):
                    started = True
                    chunk.model = p.entry.id
                    yield chunk
                return
            except ProviderError as exc:
                if started:
                    raise
                self._failed(i, exc, errors)
        raise self._exhausted(errors)

    async def health_check(self) -> Health:
        return await self.chain[0].health_check()

    def estimate_cost(self, usage: Usage) -> float:
        return self.chain[0].estimate_cost(usage)
