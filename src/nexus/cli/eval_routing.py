"""`nexus eval routing` — the domain classifier's headline: leave-one-source-out accuracy per source and
per label; beside it the authored held-out suites, calibration, latency, and the routing suite.

The shipped data holds only sources whose licence allows shipping; `--datasets DIR` (or
NEXUS_DATASETS_DIR) adds the evaluation-only sources of `DIR/domains/real_shaped_train.jsonl`, which are
never trained on and are predicted by the model fitted on everything shippable.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

eval_app = typer.Typer(help="Offline evaluations of the router.", no_args_is_help=True)


def evaluate_classifier(
    datasets: Path | None = None,
    budget: int | None = None,
    progress: Progress | None = None,
    latency_samples: int = 200,
) -> dict[str, Any]:
    import numpy as np

    from nexus.embeddings.shared import EmbeddingSettings, build_embedder, routing_view
    from nexus.routing.classifier import Classifier
    from nexus.routing.classifier_eval import calibrate, leave_one_source_out, scores
    from nexus.routing.classifier_model import (
        embed_cached,
        features,
        fit,
        load_or_train,
        sample_weights,
    )
    from nexus.routing.corpus import (
        ALWAYS_TRAINED,
        HELDOUT_FILES,
        LICENCES,
        SHIPPABLE,
        load_packaged,
        load_real_shaped,
        training_examples,
    )

    conf = EmbeddingSettings() if budget is None else EmbeddingSettings(routing_max_tokens=budget)
    embedder = routing_view(build_embedder(conf=conf), conf)
    train = training_examples()
    evaluation = []
    real = datasets / "domains" / "real_shaped_train.jsonl" if datasets else None
    if real is not None and real.exists():
        evaluation = [e for e in load_real_shaped(real) if e.source not in SHIPPABLE]
    held = {e.source for e in train} - ALWAYS_TRAINED
    task = progress.add_task("embedding", total=None) if progress else None
    x = features(embedder, [e.prompt for e in train], embed_cached(embedder, [e.prompt for e in train]))
    ex = (
        features(
            embedder, [e.prompt for e in evaluation], embed_cached(embedder, [e.prompt for e in evaluation])
        )
        if evaluation
        else None
    )
    if progress and task is not None:
        progress.update(task, description="leave-one-source-out", total=len(held) + 1, completed=0)
    result = leave_one_source_out(
        x,
        train,
        ex,
        evaluation,
        embedder=embedder.name,
        advance=(lambda: progress.advance(task)) if progress and task is not None else None,
    )
    probe = fit(x, [e.domain for e in train], sample_weights(train), embedder.name)
    calibration = calibrate(probe, result)

    model = load_or_train(embedder)
    classifier = Classifier(embedder=embedder, model=model)
    suites = {}
    for name in HELDOUT_FILES:
        rows = load_packaged([name])
        guessed = classifier.classify_batch([e.prompt for e in rows])
        suites[name.split(".")[0]] = scores([e.domain for e in rows], [c.domain for c in guessed])

    heldout = load_packaged(HELDOUT_FILES)
    samples = [e.prompt + f" #{i}" for i, e in enumerate(heldout * (latency_samples // len(heldout) + 1))]
    timings = []
    for text in samples[:latency_samples]:
        start = time.perf_counter()
        classifier.classify(text)
        timings.append((time.perf_counter() - start) * 1000)
    inner = getattr(embedder, "inner", embedder)
    return {
        "embedder": embedder.name,
        "budget_tokens": getattr(inner, "max_tokens", None),
        "leave_source_out": {
            **result.pooled,
            "macro_accuracy": result.macro,
            "per_source": {
                s: {**v, "licence": LICENCES.get(s, "?"), "eval_only": s in result.eval_only}
                for s, v in result.per_source.items()
            },
        },
        "suites": suites,
        "calibration": calibration,
        "latency_ms": {"p50": float(np.percentile(timings, 50)), "p99": float(np.percentile(timings, 99))},
    }


def _confusion_table(title: str, part: dict[str, Any]) -> Table:
    from nexus.routing.keywords import DOMAINS

    table = Table(title=title)
    table.add_column("true \\ predicted")
    for label in DOMAINS:
        table.add_column(label[:6], justify="right")
    table.add_column("accuracy", justify="right")
    for label, stats in part["per_label"].items():
        cells = [str(part["confusion"].get(f"{label}->{p}", "")) for p in DOMAINS]
        table.add_row(label, *cells, f"{stats['accuracy']:.1%}")
    return table


def render_classifier_report(report: dict[str, Any], console: Console) -> None:
    loso = report["leave_source_out"]
    sources = Table(
        title=(
            f"leave-one-source-out: {loso['accuracy']:.1%} pooled, {loso['macro_accuracy']:.1%} mean over "
            f"{len(loso['per_source'])} sources ({report['embedder']}, {report['budget_tokens']} tokens)"
        )
    )
    for col in ("source", "n", "accuracy", "per label", "licence"):
        sources.add_column(col)
    for name, stats in sorted(loso["per_source"].items(), key=lambda kv: kv[1]["accuracy"]):
        per = " ".join(f"{lab[:4]} {v['accuracy']:.0%}" for lab, v in stats["per_label"].items())
        mark = " (never trained)" if stats["eval_only"] else ""
        sources.add_row(name + mark, str(stats["n"]), f"{stats['accuracy']:.1%}", per, stats["licence"])
    console.print(sources)
    console.print(_confusion_table("leave-one-source-out, per label (pooled)", loso))
    for name, part in report["suites"].items():
        per = ", ".join(f"{lab} {v['accuracy']:.0%}" for lab, v in part["per_label"].items())
        console.print(f"{name}: {part['accuracy']:.1%} on {part['n']} prompts ({per})")
    cal = report["calibration"]
    if cal:
        console.print(
            f"calibration: temperature {cal['temperature']:.2f}, ECE {cal['expected_calibration_error']:.3f}; "
            f"uncertain below p={cal['uncertain_below']:.2f} ({cal['uncertain_share']:.0%} of held-out "
            f"prompts): accuracy {cal['accuracy_when_sure']:.1%} when sure, "
            f"{cal['accuracy_when_uncertain']:.1%} when uncertain"
        )
    lat = report["latency_ms"]
    console.print(f"classify latency: p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms")


@eval_app.command("routing")
def eval_routing_cmd(
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the report as JSON here.")
    ] = None,
    datasets: Annotated[
        Path | None,
        typer.Option(
            help="shared datasets dir with domains/real_shaped_train.jsonl (or NEXUS_DATASETS_DIR)."
        ),
    ] = None,
    budget: Annotated[
        int | None, typer.Option(help="Embed this many tokens of each prompt (default: the routing budget).")
    ] = None,
    classifier_only: Annotated[
        bool, typer.Option("--classifier-only", help="Skip the routing suite.")
    ] = False,
) -> None:
    """Evaluate the domain classifier (leave-one-source-out per source and label, held-out suites,
    calibration, latency) and the router on the authored routing suite."""
    import json

    from nexus.config.settings import get_settings

    datasets = datasets or (
        Path(os.environ["NEXUS_DATASETS_DIR"]) if os.environ.get("NEXUS_DATASETS_DIR") else None
    )
    console = Console()
    with Progress(console=console, transient=True) as progress:
        report = evaluate_classifier(datasets=datasets, budget=budget, progress=progress)
    render_classifier_report(report, console)
    routing: dict[str, Any] = {}
    if not classifier_only:
        from nexus.cli.route import evaluate_router_suite, render_router_report

        with Progress(console=console, transient=True) as progress:
            routing = evaluate_router_suite(
                progress=progress,
                chart=Path(get_settings().data_dir) / "reports" / "routing_cost_quality.png",
            )
        render_router_report(routing, console)
    if json_out:
        json_out.write_text(
            json.dumps({"classifier": report, "routing": routing}, indent=2), encoding="utf-8"
        )
