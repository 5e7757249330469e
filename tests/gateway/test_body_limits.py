"""The body limit: one for every route, a larger one for file uploads (413 in the API's error shape)."""

from __future__ import annotations

import httpx
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from nexus.gateway.limits import BodySizeLimit

KIB = 1024


async def echo_size(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the whole body as an endpoint does (errors propagate to the middleware, as in the app)."""
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    await JSONResponse({"bytes": size})(scope, receive, send)


def client() -> httpx.AsyncClient:
    app = BodySizeLimit(echo_size, max_bytes=64 * KIB, larger={"/v1/files": 512 * KIB})
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_uploads_get_the_file_limit_and_every_other_route_the_body_limit() -> None:
    body = b"x" * (200 * KIB)
    async with client() as c:
        upload = await c.post("/v1/files", content=body)
        assert upload.status_code == 200 and upload.json() == {"bytes": len(body)}
        chat = await c.post("/v1/chat/completions", content=body)
        assert chat.status_code == 413
        assert (
            chat.json()["error"]["code"] == "request_too_large"
            and "65536 bytes" in chat.json()["error"]["message"]
        )
        lookalike = await c.post("/v1/filesystem", content=body)  # a prefix of a path, not the route
        assert lookalike.status_code == 413
        huge = await c.post("/v1/files", content=b"x" * (600 * KIB))
        assert huge.status_code == 413 and "524288 bytes" in huge.json()["error"]["message"]


async def test_a_streamed_body_without_length_is_cut_at_the_limit() -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(100):
            yield b"y" * KIB

    async with client() as c:
        r = await c.post("/v1/chat/completions", content=chunks())
        assert r.status_code == 413
        ok = await c.post("/v1/files", content=chunks())
        assert ok.status_code == 200 and ok.json() == {"bytes": 100 * KIB}
