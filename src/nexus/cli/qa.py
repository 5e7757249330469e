"""`nexus qa run --spec SPEC.json [--report-json OUT]`: exit 0 all pass, 1 a check failed, 2 invalid spec."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

qa_app = typer.Typer(help="Quality checks on a command's output, from a JSON spec.", no_args_is_help=True)


@qa_app.callback()
def _qa() -> None:
    """QA specs: format, completeness, security and code checks on a command's output."""


@qa_app.command("run")
def run(
    spec: Annotated[Path, typer.Option("--spec", help="The JSON QA spec to run.")],
    report_json: Annotated[
        Path | None, typer.Option("--report-json", help="Also write the report here.")
    ] = None,
) -> None:
    """Run SPEC's command and check its output."""
    from nexus.guard.qa.runner import run_spec
    from nexus.guard.qa.spec import InvalidSpec, load_spec

    try:
        report = run_spec(load_spec(spec))
    except InvalidSpec as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    report.spec = report.spec or spec.name
    for check in report.checks:
        typer.echo(f"{'PASS' if check.passed else 'FAIL'}  {check.name}")
        for message in check.messages:
            typer.echo(f"      {message}")
    typer.echo(f"{'passed' if report.passed else 'failed'}: {report.spec}")
    if report_json is not None:
        report_json.write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
    raise typer.Exit(report.exit_code)
