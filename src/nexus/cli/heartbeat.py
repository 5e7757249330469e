"""`nexus heartbeat --once | --service`: the deployment's checks, alerts and bounded recovery.

--once prints each check and exits 0 (all ok), 1 (a warning) or 2 (a critical state); --service runs
them every NEXUS_HEARTBEAT_INTERVAL_S until stopped (SIGTERM/SIGINT), telling systemd it is alive.
"""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()
STYLE = {"ok": "green", "warning": "yellow", "critical": "red", "skipped": "dim"}


def _print(report: Any, as_json: bool) -> None:
    if as_json:
        print(
            json.dumps(
                {
                    "status": report.worst,
                    "exit_code": report.exit_code,
                    "results": [
                        {"name": r.name, "state": r.state, "detail": r.detail, "latency_ms": r.latency_ms}
                        for r in report.results
                    ],
                    "alerts": [a.text for a in report.alerts],
                    "actions": [f"{a.action}: {a.outcome}" for a in report.actions],
                }
            )
        )
        return
    table = Table(title=f"Nexus heartbeat: {report.worst}", title_style=STYLE[report.worst])
    for col in ("check", "state", "detail"):
        table.add_column(col)
    for r in report.results:
        table.add_row(r.name, f"[{STYLE[r.state]}]{r.state}[/]", r.detail)
    console.print(table)
    for a in report.actions:
        console.print(f"recovery {a.action} ({a.check}, attempt {a.attempt}): {a.outcome}")


def heartbeat_cmd(
    once: Annotated[bool, typer.Option("--once", help="Run every check once; exit 0, 1 or 2.")] = False,
    service: Annotated[
        bool, typer.Option("--service", help="Run every NEXUS_HEARTBEAT_INTERVAL_S until stopped.")
    ] = False,
    enable_telegram: Annotated[
        bool, typer.Option("--enable-telegram", help="Alert the chats in NEXUS_HEARTBEAT_ALERT_CHATS.")
    ] = False,
    enable_recovery: Annotated[
        bool, typer.Option("--enable-recovery", help="Run the bounded recovery actions.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="--once: print JSON instead of a table.")] = False,
) -> None:
    """Check the gateway, database, Redis, providers, jobs, runs, budgets, disk, memory and GPUs."""
    if once == service:
        console.print("[red]choose one of --once or --service[/red]")
        raise typer.Exit(2)
    from nexus.config.settings import Settings
    from nexus.ops import open_heartbeat

    settings = Settings()

    async def main() -> int:
        try:
            ctx = open_heartbeat(settings, telegram=enable_telegram, recovery=enable_recovery)
            async with ctx as beat:
                if once:
                    report = await beat.run_once()
                    _print(report, as_json)
                    return report.exit_code
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(sig, stop.set)
                console.print(f"heartbeat every {settings.heartbeat_interval_s:.0f} s; Ctrl-C stops it")
                await beat.serve(stop, settings.heartbeat_interval_s)
                return 0
        except ValueError as exc:
            console.print(f"[red]{exc}[/red]")
            return 2

    raise typer.Exit(asyncio.run(main()))
