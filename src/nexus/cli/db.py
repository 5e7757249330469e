"""`nexus db upgrade|prune`: migrations and retention, straight against the configured database."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console

db_app = typer.Typer(help="Database migrations and retention.", no_args_is_help=True)
console = Console()


def _fail(exc: Exception) -> None:
    console.print(f"[red]error:[/red] {exc}")
    raise typer.Exit(1)


@db_app.command("upgrade")
def upgrade_cmd() -> None:
    """Apply pending migrations (`nexus serve` does this on start too)."""
    from nexus.config.settings import Settings
    from nexus.store import DatabaseUnreachable, open_store

    async def main() -> str:
        store = await open_store(Settings())
        await store.close()
        return store.where

    try:
        where = asyncio.run(main())
    except DatabaseUnreachable as exc:
        _fail(exc)
    console.print(f"database at head: {where}")


@db_app.command("prune")
def prune_cmd(
    older_than: Annotated[
        int | None, typer.Option("--older-than", min=0, help="Days to keep (default NEXUS_RETENTION_DAYS).")
    ] = None,
) -> None:
    """Delete work orders, calls, events, audit entries, sessions and checkpoints older than N days."""
    from nexus.config.settings import Settings
    from nexus.store import DatabaseUnreachable, open_store
    from nexus.store.prune import prune_all

    settings = Settings()
    days = settings.retention_days if older_than is None else older_than

    async def main() -> dict[str, int]:
        store = await open_store(settings)
        try:
            return await prune_all(settings, store, days)
        finally:
            await store.close()

    try:
        counts = asyncio.run(main())
    except DatabaseUnreachable as exc:
        _fail(exc)
    console.print(
        f"pruned rows older than {days} day(s): " + ", ".join(f"{k}={v}" for k, v in counts.items())
    )
