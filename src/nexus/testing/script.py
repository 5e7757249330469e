"""What a fake upstream does on one call: a `Reply`, queued per test with `fake.push(...)`."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from nexus.testing.server import RecordedRequest


@dataclass(slots=True)
class ToolCall:
    """A tool call the fake answers with, rendered in each protocol's own shape."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    id: str = "call_fake_1"


@dataclass(slots=True)
class Reply:
    """One scripted behaviour. Defaults give the fake's normal answer in its protocol.

    status/error_message: an error status with the protocol's error body (unless `body` is given).
    body: raw bytes/str/JSON sent as-is instead of the protocol answer (garbage JSON, odd shapes).
    delay: seconds before the status line; chunk_delay: seconds between stream events.
    cut_after: a stream ends cleanly after N events, without its end marker.
    reset / reset_after: abort the TCP connection (RST) before answering / after N stream events.
    hang_after: send N stream events, then nothing more until the client gives up (a stalled upstream);
        `delay` stalls before the status line instead.
    events: raw SSE `data:` payloads (str or JSON-able) replacing the protocol stream.
    """

    status: int = 200
    text: str | None = None
    tool_calls: list[ToolCall] | None = None
    finish_reason: str | None = None  # OpenAI vocabulary: stop, length, tool_calls, content_filter
    usage: tuple[int, int] | None = None  # (prompt, completion); default: estimated from the text
    error_message: str | None = None
    body: bytes | str | dict[str, Any] | list[Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    chunk_delay: float = 0.0
    cut_after: int | None = None
    reset: bool = False
    reset_after: int | None = None
    hang_after: int | None = None
    events: list[Any] | None = None

    @classmethod
    def error(
        cls, status: int, message: str = "", *, retry_after: float | str | None = None, **headers: str
    ) -> Reply:
        h = {k.replace("_", "-"): v for k, v in headers.items()}
        if retry_after is not None:
            h["Retry-After"] = str(retry_after)
        return cls(status=status, error_message=message or None, headers=h)

    @classmethod
    def garbage(cls, status: int = 200) -> Reply:
        return cls(status=status, body=b"{not json", headers={"content-type": "application/json"})

    @classmethod
    def connection_reset(cls) -> Reply:
        return cls(reset=True)

    def raw_body(self) -> bytes:
        b = self.body
        if isinstance(b, bytes):
            return b
        if isinstance(b, str):
            return b.encode()
        return orjson.dumps(b)


Policy = Callable[["RecordedRequest"], Reply]


def share(fault: Reply, fraction: float, *, otherwise: Reply | None = None, seed: int = 0) -> Policy:
    """A policy answering a `fraction` of calls with `fault` and the rest normally, reproducibly.

    fake.policy = share(Reply(reset_after=1), 0.05)   # 5 % of streams reset after the role chunk
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError("fraction must be between 0 and 1")
    rng = random.Random(seed)
    normal = otherwise or Reply()

    def pick(_: RecordedRequest) -> Reply:
        return fault if rng.random() < fraction else normal

    return pick
