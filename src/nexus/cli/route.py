"""`nexus route "TEXT"`: which model Nexus would pick, and why (no generation, no network)."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:  # the router loads with the command, not with `nexus --help`
    from nexus.routing.base import Decision
    from nexus.routing.router import Router


def build_router() -> Router:
    from nexus.config import get_settings, load_catalogue
    from nexus.routing.router import Router

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
    from nexus.routing.base import RouteContext

    decision = build_router().decide(text, RouteContext(session_model=session_model, cost_lambda=cost_lambda))
    if as_json:
        typer.echo(decision.model_dump_json(indent=2))
    else:
        render(decision, Console())


# -- `nexus eval routing`: the routing (model choice) part ------------------------------------------------
SUITE = "routing_suite.jsonl"
LAMBDAS = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)


def load_suite() -> list[dict[str, str]]:
    import json
    from importlib import resources

    text = (resources.files("nexus.routing") / "data" / SUITE).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.split("\n") if line.strip()]


def evaluate_router_suite(
    router: Router | None = None, progress: Any = None, chart: Path | None = None
) -> dict[str, Any]:
    """Expected-model accuracy per label, confusion (label → chosen model), a λ cost-quality sweep and
    decision latency on the authored routing suite; saves a PNG of the sweep when matplotlib is present."""
    import numpy as np

    from nexus.routing.base import RouteContext

    router = router or build_router()
    suite = load_suite()
    task = progress.add_task("routing suite", total=len(suite) * (len(LAMBDAS) + 1)) if progress else None
    chosen, timings = [], []
    for row in suite:
        t0 = time.perf_counter()
        chosen.append(router.decide(row["prompt"]).model)
        timings.append((time.perf_counter() - t0) * 1000)
        if progress:
            progress.advance(task)
    per_label: dict[str, dict[str, float]] = {}
    for label in dict.fromkeys(r["label"] for r in suite):
        idx = [i for i, r in enumerate(suite) if r["label"] == label]
        per_label[label] = {
            "n": len(idx),
            "accuracy": sum(chosen[i] == suite[i]["model"] for i in idx) / len(idx),
        }
    confusion = Counter(f"{r['label']}->{m}" for r, m in zip(suite, chosen, strict=True))
    sweep = []
    for lam in LAMBDAS:
        picks = []
        for row in suite:
            picks.append(router.decide(row["prompt"], RouteContext(cost_lambda=lam)).model)
            if progress:
                progress.advance(task)
        acc = sum(p == r["model"] for p, r in zip(picks, suite, strict=True)) / len(suite)
        sweep.append(
            {"lambda": lam, "accuracy": acc, "cost_per_1k": float(np.mean([router.costs[p] for p in picks]))}
        )
    report = {
        "n": len(suite),
        "accuracy": sum(c == r["model"] for c, r in zip(chosen, suite, strict=True)) / len(suite),
        "per_label": per_label,
        "confusion": dict(sorted(confusion.items())),
        "cost_quality": sweep,
        "latency_ms": {"p50": float(np.percentile(timings, 50)), "p99": float(np.percentile(timings, 99))},
    }
    if chart is not None and _save_sweep_chart(sweep, chart):
        report["chart"] = str(chart)
    return report


def _save_sweep_chart(sweep: list[dict[str, float]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([s["cost_per_1k"] for s in sweep], [s["accuracy"] for s in sweep], "o-")
    for s in sweep:
        ax.annotate(f"λ={s['lambda']:g}", (s["cost_per_1k"], s["accuracy"]), fontsize=7)
    ax.set_xlabel("mean $ per 1k requests")
    ax.set_ylabel("expected-model accuracy")
    ax.set_title("routing suite: cost vs quality")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def render_router_report(report: dict[str, Any], console: Console) -> None:
    table = Table(
        title=f"routing suite: expected-model accuracy {report['accuracy']:.1%} on {report['n']} queries"
    )
    for col in ("label", "n", "accuracy", "chosen models"):
        table.add_column(col)
    for label, stats in report["per_label"].items():
        chosen = ", ".join(
            f"{k.split('->')[1]}×{v}" for k, v in report["confusion"].items() if k.startswith(label + "->")
        )
        table.add_row(label, str(stats["n"]), f"{stats['accuracy']:.0%}", chosen)
    console.print(table)
    sweep = Table(title="cost-quality sweep")
    for col in ("λ", "accuracy", "$ per 1k requests"):
        sweep.add_column(col)
    for s in report["cost_quality"]:
        sweep.add_row(f"{s['lambda']:g}", f"{s['accuracy']:.1%}", f"{s['cost_per_1k']:.2f}")
    console.print(sweep)
    lat = report["latency_ms"]
    console.print(f"routing decision latency: p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms")
    if report.get("chart"):
        console.print(f"chart: {report['chart']}")
