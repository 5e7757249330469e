"""One checkpointer per process: SQLite under the data directory, or PostgreSQL when the database is.

Paused runs (interrupts) live here, so a clarifying question survives a server restart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

from nexus.config.settings import Settings

Close = Callable[[], Awaitable[None]]


def postgres_dsn(url: str) -> str | None:
    """A libpq DSN for a PostgreSQL database URL (SQLAlchemy driver suffixes removed), else None."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+")[0] not in ("postgresql", "postgres"):
        return None
    return f"postgresql://{rest}"


async def open_checkpointer(settings: Settings) -> tuple[Any, Close]:
    stack = AsyncExitStack()
    dsn = postgres_dsn(settings.database_url or "")
    if dsn is not None:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        from psycopg.rows import dict_row
        from psycopg_pool import AsyncConnectionPool

        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            dsn,
            min_size=1,
            max_size=10,
            open=False,
            kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        )
        await pool.open()
        stack.push_async_callback(pool.close)
        saver: Any = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
        await saver.setup()
    else:
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        path = settings.data_dir / "checkpoints.sqlite"
        saver = await stack.enter_async_context(AsyncSqliteSaver.from_conn_string(str(path)))
        await saver.setup()
    return saver, stack.aclose
