"""One deadline per request, carried in a ContextVar across attempts, retries, backoff and fallbacks.

    with deadline(30):                 # the door, for the whole request (body `timeout`, capped)
        await hub.complete(model, req) # each attempt gets min(attempt_timeout, remaining())

A deadline never lengthens one already in force: nested scopes keep the earlier end. Without any
scope, `FallbackProvider` starts one of `settings.total_timeout_s` per call, so every call is bounded.

A stream reads the deadline when it starts and keeps it for its whole life: the door may leave the
`with` block (returning a streaming response) while the stream still runs under the same bound.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from nexus.providers.errors import UpstreamTimeout


@dataclass(frozen=True, slots=True)
class Deadline:
    """An absolute end on the monotonic clock, and the total it was given (for messages)."""

    at: float
    seconds: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        seconds = max(seconds, 0.0)
        return cls(time.monotonic() + seconds, seconds)

    def remaining(self) -> float:
        return self.at - time.monotonic()

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0

    def bound(self, seconds: float) -> float:
        """`seconds`, shortened to what is left (never below zero)."""
        return max(min(seconds, self.remaining()), 0.0)

    def earlier(self, other: Deadline | None) -> Deadline:
        return self if other is None or self.at <= other.at else other


class DeadlineExceeded(UpstreamTimeout):
    """The request's total time ran out; no retry or fallback is attempted after it (maps to 504)."""

    retryable = False


_current: ContextVar[Deadline | None] = ContextVar("nexus_deadline", default=None)


def current() -> Deadline | None:
    return _current.get()


def remaining() -> float | None:
    """Seconds left for this request, or None when no deadline is in force."""
    d = _current.get()
    return None if d is None else d.remaining()


@contextmanager
def deadline(seconds: float | None) -> Iterator[Deadline | None]:
    """Bound everything under this block by `seconds` (None: keep what is in force)."""
    outer = _current.get()
    if seconds is None:
        yield outer
        return
    d = Deadline.after(seconds).earlier(outer)
    token = _current.set(d)
    try:
        yield d
    finally:
        _current.reset(token)


@contextmanager
def use(d: Deadline | None) -> Iterator[None]:
    """Put an already started deadline in force (the wrappers hand theirs to the providers they call)."""
    if d is None or d is _current.get():
        yield
        return
    token = _current.set(d)
    try:
        yield
    finally:
        _current.reset(token)


def start(d: Deadline | None) -> None:
    """Put `d` in force for the rest of the current context (a task's context made for one request)."""
    _current.set(d)


def request_timeout(requested: float | None, default_s: float, ceiling_s: float) -> float:
    """The total seconds a request gets: the client's `timeout` if it gave one, else the default;
    never more than the ceiling. Validation (positive number) belongs to the door's body schema."""
    chosen = default_s if requested is None else requested
    return min(chosen, ceiling_s)


def exceeded(d: Deadline, *, provider: str = "", model: str = "") -> DeadlineExceeded:
    return DeadlineExceeded(
        f"the request's total time of {d.seconds:g}s ran out", provider=provider, model=model
    )
