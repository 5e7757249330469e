"""The FastAPI application: built once per process by `create_app(settings)`.

The lifespan assembles the components on `app.state` (hub, store, router, pipeline, …) and takes
them down in reverse order. Route modules stay thin and read what they need from there.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from nexus import __version__
from nexus.config.catalogue import CatalogueError
from nexus.config.settings import Settings, get_settings
from nexus.gateway.body import EXTRA_SCHEMAS
from nexus.gateway.errors import install_error_handlers
from nexus.gateway.limits import BodySizeLimit
from nexus.gateway.routes import admin, health, openai
from nexus.providers.hub import ModelHub

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


def create_app(settings: Settings | None = None, *, hub: ModelHub | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            the_hub = hub or ModelHub(settings)
            if the_hub._state is None:
                the_hub.load()
            stack.push_async_callback(the_hub.aclose)
            app.state.hub = the_hub
            _install_sighup(the_hub)
            yield

    app = FastAPI(
        title="Nexus",
        version=__version__,
        description="Multi-LLM orchestration gateway: OpenAI-compatible, routed, observable.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    for module in (health, openai, admin):
        app.include_router(module.router)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)

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
