from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nexus.config.settings import Settings
from nexus.jobs import JobEngine, JobQueue
from nexus.store import Store, TenantScope

from . import kinds
from .helpers import fast_settings, open_store_for, postgres_schema, redis_prefix

ACME = TenantScope("acme")
GLOBEX = TenantScope("globex")

# The contract runs on both deployments: embedded (in-process broker, SQLite) and scale-out
# (Redis Streams, PostgreSQL).
BACKENDS = [
    "embedded",
    pytest.param("redis", marks=[pytest.mark.redis, pytest.mark.postgres]),
]


@dataclass
class Env:
    backend: str
    settings: Settings
    store: Store
    engine: JobEngine
    stack: AsyncExitStack

    @property
    def queue(self) -> JobQueue:
        return self.engine.queue

    async def effects(self) -> dict[str, int]:
        return await kinds.effect_counts(self.store.engine)

    async def start_engine(self, services: Any = None, **kw: Any) -> JobEngine:
        """Another engine (another 'process') on the same database and broker."""
        engine = await JobEngine.start(
            self.settings, self.store, role="worker", services=services, execute=True, schedule=False, **kw
        )
        self.stack.push_async_callback(engine.close, 0.2)
        return engine


@asynccontextmanager
async def make_env(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    unique: str,
    services: Any = None,
    **settings: Any,
) -> AsyncIterator[Env]:
    async with AsyncExitStack() as stack:
        schema = None
        if backend == "embedded":
            cfg = fast_settings(tmp_path, **settings)
        else:
            pg, redis = request.getfixturevalue("postgres_url"), request.getfixturevalue("redis_url")
            schema = await stack.enter_async_context(postgres_schema(pg, f"jobs_{unique}"))
            prefix = await stack.enter_async_context(redis_prefix(redis, f"nexus-test-{unique}"))
            cfg = fast_settings(
                tmp_path, database_url=pg, redis_url=redis, jobs_stream_prefix=prefix, **settings
            )
        store = await open_store_for(cfg, schema)
        stack.push_async_callback(store.close)
        await kinds.create_effects_table(store.engine)
        engine = await JobEngine.start(
            cfg, store, role="worker", services=services, execute=True, schedule=False
        )
        stack.push_async_callback(engine.close, 0.2)
        yield Env(backend, cfg, store, engine, stack)


@pytest.fixture(params=BACKENDS)
async def env(request: pytest.FixtureRequest, tmp_path: Path, unique: str) -> AsyncIterator[Env]:
    async with make_env(request.param, request, tmp_path, unique) as e:
        yield e
