"""The `nexus worker` and `nexus scheduler` processes: store, services, job engine, a health server, and a
clean stop on SIGTERM/SIGINT (running jobs get the grace period, the rest go back to the queue).

Services come from a factory so the worker builds the same runtime as the gateway:
`ServicesFactory = (Settings) -> async context manager yielding the services object` handed to handlers
as `ctx.services` (work orders need it to be, or to hold as `.turns`, a `TurnRunner`).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from aiohttp import web

from nexus.config.settings import Settings
from nexus.jobs.engine import JobEngine
from nexus.store import open_store

log = logging.getLogger("nexus.jobs")
ServicesFactory = Callable[[Settings], AbstractAsyncContextManager[Any]]


@asynccontextmanager
async def no_services(settings: Settings) -> AsyncIterator[None]:
    """Job kinds that need no services (callbacks, retention) run; work orders are dead-lettered."""
    yield None


def load_factory(spec: str) -> ServicesFactory:
    """`package.module:attribute` → the services factory it names."""
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ValueError(f"services factory must look like 'package.module:function', got {spec!r}")
    factory = getattr(importlib.import_module(module), attr, None)
    if not callable(factory):
        raise ValueError(f"{spec!r} is not a callable services factory")
    return factory  # type: ignore[no-any-return]


async def start_health_server(engine: JobEngine, host: str, port: int) -> web.AppRunner:
    """/health (liveness: the loop answers), /ready (lease renewed, consumer alive), /metrics."""

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "instance": engine.instance.id})

    async def ready(_: web.Request) -> web.Response:
        ok = engine.ready
        body: dict[str, Any] = {"status": "ready" if ok else "not ready", "lease": engine.instance.healthy}
        if engine.scheduler is not None:
            body["scheduler_leader"] = engine.scheduler.is_leader
        return web.json_response(body, status=200 if ok else 503)

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=engine.metrics.render(), content_type="text/plain")

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


async def serve_jobs(
    settings: Settings,
    *,
    role: str,
    execute: bool,
    schedule: bool,
    services: ServicesFactory = no_services,
    concurrency: int | None = None,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[JobEngine], None] | None = None,
) -> None:
    stop = stop or asyncio.Event()
    # taskiq logs every message at INFO; our own records say what matters (failures, recoveries).
    logging.getLogger("taskiq").setLevel(max(logging.WARNING, logging.getLogger().level))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    store = await open_store(settings)
    try:
        async with services(settings) as svc:
            engine = await JobEngine.start(
                settings,
                store,
                role=role,
                services=svc,
                execute=execute,
                schedule=schedule,
                concurrency=concurrency,
            )
            health = None
            try:
                if settings.jobs_health_port:
                    health = await start_health_server(engine, settings.host, settings.jobs_health_port)
                if on_ready is not None:
                    on_ready(engine)
                await stop.wait()
                log.info("%s %s stopping", role, engine.instance.id)
            finally:
                if health is not None:
                    await health.cleanup()
                await engine.close()
    finally:
        await store.close()


async def run_worker(
    settings: Settings,
    *,
    services: ServicesFactory = no_services,
    concurrency: int | None = None,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[JobEngine], None] | None = None,
) -> None:
    """Consume and run jobs until stopped."""
    await serve_jobs(
        settings,
        role="worker",
        execute=True,
        schedule=False,
        services=services,
        concurrency=concurrency,
        stop=stop,
        on_ready=on_ready,
    )


async def run_scheduler(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[JobEngine], None] | None = None,
) -> None:
    """Compete for the scheduler lease; as leader, enqueue each schedule's job once per tick."""
    await serve_jobs(settings, role="scheduler", execute=False, schedule=True, stop=stop, on_ready=on_ready)
