"""The FastAPI application: built once per process by `create_app(settings)`.

The lifespan builds the process's `Services` (nexus.runtime) and keeps them on `app.state.services`;
routes get them through one typed dependency (gateway/deps.py) and stay thin: each door parses its
protocol, calls the service layer and renders events.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi

from nexus import __version__
from nexus.config.catalogue import CatalogueError
from nexus.config.settings import Settings, get_settings
from nexus.embeddings.base import Embedder
from nexus.gateway.body import EXTRA_SCHEMAS
from nexus.gateway.errors import document_errors, install_error_handlers
from nexus.gateway.limits import BodySizeLimit
from nexus.gateway.middleware import RequestContextMiddleware
from nexus.gateway.routes import (
    admin,
    agents,
    audio,
    chat,
    compare,
    faq,
    feedback,
    files,
    fine_tunes,
    health,
    jobs,
    keys,
    mcp,
    metrics,
    observability,
    openai,
    ops,
    rag,
    roles,
    routing,
    telegram,
    vector_stores,
    voice,
)
from nexus.gateway.security import gate
from nexus.gateway.server import ShutdownSignal
from nexus.pipeline.ports import ClassifierLike
from nexus.providers.hub import ModelHub
from nexus.runtime import build
from nexus.telemetry import Metrics

log = logging.getLogger("nexus.gateway")

# Every route module, in the order their routes appear in the OpenAPI document.
ROUTES = (
    health,
    openai,
    chat,
    routing,
    observability,
    jobs,
    roles,
    metrics,
    keys,
    admin,
    audio,
    voice,
    telegram,
    ops,
    files,
    vector_stores,
    rag,
    agents,
    mcp,
    feedback,
    fine_tunes,
    compare,
    faq,
)


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


def create_app(
    settings: Settings | None = None,
    *,
    hub: ModelHub | None = None,
    embedder: Embedder | None = None,
    classifier: ClassifierLike | None = None,
    shutdown: ShutdownSignal | None = None,
) -> FastAPI:
    """The app; `shutdown` is the signal of the server that will run it (gateway/server.py), which
    fires when SIGTERM's graceful bound has passed so streaming doors end their turns cleanly."""
    settings = settings or get_settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.loop = asyncio.get_running_loop()
        async with (
            build(settings, hub=hub, metrics=metrics, embedder=embedder, classifier=classifier) as services,
            mcp.serving(app, services),
        ):
            app.state.services = services
            _install_sighup(services.hub)
            try:
                yield
            finally:
                app.state.services = None

    app = FastAPI(
        title="Nexus",
        version=__version__,
        description="Multi-LLM orchestration gateway: OpenAI-compatible, routed, observable.",
        lifespan=lifespan,
        dependencies=[Depends(gate)],
    )
    app.state.services = None
    app.state.settings = settings
    app.state.shutdown = shutdown or ShutdownSignal()
    install_error_handlers(app)
    for module in ROUTES:
        app.include_router(module.router)
    app.include_router(jobs.admin)
    app.include_router(feedback.admin)
    # Uploads are bounded by the documents' file limit (plus the multipart envelope), not the JSON limit.
    uploads = {"/v1/files": settings.rag_max_file_bytes + 64 * 1024}
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes, larger=uploads)
    app.add_middleware(RequestContextMiddleware, metrics=metrics if settings.metrics else None)

    def custom_openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(EXTRA_SCHEMAS)
            services = app.state.services  # running: the document can name the embedder's one size
            if services is not None and services.embedder is not None:
                dims = schema["components"]["schemas"].get("EmbeddingRequest", {}).get("properties", {})
                if "dimensions" in dims:
                    dims["dimensions"] = {"anyOf": [{"const": services.embedder.dim}, {"type": "null"}]}
            app.openapi_schema = document_errors(schema)
        return app.openapi_schema

    app.openapi = custom_openapi  # type: ignore[method-assign]
    return app
