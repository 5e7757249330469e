"""`nexus keys create|list|revoke`: API keys, straight against the configured database."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

keys_app = typer.Typer(
    help="Create, list and revoke API keys (stored as salted hashes).", no_args_is_help=True
)
console = Console()


def _run(coro_fn):  # type: ignore[no-untyped-def]
    from nexus.config.settings import Settings
    from nexus.store import open_store

    async def main():  # type: ignore[no-untyped-def]
        store = await open_store(Settings())
        try:
            return await coro_fn(store)
        finally:
            await store.close()

    return asyncio.run(main())


@keys_app.command("create")
def create(
    tenant: Annotated[str, typer.Option(help="Tenant the key belongs to (created if new).")],
    role: Annotated[str, typer.Option(help="member, admin or global_admin.")] = "member",
    name: Annotated[str, typer.Option(help="A label for people.")] = "",
    rpm: Annotated[int | None, typer.Option(help="Requests per minute for this key.")] = None,
    tpm: Annotated[int | None, typer.Option(help="Tokens per minute for this key.")] = None,
    budget: Annotated[
        str | None, typer.Option(help="Hard budget: '5/day' (USD) or '200000tok/month'.")
    ] = None,
) -> None:
    """Create a key. It is printed once; only its salted hash is stored."""
    from nexus.service.keys import create_api_key, parse_budget

    if role not in ("member", "admin", "global_admin"):
        console.print("[red]--role must be member, admin or global_admin[/red]")
        raise typer.Exit(2)
    try:
        spec = parse_budget(budget) if budget else None
    except ValueError as exc:
        console.print(f"[red]--budget: {exc}[/red]")
        raise typer.Exit(2) from None
    token, row = _run(
        lambda s: create_api_key(s, tenant=tenant, role=role, name=name, rpm=rpm, tpm=tpm, budget=spec)
    )
    console.print(f"Created key [bold]{row.id}[/bold] for tenant [bold]{tenant}[/bold] ({role}).")
    console.print("Store it now, it is not shown again:")
    print(token)


@keys_app.command("list")
def list_keys(tenant: Annotated[str | None, typer.Option(help="Only this tenant.")] = None) -> None:
    """List keys (never their secrets)."""
    from nexus.store import TenantScope

    scope = TenantScope(tenant, False) if tenant else TenantScope.system()
    rows = _run(lambda s: s.api_keys(scope).list())
    table = Table("id", "tenant", "role", "name", "prefix", "rpm", "tpm", "last used", "revoked")
    for r in rows:
        table.add_row(
            r.id,
            r.tenant_id,
            r.role,
            r.name,
            f"nx_{r.prefix}_…",
            str(r.rpm or ""),
            str(r.tpm or ""),
            str(r.last_used_at or ""),
            str(r.revoked_at or ""),
        )
    console.print(table)


@keys_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key's id (from `nexus keys list`).")]) -> None:
    """Revoke a key; it stops working at once in new processes and within seconds in running ones."""
    from nexus.store import TenantScope

    n = _run(lambda s: s.api_keys(TenantScope.system()).revoke(key_id))
    if not n:
        console.print(f"[red]No key {key_id!r}[/red]")
        raise typer.Exit(1)
    console.print(f"Revoked {key_id}.")
