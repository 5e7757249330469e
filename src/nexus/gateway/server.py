"""The HTTP edge: the one function that runs an ASGI app, for `nexus serve` and `nexus.testing.GatewayServer`.

uvicorn with its httptools protocol (the fastest of the servers measured, see docs/reliability.md), plus
what it lacks, in a subclass of that protocol:
- a limit on the request head (request line + headers) → 431, counted as bytes arrive, so a header
  that never ends costs one read buffer of memory, not its size;
- a header-read timeout against slowloris: a request head not complete within `http_header_timeout_s`
  gets 408 and the connection is closed (a connection that never sent a byte is just closed);
- a connection limit (beyond it: 503 and close) and an in-flight request limit (503, Retry-After);
- HTTP/1.0: a response without Content-Length is close-delimited, never chunked (RFC 9112 §6.1);
- a request the parser rejects (a bare CR or LF inside a header value) gets 400 in the API's error shape;
- a bounded graceful shutdown (EdgeServer): SIGTERM stops accepting and lets streams run for
  `shutdown_grace_s`; then the ShutdownSignal fires so renderers end the remaining streams with a final
  error event (`until_shutdown`); then what is left is cancelled. The process is gone within the
  bound + 2 s. uvicorn itself gives the keep-alive timeout (`http_keepalive_timeout_s`).
"""

from __future__ import annotations

import asyncio
import logging
import select
from collections.abc import AsyncIterator
from typing import Any, TypeVar, cast

import httptools
import orjson
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from nexus.config.settings import Settings
from nexus.gateway.errors import error_body

log = logging.getLogger("nexus.gateway.server")

# Shutdown after the bound: renderers write their final event, cancelled tasks run their finally
# blocks (metering, accounting), the application's lifespan shuts down; together under 2 s.
DRAIN_S = 0.8
CANCEL_S = 0.2
EXIT_BUDGET_S = 1.6
# The application's own shutdown (the accounting queue's last flush: the cut streams' work orders) gets
# at least this long, even when a CPU-starved loop has already used up the exit budget: the bound may
# then be overshot by up to this much, rather than losing the accounting.
APP_SHUTDOWN_MIN_S = 0.8
_POLL_S = 0.05
# How long a refused connection's remaining input is read and dropped (see EdgeProtocol._refuse).
LINGER_S = 2.0
# A head timeout that finds unread input looks again this much later (see _head_timed_out).
_RECHECK_S = 0.1

T = TypeVar("T")


# -- the shutdown signal ----------------------------------------------------------------------------
class ShuttingDown(Exception):
    """Raised by `until_shutdown` when the shutdown bound has passed: render a final error event."""


class ShutdownSignal:
    """What the server tells the application about shutdown.

    `draining` is true from SIGTERM on (no new connections are accepted). The signal *fires* when the
    graceful bound has passed with streams still running: `await signal.wait()`, or iterate a stream's
    events through `until_shutdown(events, signal)`, which raises ShuttingDown at once, even while the
    stream is waiting on a silent upstream. One signal per server; create it where the app is built and
    hand the same object to `serve` / `build_server`.
    """

    def __init__(self) -> None:
        self.draining = False
        self._event = asyncio.Event()
        self._waiting: set[asyncio.Task[Any]] = set()
        self._interrupted: set[asyncio.Task[Any]] = set()

    def is_set(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> None:
        await self._event.wait()

    def fire(self) -> None:
        """Called by the server once the bound has passed; interrupts streams waiting for their next item."""
        self._event.set()
        for task in list(self._waiting):
            self._interrupted.add(task)
            task.cancel(msg="nexus: shutdown bound reached")


async def until_shutdown(items: AsyncIterator[T], signal: ShutdownSignal) -> AsyncIterator[T]:
    """Yield from `items` until the signal fires, then raise ShuttingDown (and close `items`).

    Costs a set insertion per item: the signal interrupts the waiting task itself rather than racing
    each item against it. What `items` was doing sees a CancelledError (metering records `cancelled`).
    """
    task = asyncio.current_task()
    assert task is not None
    try:
        while True:
            if signal.is_set():
                raise ShuttingDown("the server is shutting down")
            signal._waiting.add(task)
            try:
                item = await anext(items)
            except StopAsyncIteration:
                return
            except asyncio.CancelledError:
                if task in signal._interrupted and task.cancelling() == 1:
                    task.uncancel()
                    raise ShuttingDown("the server is shutting down") from None
                raise
            finally:
                signal._waiting.discard(task)
                signal._interrupted.discard(task)
            yield item
    finally:
        aclose = getattr(items, "aclose", None)
        if aclose is not None:
            await aclose()


# -- the protocol -----------------------------------------------------------------------------------
def _error_response(status: int, reason: str, message: str, code: str) -> bytes:
    """A complete response in the API's error shape, for refusals made before the app sees a request."""
    kind = "invalid_request_error" if status < 500 else None
    body = orjson.dumps(error_body(status, message, code=code, type=kind))
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class _Refused(Exception):
    """Stops the parser after a refusal has been written."""


class EdgeConfig(uvicorn.Config):
    """uvicorn's Config plus the limits EdgeProtocol enforces."""

    def __init__(self, app: ASGIApp, settings: Settings, **kw: Any) -> None:
        super().__init__(app, http=EdgeProtocol, timeout_keep_alive=settings.http_keepalive_timeout_s, **kw)  # type: ignore[arg-type]
        self.max_header_bytes = settings.http_max_header_bytes
        self.header_timeout_s = settings.http_header_timeout_s
        self.max_connections = settings.http_max_connections


class _CloseDelimitedCycle(RequestResponseCycle):
    """A request/response of an HTTP/1.0 client: no chunked encoding; without Content-Length the
    body runs until the connection closes (RFC 9112 §6.1, §6.3)."""

    close_delimited = False

    async def send(self, message: Message) -> None:  # type: ignore[override]
        if message["type"] == "http.response.start" and not self.response_started:
            headers = list(message.get("headers", []))
            names = {name.lower() for name, _ in headers}
            status = message["status"]
            if b"content-length" not in names and self.scope["method"] != "HEAD" and status not in (204, 304):
                self.close_delimited = True
                self.keep_alive = False
                self.chunked_encoding = False
                headers = [(n, v) for n, v in headers if n.lower() != b"transfer-encoding"]
                message = {**message, "headers": headers}
        elif message["type"] == "http.response.body" and self.close_delimited and not self.response_complete:
            # uvicorn checks body sizes against Content-Length: declare each piece as it goes.
            more = message.get("more_body", False)
            self.expected_content_length = len(message.get("body", b"")) + (1 if more else 0)
        await super().send(message)  # type: ignore[arg-type]


class EdgeProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a head size limit, a head timeout, a connection limit and
    HTTP/1.0 close-delimited responses."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kw: Any) -> None:
        super().__init__(config, *args, **kw)
        edge = cast(EdgeConfig, config)
        self._max_head = edge.max_header_bytes
        self._head_timeout_s = edge.header_timeout_s
        self._max_connections = edge.max_connections
        self._in_head = True  # from the connection's start or a request's first byte to its last header
        self._head_begun = False  # a byte of the current request head has arrived
        self._head_rechecked = False
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self._max_connections and len(self.connections) > self._max_connections:
            self._refuse(_error_response(503, "Service Unavailable", "Too many connections.", "server_busy"))
            return
        self._head_timer = self.loop.call_later(self._head_timeout_s, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head:
            self._head_bytes += len(data)
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            if not self._refused:
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")
            return
        if self._in_head:
            if self._head_bytes > self._max_head:
                self._too_large()
            elif self._head_timer is None:
                self._head_timer = self.loop.call_later(self._head_timeout_s, self._head_timed_out)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_begun = True
        self._head_rechecked = False
        self._head_bytes = 0

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_begun = False
        self._cancel_head_timer()
        size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
        if size > self._max_head:
            self._too_large()
            raise _Refused
        super().on_headers_complete()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        if cycle.scope["http_version"] == "1.0":
            cycle.__class__ = _CloseDelimitedCycle  # before its task starts: nothing has been sent yet
        super()._start_asgi_task(cycle, app)

    # -- refusals ---------------------------------------------------------------------------------
    def send_400_response(self, msg: str) -> None:
        """A request the parser rejects (a bare CR or LF in a header, a bad request line): uvicorn's
        plain-text 400, in the API's error shape instead."""
        message = "Invalid HTTP request: the request line or a header is malformed."
        self._refuse(_error_response(400, "Bad Request", message, "invalid_http"))

    def _too_large(self) -> None:
        message = f"Request header fields too large: the limit is {self._max_head} bytes."
        self._refuse(_error_response(431, "Request Header Fields Too Large", message, "headers_too_large"))

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._in_head or self.transport.is_closing():
            return
        if not self._head_rechecked and self._input_pending():
            # uvloop runs due timers before it reads the sockets: after a stalled loop, a head that
            # arrived in time may still be unread. Look again once the loop has read it.
            self._head_rechecked = True
            self._head_timer = self.loop.call_later(_RECHECK_S, self._head_timed_out)
            return
        if not self._head_begun:  # nothing sent at all: an idle connection, close it quietly
            self.transport.close()
            return
        message = f"The request headers did not arrive within {self._head_timeout_s:g}s."
        self._refuse(_error_response(408, "Request Timeout", message, "header_timeout"))

    def _input_pending(self) -> bool:
        sock = self.transport.get_extra_info("socket")
        try:
            return bool(sock is not None and select.select([sock.fileno()], [], [], 0)[0])
        except (OSError, ValueError):
            return False

    def _refuse(self, response: bytes) -> None:
        """Answer and close without reading the request further.

        A lingering close: the write side is shut at once but what the client is still sending is
        read and dropped for up to LINGER_S, because closing a socket with unread data makes the
        kernel send a reset that can destroy the answer before the client reads it.
        """
        self._refused = True
        self._cancel_head_timer()
        self.flow.resume_reading()
        transport = self.transport
        if transport.is_closing():
            return
        transport.write(response)
        if transport.can_write_eof():
            transport.write_eof()
            self.loop.call_later(LINGER_S, transport.close)
        else:
            transport.close()

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None


# -- in-flight request limit ------------------------------------------------------------------------
class ConcurrencyLimit:
    """At most `limit` HTTP requests in the app at once; beyond that a 503 with Retry-After."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.active = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.active >= self.limit:
            body = orjson.dumps(
                error_body(503, "The server is at capacity; retry shortly.", code="server_busy")
            )
            headers = [(b"content-type", b"application/json"), (b"retry-after", b"1")]
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1


# -- the server -------------------------------------------------------------------------------------
class EdgeServer(uvicorn.Server):
    """uvicorn's Server with a bounded shutdown that fires `signal` before cancelling streams."""

    def __init__(self, config: EdgeConfig, *, grace_s: float, signal: ShutdownSignal) -> None:
        super().__init__(config)
        self.grace_s = grace_s
        self.signal = signal

    async def startup(self, sockets: list[Any] | None = None) -> None:
        self.loop = asyncio.get_running_loop()  # for callers in other threads (tests)
        await super().startup(sockets)

    async def shutdown(self, sockets: list[Any] | None = None) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        log.info("shutting down: no new connections; streams may run %.1fs", self.grace_s)
        self.signal.draining = True
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        tasks = self.server_state.tasks
        await self._wait_tasks(start + self.grace_s)
        if tasks and not self.force_exit:
            log.warning("shutdown bound reached: ending %d open requests", len(tasks))
            self.signal.fire()
            await self._wait_tasks(loop.time() + DRAIN_S)
        for task in list(tasks):
            task.cancel(msg="nexus: shutdown")
        await self._wait_tasks(loop.time() + CANCEL_S)
        for connection in list(self.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None and not transport.is_closing():
                transport.close()
        if not self.force_exit:
            budget = max(start + self.grace_s + EXIT_BUDGET_S - loop.time(), APP_SHUTDOWN_MIN_S)
            try:
                await asyncio.wait_for(self.lifespan.shutdown(), budget)
            except TimeoutError:
                log.error("application shutdown did not finish within %.1fs", budget)

    async def _wait_tasks(self, until: float) -> None:
        loop = asyncio.get_running_loop()
        while self.server_state.tasks and not self.force_exit and loop.time() < until:
            await asyncio.sleep(_POLL_S)


def build_server(
    app: ASGIApp,
    settings: Settings,
    *,
    signal: ShutdownSignal | None = None,
    host: str | None = None,
    port: int | None = None,
    log_level: str | None = None,
    **uvicorn_options: Any,
) -> EdgeServer:
    """The hardened server for `app` (not started: `.run()` blocks, `await .serve()` runs in a loop)."""
    wrapped: ASGIApp = (
        ConcurrencyLimit(app, settings.http_max_concurrency) if settings.http_max_concurrency else app
    )
    config = EdgeConfig(
        wrapped,
        settings,
        host=host or settings.host,
        port=settings.port if port is None else port,
        log_config=None,
        log_level=log_level,
        access_log=False,  # the gateway writes its own access log
        server_header=False,
        lifespan="on",
        **uvicorn_options,
    )
    return EdgeServer(config, grace_s=settings.shutdown_grace_s, signal=signal or ShutdownSignal())


def serve(app: ASGIApp, settings: Settings, *, signal: ShutdownSignal | None = None, **options: Any) -> None:
    """Run `app` until SIGTERM/SIGINT (then the bounded shutdown); blocks."""
    build_server(app, settings, signal=signal, **options).run()
