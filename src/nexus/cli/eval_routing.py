"""`nexus eval routing` — domain part: leave-source-out accuracy, the authored held-out suite, latency.

Routing B's cost-quality part lives beside it; `evaluate_classifier()` is a plain function they can call.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from nexus.config.settings import Settings, get_settings
from nexus.routing.base import Embedder
from nexus.routing.classifier import Classifier
from nexus.routing.classifier_model import (
    embed_cached,
    features,
    fit,
    load_examples,
    load_or_train,
    sample_weights,
    with_casual_copies,
)
from nexus.routing.keywords import DOMAINS

# Written by other hands in other styles (terse lowercase; long-winded, formal, non-native): never trained on.
HELDOUT_FILES = ("authored_heldout.jsonl", "authored_heldout2.jsonl")

eval_app = typer.Typer(help="Offline evaluations of the router.", no_args_is_help=True)


def _scores(truth: list[str], pred: list[str]) -> dict[str, Any]:
    per_label = {}
    for label in DOMAINS:
        idx = [i for i, t in enumerate(truth) if t == label]
        if idx:
            per_label[label] = {"n": len(idx), "accuracy": sum(pred[i] == label for i in idx) / len(idx)}
    confusion = Counter(zip(truth, pred, strict=True))
    return {
        "n": len(truth),
        "accuracy": sum(t == p for t, p in zip(truth, pred, strict=True)) / max(len(truth), 1),
        "per_label": per_label,
        "confusion": {f"{t}->{p}": n for (t, p), n in sorted(confusion.items())},
    }


def evaluate_classifier(
    settings: Settings | None = None,
    embedder: Embedder | None = None,
    progress: Progress | None = None,
    latency_samples: int = 200,
) -> dict[str, Any]:
    """Domain accuracy holding out whole sources, on the authored held-out suite, and latency."""
    from nexus.embeddings.shared import get_embedder

    settings = settings or get_settings()
    embedder = embedder or get_embedder(settings)
    examples = with_casual_copies(load_examples())
    texts = [e.prompt for e in examples]
    x = features(embedder, texts, embed_cached(embedder, texts))
    y = np.array([e.domain for e in examples])
    weights = sample_weights(examples)
    sources = np.array([e.source for e in examples])
    # Hold out each public benchmark source whole. The authored set is the only source of finance and
    # conversation: it is tested by the held-out suites, which are never trained on.
    held_sources = sorted({s for s in sources if s != "authored"})

    task = progress.add_task("leave-source-out", total=len(held_sources) + 2) if progress else None
    truth: list[str] = []
    pred: list[str] = []
    per_source: dict[str, float] = {}
    for source in held_sources:
        test = sources == source
        model = fit(x[~test], list(y[~test]), weights[~test], embedder.name)
        guessed = [model.classes[i] for i in np.argmax(model.proba(x[test]), axis=1)]
        per_source[source] = float(np.mean(np.array(guessed) == y[test]))
        truth += list(y[test])
        pred += guessed
        if progress and task is not None:
            progress.advance(task)

    model = load_or_train(embedder)
    classifier = Classifier(embedder=embedder, settings=settings, model=model)
    suites = {}
    for name in HELDOUT_FILES:
        rows = load_examples([name])
        guessed_rows = classifier.classify_batch([e.prompt for e in rows])
        suites[name.split(".")[0]] = _scores([str(e.domain) for e in rows], [c.domain for c in guessed_rows])
    heldout = load_examples([HELDOUT_FILES[0]])
    if progress and task is not None:
        progress.advance(task)

    samples = [
        e.prompt + f" #{i}" for i, e in enumerate(heldout * (latency_samples // max(len(heldout), 1) + 1))
    ]
    timings = []
    for text in samples[:latency_samples]:
        start = time.perf_counter()
        classifier.classify(text)
        timings.append((time.perf_counter() - start) * 1000)
    if progress and task is not None:
        progress.advance(task)

    return {
        "embedder": embedder.name,
        "leave_source_out": {**_scores(truth, pred), "per_source": per_source},
        **suites,
        "latency_ms": {"p50": float(np.percentile(timings, 50)), "p99": float(np.percentile(timings, 99))},
    }


def render_classifier_report(report: dict[str, Any], console: Console) -> None:
    for name in ("leave_source_out", *(n.split(".")[0] for n in HELDOUT_FILES)):
        part = report[name]
        table = Table(title=f"{name}: accuracy {part['accuracy']:.1%} on {part['n']} prompts")
        table.add_column("true \\ predicted")
        for label in DOMAINS:
            table.add_column(label[:6], justify="right")
        table.add_column("accuracy", justify="right")
        for label, stats in part["per_label"].items():
            cells = [str(part["confusion"].get(f"{label}->{p}", "")) for p in DOMAINS]
            table.add_row(label, *cells, f"{stats['accuracy']:.1%}")
        console.print(table)
    if report["leave_source_out"].get("per_source"):
        per = ", ".join(f"{s} {a:.0%}" for s, a in report["leave_source_out"]["per_source"].items())
        console.print(f"held-out sources: {per}")
    lat = report["latency_ms"]
    console.print(
        f"classify latency ({report['embedder']}): p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms"
    )


@eval_app.command("routing")
def eval_routing_cmd(
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the report as JSON here.")
    ] = None,
) -> None:
    """Evaluate the domain classifier (leave-source-out, authored held-out suite, latency)."""
    import json

    console = Console()
    with Progress(console=console, transient=True) as progress:
        report = evaluate_classifier(progress=progress)
    render_classifier_report(report, console)
    # Routing B's part: which model the full router picks on the authored routing suite, and at what cost.
    from nexus.cli.route import evaluate_router_suite, render_router_report

    with Progress(console=console, transient=True) as progress:
        routing = evaluate_router_suite(
            progress=progress, chart=Path(get_settings().data_dir) / "reports" / "routing_cost_quality.png"
        )
    render_router_report(routing, console)
    if json_out:
        json_out.write_text(
            json.dumps({"classifier": report, "routing": routing}, indent=2), encoding="utf-8"
        )
