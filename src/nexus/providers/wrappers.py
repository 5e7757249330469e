"""Behaviour as composition: retry and fallback wrap providers; adapters stay protocol-only.

Streams are retried, or handed to the next model, until the first *content* chunk reaches the
caller. The chunks before it (the role chunk, empty deltas, usage-only chunks) are held back and
released together with the first content, so an upstream that resets after its role chunk costs the
client nothing. After content a retry would duplicate text the client already has: the error
propagates and the door renders it as an in-stream error event.

Time: every call runs under one Deadline (`nexus.providers.deadline`): the request's, or one of
`total_timeout_s` that FallbackProvider starts. Each attempt gets min(attempt_timeout, remaining);
a backoff that would outlast the deadline is not slept (the next model is tried instead); when the
deadline passes the call raises DeadlineExceeded (504) and nothing more is tried.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from nexus.config.catalogue import ModelEntry
from nexus.providers.base import Provider
from nexus.providers.deadline import Deadline, DeadlineExceeded, current, exceeded, use
from nexus.providers.errors import AllProvidersFailed, ProviderError, UpstreamTimeout
from nexus.providers.types import ChatChunk, ChatRequest, ChatResponse, Health, Usage

log = logging.getLogger("nexus.providers")

# The outer deadline timer fires a little after the inner ones, so the attempt that hit the deadline
# reports it itself (two timers expiring together would race over one cancellation).
_BACKSTOP_S = 0.05


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


def has_content(chunk: ChatChunk) -> bool:
    """Whether a chunk carries something a client reads: text, a tool-call delta, or any other
    non-empty delta field an upstream adds (a refusal, reasoning text). Role-only chunks, empty
    deltas, finish-only and usage-only chunks do not count."""
    for choice in chunk.choices:
        delta = choice.delta
        if delta.content or delta.tool_calls:
            return True
        extra = delta.model_extra
        if extra and any(extra.values()):
            return True
    return False


async def _until_content(
    chunks: AsyncIterator[ChatChunk], timeout_s: float | None
) -> tuple[list[ChatChunk], bool]:
    """Pull chunks until one has content: (every chunk so far, content last; whether the stream ended)."""
    held: list[ChatChunk] = []
    async with asyncio.timeout(timeout_s):
        async for chunk in chunks:
            held.append(chunk)
            if has_content(chunk):
                return held, False
    return held, True


async def _close(chunks: AsyncIterator[ChatChunk]) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()


def _over(d: Deadline | None, p: Provider) -> DeadlineExceeded:
    assert d is not None  # only a deadline's timer gets here
    return exceeded(d, provider=p.entry.provider, model=p.entry.id)


def _backstop(d: Deadline | None) -> float | None:
    return None if d is None else d.remaining() + _BACKSTOP_S


class _Cutoff:
    """Ends a flowing stream at its deadline with one timer per stream.

    A timeout scope around each chunk would cost a timer handle per chunk on the hot path. This timer,
    when it fires, interrupts the stream's task only while it waits for the upstream (`waiting`);
    otherwise the next pull sees `fired`.
    """

    __slots__ = ("fired", "task", "timer", "waiting")

    def __init__(self, d: Deadline) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.task = task
        self.waiting = False
        self.fired = False
        self.timer = asyncio.get_running_loop().call_later(max(d.remaining(), 0.0), self._fire)

    def _fire(self) -> None:
        self.fired = True
        if self.waiting:
            self.task.cancel(msg="nexus: request deadline")

    def interrupted(self) -> bool:
        """Whether a CancelledError being handled is this timer's (and then swallow it)."""
        if self.fired and self.task.cancelling() == 1:
            self.task.uncancel()
            return True
        return False


class RetryingProvider:
    """Retries retryable errors (5xx, 429, connect, timeout) with backoff; each attempt is time-boxed.

    A stream's attempt is boxed until its first content chunk; a stream is retried only until then.
    """

    def __init__(self, inner: Provider, policy: RetryPolicy) -> None:
        self.inner = inner
        self.entry: ModelEntry = inner.entry
        self.policy = policy

    def _budget(self, d: Deadline | None) -> tuple[float, bool]:
        """This attempt's seconds, and whether the request's deadline (not the attempt limit) sets them."""
        limit = self.policy.attempt_timeout_s
        if d is None or d.remaining() >= limit:
            return limit, False
        if d.expired:
            raise _over(d, self)
        return d.remaining(), True

    def _timed_out(self, d: Deadline | None, by_deadline: bool, what: str) -> ProviderError:
        if by_deadline and d is not None:
            return _over(d, self)
        return UpstreamTimeout(
            f"{what} within {self.policy.attempt_timeout_s:g}s",
            provider=self.entry.provider,
            model=self.entry.id,
        )

    async def _again(self, attempt: int, err: ProviderError, d: Deadline | None) -> None:
        """Back off before the next attempt, or raise `err` when no attempt is left in time."""
        if isinstance(err, DeadlineExceeded) or not err.retryable or attempt >= self.policy.max_retries:
            raise err
        pause = self.policy.delay(attempt, err)
        if d is not None and pause >= d.remaining():
            raise err  # waiting would outlast the request: let a fallback model use the time left
        await asyncio.sleep(pause)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        d = current()
        attempt = 0
        while True:
            budget, by_deadline = self._budget(d)
            err: ProviderError
            try:
                async with asyncio.timeout(budget):
                    return await self.inner.complete(request)
            except TimeoutError:
                err = self._timed_out(d, by_deadline, "no answer")
            except ProviderError as exc:
                err = exc
            await self._again(attempt, err, d)
            attempt += 1

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        d = current()  # kept for the stream's life: the caller may leave its deadline scope
        attempt = 0
        while True:
            budget, by_deadline = self._budget(d)
            chunks = self.inner.stream(request)
            err: ProviderError
            try:
                try:
                    held, ended = await _until_content(chunks, budget)
                except TimeoutError:
                    err = self._timed_out(d, by_deadline, "no content")
                except ProviderError as exc:
                    err = exc
                else:
                    for chunk in held:
                        yield chunk
                    if not ended:
                        async for chunk in chunks:
                            yield chunk
                    return
            finally:
                await _close(chunks)
            await self._again(attempt, err, d)
            attempt += 1

    async def health_check(self) -> Health:
        return await self.inner.health_check()

    def estimate_cost(self, usage: Usage) -> float:
        return self.inner.estimate_cost(usage)


FallbackHook = Callable[[str, str, ProviderError], None]


class FallbackProvider:
    """Tries an ordered chain of providers; moves on when one fails (after its own retries).

    `total_timeout_s` bounds a call when no request deadline is in force (None: unbounded).
    """

    def __init__(
        self,
        chain: Sequence[Provider],
        on_fallback: FallbackHook | None = None,
        *,
        total_timeout_s: float | None = None,
    ) -> None:
        if not chain:
            raise ValueError("a fallback chain needs at least one provider")
        self.chain = list(chain)
        self.entry: ModelEntry = self.chain[0].entry
        self.on_fallback = on_fallback
        self.total_timeout_s = total_timeout_s

    def _deadline(self) -> Deadline | None:
        d = current()
        if d is None and self.total_timeout_s is not None:
            d = Deadline.after(self.total_timeout_s)
        return d

    def _check(self, d: Deadline | None, p: Provider) -> None:
        if d is not None and d.expired:
            raise _over(d, p)

    def _failed(
        self, i: int, exc: TimeoutError | ProviderError, d: Deadline | None, errors: list[ProviderError]
    ) -> None:
        """Note a model's failure and move on; past the deadline, end the call instead."""
        if isinstance(exc, TimeoutError):  # only the request deadline's timer raises it at this level
            raise _over(d, self.chain[i]) from None
        if isinstance(exc, DeadlineExceeded):
            raise exc
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
        d = self._deadline()
        errors: list[ProviderError] = []
        with use(d):
            for i, p in enumerate(self.chain):
                self._check(d, p)
                try:
                    async with asyncio.timeout(_backstop(d)):
                        resp = await p.complete(request)
                except (TimeoutError, ProviderError) as exc:
                    self._failed(i, exc, d, errors)  # raises when the deadline has passed
                    continue
                # Clients see the catalogue id of the model that actually answered.
                resp.model = p.entry.id
                return resp
        raise self._exhausted(errors)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        d = self._deadline()
        errors: list[ProviderError] = []
        for i, p in enumerate(self.chain):
            self._check(d, p)
            chunks = p.stream(request)
            try:
                try:
                    with use(d):  # the inner wrappers start here and keep this deadline
                        held, ended = await _until_content(chunks, _backstop(d))
                except (TimeoutError, ProviderError) as exc:
                    self._failed(i, exc, d, errors)  # raises when the deadline has passed
                    continue
                for chunk in held:
                    chunk.model = p.entry.id
                    yield chunk
                if ended:
                    return
                if d is None:
                    async for chunk in chunks:
                        chunk.model = p.entry.id
                        yield chunk
                    return
                cut = _Cutoff(d)
                try:
                    while True:
                        if cut.fired:
                            raise _over(d, p)
                        cut.waiting = True
                        try:
                            chunk = await anext(chunks)
                        except StopAsyncIteration:
                            return
                        except asyncio.CancelledError:
                            if cut.interrupted():
                                raise _over(d, p) from None
                            raise
                        finally:
                            cut.waiting = False
                        chunk.model = p.entry.id
                        yield chunk
                finally:
                    cut.timer.cancel()
            finally:
                await _close(chunks)
        raise self._exhausted(errors)

    async def health_check(self) -> Health:
        return await self.chain[0].health_check()

    def estimate_cost(self, usage: Usage) -> float:
        return self.chain[0].estimate_cost(usage)
