"""Body size limit as a pure ASGI middleware: 413 before the body is read into memory.

One limit for every route (NEXUS_MAX_BODY_BYTES), and larger ones for the routes that take files
(`larger`: path prefix → bytes), e.g. uploads to /v1/files up to NEXUS_RAG_MAX_FILE_BYTES."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nexus.gateway.errors import error_response


class BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.default_bytes = max_bytes
        self.larger = sorted((larger or {}).items(), key=lambda kv: -len(kv[0]))

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.larger:
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return max(limit, self.default_bytes)
        return self.default_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.limit_for(scope.get("path", ""))
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._reject(scope, receive, send, max_bytes)
                    return
                break
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._reject(scope, receive, send, max_bytes)

    async def _reject(self, scope: Scope, receive: Receive, send: Send, max_bytes: int) -> None:
        resp = error_response(
            413, f"Request body too large: the limit is {max_bytes} bytes.", code="request_too_large"
        )
        await resp(scope, receive, send)
