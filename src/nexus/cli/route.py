"""`nexus route "TEXT"`: which model Nexus would pick, and why (no generation, no network)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from nexus.config import get_settings, load_catalogue
from nexus.routing.base import Decision, RouteContext
from nexus.routing.router import Router


def build_router() -> Router:
    settings = get_settings()
    return Router.from_catalogue(load_catalogue(settings.config), settings)


def render(decision: Decision, console: Console) -> None:
    e = decision.explanation
    console.print(f"[bold green]→ {decision.model}[/]  rule=[bold]{e.rule}[/]  {e.elapsed_ms:.1f} ms")
    console.print(e.reason)
    if e.fallback:
        console.print(f"[yellow]fallback:[/] {e.fallback}")
    c = e.classification
    if c is not None:
        top = sorted(c.domain_scores.items(), key=lambda kv: -kv[1])[:3]
        console.print(
            f"classifier ({c.method}): domain={c.domain} complexity={c.complexity} "
            f"self_answer={c.can_self_answer} " + " ".join(f"{d}={p:.2f}" for d, p in top)
        )
    if e.neighbours:
        nt = Table(title="nearest prototypes")
        for col in ("model", "similarity", "prototype"):
            nt.add_column(col)
        for n in e.neighbours:
            nt.add_row(n.model, f"{n.similarity:.3f}", n.prototype)
        console.print(nt)
    st = Table(title=f"models (λ={e.cost_lambda})")
    for col in ("model", "vote", "predicted", "$/1k req", "latency ms", "available", "utility"):
        st.add_column(col)
    for s in sorted(e.scores, key=lambda s: -(s.utility if s.utility is not None else -1e9)):
        st.add_row(
            ("[bold]" if s.model == decision.model else "") + s.model,
            f"{s.vote:.2f}",
            "-" if s.predicted_quality is None else f"{s.predicted_quality:.3f}",
            f"{s.cost_per_1k_requests:.2f}",
            "-" if s.latency_ms is None else f"{s.latency_ms:.0f}",
            "yes" if s.available else "no",
            "-" if s.utility is None else f"{s.utility:.3f}",
        )
    console.print(st)


def route_cmd(
    text: Annotated[str, typer.Argument(help="the request to route")],
    as_json: Annotated[bool, typer.Option("--json", help="print the Decision as JSON")] = False,
    session_model: Annotated[
        str | None, typer.Option("--session-model", help="the conversation's model")
    ] = None,
    cost_lambda: Annotated[
        float | None, typer.Option("--lambda", help="cost weight λ (default: catalogue)")
    ] = None,
) -> None:
    """Route TEXT: the chosen model, the rule that decided, and the evidence."""
    decision = build_router().decide(text, RouteContext(session_model=session_model, cost_lambda=cost_lambda))
    if as_json:
        typer.echo(decision.model_dump_json(indent=2))
    else:
        render(decision, Console())
