"""`nexus worker`: a process that runs background jobs (work orders, callbacks, retention, ...)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from nexus.config.settings import Settings

console = Console(stderr=True)

# The services handed to job handlers (ctx.services): the same runtime as the gateway, whose
# `turns` (nexus.service.work_orders.WorkOrders) runs queued work orders through ChatService.
DEFAULT_SERVICES = "nexus.runtime:worker_services"


def prepare(command: str, imports: list[str] | None, health_port: int | None) -> Settings:
    """Shared start of `nexus worker` and `nexus scheduler`: Redis required, logging, extra modules."""
    from nexus.config.settings import Settings
    from nexus.jobs.registry import load_modules
    from nexus.telemetry import setup_logging

    settings = Settings()
    if health_port is not None:
        settings = settings.model_copy(update={"jobs_health_port": health_port})
    if not settings.redis_url:
        console.print(
            f"[red]error:[/red] `nexus {command}` needs NEXUS_REDIS_URL (Redis Streams carry the jobs between "
            "processes). Without Redis, `nexus serve` runs jobs and schedules in-process."
        )
        raise typer.Exit(2)
    setup_logging(settings)
    try:
        load_modules(imports or [])
    except ImportError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    return settings


def worker_cmd(
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency", "-c", min=1, help="Jobs run at once (default NEXUS_JOBS_CONCURRENCY, 8)."
        ),
    ] = None,
    imports: Annotated[
        list[str] | None,
        typer.Option("--import", "-i", help="Module that registers more job kinds (repeatable)."),
    ] = None,
    services: Annotated[
        str, typer.Option(help="Factory of the services handlers get, as 'package.module:function'.")
    ] = DEFAULT_SERVICES,
    health_port: Annotated[
        int | None, typer.Option(help="Serve /health, /ready and /metrics here (or NEXUS_JOBS_HEALTH_PORT).")
    ] = None,
) -> None:
    """Run a worker: consume jobs from Redis Streams until SIGTERM (running jobs get a grace period)."""
    import asyncio

    from nexus.jobs.process import load_factory, run_worker
    from nexus.jobs.registry import kinds
    from nexus.store import DatabaseUnreachable

    settings = prepare("worker", imports, health_port)
    try:
        factory = load_factory(services)
    except (ImportError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None

    def ready(engine: object) -> None:
        from nexus.jobs.engine import JobEngine

        assert isinstance(engine, JobEngine)
        console.print(
            f"worker {engine.instance.id}: {engine.queue.backend}, "
            f"concurrency {concurrency or settings.jobs_concurrency}, kinds: {', '.join(kinds())}"
        )

    try:
        asyncio.run(run_worker(settings, services=factory, concurrency=concurrency, on_ready=ready))
    except DatabaseUnreachable as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


if __name__ == "__main__":  # `python -m nexus.cli.worker` (before and besides `nexus worker`)
    typer.run(worker_cmd)
