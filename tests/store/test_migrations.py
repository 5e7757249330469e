from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from nexus.config.settings import Settings
from nexus.store import DatabaseUnreachable, Store, TenantScope, open_store
from nexus.store.migrate import alembic_config
from nexus.store.models import Base


async def test_migrations_reach_head_and_match_the_models(store: Store) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()

    def check(conn):  # type: ignore[no-untyped-def]
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        return (
            ctx.get_current_revision(),
            compare_metadata(ctx, Base.metadata),
            set(inspect(conn).get_table_names()),
        )

    async with store.engine.connect() as conn:
        current, diff, tables = await conn.run_sync(check)
    assert current == head
    assert diff == []
    assert set(Base.metadata.tables) <= tables
    # The default tenant exists from the start.
    assert [t.id for t in await store.tenants(TenantScope.system()).list()] == ["default"]


async def test_upgrade_twice_is_a_no_op(store: Store) -> None:
    await store.upgrade()
    assert await store.work_orders(TenantScope.system()).count() == 0


async def test_unreachable_postgres_is_a_clear_error_without_the_password(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url="postgresql+asyncpg://bob:s3cr3tpw@127.0.0.1:9/nexus")
    with pytest.raises(DatabaseUnreachable) as info:
        await open_store(settings)
    assert str(info.value).startswith("PostgreSQL at 127.0.0.1:9 unreachable:")
    assert "s3cr3tpw" not in str(info.value)


async def test_fallback_to_sqlite_only_when_opted_in(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url="postgresql+asyncpg://bob:pw@127.0.0.1:9/nexus",
        database_fallback="sqlite",
    )
    store = await open_store(settings)
    try:
        assert store.backend == "sqlite"
        assert (tmp_path / "nexus.db").exists()
        assert "falling back to SQLite" in caplog.text
    finally:
        await store.close()


async def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    store = await open_store(Settings(data_dir=tmp_path))
    try:
        async with store.engine.connect() as conn:
            mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar_one()
            timeout = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar_one()
        assert (mode, timeout) == ("wal", 5000)
    finally:
        await store.close()
