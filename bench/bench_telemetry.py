"""Telemetry cost per request: Metrics.observe_call, Metrics.observe_request and RequestContextMiddleware.

The middleware is driven at the ASGI level (no sockets) around a minimal app, and reported as the
difference from calling that app bare; variants show the access log and the tracing modes.
Prints medians in µs; asserts nothing. Run: python bench/bench_telemetry.py
"""

from __future__ import annotations

import asyncio
import io
import logging
import statistics
import time
from collections.abc import Awaitable, Callable

from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from nexus.config import Settings
from nexus.gateway.middleware import RequestContextMiddleware
from nexus.providers.metering import CallRecord
from nexus.telemetry import Metrics, setup_logging, setup_tracing, use_tracer_provider

BATCH = 2000
REPEATS = 25


def median_us(fn: Callable[[], None]) -> float:
    per_call = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        for _ in range(BATCH):
            fn()
        per_call.append((time.perf_counter() - t0) / BATCH * 1e6)
    return statistics.median(per_call)


async def amedian_us(fn: Callable[[], Awaitable[None]]) -> float:
    per_call = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        for _ in range(BATCH):
            await fn()
        per_call.append((time.perf_counter() - t0) / BATCH * 1e6)
    return statistics.median(per_call)


class _Route:
    path_format = "/v1/chat/completions"


async def tiny_app(scope: dict, receive: Callable, send: Callable) -> None:  # type: ignore[type-arg]
    scope["route"] = _Route
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": b"{}"})


BASE_SCOPE = {
    "type": "http",
    "method": "POST",
    "path": "/v1/chat/completions",
    "headers": [(b"host", b"nexus"), (b"content-type", b"application/json"), (b"authorization", b"Bearer x")],
}


async def _receive() -> dict:  # type: ignore[type-arg]
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: dict) -> None:  # type: ignore[type-arg]
    return None


def driver(app: Callable) -> Callable[[], Awaitable[None]]:  # type: ignore[type-arg]
    async def one() -> None:
        await app(dict(BASE_SCOPE), _receive, _send)

    return one


async def middleware_figures(metrics: Metrics) -> list[tuple[str, float]]:
    root = logging.getLogger()
    handler = setup_logging(Settings(log_json=True, log_level="WARNING"), stream=io.StringIO())
    bare = await amedian_us(driver(tiny_app))
    rows = [("ASGI app alone (baseline)", bare)]
    mw = RequestContextMiddleware(tiny_app, metrics)
    use_tracer_provider(trace.NoOpTracerProvider())
    rows.append(("middleware, no access log, tracing not set up", await amedian_us(driver(mw)) - bare))
    setup_tracing(Settings())  # no exporter, no endpoint: non-recording spans
    rows.append(
        ("middleware, no access log, tracing set up, nothing exported", await amedian_us(driver(mw)) - bare)
    )
    root.setLevel(logging.INFO)
    rows.append(
        ("middleware + JSON access log line (redacted), no export", await amedian_us(driver(mw)) - bare)
    )
    root.setLevel(logging.WARNING)
    setup_tracing(Settings(), exporter=InMemorySpanExporter())
    rows.append(("middleware, spans recorded to an in-memory exporter", await amedian_us(driver(mw)) - bare))
    use_tracer_provider(trace.NoOpTracerProvider())
    root.removeHandler(handler)
    return rows


def main() -> None:
    metrics = Metrics(models=["gpt-4o-mini"])
    record = CallRecord(
        model="gpt-4o-mini", provider="openai", upstream_model="gpt-4o-mini", role="worker",
        prompt_tokens=120, completion_tokens=40, cost_usd=0.00004, latency_ms=850.0, success=True,
    )  # fmt: skip
    call = median_us(lambda: metrics.observe_call(record))
    req = median_us(lambda: metrics.observe_request("/v1/chat/completions", "POST", 200, 0.0123))
    rows = [("Metrics.observe_call", call), ("Metrics.observe_request", req)]
    rows += asyncio.run(middleware_figures(metrics))
    print(f"median over {REPEATS} batches of {BATCH} (µs per request)")
    for name, us in rows:
        print(f"  {name:<62} {us:8.2f} µs")
    default = call + rows[4][1]  # observe_call + middleware (which includes observe_request), no access log
    with_log = call + rows[5][1]
    print(f"  {'per request: observe_call + middleware (tracing set up)':<62} {default:8.2f} µs")
    print(f"  {'per request: the same + JSON access log line':<62} {with_log:8.2f} µs")


if __name__ == "__main__":
    main()
