"""`nexus serve`: the gateway (and the UI unless --no-ui) on the embedded defaults."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console(stderr=True)


def serve_cmd(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="YAML model catalogue (or NEXUS_CONFIG).")
    ] = None,
    host: Annotated[
        str | None, typer.Option(help="Interface to bind (default 127.0.0.1, or NEXUS_HOST).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port for the API (default 8000, or NEXUS_PORT).")] = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Serve simulated models only, even if keys are set.")
    ] = False,
    data_dir: Annotated[
        Path | None, typer.Option(help="Where Nexus keeps its files (or NEXUS_DATA_DIR).")
    ] = None,
    no_ui: Annotated[bool, typer.Option("--no-ui", help="Do not start the Streamlit UI.")] = False,
    ui_port: Annotated[int | None, typer.Option(help="Port for the UI (default 8501).")] = None,
) -> None:
    """Run the Nexus gateway: the OpenAI-compatible API, the native chat API and the UI."""
    from nexus.config.catalogue import CatalogueError, load_catalogue
    from nexus.config.settings import Settings

    overrides: dict[str, object] = {}
    if config is not None:
        overrides["config"] = config
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if demo:
        overrides["demo"] = True
        # The offline demo's one auth rule (as `make serve`): off until the first key exists, unless
        # NEXUS_AUTH says otherwise.
        if "NEXUS_AUTH" not in os.environ:
            overrides["auth"] = "off"
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    if ui_port is not None:
        overrides["ui_port"] = ui_port
    settings = Settings(**overrides)  # type: ignore[arg-type]
    # Children (workers, the UI) read the same settings from the environment.
    for key, value in overrides.items():
        os.environ[f"NEXUS_{key.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
    try:
        catalogue = load_catalogue(settings.config)
    except CatalogueError as exc:
        console.print(f"[red]Invalid catalogue:[/red] {exc}")
        raise typer.Exit(2) from None
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    from nexus.gateway.app import create_app
    from nexus.gateway.server import ShutdownSignal, serve
    from nexus.telemetry import catalogue_secrets, setup_logging, setup_tracing

    setup_logging(settings, secrets=catalogue_secrets(catalogue, settings))
    tracer_provider = setup_tracing(settings)
    # One signal for the hardened server and the app: SIGTERM drains streams within a bound, cuts the
    # rest (their work orders say `interrupted`), then the UI child's process group stops too.
    shutdown = ShutdownSignal()
    app = create_app(settings, shutdown=shutdown)
    ui = None
    if not no_ui:
        from nexus.ui.supervisor import UISupervisor, api_url_for

        ui = UISupervisor(
            api_url=api_url_for(settings.host, settings.port), port=settings.ui_port, host=settings.host
        )
        ui.start()
        console.print(f"Nexus UI on http://{settings.host}:{settings.ui_port}")
    console.print(f"Nexus API on http://{settings.host}:{settings.port}  (OpenAI base URL: /v1)")
    # uvicorn re-raises the signal that stopped it once it is done; as a clean exit, so the UI and the
    # tracer below are stopped too (the default action would end the process before `finally`).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        serve(app, settings, signal=shutdown)
    finally:
        if ui is not None:
            ui.stop()
        tracer_provider.shutdown()
