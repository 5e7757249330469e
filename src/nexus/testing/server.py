"""A tiny HTTP/1.1 server on a background thread: the engine under every fake upstream.

Raw asyncio streams rather than an ASGI server so a test can do what real upstreams do when they
misbehave: stall before the headers, cut a stream, or reset the TCP connection. It runs its own
event loop (uvloop when installed) in a thread, so it serves sync tests and tests inside a running
loop alike, and it is fast enough to be the loopback upstream of the passthrough benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from nexus.providers.tokens import estimate_tokens
from nexus.testing.script import Policy, Reply

Event = tuple[str | None, bytes]  # (SSE event name, data)


@dataclass(slots=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None


@dataclass(slots=True)
class Cancellation:
    """The client went away while a stream was being sent: what a test checks to see that a cancelled
    request really stopped the upstream call (`at` is time.monotonic(), comparable in-process)."""

    request: RecordedRequest
    at: float
    events_sent: int


@dataclass(slots=True)
class Exchange:
    """A request on its connection, with the means to answer it."""

    request: RecordedRequest
    writer: asyncio.StreamWriter
    keep_alive: bool = True
    reader: asyncio.StreamReader | None = None
    cancelled: Cancellation | None = None
    _done: bool = field(default=False)

    async def _client_left(self, wait: float) -> bool:
        """Wait `wait` seconds, or less if the client closes the connection meanwhile (True then)."""
        if self.reader is None:
            await asyncio.sleep(wait)
            return False
        try:
            got = await asyncio.wait_for(self.reader.read(1), wait)
        except TimeoutError:
            return False
        except ConnectionError:
            return True
        return got == b""

    def _gone(self, sent: int) -> None:
        self.cancelled = Cancellation(self.request, time.monotonic(), sent)
        self._done = True

    def _head(self, status: int, headers: dict[str, str]) -> bytes:
        reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Status"
        lines = [f"HTTP/1.1 {status} {reason}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if not self.keep_alive:
            lines.append("connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        h = {"content-type": "application/json", **(headers or {}), "content-length": str(len(body))}
        self.writer.write(self._head(status, h) + body)

    async def send_events(
        self, events: Iterable[Event], reply: Reply, headers: dict[str, str] | None = None
    ) -> None:
        h = {"content-type": "text/event-stream", "cache-control": "no-cache", **(headers or {})}
        h["transfer-encoding"] = "chunked"
        self.writer.write(self._head(200, h))
        for i, (name, data) in enumerate(events):
            if reply.cut_after is not None and i >= reply.cut_after:
                break
            if reply.reset_after is not None and i >= reply.reset_after:
                await self.writer.drain()
                self.reset()
                return
            if reply.hang_after is not None and i >= reply.hang_after:
                await self.hang()
                return
            frame = (b"event: " + name.encode() + b"\n" if name else b"") + b"data: " + data + b"\n\n"
            if not await self._pace(reply, i):
                return
            self.writer.write(b"%x\r\n%s\r\n" % (len(frame), frame))
        self.writer.write(b"0\r\n\r\n")

    async def hang(self) -> None:
        """Send nothing more until the client closes the connection (or the fake stops)."""
        await self.writer.drain()
        while not self.writer.transport.is_closing():
            await asyncio.sleep(0.05)
        self._done = True

    async def send_chunks(self, chunks: list[bytes], reply: Reply, headers: dict[str, str]) -> None:
        """A chunked body (streamed audio), paced like a stream."""
        self.writer.write(self._head(reply.status, {**headers, "transfer-encoding": "chunked"}))
        for i, chunk in enumerate(chunks):
            if not await self._pace(reply, i):
                return
            self.writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.writer.write(b"0\r\n\r\n")

    async def _pace(self, reply: Reply, i: int) -> bool:
        """Before piece `i`: wait the reply's chunk delay; False (recorded) when the client has left."""
        if not (reply.chunk_delay and i):
            return True
        try:
            await self.writer.drain()
        except ConnectionError:
            self._gone(i)
            return False
        if await self._client_left(reply.chunk_delay):
            self._gone(i)
            return False
        return True

    def reset(self) -> None:
        """Abort the connection with an RST, as a crashing upstream or middlebox would."""
        self._done = True
        sock = self.writer.get_extra_info("socket")
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


class FakeServer(ABC):
    """Base of the fakes: a scripted reply queue, a request log, and `handle` per protocol."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, default: Reply | None = None) -> None:
        self.host = host
        self.port = port
        self.default = default or Reply()
        self.requests: list[RecordedRequest] = []
        # Streams the client abandoned mid-way (see Cancellation).
        self.cancellations: list[Cancellation] = []
        self._queue: deque[Reply] = deque()
        # Answers calls when the queue is empty (before `default`): e.g. `script.share(...)`.
        self.policy: Policy | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._conns: set[asyncio.Task[Any]] = set()

    # -- scripting ---------------------------------------------------------------------------
    def push(self, *replies: Reply) -> None:
        """Queue replies for the next calls, in order; when the queue is empty, `policy` (if set) or
        `default` answers."""
        self._queue.extend(replies)

    def next_reply(self, req: RecordedRequest) -> Reply:
        try:
            return self._queue.popleft()
        except IndexError:
            return self.policy(req) if self.policy is not None else self.default

    def clear(self) -> None:
        self._queue.clear()
        self.policy = None
        self.requests.clear()
        self.cancellations.clear()

    @property
    def last_request(self) -> RecordedRequest:
        return self.requests[-1]

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What to put in a catalogue entry's base_url for this protocol."""
        return self.url

    def start(self) -> FakeServer:
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise RuntimeError(f"{type(self).__name__} failed to start") from self._error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)
        self._thread = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> FakeServer:
        return self.start()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.stop)

    def _run(self) -> None:
        try:
            import uvloop

            loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        except ImportError:
            loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # surfaced to start() rather than lost in the thread
            self._error = exc
            self._ready.set()
        finally:
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._connection, self.host, self.port, backlog=1024)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()
            server.close()
            for task in list(self._conns):
                task.cancel()
            await asyncio.gather(*self._conns, return_exceptions=True)

    # -- HTTP --------------------------------------------------------------------------------
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        try:
            while True:
                ex = await self._read_request(reader, writer)
                if ex is None:
                    break
                self.requests.append(ex.request)
                try:
                    await self.handle(ex)
                    if ex.cancelled is not None:
                        self.cancellations.append(ex.cancelled)
                except (ConnectionError, asyncio.CancelledError):
                    raise
                except Exception as exc:  # a bug in a fake answers 500 rather than hanging a test
                    ex.send(500, self.error_body(500, f"fake server error: {type(exc).__name__}: {exc}"))
                if ex._done:
                    return
                await writer.drain()
                if not ex.keep_alive:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            # Our own stop() cancelling a stalled reply: end quietly (asyncio would log a cancelled
            # connection task as an error).
            if self._stop is None or not self._stop.is_set():
                raise
        finally:
            self._conns.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _read_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Exchange | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                body += (await reader.readexactly(size + 2))[:-2]
                if size == 0:
                    break
        else:
            body = await reader.readexactly(int(headers.get("content-length", "0")))
        parts = urlsplit(target)
        req = RecordedRequest(method, parts.path, dict(parse_qsl(parts.query)), headers, body)
        keep_alive = headers.get("connection", "").lower() != "close"
        return Exchange(req, writer, keep_alive=keep_alive, reader=reader)

    async def handle(self, ex: Exchange) -> None:
        """Route one request; the fakes override `routes`, `answer`, `stream_events`, `error_body`."""
        req = ex.request
        try:
            payload = orjson.loads(req.body) if req.body else {}
        except orjson.JSONDecodeError:
            ex.send(400, self.error_body(400, "request body is not valid JSON"))
            return
        route = self.route(req, payload)
        if route == "models":
            ex.send(200, orjson.dumps(self.models_body()))
            return
        if route is None:
            ex.send(404, self.error_body(404, f"no route for {req.method} {req.path}"))
            return
        reply = self.next_reply(req)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.reset:
            ex.reset()
            return
        denied = self.auth_error(req)
        if denied is not None:
            ex.send(401, denied)
            return
        if reply.status >= 400 and reply.body is None:
            ex.send(
                reply.status,
                self.error_body(reply.status, reply.error_message or "scripted error"),
                reply.headers,
            )
            return
        if reply.body is not None:
            ex.send(reply.status, reply.raw_body(), reply.headers)
            return
        if route == "stream":
            events = (
                [(None, e.encode() if isinstance(e, str) else orjson.dumps(e)) for e in reply.events]
                if reply.events is not None
                else self.stream_events(payload, req, reply)
            )
            await ex.send_events(events, reply, reply.headers)
            return
        ex.send(reply.status, orjson.dumps(self.answer(payload, req, reply)), reply.headers)

    # Protocol hooks --------------------------------------------------------------------------
    @abstractmethod
    def route(self, req: RecordedRequest, payload: Any) -> str | None:
        """'complete', 'stream', 'models' or None (404)."""

    def auth_error(self, req: RecordedRequest) -> bytes | None:
        return None

    @abstractmethod
    def models_body(self) -> Any: ...

    @abstractmethod
    def answer(self, payload: Any, req: RecordedRequest, reply: Reply) -> Any: ...

    @abstractmethod
    def stream_events(self, payload: Any, req: RecordedRequest, reply: Reply) -> list[Event]: ...

    @abstractmethod
    def error_body(self, status: int, message: str) -> bytes: ...


def answer_text(prompt: str, reply: Reply) -> str:
    """The scripted text, else a deterministic echo of the prompt."""
    if reply.text is not None:
        return reply.text
    return "Echo: " + (prompt.strip()[:200] or "(empty)")


def pieces(text: str) -> list[str]:
    """Stream deltas: words with their trailing space, so joining them gives the text back."""
    return [text[i : i + n] for i, n in _spans(text)] or [""]


def _spans(text: str) -> list[tuple[int, int]]:
    out = []
    start = 0
    for i, ch in enumerate(text):
        if ch == " " and i + 1 < len(text) and text[i + 1] != " ":
            out.append((start, i + 1 - start))
            start = i + 1
    if start < len(text):
        out.append((start, len(text) - start))
    return out


def usage_of(prompt: str, text: str, reply: Reply) -> tuple[int, int]:
    if reply.usage is not None:
        return reply.usage
    return estimate_tokens(prompt) + 3, estimate_tokens(text)
