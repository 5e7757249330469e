"""An incremental Server-Sent Events parser, shared by the streaming adapters.

Fed raw bytes as they arrive; yields one event per blank line. Handles `data:` (multi-line data
joined with newlines), `event:` names, `:` comments, and LF, CRLF or CR line endings, including a
CRLF split across two network reads. Data stays bytes so adapters can hand it straight to a JSON
parser without a decode/encode round trip.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass


@dataclass(slots=True)
class SSEEvent:
    event: str
    data: bytes


class SSEDecoder:
    __slots__ = ("_buf", "_data", "_event", "_has_data")

    def __init__(self) -> None:
        self._buf = b""
        self._data: list[bytes] = []
        self._event = ""
        self._has_data = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        buf = self._buf + chunk
        if b"\r" in buf:
            # Keep a trailing CR: its LF may be in the next read.
            tail = b"\r" if buf.endswith(b"\r") else b""
            if tail:
                buf = buf[:-1]
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n") + tail
        *lines, self._buf = buf.split(b"\n")
        out: list[SSEEvent] = []
        for line in lines:
            if not line:
                if self._has_data:
                    out.append(SSEEvent(self._event or "message", b"\n".join(self._data)))
                self._data = []
                self._event = ""
                self._has_data = False
                continue
            if line[0] == 58:  # b":" comment / keep-alive
                continue
            field, _, value = line.partition(b":")
            if value[:1] == b" ":
                value = value[1:]
            if field == b"data":
                self._data.append(value)
                self._has_data = True
            elif field == b"event":
                self._event = value.decode("utf-8", "replace")
        return out

    def flush(self) -> list[SSEEvent]:
        """Events left when the stream closed without a final blank line."""
        out = self.feed(b"\n\n") if (self._buf or self._has_data) else []
        self._buf = b""
        return out


async def aiter_sse(chunks: AsyncIterable[bytes]) -> AsyncIterator[SSEEvent]:
    decoder = SSEDecoder()
    async for chunk in chunks:
        for ev in decoder.feed(chunk):
            yield ev
    for ev in decoder.flush():
        yield ev
