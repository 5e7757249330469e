"""Real backends for the job tests: SQLite or PostgreSQL (a throwaway schema or a fresh database), and
Redis with a key prefix of its own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from sqlalchemy.engine import make_url

from nexus.config.settings import Settings
from nexus.store import Store, open_store

# Fast clocks: leases, polling, retries and reclaim in fractions of a second.
FAST = {
    "jobs_lease_s": 1.5,
    "jobs_poll_s": 0.05,
    "jobs_retry_base_s": 0.02,
    "jobs_retry_max_s": 0.1,
    "jobs_reclaim_idle_s": 1.0,
    "jobs_redispatch_s": 30.0,
    "jobs_shutdown_grace_s": 1.0,
    "scheduler_lease_s": 1.5,
    "callback_secret": "test-callback-secret-123",
    "callback_timeout_s": 1.0,
}


def dsn(url: str, database: str | None = None) -> str:
    u = make_url(url).set(drivername="postgresql")
    if database:
        u = u.set(database=database)
    return u.render_as_string(hide_password=False)


def with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


@asynccontextmanager
async def postgres_schema(url: str, name: str) -> AsyncIterator[str]:
    conn = await asyncpg.connect(dsn(url))
    await conn.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield name
    finally:
        await conn.execute(f'DROP SCHEMA "{name}" CASCADE')
        await conn.close()


@asynccontextmanager
async def postgres_database(url: str, name: str) -> AsyncIterator[str]:
    """A fresh database (CREATE DATABASE), dropped afterwards; yields its URL."""
    conn = await asyncpg.connect(dsn(url))
    await conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(url, name)
    finally:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


@asynccontextmanager
async def redis_prefix(url: str, prefix: str) -> AsyncIterator[str]:
    yield prefix
    client = aioredis.from_url(url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def open_store_for(settings: Settings, schema: str | None = None) -> Store:
    return await open_store(settings, server_settings={"search_path": schema} if schema else None)


def fast_settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(**{"data_dir": tmp_path, "database_url": None, "redis_url": None, **FAST, **overrides})


async def wait_for(
    check: Callable[[], Awaitable[Any]], *, timeout: float = 15.0, every: float = 0.05, what: str = ""
) -> Any:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or check}: last={last!r}")


def process_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment a `nexus worker`/`nexus scheduler` child reads the same settings from."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXUS_")}
    values = settings.model_dump(exclude_none=True)
    for key in ("database_url", "redis_url", "data_dir", *FAST, "jobs_stream_prefix", "jobs_concurrency"):
        if key in values:
            env[f"NEXUS_{key.upper()}"] = str(values[key])
    src = Path(__file__).resolve().parents[2] / "src"
    tests = Path(__file__).resolve().parents[1]
    env["PYTHONPATH"] = os.pathsep.join([str(src), str(tests)])
    env["PYTHONUNBUFFERED"] = "1"
    env["NEXUS_LOG_JSON"] = "false"
    env.update(extra)
    return env
