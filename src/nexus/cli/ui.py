"""`nexus ui --api URL`: the UI alone, against a gateway running elsewhere."""

from __future__ import annotations

import os
import subprocess
from typing import Annotated

import typer


def ui_cmd(
    api: Annotated[
        str,
        typer.Option(
            "--api", help="Base URL of the Nexus gateway (or NEXUS_API_URL).", envvar="NEXUS_API_URL"
        ),
    ] = "http://127.0.0.1:8000",
    port: Annotated[int, typer.Option(help="Port for the UI.")] = 8501,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
) -> None:
    """Run the Streamlit UI alone against a (possibly remote) Nexus gateway."""
    from nexus.ui.supervisor import streamlit_command

    typer.echo(f"Nexus UI on http://{host}:{port}  (gateway: {api})", err=True)
    env = {**os.environ, "NEXUS_API_URL": api.rstrip("/")}
    try:
        code = subprocess.call(streamlit_command(port, host), env=env)
    except KeyboardInterrupt:
        code = 0
    raise typer.Exit(code)
