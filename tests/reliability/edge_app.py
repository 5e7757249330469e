"""A tiny Starlette app for the HTTP-edge tests: a JSON route and an SSE stream that ends with an error
event when the server's shutdown bound passes (what the gateway's renderers will do).

Run as a script (`python edge_app.py PORT GRACE_S`) it serves itself through nexus.gateway.server.serve,
so a test can send it SIGTERM.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from nexus.config.settings import Settings
from nexus.gateway.server import ShutdownSignal, ShuttingDown, serve, until_shutdown

SHUTDOWN_EVENT = orjson.dumps(
    {
        "error": {
            "message": "The server is shutting down.",
            "type": "server_error",
            "code": "server_shutting_down",
        }
    }
)


def create_app(signal: ShutdownSignal) -> Starlette:
    async def hello(request: Request) -> Response:
        await asyncio.sleep(float(request.query_params.get("sleep", "0")))
        return JSONResponse({"hello": "world"})

    async def stream(request: Request) -> Response:
        n = int(request.query_params.get("n", "5"))
        interval = float(request.query_params.get("interval", "0.01"))

        async def ticks() -> AsyncIterator[int]:
            for i in range(n):
                yield i
                await asyncio.sleep(interval)

        async def events() -> AsyncIterator[bytes]:
            try:
                async for i in until_shutdown(ticks(), signal):
                    yield b"data: " + orjson.dumps({"i": i}) + b"\n\n"
            except ShuttingDown:
                yield b"data: " + SHUTDOWN_EVENT + b"\n\n"
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return Starlette(routes=[Route("/hello", hello), Route("/stream", stream)])


if __name__ == "__main__":
    port, grace = int(sys.argv[1]), float(sys.argv[2])
    sig = ShutdownSignal()
    settings = Settings(shutdown_grace_s=grace, http_max_connections=0, http_max_concurrency=0)
    print("serving", flush=True)
    serve(create_app(sig), settings, signal=sig, host="127.0.0.1", port=port, log_level="warning")
