"""A migrated store on SQLite (tmp_path) or on the real PostgreSQL in a throwaway schema."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from nexus.config.settings import Settings
from nexus.store import Store, open_store

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def open_test_store(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Store]:
    if backend == "sqlite":
        store = await open_store(Settings(data_dir=tmp_path, database_url=None))
        try:
            yield store
        finally:
            await store.close()
        return
    url = request.getfixturevalue("postgres_url")
    schema = f"nexus_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        store = await open_store(
            Settings(data_dir=tmp_path, database_url=url), server_settings={"search_path": schema}
        )
        try:
            yield store
        finally:
            await store.close()
    finally:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()
