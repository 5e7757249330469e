"""RequestContextMiddleware on a tiny FastAPI app: X-Request-ID everywhere, route-template metrics, access log."""

from __future__ import annotations

import asyncio
import io
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import orjson
import pytest
import uvicorn
from fastapi import FastAPI, HTTPException, WebSocket
from fastapi.responses import StreamingResponse
from prometheus_client.parser import text_string_to_metric_families
from starlette.responses import Response
from starlette.testclient import TestClient

from nexus.config import Settings
from nexus.gateway.errors import install_error_handlers
from nexus.gateway.middleware import RequestContextMiddleware
from nexus.telemetry import Metrics, get_request_id, setup_logging


def build_app(metrics: Metrics, gate: threading.Event | None = None) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)

    @app.get("/api/work-orders/{id}")
    async def work_order(id: str) -> dict[str, str]:
        return {"id": id, "request_id": get_request_id()}

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield b"first:" + get_request_id().encode() + b"\n"
            # The second chunk waits for the client to have read the first: a buffering middleware deadlocks.
            while gate is not None and not gate.is_set():
                await asyncio.sleep(0.005)
            yield b"second\n"

        return StreamingResponse(body(), media_type="text/plain")

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaput")

    @app.get("/missing")
    async def missing() -> None:
        raise HTTPException(404, "no such thing")

    @app.get("/metrics")
    async def metrics_endpoint() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    return app


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def access_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = setup_logging(Settings(log_json=True, log_level="INFO"), stream=stream)
    yield stream
    logging.getLogger().removeHandler(handler)


async def client_for(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://nexus.test")


def request_counts(metrics: Metrics) -> dict[tuple[str, str, str], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render()[0].decode()):
        for s in family.samples:
            if s.name == "nexus_http_requests_total":
                out[(s.labels["route"], s.labels["method"], s.labels["status"])] = s.value
    return out


async def test_generates_an_id_and_the_handler_sees_it(metrics: Metrics) -> None:
    async with await client_for(build_app(metrics)) as client:
        r = await client.get("/api/work-orders/12345")
    rid = r.headers["x-request-id"]
    assert len(rid) == 32 and int(rid, 16) >= 0
    assert r.json() == {"id": "12345", "request_id": rid}


async def test_honours_a_valid_incoming_id_and_replaces_an_invalid_one(metrics: Metrics) -> None:
    async with await client_for(build_app(metrics)) as client:
        ok = await client.get("/api/work-orders/1", headers={"X-Request-ID": "trace-1.2:abc_DEF-9"})
        bad = await client.get("/api/work-orders/1", headers={"X-Request-ID": "no spaces <script>"})
        long = await client.get("/api/work-orders/1", headers={"X-Request-ID": "a" * 129})
    assert ok.headers["x-request-id"] == "trace-1.2:abc_DEF-9"
    assert ok.json()["request_id"] == "trace-1.2:abc_DEF-9"
    for r in (bad, long):
        assert r.headers["x-request-id"] != "no spaces <script>" and len(r.headers["x-request-id"]) == 32
    assert len(ok.headers.get_list("x-request-id")) == 1


async def test_errors_carry_the_id_500_in_openai_shape(metrics: Metrics, access_lines: io.StringIO) -> None:
    async with await client_for(build_app(metrics)) as client:
        boom = await client.get("/boom", headers={"X-Request-ID": "err-1"})
        missing = await client.get("/missing")
        unmatched = await client.get("/nowhere/at/all")
    assert boom.status_code == 500 and boom.headers["x-request-id"] == "err-1"
    assert boom.json()["error"]["code"] == "internal_error"
    assert "kaput" not in boom.text
    assert missing.status_code == 404 and len(missing.headers["x-request-id"]) == 32
    assert unmatched.status_code == 404 and len(unmatched.headers["x-request-id"]) == 32
    counts = request_counts(metrics)
    assert counts[("/boom", "GET", "500")] == 1
    assert counts[("/missing", "GET", "404")] == 1
    assert counts[("unmatched", "GET", "404")] == 1
    lines = [orjson.loads(line) for line in access_lines.getvalue().splitlines()]
    error = next(x for x in lines if x["message"] == "unhandled error")
    assert error["request_id"] == "err-1" and "RuntimeError: kaput" in error["exc"]


async def test_metrics_use_the_route_template_and_one_access_line_per_request(
    metrics: Metrics, access_lines: io.StringIO
) -> None:
    async with await client_for(build_app(metrics)) as client:
        r1 = await client.get("/api/work-orders/777")
        await client.get("/api/work-orders/888")
        exposition = (await client.get("/metrics")).text
    assert request_counts(metrics)[("/api/work-orders/{id}", "GET", "200")] == 2
    assert "/api/work-orders/777" not in exposition
    access = [orjson.loads(x) for x in access_lines.getvalue().splitlines()]
    access = [x for x in access if x["logger"] == "nexus.access"]
    assert len(access) == 3
    first = access[0]
    assert first["request_id"] == r1.headers["x-request-id"]
    assert first["route"] == "/api/work-orders/{id}"
    assert first["status"] == 200 and first["method"] == "GET"
    assert first["message"] == "GET /api/work-orders/777 200"
    assert first["duration_ms"] >= 0


async def test_streaming_response_over_asgi_transport_has_the_id(metrics: Metrics) -> None:
    async with await client_for(build_app(metrics)) as client:
        r = await client.get("/stream", headers={"X-Request-ID": "stream-1"})
    assert r.headers["x-request-id"] == "stream-1"
    assert r.text == "first:stream-1\nsecond\n"


@pytest.fixture(scope="module")
def live_server() -> Iterator[tuple[str, threading.Event, Metrics]]:
    gate = threading.Event()
    metrics = Metrics()
    config = uvicorn.Config(
        build_app(metrics, gate), host="127.0.0.1", port=0, log_config=None, lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", gate, metrics
    server.should_exit = True
    thread.join(5)


async def test_stream_is_not_buffered_on_a_real_server(
    live_server: tuple[str, threading.Event, Metrics],
) -> None:
    base, gate, metrics = live_server
    async with httpx.AsyncClient(base_url=base) as client:
        async with client.stream("GET", "/stream") as r:
            rid = r.headers["x-request-id"]
            lines = r.aiter_lines()
            # A deadlock guard, not a timing assertion: a buffering middleware never yields the first line.
            first = await asyncio.wait_for(anext(lines), 10)
            gate.set()
            rest = [line async for line in lines]
    assert first == f"first:{rid}"
    assert rest == ["second"]
    # The server records the request after the last byte went out, so the client may get there first.
    for _ in range(500):
        if ("/stream", "GET", "200") in request_counts(metrics):
            break
        await asyncio.sleep(0.01)
    assert request_counts(metrics)[("/stream", "GET", "200")] == 1


async def test_request_span_is_named_by_route_and_parents_model_spans(metrics: Metrics) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from nexus.config import load_catalogue
    from nexus.telemetry import model_call_span, setup_tracing, use_tracer_provider

    exporter = InMemorySpanExporter()
    setup_tracing(Settings(), exporter=exporter)
    entry = load_catalogue().models[0]
    app = build_app(metrics)

    @app.get("/v1/calls/{n}")
    async def calls(n: int) -> dict[str, int]:
        with model_call_span(entry):
            return {"n": n}

    try:
        async with await client_for(app) as client:
            r = await client.get("/v1/calls/3", headers={"X-Request-ID": "span-req-1"})
            await client.get("/boom")
    finally:
        use_tracer_provider(trace.NoOpTracerProvider())
    spans = {s.name: s for s in exporter.get_finished_spans()}
    server = spans["GET /v1/calls/{n}"]
    assert r.status_code == 200
    assert server.attributes["http.route"] == "/v1/calls/{n}"
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["nexus.request_id"] == "span-req-1"
    call = spans[f"chat {entry.model}"]
    assert call.parent is not None and call.parent.span_id == server.context.span_id
    assert call.attributes["nexus.request_id"] == "span-req-1"
    failed = spans["GET /boom"]
    assert failed.status.status_code == trace.StatusCode.ERROR
    assert failed.attributes["http.response.status_code"] == 500


async def test_websocket_accept_carries_the_id(metrics: Metrics) -> None:
    app = build_app(metrics)

    @app.websocket("/ws")
    async def ws(socket: WebSocket) -> None:
        await socket.accept()
        await socket.send_text(get_request_id())
        await socket.close()

    with TestClient(app) as client, client.websocket_connect("/ws", headers={"X-Request-ID": "ws-1"}) as conn:
        assert conn.receive_text() == "ws-1"
        assert (b"x-request-id", b"ws-1") in (conn.extra_headers or [])
