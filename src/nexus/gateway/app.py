"""The FastAPI application: built once per process by `create_app(settings)`.

The lifespan assembles the components on `app.state` and takes them down in reverse order:
metrics → hub (providers) → store + accounting queue → auth → router → pipeline. Route modules
stay thin and read what they need from there (see state.py).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi

from nexus import __version__
from nexus.config.catalogue import CatalogueError
from nexus.config.settings import Settings, get_settings
from nexus.gateway.accounting import QueueAccounting
from nexus.gateway.auth import Authenticator, StoreKeys
from nexus.gateway.auto import handle_auto
from nexus.gateway.body import EXTRA_SCHEMAS
from nexus.gateway.budgets import BudgetManager
from nexus.gateway.errors import install_error_handlers
from nexus.gateway.guarding import GatewayGuard
from nexus.gateway.limits import BodySizeLimit
from nexus.gateway.middleware import RequestContextMiddleware
from nexus.gateway.ratelimit import build_limiter
from nexus.gateway.routes import admin, agents, chat, health, keys, metrics, observability, openai, routing
from nexus.gateway.runs import StoreRuns
from nexus.gateway.security import RequestLimits, gate
from nexus.pipeline.events import Event
from nexus.pipeline.runner import open_pipeline
from nexus.providers.hub import ModelHub
from nexus.routing.router import Router
from nexus.store import open_store
from nexus.telemetry import Metrics, record_call_span

log = logging.getLogger("nexus.gateway")


def _install_sighup(hub: ModelHub) -> None:
    def _reload() -> None:
        try:
            cat = hub.reload()
            log.info("catalogue reloaded on SIGHUP", extra={"models": len(cat.models)})
        except CatalogueError as exc:
            log.error("catalogue reload refused; the running catalogue stays", extra={"error": str(exc)})

    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, _reload)
    except (NotImplementedError, RuntimeError, ValueError):
        pass  # not the main thread (tests) or no signals on this platform


async def _start(app: FastAPI, settings: Settings, hub: ModelHub | None, stack: AsyncExitStack) -> None:
    state = app.state
    state.loop = asyncio.get_running_loop()
    m: Metrics = state.metrics

    the_hub = hub or ModelHub(settings)
    if the_hub._state is None:
        the_hub.load()
    stack.push_async_callback(the_hub.aclose)
    if settings.metrics:
        the_hub.meter.subscribe(m.observe_call)
        the_hub.on_fallback.append(lambda f, t, e: m.observe_fallback(f, t))
    the_hub.meter.subscribe(record_call_span)
    state.hub = the_hub
    _install_sighup(the_hub)

    store = await open_store(settings)
    stack.push_async_callback(store.close)
    interrupted = await store.mark_interrupted()
    if interrupted:
        log.warning(
            "work orders left running by a previous process marked incomplete", extra={"count": interrupted}
        )
    queue = store.accounting_queue(maxsize=settings.accounting_queue_max, flush_s=settings.accounting_flush_s)
    stack.push_async_callback(queue.close)
    m.bind_queue_depth(lambda: queue.depth)
    state.store = store
    state.accounting = queue
    if settings.accounting:
        the_hub.meter.subscribe(queue.on_call)

    budgets = BudgetManager(store, queue=queue, on_soft=lambda *_: m.observe_budget_soft_limit())
    await budgets.start()
    stack.push_async_callback(budgets.close)
    state.budgets = budgets
    if settings.accounting:
        state.request_accounting = QueueAccounting(queue, budgets)

    authenticator = Authenticator(settings, StoreKeys(store))
    await authenticator.start()
    state.authenticator = authenticator
    limiter = build_limiter(settings, on_fallback=m.observe_redis_fallback)
    state.limits = RequestLimits(limiter, settings, store, on_reject=m.observe_rate_limited)
    state.guard = GatewayGuard.from_file(settings.guard_config)

    state.router = await asyncio.to_thread(_build_router, the_hub, settings, None)
    state.embedder = state.router.embedder

    def _rebuild(_: object) -> None:
        state.router = _build_router(the_hub, settings, state.router)

    the_hub.on_reload(_rebuild)

    runs = StoreRuns(store, queue, on_event=_event_metrics(m))
    pipeline, close_pipeline = await open_pipeline(the_hub, lambda: state.router, settings, sink=runs)
    stack.push_async_callback(runs.drain)
    stack.push_async_callback(close_pipeline)
    state.pipeline = pipeline
    state.trace_reader = runs
    state.auto_handler = handle_auto


def _event_metrics(m: Metrics) -> Callable[[Event], None]:
    """Pipeline decisions as Prometheus series: routing by model and rule, judge scores, escalations."""

    def observe(ev: Event) -> None:
        if ev.type == "routed":
            for sub in ev.data.get("subtasks") or [ev.data]:
                rule = sub.get("rule") or (sub.get("explanation") or {}).get("rule")
                m.observe_routing(str(sub.get("model")), str(rule))
        elif ev.type == "judged" and isinstance(ev.data.get("score"), int | float):
            m.observe_judge(float(ev.data["score"]))
        elif ev.type == "escalated":
            m.observe_escalation()

    return observe


def _build_router(hub: ModelHub, settings: Settings, previous: Router | None) -> Router:
    """The router over the hub's current catalogue, reusing the loaded embedder and classifier."""
    return Router.from_catalogue(
        hub.catalogue,
        settings,
        embedder=previous.embedder if previous else None,
        classifier=previous.classifier if previous else None,
        available=hub.available_ids(),
    )


def create_app(settings: Settings | None = None, *, hub: ModelHub | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            await _start(app, settings, hub, stack)
            yield

    app = FastAPI(
        title="Nexus",
        version=__version__,
        description="Multi-LLM orchestration gateway: OpenAI-compatible, routed, observable.",
        lifespan=lifespan,
        dependencies=[Depends(gate)],
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    install_error_handlers(app)
    for module in (health, openai, admin, keys, metrics, routing, agents, chat, observability):
        app.include_router(module.router)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware, metrics=app.state.metrics if settings.metrics else None)

    def custom_openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(EXTRA_SCHEMAS)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = custom_openapi  # type: ignore[method-assign]
    return app
