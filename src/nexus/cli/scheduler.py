"""`nexus scheduler`: enqueues recurring jobs; one active scheduler across instances (a lease)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from nexus.cli.worker import prepare

console = Console(stderr=True)


def scheduler_cmd(
    imports: Annotated[
        list[str] | None,
        typer.Option(
            "--import", "-i", help="Module that registers more schedules or job kinds (repeatable)."
        ),
    ] = None,
    health_port: Annotated[
        int | None, typer.Option(help="Serve /health, /ready and /metrics here (or NEXUS_JOBS_HEALTH_PORT).")
    ] = None,
) -> None:
    """Run the scheduler: the leader enqueues each schedule's job once per tick; others stand by."""
    import asyncio

    from nexus.jobs.process import run_scheduler
    from nexus.jobs.scheduler import schedules
    from nexus.store import DatabaseUnreachable

    settings = prepare("scheduler", imports, health_port)

    def ready(engine: object) -> None:
        names = ", ".join(f"{s.name} ({s.kind})" for s in schedules())
        console.print(f"scheduler ready (lease {settings.scheduler_lease_s:g}s); schedules: {names}")

    try:
        asyncio.run(run_scheduler(settings, on_ready=ready))
    except DatabaseUnreachable as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


if __name__ == "__main__":  # `python -m nexus.cli.scheduler`
    typer.run(scheduler_cmd)
