"""Engines for the two backends: SQLite (embedded default, WAL) and PostgreSQL (asyncpg).

Switching is the URL only. A configured PostgreSQL that is down at start is a clear error; falling back
to SQLite happens only when the user opted in (NEXUS_DATABASE_FALLBACK=sqlite), and is logged.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from nexus.config.settings import Settings
from nexus.store.errors import DatabaseUnreachable

log = logging.getLogger("nexus.store")

# How long a writer waits on a locked SQLite file before failing (the accounting writer and the
# request path share the file).
SQLITE_BUSY_TIMEOUT_MS = 5000
CONNECT_TIMEOUT_S = 5.0


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # NORMAL under WAL survives a killed process; only a power loss can drop the last commits.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(url: str, *, server_settings: dict[str, str] | None = None) -> AsyncEngine:
    """An async engine; `server_settings` (PostgreSQL only) e.g. {"search_path": "nexus_x"}."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    connect_args: dict[str, Any] = {"timeout": CONNECT_TIMEOUT_S}
    if server_settings:
        connect_args["server_settings"] = server_settings
    return create_async_engine(url, pool_pre_ping=True, connect_args=connect_args)


def describe(url: str) -> str:
    """Where a URL points, for messages: never the password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite at {parsed.database}"
    return f"PostgreSQL at {parsed.host or 'localhost'}:{parsed.port or 5432}"


def _scrub(reason: str, url: str) -> str:
    password = make_url(url).password
    return reason.replace(str(password), "***") if password else reason


async def check_reachable(engine: AsyncEngine, url: str) -> None:
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_S * 2):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver/OS failure means the same thing to the user
        reason = _scrub(str(exc) or type(exc).__name__, url)
        raise DatabaseUnreachable(f"{describe(url)} unreachable: {reason}") from None


def sqlite_url(settings: Settings) -> str:
    return f"sqlite+aiosqlite:///{(settings.data_dir / 'nexus.db').resolve()}"


async def connect(settings: Settings, *, server_settings: dict[str, str] | None = None) -> AsyncEngine:
    """The engine for `settings`, checked reachable; honours the opt-in SQLite fallback."""
    url = settings.resolved_database_url()
    engine = make_engine(url, server_settings=server_settings)
    if make_url(url).get_backend_name() == "sqlite":
        return engine
    try:
        await check_reachable(engine, url)
        return engine
    except DatabaseUnreachable as exc:
        await engine.dispose()
        if settings.database_fallback != "sqlite":
            raise
        fallback = sqlite_url(settings)
        log.warning("%s; falling back to %s (NEXUS_DATABASE_FALLBACK=sqlite)", exc, describe(fallback))
        return make_engine(fallback)
