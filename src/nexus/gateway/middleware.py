"""Request context as a pure ASGI middleware: correlation id, request span, metrics, access log.

Pure ASGI (not BaseHTTPMiddleware) so streamed bodies pass through unbuffered and the per-request
cost stays at a few µs. Every response carries X-Request-ID, errors and streams included: an
exception that escapes the app before the response started is logged here (with the request id)
and answered with the OpenAI-shaped 500, because Starlette's outermost ServerErrorMiddleware would
send its 500 around this middleware, without the header.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from opentelemetry.trace import Span
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nexus.gateway.errors import error_response
from nexus.telemetry import UNMATCHED_ROUTE, Metrics, finish_request_span, request_id_var, request_span
from nexus.telemetry.tracing import tracing_enabled

HEADER = b"x-request-id"
# An incoming id is echoed into headers and logs, so only a short, plain shape is trusted.
_VALID_ID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")

access_log = logging.getLogger("nexus.access")
log = logging.getLogger("nexus.gateway")


def incoming_request_id(scope: Scope) -> str | None:
    return _scan_headers(scope)[0]


def _scan_headers(scope: Scope) -> tuple[str | None, str | None]:
    """The valid incoming request id and the W3C traceparent, in one pass over the headers."""
    rid = parent = None
    for name, value in scope.get("headers", ()):
        if name == HEADER:
            rid = value.decode("ascii") if _VALID_ID.fullmatch(value) else None
        elif name == b"traceparent":
            parent = value.decode("latin-1")
    return rid, parent


def route_template(scope: Scope) -> str:
    """The matched route's template (/api/work-orders/{id}), never the raw path."""
    route = scope.get("route")
    if route is None:
        return UNMATCHED_ROUTE
    return getattr(route, "path_format", None) or getattr(route, "path", None) or UNMATCHED_ROUTE


def _with_id(headers: object, entry: tuple[bytes, bytes]) -> list[tuple[bytes, bytes]]:
    out = [h for h in headers if h[0] != HEADER]  # type: ignore[attr-defined]
    out.append(entry)
    return out


def _access_line(method: str, path: str, route: str, status: int, seconds: float) -> None:
    # makeRecord + handle skips Logger.findCaller's stack walk, the costliest part of a log call.
    record = access_log.makeRecord(
        access_log.name, logging.INFO, __file__, 0, "%s %s %d", (method, path, status), None,
        extra={"method": method, "route": route, "status": status, "duration_ms": seconds * 1000},
    )  # fmt: skip
    access_log.handle(record)


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics | None = None, *, trace: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.trace = trace

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        rid, parent = _scan_headers(scope)
        rid = rid or uuid.uuid4().hex
        token = request_id_var.set(rid)
        scope.setdefault("state", {})["request_id"] = rid
        try:
            if kind == "websocket":
                await self._websocket(scope, receive, send, rid)
            elif self.trace and tracing_enabled():
                with request_span(scope["method"], traceparent=parent) as span:
                    await self._http(scope, receive, send, rid, span)
            else:
                await self._http(scope, receive, send, rid, None)
        finally:
            request_id_var.reset(token)

    async def _http(self, scope: Scope, receive: Receive, send: Send, rid: str, span: Span | None) -> None:
        entry = (HEADER, rid.encode("ascii"))
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": _with_id(message.get("headers", ()), entry)}
            await send(message)

        method: str = scope["method"]
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            if status:  # mid-stream: the server must abort the connection, so let it propagate
                raise
            log.exception("unhandled error", extra={"path": scope.get("path", "")})
            await error_response(
                500,
                "Internal error; the request id in X-Request-ID identifies it in the logs.",
                code="internal_error",
                type="api_error",
            )(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            # 499: the client went away before any response (nginx's convention).
            final = status or 499
            route = route_template(scope)
            if span is not None:
                finish_request_span(span, method, route, final)
            if self.metrics is not None:
                self.metrics.observe_request(route, method, final, seconds)
            if access_log.isEnabledFor(logging.INFO):
                _access_line(method, scope.get("path", ""), route, final, seconds)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send, rid: str) -> None:
        entry = (HEADER, rid.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "websocket.accept":
                message = {**message, "headers": _with_id(message.get("headers", ()), entry)}
            await send(message)

        await self.app(scope, receive, send_with_id)
