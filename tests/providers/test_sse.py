from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from nexus.providers.sse import SSEDecoder, aiter_sse

STREAM = (
    b": keep-alive comment\r\n\r\n"
    b'event: message_start\r\ndata: {"a":1}\r\n\r\n'
    b"data: line one\ndata: line two\n\n"
    b"data:no-space\r\r"
    b"data: [DONE]\n\n"
)


def decode_in(chunks: list[bytes]) -> list[tuple[str, bytes]]:
    d = SSEDecoder()
    out = [(e.event, e.data) for c in chunks for e in d.feed(c)]
    return out + [(e.event, e.data) for e in d.flush()]


EXPECTED = [
    ("message_start", b'{"a":1}'),
    ("message", b"line one\nline two"),
    ("message", b"no-space"),
    ("message", b"[DONE]"),
]


def test_whole_stream() -> None:
    assert decode_in([STREAM]) == EXPECTED


@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_any_split_gives_the_same_events(size: int) -> None:
    assert decode_in([STREAM[i : i + size] for i in range(0, len(STREAM), size)]) == EXPECTED


def test_unterminated_last_event_is_flushed() -> None:
    assert decode_in([b"data: tail"]) == [("message", b"tail")]


async def test_async_iteration() -> None:
    async def source() -> AsyncIterator[bytes]:
        yield STREAM[:10]
        yield STREAM[10:]

    assert [(e.event, e.data) async for e in aiter_sse(source())] == EXPECTED
